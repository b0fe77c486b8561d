#!/usr/bin/env bash
# Network mode "filtered" against the host's network: connection set-up
# latency and bulk throughput from a client inside cordon to a local test
# server, both measured in the same run, printed with their ratios. Not a
# test: nothing here passes or fails on timing.
#
#   scripts/bench-egress.sh [CONNECTIONS] [MEBIBYTES] [RUNS]
#
# Each figure is the median of RUNS runs (default 5), host and filtered
# alternating, so that a busy machine skews both alike.
#
# The server listens on the host's loopback, so the filtered profile names
# it by address ("127.0.0.1:PORT"), the one way loopback is reachable in
# that mode. Everything stays on this machine. Needs /usr/bin/python3 and
# unprivileged user namespaces (or root).
set -euo pipefail
cd "$(dirname "$0")/.."

connections="${1:-500}"
mebibytes="${2:-512}"
runs="${3:-5}"
python=/usr/bin/python3
[ -x "$python" ] || { echo "bench-egress: needs $python" >&2; exit 1; }

cargo build --release --quiet
cordon="$PWD/target/release/cordon"
work="$(mktemp -d)"
chmod 755 "$work"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The server: `p` gets one byte back (a round trip), `b` gets the bulk.
cat >"$work/server.py" <<'EOF'
import socket, sys, threading
size = int(sys.argv[1]) << 20
chunk = b"x" * (1 << 20)
listener = socket.create_server(("127.0.0.1", 0), backlog=512)
print(listener.getsockname()[1], flush=True)
def serve(conn):
    with conn:
        what = conn.recv(1)
        if what == b"p":
            conn.sendall(b"p")
        elif what == b"b":
            left = size
            while left > 0:
                n = min(left, len(chunk))
                conn.sendall(chunk[:n])
                left -= n
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF

# The client, inside the sandbox; results go to stderr (stdout is the
# protocol's).
cat >"$work/client.py" <<'EOF'
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
addr = ("127.0.0.1", port)
start = time.perf_counter()
for _ in range(count):
    with socket.create_connection(addr) as s:
        s.sendall(b"p")
        assert s.recv(1) == b"p"
latency = (time.perf_counter() - start) / count
with socket.create_connection(addr) as s:
    s.sendall(b"b")
    got, start = 0, time.perf_counter()
    buf = bytearray(1 << 20)
    while n := s.recv_into(buf):
        got += n
    elapsed = time.perf_counter() - start
print(f"BENCH {latency * 1e6:.1f} {got / elapsed / 1e6:.1f} {got}", file=sys.stderr, flush=True)
EOF

coproc SERVER { exec "$python" "$work/server.py" "$mebibytes"; }
server_pid=$SERVER_PID
read -r port <&"${SERVER[0]}"

profile() { # NAME NETWORK-TABLE
    cat >"$work/$1.toml" <<EOF
schema = 1
description = "bench-egress: $1"
[filesystem]
groups = ["runtime"]
read = ["$work"]
[network]
$2
EOF
}
profile host 'mode = "host"'
profile filtered "mode = \"filtered\"
allow = [\"127.0.0.1:$port\"]"

measure() { # PROFILE → "latency_us throughput_MBps bytes"
    "$cordon" run --yes -p "$work/$1.toml" -- "$python" "$work/client.py" "$port" "$connections" \
        </dev/null 2>&1 >/dev/null | awk '$1 == "BENCH" { print $2, $3, $4 }'
}

for _ in $(seq "$runs"); do
    measure host >>"$work/host.txt"
    measure filtered >>"$work/filtered.txt"
done
expected=$((mebibytes << 20))
for mode in host filtered; do
    if [ "$(wc -l <"$work/$mode.txt")" != "$runs" ] || awk -v n="$expected" '$3 != n { bad = 1 } END { exit !bad }' "$work/$mode.txt"; then
        echo "bench-egress: a $mode run failed or moved the wrong number of bytes" >&2
        exit 1
    fi
done
median() { # FILE COLUMN
    cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
host_lat=$(median "$work/host.txt" 1)
host_tp=$(median "$work/host.txt" 2)
filt_lat=$(median "$work/filtered.txt" 1)
filt_tp=$(median "$work/filtered.txt" 2)

echo "bench-egress: $connections connections (connect + 1-byte round trip), $mebibytes MiB bulk, client inside cordon, median of $runs runs"
printf '%-34s %12s %12s\n' "" "host" "filtered"
printf '%-34s %12s %12s\n' "connection set-up, µs each" "$host_lat" "$filt_lat"
printf '%-34s %12s %12s\n' "bulk throughput, MB/s" "$host_tp" "$filt_tp"
awk -v hl="$host_lat" -v fl="$filt_lat" -v ht="$host_tp" -v ft="$filt_tp" 'BEGIN {
    printf "ratio filtered/host: set-up latency x%.2f, throughput x%.2f\n", fl / hl, ft / ht
}'
