#!/usr/bin/env bash
# The test command: installs what the tests need (when run as root on a
# Debian-like machine), then runs the whole suite. Sandbox tests run twice
# when this runs as root: as root and as an unprivileged user (nobody).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-packages.sh

# Tools the tests drive: setpriv (util-linux) to drop to an unprivileged
# user, ps/pgrep-free /proc checks need nothing else.
need=()
command -v setpriv >/dev/null || need+=(util-linux)
command -v script >/dev/null || need+=(bsdutils)
# tests/relay.rs runs a scripted fake MCP server with /usr/bin/python3
# (inside the sandbox, where the runtime group grants /usr).
[ -x /usr/bin/python3 ] || need+=(python3)
# tests/manual.rs renders the manual pages with groff.
command -v groff >/dev/null || need+=(groff-base)
install_packages scripts/test.sh "${need[@]}"

# The egress suite (tests/egress) builds its test network with ip
# (iproute2) and drives real clients through the filter: curl and python3
# honour proxy variables, node's fetch does not. Installed when this runs
# as root; otherwise the suite says what it skipped (a failure in CI).
optional=()
command -v ip >/dev/null || optional+=(iproute2)
[ -x /usr/bin/curl ] || optional+=(curl)
[ -x /usr/bin/python3 ] || optional+=(python3)
[ -x /usr/bin/node ] || optional+=(nodejs)
if [ "$(id -u)" = 0 ]; then
    install_packages scripts/test.sh "${optional[@]}" || true
fi

# The end-to-end suite (tests/e2e) runs real MCP servers from npm and PyPI
# with the MCP SDK: scripts/e2e-setup.sh installs them by name into
# target/e2e (quick when nothing changed). Without them the suite skips,
# which CI counts as a failure.
if ! bash scripts/e2e-setup.sh; then
    [ "${CI:-}" = true ] && exit 1
    echo "scripts/test.sh: e2e setup failed; tests/e2e will skip" >&2
fi

# In CI a missing kernel feature is a failure, not a skip.
if [ "${CI:-}" = true ]; then
    export CORDON_TEST_REQUIRE="${CORDON_TEST_REQUIRE:-landlock,seccomp,userns}"
fi

cargo test --locked "$@"
