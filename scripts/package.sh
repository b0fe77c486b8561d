#!/usr/bin/env bash
# Builds cordon's packages from a release build:
#   target/packages/cordon_<version>-1_<arch>.deb   (dpkg-deb)
#   target/packages/cordon-<version>-1.<arch>.rpm   (rpmbuild)
#
# Usage: scripts/package.sh [--deb] [--rpm] [--no-build]
#   --deb / --rpm   build only that package (default: both)
#   --no-build      use the existing target/release/cordon
#
# Why dpkg-deb and rpmbuild directly rather than cargo-deb and
# cargo-generate-rpm: dpkg-deb is part of every Debian system and rpmbuild
# is one apt package (`rpm`), whereas the cargo tools are compiled from
# crates.io on every fresh CI machine (minutes on two cores) and add a
# second place, Cargo.toml metadata, where the package layout is
# described. Here the layout is written once (stage_tree below) and both
# formats package the same staged tree; the Arch PKGBUILD next to the
# other packaging files mirrors it.
#
# Manual pages and completions come from the clap definitions, through the
# built binary's hidden `cordon __generate` command, so they always match
# `--help`; cordon-profile(5) comes from profiles/README.md the same way.
#
# Needs: cargo, dpkg-deb, dpkg-shlibdeps (dpkg-dev), strip (binutils),
# gzip, and rpmbuild (rpm) for --rpm. The maintainer named in the packages
# comes from DEBFULLNAME and DEBEMAIL when set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

want_deb=0 want_rpm=0 build=1
for arg in "$@"; do
    case $arg in
    --deb) want_deb=1 ;;
    --rpm) want_rpm=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: scripts/package.sh [--deb] [--rpm] [--no-build]" >&2; exit 2 ;;
    esac
done
if [ $want_deb = 0 ] && [ $want_rpm = 0 ]; then want_deb=1 want_rpm=1; fi

target=${CARGO_TARGET_DIR:-$root/target}
out=$target/packages
work=$target/package-work
maintainer="${DEBFULLNAME:-cordon maintainers} <${DEBEMAIL:-maintainers@cordon.invalid}>"
# Reproducible timestamps: the last commit's time unless the caller says.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}

if [ $build = 1 ]; then
    cargo build --release --locked
fi
bin=$target/release/cordon
version=$("$bin" --version | cut -d' ' -f2)
rm -rf "$work" && mkdir -p "$work" "$out"

# Manual pages and completions, from the binary's clap definitions.
"$bin" __generate man "$work/man"
"$bin" __generate completions "$work/completions"

# The files every package installs, under DEST. $2 is where zsh looks
# for vendor completions (Debian and RPM distributions differ).
stage_tree() {
    local dest=$1 zsh_dir=$2
    install -d "$dest/usr/bin" "$dest/usr/share/cordon/profiles/groups" \
        "$dest/usr/share/man/man1" "$dest/usr/share/man/man5" "$dest/usr/share/bash-completion/completions" \
        "$dest/$zsh_dir" "$dest/usr/share/fish/vendor_completions.d" "$dest/usr/share/cordon/apparmor"
    install -m 0755 "$bin" "$dest/usr/bin/cordon"
    # As dh_strip does: no symbols, no .comment/.note sections.
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$dest/usr/bin/cordon"
    install -m 0644 "$root"/profiles/*.toml "$dest/usr/share/cordon/profiles/"
    install -m 0644 "$root"/profiles/groups/*.toml "$dest/usr/share/cordon/profiles/groups/"
    for page in "$work"/man/*.[15]; do
        local section=man${page##*.}
        gzip -9n <"$page" >"$dest/usr/share/man/$section/$(basename "$page").gz"
        chmod 0644 "$dest/usr/share/man/$section/$(basename "$page").gz"
    done
    install -m 0644 "$work/completions/cordon.bash" "$dest/usr/share/bash-completion/completions/cordon"
    install -m 0644 "$work/completions/_cordon" "$dest/$zsh_dir/_cordon"
    install -m 0644 "$work/completions/cordon.fish" "$dest/usr/share/fish/vendor_completions.d/cordon.fish"
    # Both variants of the AppArmor profile: the install script copies the
    # one this system's apparmor_parser accepts to /etc/apparmor.d/cordon.
    install -m 0644 "$root"/scripts/packaging/apparmor/cordon.abi[34] "$dest/usr/share/cordon/apparmor/"
}

build_deb() {
    local stage=$work/deb arch doc
    arch=$(dpkg --print-architecture)
    stage_tree "$stage" usr/share/zsh/vendor-completions
    doc=$stage/usr/share/doc/cordon
    install -d "$doc" "$stage/usr/share/lintian/overrides" "$stage/DEBIAN"
    install -m 0644 "$root/scripts/packaging/debian/copyright" "$doc/copyright"
    # Debian policy: documentation over 4 KiB is compressed.
    gzip -9n <"$root/README.md" >"$doc/README.md.gz"
    gzip -9n <"$root/LICENSE" >"$doc/LICENSE.gz"
    gzip -9n <"$root/profiles/README.md" >"$doc/profiles.md.gz"
    debian_changelog | gzip -9n >"$doc/changelog.Debian.gz"
    chmod 0644 "$doc"/*.gz
    install -m 0644 "$root/scripts/packaging/debian/lintian-overrides" \
        "$stage/usr/share/lintian/overrides/cordon"
    install -m 0755 "$root/scripts/packaging/debian/postinst" "$root/scripts/packaging/debian/postrm" \
        "$stage/DEBIAN/"
    debian_control "$stage" "$arch" >"$stage/DEBIAN/control"
    (cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
    chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/cordon_${version}-1_${arch}.deb" >/dev/null
    echo "$out/cordon_${version}-1_${arch}.deb"
}

debian_changelog() {
    cat <<CHANGELOG
cordon (${version}-1) unstable; urgency=medium

  * Package built from the cordon source tree by scripts/package.sh.

 -- ${maintainer}  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG
}

# The shared-library dependencies of the binary, as dpkg-shlibdeps finds
# them (it wants a debian/control to read, so it gets a minimal one).
shlib_depends() {
    local dir=$work/shlibdeps
    mkdir -p "$dir/debian"
    printf 'Source: cordon\n\nPackage: cordon\nArchitecture: any\n' >"$dir/debian/control"
    (cd "$dir" && dpkg-shlibdeps -O -e"$1" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

debian_control() {
    local stage=$1 arch=$2 size depends
    size=$(du -s -k --exclude=DEBIAN "$stage" | cut -f1)
    depends=$(shlib_depends "$stage/usr/bin/cordon")
    cat <<CONTROL
Package: cordon
Version: ${version}-1
Architecture: ${arch}
Maintainer: ${maintainer}
Installed-Size: ${size}
Depends: ${depends}
Section: utils
Priority: optional
Description: sandbox launcher for local MCP servers
 cordon runs a local Model Context Protocol (MCP) server in a sandbox. Put
 it in front of the server's command in an MCP host's configuration (Claude
 Desktop, VS Code, Cursor, Claude Code): it shows the exact command and the
 sandbox it will run in, obtains consent, starts the server under a
 per-server profile (Linux namespaces, Landlock, seccomp, no capabilities,
 resource limits, a scrubbed environment) and relays the JSON-RPC stream
 between the host and the server.
 .
 The package ships the reviewed profiles, manual pages, shell completions
 and an AppArmor profile that lets cordon create user namespaces where
 AppArmor restricts them (Ubuntu 23.10 and later).
CONTROL
}

build_rpm() {
    local stage=$work/rpm-root top=$work/rpmbuild arch
    stage_tree "$stage" usr/share/zsh/site-functions
    install -D -m 0644 "$root/README.md" "$stage/usr/share/doc/cordon/README.md"
    install -D -m 0644 "$root/LICENSE" "$stage/usr/share/licenses/cordon/LICENSE"
    mkdir -p "$top"
    rpmbuild -bb --quiet \
        --define "_topdir $top" \
        --define "cordon_version $version" \
        --define "cordon_stage $stage" \
        --define "packager $maintainer" \
        "$root/scripts/packaging/cordon.spec" >/dev/null
    arch=$(rpm --eval '%{_arch}')
    mv "$top/RPMS/$arch/cordon-${version}-1.$arch.rpm" "$out/"
    echo "$out/cordon-${version}-1.$arch.rpm"
}

if [ $want_deb = 1 ]; then build_deb; fi
if [ $want_rpm = 1 ]; then build_rpm; fi
