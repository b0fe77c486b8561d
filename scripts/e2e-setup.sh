#!/usr/bin/env bash
# Installs what the end-to-end tests (tests/e2e) need, by package name from
# the registries (apt, npm, PyPI), so that the tests themselves never touch
# the network. Called by scripts/test.sh; quick when nothing changed.
#
# Everything goes to $CORDON_E2E_DIR (default target/e2e):
#   venv/                 Debian's python3 with the MCP Python SDK (the
#                         client the tests drive servers with) and uv
#   seed/home/.npm        npm's cache with every npm server installed for
#                         `npx -y PACKAGE@VERSION`
#   seed/home/.cache/uv   uv's cache holding every PyPI server's wheels, for
#                         `uvx PACKAGE@VERSION` and for venvs made offline
#   seed/home/mcp-servers a local npm install, for `node PATH`
#   wheels/               the wheels of every PyPI server and its
#                         dependencies (with its `--with` requirements):
#                         the tests serve them as a simple index on
#                         loopback, from which cordon installs uvx servers
#                         into its store
#   npm-mirror/           every npm package (at the version npm picks) the
#                         npm servers install, packed: the tests serve it on
#                         loopback as npm's registry, and cordon installs the
#                         `npx -y` servers from there into its store
#   stamp                 a copy of tests/e2e/servers.txt once all is done
#
# The tests copy seed/home into a fresh home for each user they run as.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-packages.sh

list=tests/e2e/servers.txt
dir="${CORDON_E2E_DIR:-$PWD/target/e2e}"
if cmp -s "$list" "$dir/stamp" 2>/dev/null && [ -d "$dir/wheels" ]; then
    echo "e2e-setup: up to date in $dir"
    exit 0
fi

# System packages: Debian's python3 (pyenv's is under /root, which the
# unprivileged test user cannot read), node and npm, git for the git
# server, ip to bring up the tests' private loopback.
need=()
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(nodejs npm)
command -v git >/dev/null || need+=(git)
command -v ip >/dev/null || need+=(iproute2)
install_packages e2e-setup "${need[@]}"

version() { awk -v k="$1" -v p="$2" '$1 == k && $2 == p { print $3 }' "$list"; }
packages() { awk -v k="$1" '$1 == k { print $2 "@" $3 }' "$list"; }

echo "e2e-setup: installing into $dir"
rm -rf "$dir"
mkdir -p "$dir/seed/home"
home="$dir/seed/home"

# The client: the official MCP Python SDK, and uv.
/usr/bin/python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q "mcp==$(version client mcp)" "uv==$(version client uv)"

# npm servers: `npm exec --package=P` fills the same npx cache entry
# (~/.npm/_npx/HASH) that `npx -y P` uses, without running the server.
export HOME="$home" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
unset XDG_CACHE_HOME XDG_CONFIG_HOME npm_config_cache
for pkg in $(packages npm); do
    echo "e2e-setup: npm $pkg"
    npm exec --yes --package="$pkg" -- true
done
# The mirror: install each server once more into a scratch prefix (from
# the cache just filled), list every package of the tree from npm's own
# lock, and pack each one as the registry serves it.
mirror="$dir/npm-mirror"
mkdir -p "$mirror"
scratch="$dir/npm-scratch"
for pkg in $(packages npm); do
    rm -rf "$scratch"
    mkdir -p "$scratch"
    npm install --silent --prefer-offline --prefix "$scratch" "$pkg"
    /usr/bin/python3 - "$scratch/node_modules/.package-lock.json" >>"$dir/npm-mirror.list" <<'PY'
import json, sys
for key, p in json.load(open(sys.argv[1]))["packages"].items():
    if key and not p.get("link"):
        print("%s@%s" % (p.get("name") or key.rsplit("node_modules/", 1)[-1], p["version"]))
PY
done
rm -rf "$scratch"
sort -u "$dir/npm-mirror.list" | (cd "$mirror" && xargs npm pack --silent --prefer-offline >/dev/null)
echo "e2e-setup: npm mirror of $(ls "$mirror" | wc -l) packages"

npm install --silent --prefix "$home/mcp-servers" \
    "@modelcontextprotocol/server-sequential-thinking@$(version npm @modelcontextprotocol/server-sequential-thinking)"

# PyPI servers: one `uvx P@V --help` each caches the index pages and the
# wheels. The environments uv built for them hold absolute paths into this
# home, so they are dropped: the tests' uvx builds its own from the cache.
uv="$dir/venv/bin/uv"
awk '$1 == "pypi"' "$list" | while read -r _ name ver options; do
    echo "e2e-setup: uvx${options:+ $options} $name@$ver"
    # shellcheck disable=SC2086 # the options are words
    "$uv" tool run --quiet --python /usr/bin/python3 $options "$name@$ver" --help >/dev/null
done
rm -rf "$home/.cache/uv/environments-v"* "$home/.cache/uv/builds-v"*

# The mirror of wheels (only wheels: cordon's store installs no source
# distribution), resolved for the system python3 like the store does.
awk '$1 == "pypi"' "$list" | while read -r _ name ver options; do
    reqs=("$name==$ver")
    read -r -a words <<<"$options"
    for ((i = 0; i < ${#words[@]}; i++)); do
        if [ "${words[i]}" = --with ]; then
            reqs+=("${words[i + 1]}")
        fi
    done
    echo "e2e-setup: wheels of ${reqs[*]}"
    "$dir/venv/bin/pip" download --quiet --only-binary=:all: --dest "$dir/wheels" "${reqs[@]}"
done

cp "$list" "$dir/stamp"
echo "e2e-setup: done"
