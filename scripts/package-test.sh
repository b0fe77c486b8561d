#!/usr/bin/env bash
# The package test, run by .ci/run after the unit tests, as root: builds
# the .deb and the .rpm (scripts/package.sh), lints the .deb with lintian,
# installs it with dpkg, checks that what it installed works (manual page,
# bash completion, doctor, a sandboxed run of the installed binary under an
# installed profile, config wrap), then purges it and checks that nothing
# it installed is left behind. It installs what it needs with apt.
#
# This installs and removes a system package: run it on a CI or throwaway
# machine, not on a machine that has cordon installed from a package.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "scripts/package-test.sh: must run as root (it installs the package with dpkg)" >&2
    exit 1
fi

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

# Tools: dpkg-shlibdeps (dpkg-dev), strip (binutils), rpmbuild (rpm),
# lintian, man (man-db), and Debian's apparmor, whose apparmor_parser the
# package's install script asks which variant of cordon's AppArmor profile
# it reads (nothing is loaded: the parser only parses here).
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strip >/dev/null || need+=(binutils)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v lintian >/dev/null || need+=(lintian)
command -v man >/dev/null || need+=(man-db)
command -v apparmor_parser >/dev/null || need+=(apparmor)
if [ "${#need[@]}" -gt 0 ]; then
    echo "== apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== scripts/package.sh"
start=$SECONDS
list=$(mktemp)
bash scripts/package.sh >"$list"
mapfile -t built <"$list"
rm -f "$list"
deb=${built[0]}
rpm_file=${built[1]}
echo "built ${built[*]} in $((SECONDS - start)) s"

echo "== lintian"
# Overrides ship in the package (scripts/packaging/debian/lintian-overrides),
# each with its reason; anything else at warning level or above fails.
check "lintian reports no warnings or errors" lintian --fail-on warning,error --display-info "$deb"

echo "== rpm, PKGBUILD"
check "the rpm holds the binary, profiles, manual and AppArmor profile" bash -c '
    files=$(rpm -qpl "$1")
    for f in /usr/bin/cordon /usr/share/cordon/profiles/default.toml \
        /usr/share/cordon/profiles/groups/runtime.toml /usr/share/man/man1/cordon.1.gz \
        /usr/share/bash-completion/completions/cordon /usr/share/cordon/apparmor/cordon.abi4 \
        /usr/share/cordon/apparmor/cordon.abi3; do
        grep -qx "$f" <<<"$files" || { echo "missing $f" >&2; exit 1; }
    done' rpm "$rpm_file"

pkgbuild_version() {
    local version
    version=$(dpkg-deb -f "$deb" Version)
    grep -q "^pkgver=${version%-*}\b" scripts/packaging/PKGBUILD
}
check "the PKGBUILD's pkgver is the package's version" pkgbuild_version

# Every path the package holds, and whether it existed before: after the
# purge, none of those that did not may remain.
mapfile -t paths < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/\?$')
preexisting=()
for p in "${paths[@]}"; do [ -e "$p" ] && preexisting+=("$p"); done

purge() { dpkg --purge cordon >/dev/null 2>&1 || true; }
trap purge EXIT

echo "== dpkg -i"
# --path-include undoes the documentation excludes of minimised images, so
# the manual pages are installed there too.
check "dpkg installs the package" dpkg --path-include='/usr/share/man/*' \
    --path-include='/usr/share/doc/cordon/*' -i "$deb"

echo "== the installed package"
check "man -w finds cordon(1), a subcommand page and cordon-profile(5)" \
    bash -c 'man -w cordon | grep -qx /usr/share/man/man1/cordon.1.gz && man -w cordon-config-wrap >/dev/null \
        && man -w 5 cordon-profile | grep -qx /usr/share/man/man5/cordon-profile.5.gz'
manual_sections() { # manual_sections SECTION PAGE HEADING...: renders without warnings, has each heading
    local text warnings
    warnings=$(MANWIDTH=80 man --warnings "$1" "$2" 2>&1 >/dev/null)
    [ -z "$warnings" ] || { echo "$warnings" >&2; return 1; }
    text=$(MANWIDTH=80 man "$1" "$2") || return 1
    shift 2
    for heading in "$@"; do grep -qxF -- "$heading" <<<"$text" || { echo "no $heading" >&2; return 1; }; done
}
check "man renders cordon(1) with EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO" \
    manual_sections 1 cordon "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"
check "man renders cordon-profile(5) with every table" \
    manual_sections 5 cordon-profile KEYS "   [filesystem]" "   [network]" "   [mcp]" "SEE ALSO"
check "the bash completion loads and completes subcommands" bash -c '
    source /usr/share/bash-completion/completions/cordon
    complete -p cordon | grep -q -- "-F _cordon"
    COMP_WORDS=(cordon con) COMP_CWORD=1 COMP_LINE="cordon con" COMP_POINT=10
    _cordon cordon con cordon
    [[ " ${COMPREPLY[*]} " == *" config "* && " ${COMPREPLY[*]} " == *" consent "* ]]'
check "the bash completion offers profile names after --profile and host names after --host" bash -c '
    source /usr/share/bash-completion/completions/cordon
    COMP_WORDS=(cordon run --profile fi) COMP_CWORD=3
    _cordon_names cordon fi --profile
    [[ " ${COMPREPLY[*]} " == *" filesystem "* ]] || exit 1
    COMP_WORDS=(cordon config wrap --host "") COMP_CWORD=4
    _cordon_names cordon "" --host
    [[ " ${COMPREPLY[*]} " == *" claude-desktop "* ]]'
# The AppArmor profile: the variant for this parser's major version parses
# with the real parser (AppArmor 3 cannot read the AppArmor 4 one: hence
# two), and the install script installed it.
aa_major=$(apparmor_parser --version | sed -n '1s/.* \([0-9][0-9]*\)\.[0-9.]*$/\1/p')
aa_variant=/usr/share/cordon/apparmor/cordon.abi$([ "${aa_major:-0}" -ge 4 ] && echo 4 || echo 3)
aa_parses() { apparmor_parser --skip-kernel-load --skip-cache "$1" >/dev/null 2>&1; }
check "apparmor_parser $aa_major parses ${aa_variant##*/}" aa_parses "$aa_variant"
if [ "${aa_major:-0}" -lt 4 ]; then
    check "apparmor_parser $aa_major refuses cordon.abi4 (the userns rule is AppArmor 4)" \
        bash -c '! apparmor_parser --skip-kernel-load --skip-cache /usr/share/cordon/apparmor/cordon.abi4 >/dev/null 2>&1'
fi
check "the install script installed ${aa_variant##*/} as /etc/apparmor.d/cordon" \
    cmp -s "$aa_variant" /etc/apparmor.d/cordon
check "cordon doctor passes" /usr/bin/cordon doctor
check "the default profile comes from /usr/share/cordon/profiles" \
    bash -c '/usr/bin/cordon profile list | grep -q "^default .*/usr/share/cordon/profiles/default.toml"'

home=$(mktemp -d)
chmod 0755 "$home"
mkdir "$home/root"
# The installed binary as a host starts it: clean environment, no
# terminal; PREFIX (setpriv …) runs it as another user. The server is
# /bin/echo printing one JSON-RPC notification: cordon's MCP relay forwards
# only JSON-RPC, byte for byte.
hi='{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}'
# Each user gets a home of its own: cordon refuses state directories that
# belong to another user.
run_echo() { # run_echo HOME [PREFIX...]
    local user_home=$1
    shift
    env -i PATH=/usr/bin:/bin HOME="$user_home" "$@" setsid --wait \
        /usr/bin/cordon run --yes -p default -- /bin/echo "$hi" </dev/null 2>"$home/stderr"
}
echo_as_root() { [ "$(run_echo "$home/root")" = "$hi" ] || { cat "$home/stderr" >&2; false; }; }
echo_as_nobody() {
    mkdir -p "$home/nobody" && chown 65534:65534 "$home/nobody"
    [ "$(run_echo "$home/nobody" setpriv --reuid=65534 --regid=65534 --clear-groups)" = "$hi" ] \
        || { cat "$home/stderr" >&2; false; }
}
check "cordon run -p default -- /bin/echo relays its output, as root" echo_as_root
check "cordon run -p default -- /bin/echo relays its output, as nobody" echo_as_nobody

wrap_uses_installed_binary() {
    printf '{"mcpServers": {"echo": {"command": "/bin/echo", "args": ["hi"]}}}\n' >"$home/mcp.json"
    env -i PATH=/usr/bin:/bin HOME="$home" /usr/bin/cordon config wrap --host "$home/mcp.json" 2>/dev/null \
        && grep -q '"command": "/usr/bin/cordon"' "$home/mcp.json"
}
check "config wrap writes the installed binary into a host configuration" wrap_uses_installed_binary
rm -rf "$home"

echo "== dpkg --purge"
check "dpkg purges the package" dpkg --purge cordon
trap - EXIT
left=()
for p in "${paths[@]}"; do
    [ -e "$p" ] || [ -L "$p" ] || continue
    printf '%s\n' "${preexisting[@]}" | grep -qxF -- "$p" || left+=("$p")
done
check "nothing the package installed is left (${left[*]:-})" test "${#left[@]}" = 0
check "no cordon binary, data, documentation, AppArmor profile or manual page remains" bash -c '
    ! ls -d /usr/bin/cordon /usr/share/cordon /usr/share/doc/cordon /etc/apparmor.d/cordon \
        /usr/share/man/man1/cordon*.1.gz /usr/share/man/man5/cordon*.5.gz 2>/dev/null | grep -q .'
check "man -w no longer finds cordon" bash -c '! man -w cordon >/dev/null 2>&1'

echo "package-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
