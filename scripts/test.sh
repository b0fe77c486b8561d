#!/usr/bin/env bash
# The test command: installs what the tests need (when run as root on a
# Debian-like machine), then runs the whole suite. Sandbox tests run twice
# when this runs as root: as root and as an unprivileged user (nobody).
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests drive: setpriv (util-linux) to drop to an unprivileged
# user, ps/pgrep-free /proc checks need nothing else.
need=()
command -v setpriv >/dev/null || need+=(util-linux)
command -v script >/dev/null || need+=(bsdutils)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "scripts/test.sh: missing ${need[*]}; install them first" >&2
        exit 1
    fi
fi

# In CI a missing kernel feature is a failure, not a skip.
if [ "${CI:-}" = true ]; then
    export CORDON_TEST_REQUIRE="${CORDON_TEST_REQUIRE:-landlock,seccomp,userns}"
fi

cargo test --locked "$@"
