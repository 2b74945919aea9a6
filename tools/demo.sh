#!/usr/bin/env bash
# The demo: bring up the default topology in a namespace, start ustackd on
# tap0, ping it from Linux (small and fragmented), ping Linux from
# ustack-ping on tap1, echo a UDP datagram, curl the stack's web server (a
# page, and 10 MiB checked by sha256), have the stack fetch a page and 10 MiB
# from Linux's `python3 -m http.server` with ustack-get on tap1, show the
# counters, tear down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
NS=ustack
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates a network namespace)"; exit 1; }
OUT=$(mktemp -d /tmp/ustack-demo.XXXXXX)
PID=
HTTPD=
cleanup() {
    [ -n "$HTTPD" ] && kill "$HTTPD" 2>/dev/null && wait "$HTTPD" 2>/dev/null
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    "$ROOT/tools/netns.sh" down "$NS" >/dev/null 2>&1 || true
    rm -rf "$OUT"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "topology: netns $NS, br0 10.0.0.1/24, tap0 (ustackd 10.0.0.2), tap1 (client 10.0.0.3)"
"$ROOT/tools/netns.sh" down "$NS" >/dev/null 2>&1 || true
"$ROOT/tools/netns.sh" up "$NS"

step "start ustackd on tap0 (TCP services: echo, discard, chargen, http)"
mkdir -p "$OUT/www" "$OUT/linux-www"
cat >"$OUT/www/index.html" <<'HTML'
<!doctype html>
<title>ustack</title>
<h1>Hello from ustack</h1>
<p>This page came over a TCP connection that a user-space stack accepted.</p>
HTML
ip netns exec "$NS" "$BIN/ustackd" --tap tap0 --addr 10.0.0.2/24 --services all --http-root "$OUT/www" \
    --pcap "$OUT/ustackd.pcap" >"$OUT/ustackd.out" 2>&1 &
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

# sha256 of the first N bytes of the chargen pattern that /bytes/N serves
# (apps/util.c: lines of 72 characters and CR LF, each starting one later).
chargen_sha256() {
    /usr/bin/python3 -c '
import hashlib, sys
period = bytes(13 if c == 72 else 10 if c == 73 else 32 + (l + c) % 95 for l in range(95) for c in range(74))
n, h = int(sys.argv[1]), hashlib.sha256()
while n > 0:
    k = min(n, len(period))
    h.update(period[:k])
    n -= k
print(h.hexdigest())' "$1"
}

step "TCP: Linux's curl fetches the stack's page: curl http://10.0.0.2/"
ip netns exec "$NS" curl -sS -m 10 http://10.0.0.2/
step "TCP: curl fetches 10 MiB of /bytes/10485760 (the chargen pattern) and checks its sha256"
got=$(ip netns exec "$NS" curl -sS -m 60 -w '%{stderr}%{size_download} bytes at %{speed_download} bytes/s\n' \
      http://10.0.0.2/bytes/10485760 | sha256sum | cut -d' ' -f1)
want=$(chargen_sha256 10485760)
echo "sha256 $got"
[ "$got" = "$want" ] && echo "matches the pattern's sha256, computed here" || echo "MISMATCH: expected $want"

step "TCP: the stack fetches from Linux: python3 -m http.server on 10.0.0.1:8000, ustack-get on tap1"
echo "<p>This page was served by Linux and fetched by ustack-get.</p>" >"$OUT/linux-www/page.html"
head -c 10485760 /dev/urandom >"$OUT/linux-www/10MiB.bin"
ip netns exec "$NS" /usr/bin/python3 -m http.server 8000 --bind 10.0.0.1 --directory "$OUT/linux-www" \
    >/dev/null 2>&1 &
HTTPD=$!
for _ in $(seq 100); do
    ip netns exec "$NS" curl -sf -o /dev/null http://10.0.0.1:8000/page.html && break
    sleep 0.05
done
ip netns exec "$NS" "$BIN/ustack-get" http://10.0.0.1:8000/page.html
echo "ustack-get --sha256 http://10.0.0.1:8000/10MiB.bin"
ip netns exec "$NS" "$BIN/ustack-get" --sha256 -o "$OUT/10MiB.got" http://10.0.0.1:8000/10MiB.bin
echo "sha256 of the file Linux served: $(sha256sum <"$OUT/linux-www/10MiB.bin" | cut -d' ' -f1)"
cmp -s "$OUT/10MiB.got" "$OUT/linux-www/10MiB.bin" && echo "identical" || echo "MISMATCH"
kill "$HTTPD" 2>/dev/null; wait "$HTTPD" 2>/dev/null || true; HTTPD=

step "stop ustackd: its counters (non-zero)"
kill -INT "$PID"; wait "$PID" || true; PID=
awk 'NF == 2 && $2 != 0' "$OUT/ustackd.out"
step "what the stack saw and sent (tcpdump -r of its --pcap, first 12 frames)"
tcpdump -nr "$OUT/ustackd.pcap" 2>/dev/null | head -12 || true
step "done: namespace removed"
