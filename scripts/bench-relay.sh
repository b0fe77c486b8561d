#!/usr/bin/env bash
# Relay benchmark (not a test): throughput and round-trip latency through
# `cat` / an echo server directly and through cordon, with the default
# profile and with a profile that filters tools and pins them, plus
# cordon's peak RSS; prints the ratios. Builds release binaries first.
#
#   scripts/bench-relay.sh                 # 1M x 1 KB, 16k x 64 KiB, 10k round trips
#   BENCH_COUNT=100000 scripts/bench-relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin cordon >&2
helper=$(cargo test --release --locked --no-run --test bench_relay --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*bench_relay[^"]*\)".*/\1/p' | tail -n 1)
[ -x "$helper" ] || { echo "bench-relay.sh: cannot find the bench_relay helper" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Pins and approvals go to a throwaway state directory.
export XDG_STATE_HOME="$work/state"
cat >"$work/policy.toml" <<'TOML'
schema = 1
description = "Benchmark: the runtime, tools filtered by name and pinned."

[filesystem]
groups = ["runtime"]

[mcp]
pin = "enforce"

[mcp.tools]
allow = ["echo", "read_*"]
deny = ["*delete*"]
TOML

cordon=$(realpath "$target/release/cordon")
echo "cordon $("$cordon" --version | cut -d' ' -f2), $(nproc) CPUs, Linux $(uname -r)"
"$helper" bench-all "$cordon" "$work/policy.toml"
