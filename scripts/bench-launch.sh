#!/usr/bin/env bash
# Launch benchmark (not a test): what one start costs through cordon,
# measured in one run against `/bin/true` and against bubblewrap building
# the equivalent sandbox (all namespaces, the default profile's read-only
# binds, tmpfs /tmp, /proc, /dev). Targets run interleaved: each round runs
# every target once, a loop of BENCH_LAUNCHES launches each; a figure is
# the median over the rounds, a ratio the median of the rounds' ratios, so
# a change in the machine's load hits every target alike. Builds a release
# binary first.
#
#   scripts/bench-launch.sh                         # 5 rounds of 30 launches
#   BENCH_ROUNDS=9 BENCH_LAUNCHES=50 scripts/bench-launch.sh
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin cordon >&2
cordon=$(realpath "$target/release/cordon")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Approvals and profiles go to throwaway directories.
export XDG_STATE_HOME="$work/state" XDG_CONFIG_HOME="$work/config"
mkdir -p "$XDG_STATE_HOME" "$XDG_CONFIG_HOME"

# The default profile's read-only system runtime, as bwrap arguments: a
# symlink (a merged /usr's /bin) is recreated as one, a missing path left out.
bwrap_args=(--unshare-user --unshare-all --die-with-parent --new-session)
for path in /usr /bin /sbin /lib /lib64 /lib32 \
    /etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d /etc/localtime \
    /etc/timezone /etc/passwd /etc/group /etc/nsswitch.conf /etc/ssl/certs \
    /etc/ssl/cert.pem /etc/ssl/openssl.cnf /etc/ca-certificates \
    /etc/pki/tls/certs /etc/pki/tls/cert.pem /etc/pki/tls/openssl.cnf \
    /etc/pki/ca-trust /etc/crypto-policies /etc/alternatives; do
    if [ -L "$path" ]; then
        bwrap_args+=(--symlink "$(readlink "$path")" "$path")
    elif [ -e "$path" ]; then
        bwrap_args+=(--ro-bind "$path" "$path")
    fi
done
bwrap_args+=(--tmpfs /tmp --proc /proc --dev /dev --)

# A node server's approved start: the same profile for `run -y` and for a
# recorded approval, so the difference is what checking the approval costs.
cat >"$work/node.toml" <<'TOML'
schema = 1
description = "Benchmark: the system runtime and Node.js."

[filesystem]
groups = ["runtime", "node"]
private_tmp = true

[network]
mode = "none"
TOML

targets=("true" /bin/true)
if command -v bwrap >/dev/null; then
    targets+=("bwrap" "$(command -v bwrap) ${bwrap_args[*]} /bin/true")
else
    echo "bench-launch.sh: bwrap is not installed; ratios to bubblewrap are left out" >&2
fi
targets+=(
    "cordon run -y" "$cordon run -y -- /bin/true"
    "cordon run -y --no-namespaces" "$cordon run -y --no-namespaces -- /bin/true"
    "cordon run -y --dry-run" "$cordon run -y --dry-run -- /bin/true"
)
node=$(command -v node || true)
if [ -n "$node" ]; then
    "$cordon" approve --yes -p "$work/node.toml" -- node -e 0 2>/dev/null
    targets+=(
        "node -e 0 (bare)" "$node -e 0"
        "cordon run -y node" "$cordon run -y -p $work/node.toml -- node -e 0"
        "cordon run node (approved)" "$cordon run -p $work/node.toml -- node -e 0"
    )
else
    echo "bench-launch.sh: node is not installed; the approved-start figures are left out" >&2
fi

echo "cordon $("$cordon" --version | cut -d' ' -f2), $(nproc) CPUs, Linux $(uname -r)"
python3 - "${targets[@]}" <<'PY'
import os, shlex, statistics, sys, tempfile, time

rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
launches = int(os.environ.get("BENCH_LAUNCHES", "30"))
args = sys.argv[1:]
targets = [(args[i], shlex.split(args[i + 1])) for i in range(0, len(args), 2)]
devnull = os.open(os.devnull, os.O_RDWR)

cpu_ms = 0.0

def launch(argv):
    """One start, in a new session (no controlling terminal, as from a
    host); returns its exit status. Adds the CPU time (user + system) of
    the start and every process it waited for to cpu_ms: unlike the wall
    clock, it does not grow with the machine's load."""
    global cpu_ms
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    cpu_ms += (usage.ru_utime + usage.ru_stime) * 1000
    return os.waitstatus_to_exitcode(status)

def peak_rss(argv):
    """The launcher's peak RSS in KiB, through GNU time: a process forked
    from this interpreter would count the interpreter's own pages."""
    with tempfile.NamedTemporaryFile("r") as out:
        if launch(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv]) != 0:
            return None
        return int(out.read().split()[-1])

for name, argv in targets:
    code = launch(argv)
    if code != 0:
        sys.exit(f"bench-launch.sh: {name!r} exits with {code}: {shlex.join(argv)}")

per_launch = {name: [] for name, _ in targets}
cpu_per_launch = {name: [] for name, _ in targets}
for _ in range(rounds):
    for name, argv in targets:
        cpu_ms = 0.0
        start = time.perf_counter()
        for _ in range(launches):
            launch(argv)
        per_launch[name].append((time.perf_counter() - start) / launches * 1000)
        cpu_per_launch[name].append(cpu_ms / launches)
if os.access("/usr/bin/time", os.X_OK):
    rss = {name: max(peak_rss(argv) or 0 for _ in range(3)) for name, argv in targets}
else:
    print("bench-launch.sh: /usr/bin/time (GNU time) is not installed; peak RSS is left out", file=sys.stderr)
    rss = {name: 0 for name, _ in targets}

def ratio(name, base):
    return statistics.median(a / b for a, b in zip(per_launch[name], per_launch[base]))

print(f"{rounds} rounds of {launches} launches; per-launch median (ms) wall and CPU, peak RSS of the launcher")
has_bwrap = "bwrap" in per_launch
for name, _ in targets:
    line = f"  {name:<30} {statistics.median(per_launch[name]):7.2f} ms  cpu {statistics.median(cpu_per_launch[name]):6.2f} ms  {rss[name] / 1024:6.1f} MiB"
    if has_bwrap:
        line += f"  x{ratio(name, 'bwrap'):.2f} of bwrap"
    print(line)
if "cordon run node (approved)" in per_launch:
    added = [a - b for a, b in zip(per_launch["cordon run node (approved)"], per_launch["cordon run -y node"])]
    cpu_added = [a - b for a, b in zip(cpu_per_launch["cordon run node (approved)"], cpu_per_launch["cordon run -y node"])]
    print(f"approved start over run -y (node -e 0): {statistics.median(added):+.2f} ms wall, {statistics.median(cpu_added):+.2f} ms CPU")
PY
