#!/usr/bin/env bash
# Side-by-side run for issue 12: the loopback limit (redis-benchmark GET/SET, 1 and 16
# clients), one or more Outpost server binaries, SecantusDB and the raw-sled baseline, one
# after the other in one run, so the machine's load is comparable. Every server runs as its
# own process on 127.0.0.1 with data in a temporary directory; the load generator reads each
# server's RSS from /proc/PID/status. Each server is driven twice: through the official driver
# (outpost-load, as an application) and through the lean wire-protocol client
# (outpost-wire-load, as redis-benchmark drives redis).
#
#   benches/side-by-side.sh [--seconds S] [--bulk N] [--no-secantus] OUTPOST_BINARY...
#
# Needs a release build (`cargo build --release -p outpost-benches -p outpost-server`),
# redis-server and redis-benchmark (apt-get install redis-server), and for the peer
# `secantusd-py` (pip install SecantusDB). Prints the load average before and after, and the
# share of the CPU the hypervisor took from this VM during the run (steal time from
# /proc/stat): on a shared host it swings, and a run with much steal is not comparable.
set -euo pipefail

seconds=5
bulk=200000
secantus=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --bulk) bulk="$2"; shift 2 ;;
        --no-secantus) secantus=0; shift ;;
        *) break ;;
    esac
done
if [[ $# -eq 0 ]]; then
    echo "usage: $0 [--seconds S] [--bulk N] [--no-secantus] OUTPOST_BINARY..." >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
load="$root/target/release/outpost-load"
baseline="$root/target/release/outpost-sled-baseline"
wire="$root/target/release/outpost-wire-load"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port (asks the kernel for one).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Total and steal jiffies of all CPUs so far (the `cpu` line of /proc/stat).
cpu_jiffies() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print t, $9}' /proc/stat; }
read -r total_start steal_start < <(cpu_jiffies)
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"

echo "== redis (loopback limit)"
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
wait_port "$port"
for clients in 1 16; do
    # -q still prints progress lines ended by carriage returns: keep the summaries.
    redis-benchmark -p "$port" -c "$clients" -n 100000 -t get,set -q | tr '\r' '\n' |
        grep 'requests per second' | sed "s/^/  $clients clients: /"
done
kill "${pids[-1]}"

for binary in "$@"; do
    echo "== outpost: $binary"
    port=$(free_port)
    mkdir -p "$work/outpost-$port"
    "$binary" serve --port "$port" --dbpath "$work/outpost-$port" --log-format json >"$work/outpost-$port.log" 2>&1 &
    pid=$!
    pids+=($pid)
    wait_port "$port"
    "$load" --uri "mongodb://127.0.0.1:$port/?directConnection=true" --server-pid "$pid" \
        --seconds "$seconds" --bulk-load "$bulk"
    echo "  on disk after the run: $(du -sh "$work/outpost-$port" | cut -f1)"
    echo "  the same server under the lean wire-protocol client (outpost-wire-load):"
    "$wire" --addr "127.0.0.1:$port" --seconds "$seconds" | sed 's/^/  /'
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done

if [[ $secantus -eq 1 ]]; then
    echo "== SecantusDB (secantusd-py --standalone)"
    port=$(free_port)
    secantusd-py --standalone --port "$port" --host 127.0.0.1 --storage-path ':memory:' \
        --log-level ERROR >"$work/secantus.log" 2>&1 &
    pid=$!
    pids+=($pid)
    wait_port "$port"
    "$load" --uri "mongodb://127.0.0.1:$port/?directConnection=true" --server-pid "$pid" \
        --seconds "$seconds" --scale 0.1 --only ping,insertOne,find,update
    echo "  under the lean wire-protocol client:"
    "$wire" --addr "127.0.0.1:$port" --seconds "$seconds" | sed 's/^/  /' ||
        echo "  (the wire-protocol client failed against SecantusDB)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
fi

echo "== raw sled baseline"
"$baseline" --docs 200000
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r total_end steal_end < <(cpu_jiffies)
echo "== CPU stolen by the hypervisor during the run: $(( 100 * (steal_end - steal_start) / (total_end - total_start) ))%"
