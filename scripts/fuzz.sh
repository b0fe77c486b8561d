#!/usr/bin/env bash
# Fuzzes the relay's framing and message inspection (tests/fuzz, libFuzzer,
# nightly toolchain). Not run in CI.
#
#   scripts/fuzz.sh                  # both targets, 60 s each
#   scripts/fuzz.sh inspect 600      # one target, 10 minutes
#
# Uses cargo-fuzz when installed; otherwise builds the targets with the same
# coverage flags cargo-fuzz passes and runs them directly. Corpora and
# crashes stay under tests/fuzz/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=${1:-"framing inspect"}
seconds=${2:-60}
toolchain=${FUZZ_TOOLCHAIN:-nightly}

if cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    for t in $targets; do
        cargo "+$toolchain" fuzz run --fuzz-dir tests/fuzz "$t" -- -max_total_time="$seconds"
    done
    exit 0
fi

echo "scripts/fuzz.sh: cargo-fuzz not found (cargo install cargo-fuzz); building by hand" >&2
triple=$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR="$PWD/tests/fuzz/target"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps these flags off build scripts and proc macros.
(cd tests/fuzz && cargo "+$toolchain" build --release --bins --target "$triple")
for t in $targets; do
    mkdir -p "tests/fuzz/corpus/$t" "tests/fuzz/artifacts/$t"
    "$CARGO_TARGET_DIR/$triple/release/$t" "tests/fuzz/corpus/$t" \
        -artifact_prefix="tests/fuzz/artifacts/$t/" -max_total_time="$seconds" -max_len=65536
done
