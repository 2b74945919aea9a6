#!/usr/bin/env bash
# The demo: bring up the default topology in a namespace, start ustackd on
# tap0, ping it from Linux (small and fragmented), ping Linux from
# ustack-ping on tap1, echo a UDP datagram, show the counters, tear down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
NS=ustack
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates a network namespace)"; exit 1; }
OUT=$(mktemp -d /tmp/ustack-demo.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    "$ROOT/tools/netns.sh" down "$NS" >/dev/null 2>&1 || true
    rm -rf "$OUT"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "topology: netns $NS, br0 10.0.0.1/24, tap0 (ustackd 10.0.0.2), tap1 (client 10.0.0.3)"
"$ROOT/tools/netns.sh" down "$NS" >/dev/null 2>&1 || true
"$ROOT/tools/netns.sh" up "$NS"

step "start ustackd on tap0"
ip netns exec "$NS" "$BIN/ustackd" --tap tap0 --addr 10.0.0.2/24 --pcap "$OUT/ustackd.pcap" >"$OUT/ustackd.out" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q 'ustackd: ready' "$OUT/ustackd.out" && break; sleep 0.05; done
cat "$OUT/ustackd.out"

step "Linux pings the stack: ping -c 3 10.0.0.2"
ip netns exec "$NS" ping -c 3 -i 0.2 10.0.0.2
step "fragmented both ways: ping -c 2 -s 8000 10.0.0.2"
ip netns exec "$NS" ping -c 2 -i 0.2 -s 8000 10.0.0.2
step "the stack pings Linux: ustack-ping -c 3 10.0.0.1 (on tap1 as 10.0.0.3)"
ip netns exec "$NS" "$BIN/ustack-ping" --tap tap1 --addr 10.0.0.3/24 -c 3 -i 0.2 10.0.0.1
if command -v socat >/dev/null; then
    step "UDP echo on port 7: socat"
    echo "hello, ustack" | ip netns exec "$NS" socat -t 2 - UDP:10.0.0.2:7
fi

step "stop ustackd: its counters (non-zero)"
kill -INT "$PID"; wait "$PID" || true; PID=
awk 'NF == 2 && $2 != 0' "$OUT/ustackd.out"
step "what the stack saw and sent (tcpdump -r of its --pcap, first 12 frames)"
tcpdump -nr "$OUT/ustackd.pcap" 2>/dev/null | head -12 || true
step "done: namespace removed"
