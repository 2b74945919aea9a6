#!/usr/bin/env bash
# The performance table (`make bench`; not part of `make test`): ustack
# against the Linux kernel and against the raw TAP limit, all measured in the
# same run on the topology of tools/bench-lib.sh, plus a namespace K (Linux,
# 10.0.0.4) on brA beside L and ustack, and a direct veth L-R (10.1.0.0/24):
#
#   TAP limit       a UDP flood from L (60000-byte datagrams, 41 frames each)
#                   through ustack-impair (no impairment): frames/s it reads
#                   from tapA and writes to tapB, the most a program over a
#                   plain TAP can move on this machine (read + write per frame)
#   bulk            tools/bench-tcp.py in L moves BYTES to/from: Linux K over
#                   the bridge (veth-bridge-veth), ustack over the bridge
#                   (veth-bridge-TAP, ustack-bulk), Linux R over the direct
#                   veth, Linux R across ustack-impair (TAP-forwarded)
#   ping RTT        200 echo requests from L, 10 ms apart: ustackd vs K (p50, p99)
#   HTTP req/s      ab with and without -k (keep-alive) from L, 4 concurrent, 5 s:
#                   ustackd's server vs a minimal threaded Python server in K
#                   (keep-alive, TCP_NODELAY): this compares whole servers
#   TCP_RR          1-byte request/response on one connection from L (as netperf's
#                   TCP_RR): to ustackd's echo service vs a Python echo server in K
#                   (p50, p99), and to ustackd with 1 000 and 10 000 idle
#                   connections open beside it (the figure must not grow)
#   wrk             wrk -t2 keep-alive at -c 10, 100, 1000 for 5 s: ustackd's HTTP
#                   server vs nginx in K (requests/s, p99 latency), same page
#   memory          ustackd's RSS idle and with N idle TCP connections to its
#                   echo service (an event loop: no thread per connection), and
#                   the stack memory per connection it reports
#
# Medians of REPEATS runs for the bulk rows. Prints a markdown table: figure,
# ustack, reference, ratio.
#
#   tools/bench.sh [--repeats N] [--bytes MiB] [--quick]
# QUICK=1 in the environment is --quick (smaller, one repeat); USTACK_BIN=DIR
# measures the ustack programs of another build. Needs root and a built tree.
set -euo pipefail

REPEATS=3
MIB=256
QUICK=${QUICK:-0}
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) REPEATS=$2; shift 2 ;;
        --bytes) MIB=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
FLOOD_S=3 PINGS=200 AB_S=5 CONNS=10000 RR_N=2000 WRK_S=5
if [ "$QUICK" = 1 ]; then
    [ "$REPEATS" = 3 ] && REPEATS=1
    [ "$MIB" = 256 ] && MIB=64
    FLOOD_S=2 PINGS=100 AB_S=2 CONNS=2000 RR_N=500 WRK_S=2
fi
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it creates network namespaces)" >&2; exit 1; }
. "$(dirname "$0")/bench-lib.sh"
[ -x "$BL_BIN/ustack-impair" ] && [ -x "$BL_UBIN/ustack-bulk" ] && [ -x "$BL_UBIN/ustackd" ] ||
    { echo "bench: build first (make all)" >&2; exit 1; }
command -v ab >/dev/null || { echo "bench: needs ab (apache2-utils; make deps)" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "bench: needs wrk and nginx (make deps)" >&2; exit 1; }
BL_NS_K=ustb$$k
BL_IP_K=10.0.0.4
UPID=
bench_cleanup() {
    [ -z "$UPID" ] || kill -TERM "$UPID" 2>/dev/null || true
    for pid in $(ip netns pids "$BL_NS_K" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$BL_NS_K" 2>/dev/null || true
    bl_cleanup
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed (line $LINENO)" >&2' ERR

bl_topology_up
ip netns add "$BL_NS_K"
ip -n "$BL_NS_K" link set lo up
ip -n "$BL_NS_M" link add vk type veth peer name eth0 netns "$BL_NS_K"
ip -n "$BL_NS_M" link set vk master brA
ip -n "$BL_NS_M" link set vk up
ip -n "$BL_NS_K" addr add "$BL_IP_K/24" dev eth0
ip -n "$BL_NS_K" link set eth0 up
ip -n "$BL_NS_L" link add eth1 type veth peer name eth1 netns "$BL_NS_R"
ip -n "$BL_NS_L" addr add 10.1.0.1/24 dev eth1
ip -n "$BL_NS_R" addr add 10.1.0.2/24 dev eth1
ip -n "$BL_NS_L" link set eth1 up
ip -n "$BL_NS_R" link set eth1 up

echo "bench: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uname -r); $(nproc) CPUs:" \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: ustack programs from $BL_UBIN${USTACK_BIN:+ (USTACK_BIN)}; this tree $(git -C "$BL_ROOT" log -1 --format='%h %s' 2>/dev/null || echo '?')"
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 |"); }

# ------------------------------------------------------------ raw TAP limit
# To a MAC nobody has: the bridge behind tapB floods the frames to R, whose
# NIC filter drops them, so what is measured is the TAP program, not R.
ip -n "$BL_NS_L" neigh replace 10.0.0.99 lladdr 02:00:00:00:00:99 dev eth0 nud permanent
bl_impair_start
ip netns exec "$BL_NS_L" "$BL_PY" - 10.0.0.99 "$FLOOD_S" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = bytes(60000)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for _ in range(32):
        try:
            s.sendto(data, (sys.argv[1], 9))
        except OSError:
            pass
EOF
bl_impair_stop
read -r fps mbps < <(awk -v s="$FLOOD_S" '/^a->b/ { printf "%.0f %.0f\n", $3 / s, $5 * 8 / s / 1e6 }' "$BL_TMP/impair.out")
echo "bench: TAP limit: $fps frames/s, $mbps Mbit/s read from tapA and written to tapB"
TAP_FPS=$fps TAP_MBPS=$mbps

# ------------------------------------------------------------ bulk
BYTES=$((MIB * 1048576))
export BL_NO_HASH=1
bulk() { # LABEL NAME: median Mbit/s over REPEATS of bl_transfer with the current BL_* settings
    local runs=() r
    for r in $(seq "$REPEATS"); do runs+=("$(bl_transfer "$@")"); done
    echo "bench: bulk $2 ${BL_SRV_IP:-$1} (${1}): ${runs[*]} Mbit/s" >&2
    bl_median "${runs[@]}"
}
declare -A BULK=()
for dir in to from; do
    # Client L; endpoints: K (bridge), ustack (bridge, TAP), R direct veth, R across the TAP forwarder.
    BL_CLI_NS=$BL_NS_L BL_SRV_NS=$BL_NS_K BL_SRV_IP=$BL_IP_K
    BULK[k_$dir]=$(bulk linux "$dir" "$BYTES" 60)
    BULK[u_$dir]=$(bulk ustack "$dir" "$BYTES" 60)
    BL_SRV_NS=$BL_NS_R BL_SRV_IP=10.1.0.2
    BULK[v_$dir]=$(bulk linux "$dir" "$BYTES" 60)
    bl_impair_start
    BL_SRV_IP=$BL_IP_R
    BULK[t_$dir]=$(bulk linux "$dir" "$BYTES" 60)
    bl_impair_stop
    unset BL_CLI_NS BL_SRV_NS BL_SRV_IP
done
for dir in to from; do
    d=$([ "$dir" = to ] && echo "Linux → ustack" || echo "ustack → Linux")
    echo "bench: bulk $d: ustack ${BULK[u_$dir]}, Linux over the bridge ${BULK[k_$dir]}, veth ${BULK[v_$dir]}, TAP-forwarded ${BULK[t_$dir]} Mbit/s"
    row "bulk $d, Mbit/s (vs Linux↔Linux over the same bridge)" "${BULK[u_$dir]}" "${BULK[k_$dir]}" \
        "$(bl_ratio "${BULK[u_$dir]}" "${BULK[k_$dir]}")" "Linux↔Linux direct veth ${BULK[v_$dir]}; across ustack-impair ${BULK[t_$dir]}"
done
unset BL_NO_HASH
# ustack's receiving rate in full-size frames (1448 payload bytes each) against
# what a program can move through a TAP at all.
ufps=$(awk -v m="${BULK[u_to]}" 'BEGIN { if (m + 0 > 0) printf "%.0f", m * 1e6 / 8 / 1448; else print "n/a" }')
row "frames/s: ustack receiving bulk vs the TAP limit (read+write of a forwarder)" "$ufps" "$TAP_FPS" \
    "$(bl_ratio "$ufps" "$TAP_FPS")" "TAP limit $TAP_MBPS Mbit/s of frames (UDP flood through ustack-impair)"

# ------------------------------------------------------------ ustackd: ping, HTTP, memory
WWW=$BL_TMP/www
mkdir -p "$WWW"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WWW/index.html"
ip netns exec "$BL_NS_M" "$BL_UBIN/ustackd" --tap tapU --addr "$BL_IP_U/24" --services echo,http --http-root "$WWW" \
    --control off >"$BL_TMP/ustackd.out" 2>"$BL_TMP/ustackd.err" &
UPID=$!
bl_wait 5 grep -q '^ustackd: ready$' "$BL_TMP/ustackd.out" || { echo "bench: ustackd did not start" >&2; cat "$BL_TMP/ustackd.err" >&2; exit 1; }
# The kernel's reference server: the same page, HTTP/1.1 keep-alive, a thread
# per connection, in Python (http.server hangs under ab -k's HTTP/1.0
# keep-alive requests, so a minimal one).
ip netns exec "$BL_NS_K" "$BL_PY" -c '
import socket, sys, threading
body = open(sys.argv[1], "rb").read()
ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(body) + body
def serve(c):
    buf = b""
    with c:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            req, buf = buf.split(b"\r\n\r\n", 1)
            c.sendall(ok)
            if b"keep-alive" not in req.lower() and req.split(b"\r\n")[0].endswith(b"1.0"):
                return
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[2], 80))
ls.listen(64)
while True:
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=serve, args=(c,), daemon=True).start()' "$WWW/index.html" "$BL_IP_K" >/dev/null 2>&1 &
KPID=$!
bl_wait 5 ip netns exec "$BL_NS_L" curl -sf -o /dev/null "http://$BL_IP_K/index.html"
bl_wait 5 ip netns exec "$BL_NS_L" curl -sf -o /dev/null "http://$BL_IP_U/index.html"

rtt() { # ADDR -> "p50 p99" in ms
    ip netns exec "$BL_NS_L" ping -q -c 3 -W 1 "$1" >/dev/null 2>&1 || true
    ip netns exec "$BL_NS_L" ping -n -c "$PINGS" -i 0.01 -W 1 "$1" 2>/dev/null |
        sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) { print "n/a n/a"; exit }
              i = int(NR * 0.99); if (i < 1) i = 1
              printf "%.3f %.3f\n", a[int((NR + 1) / 2)], a[i] }'
}
read -r u50 u99 < <(rtt "$BL_IP_U")
read -r k50 k99 < <(rtt "$BL_IP_K")
echo "bench: ping RTT ms p50/p99: ustack $u50/$u99, Linux $k50/$k99"
row "ping RTT p50, ms (vs Linux over the same bridge)" "$u50" "$k50" "$(bl_ratio "$u50" "$k50")" "$PINGS requests, 10 ms apart"
row "ping RTT p99, ms" "$u99" "$k99" "$(bl_ratio "$u99" "$k99")" ""

# Memory before the HTTP runs, which leave freed memory in the process.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
upid=$(pgrep -P "$UPID" -x ustackd || echo "$UPID")
rss0=$(rss_kib "$upid")
ip netns exec "$BL_NS_L" "$BL_PY" - "$BL_IP_U" "$CONNS" "$upid" >"$BL_TMP/conns.out" <<'EOF'
import resource, socket, sys, time
addr, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
socks = []
for i in range(n):
    s = socket.create_connection((addr, 7), timeout=5)
    socks.append(s)
# Every connection answers an echo: all are established on the ustack side.
for s in socks:
    s.sendall(b"x")
for s in socks:
    assert s.recv(1) == b"x"
time.sleep(0.5)  # the last ACKs in: idle connections hold no buffer
with open("/proc/%s/status" % pid) as f:
    print([l.split()[1] for l in f if l.startswith("VmRSS:")][0], flush=True)
for s in socks:
    s.close()
EOF
rssn=$(cat "$BL_TMP/conns.out")
per=$(awk -v a="$rss0" -v b="$rssn" -v n="$CONNS" 'BEGIN { printf "%.1f", (b - a) / n }')
echo "bench: ustackd RSS: idle $rss0 KiB, with $CONNS connections $rssn KiB ($per KiB each)"
row "ustackd RSS idle, KiB" "$rss0" "—" "" "stack, TCP/UDP services, HTTP server"
row "ustackd RSS with $CONNS idle TCP connections, KiB" "$rssn" "—" "" "$per KiB per connection (an event loop, no thread each)"

# TCP_RR: RR_N one-byte round trips on one connection (TCP_NODELAY), after
# opening IDLE other connections to the same server that stay silent.
rr_py='
import resource, socket, sys, time
addr, n, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (idle + 1000, idle + 1000))
idles = [socket.create_connection((addr, 7), timeout=10) for _ in range(idle)]
s = socket.create_connection((addr, 7), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
lat = []
for i in range(n + 50):
    t = time.perf_counter()
    s.send(b"x")
    if s.recv(1) != b"x":
        sys.exit(1)
    if i >= 50:
        lat.append(time.perf_counter() - t)
lat.sort()
print("%.3f %.3f" % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000))
'
ip netns exec "$BL_NS_K" "$BL_PY" -c '
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 7))
ls.listen(1024)
sel.register(ls, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is ls:
            c, _ = ls.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(c, selectors.EVENT_READ)
            continue
        d = key.fileobj.recv(65536)
        if d:
            key.fileobj.sendall(d)
        else:
            sel.unregister(key.fileobj)
            key.fileobj.close()' "$BL_IP_K" >/dev/null 2>&1 &
EPID=$!
bl_wait 5 ip netns exec "$BL_NS_L" "$BL_PY" -c "$rr_py" "$BL_IP_K" 1 0
rr() { ip netns exec "$BL_NS_L" "$BL_PY" -c "$rr_py" "$1" "$RR_N" "$2" 2>/dev/null || echo "n/a n/a"; }
read -r k50 k99 < <(rr "$BL_IP_K" 0)
read -r u50 u99 < <(rr "$BL_IP_U" 0)
read -r m50 m99 < <(rr "$BL_IP_U" 1000)
read -r t50 t99 < <(rr "$BL_IP_U" 10000)
kill "$EPID" 2>/dev/null || true
echo "bench: TCP_RR ms p50/p99: ustack $u50/$u99 (1000 idle: $m50/$m99, 10000 idle: $t50/$t99), Linux $k50/$k99"
row "TCP_RR 1-byte p50, ms (vs a Python echo server on Linux)" "$u50" "$k50" "$(bl_ratio "$u50" "$k50")" "$RR_N round trips, one connection"
row "TCP_RR 1-byte p99, ms" "$u99" "$k99" "$(bl_ratio "$u99" "$k99")" ""
row "TCP_RR p50 with 1 000 idle connections, ms (vs none idle)" "$m50" "$u50" "$(bl_ratio "$m50" "$u50")" "p99 $m99"
row "TCP_RR p50 with 10 000 idle connections, ms (vs none idle)" "$t50" "$u50" "$(bl_ratio "$t50" "$u50")" "p99 $t99"


reqs() { # URL [-k] -> requests/s, or n/a
    local out
    out=$(ip netns exec "$BL_NS_L" timeout $((AB_S + 30)) ab -q ${2:-} -c 4 -t "$AB_S" -n 1000000 "$1" 2>&1) || { echo n/a; return; }
    local failed
    failed=$(sed -n 's/^Failed requests: *//p' <<<"$out")
    [ "${failed:-1}" = 0 ] || { echo n/a; return; }
    sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' <<<"$out"
}
ur=$(reqs "http://$BL_IP_U/index.html" -k)
kr=$(reqs "http://$BL_IP_K/index.html" -k)
echo "bench: HTTP keep-alive requests/s: ustackd $ur, Python server on Linux $kr"
row "HTTP req/s, ab -k -c 4 (keep-alive), 1 KiB page (vs a Python server on Linux)" "$ur" "$kr" "$(bl_ratio "$ur" "$kr")" \
    "$AB_S s each; the reference is a minimal threaded Python server"
ur=$(reqs "http://$BL_IP_U/index.html")
kr=$(reqs "http://$BL_IP_K/index.html")
echo "bench: HTTP requests/s, a connection each: ustackd $ur, Python server on Linux $kr"
row "HTTP req/s, ab -c 4 (a connection per request)" "$ur" "$kr" "$(bl_ratio "$ur" "$kr")" "$AB_S s each; connections per second"
# wrk (keep-alive, 2 threads) against ustackd's HTTP server and against nginx
# in K over the same bridge, the same 1 KiB page, at -c 10, 100 and 1000.
cat >"$BL_TMP/nginx.conf" <<NGX
user root;
worker_processes 2;
daemon off;
pid $BL_TMP/nginx.pid;
error_log $BL_TMP/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600;
    server { listen $BL_IP_K:8080; root $WWW; }
}
NGX
ip netns exec "$BL_NS_K" nginx -c "$BL_TMP/nginx.conf" -p "$BL_TMP" >/dev/null 2>&1 &
NPID=$!
bl_wait 5 ip netns exec "$BL_NS_L" curl -sf -o /dev/null "http://$BL_IP_K:8080/index.html"
wrk_run() { # URL CONNS -> "req/s p99_ms", or "n/a n/a"
    local out
    out=$(ulimit -n "$(ulimit -Hn)"; ip netns exec "$BL_NS_L" timeout $((WRK_S + 30)) wrk -t2 -c"$2" -d"${WRK_S}s" --latency "$1" 2>&1) ||
        { echo "n/a n/a"; return; }
    # A run with socket errors or non-2xx answers does not count.
    if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then echo "n/a n/a"; return; fi
    awk '/^Requests\/sec:/ { r = $2 }
         $1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                       p = u == "us" ? v / 1000 : u == "s" ? v * 1000 : v }
         END { if (r == "" || p == "") print "n/a n/a"; else printf "%.0f %.2f\n", r, p }' <<<"$out"
}
for c in 10 100 1000; do
    read -r ur up < <(wrk_run "http://$BL_IP_U/index.html" "$c")
    read -r kr kp < <(wrk_run "http://$BL_IP_K:8080/index.html" "$c")
    echo "bench: wrk -c $c: ustackd $ur req/s p99 $up ms, nginx $kr req/s p99 $kp ms"
    row "HTTP req/s, wrk -t2 -c $c keep-alive, 1 KiB page (vs nginx on Linux)" "$ur" "$kr" "$(bl_ratio "$ur" "$kr")" "$WRK_S s each"
    row "HTTP p99 latency, wrk -c $c, ms (vs nginx)" "$up" "$kp" "$(bl_ratio "$up" "$kp")" ""
done
kill "$NPID" 2>/dev/null || true
wait "$NPID" 2>/dev/null || true

kill "$KPID" 2>/dev/null || true

kill -TERM "$UPID" 2>/dev/null || true
wait "$UPID" 2>/dev/null || true
UPID=

echo
echo "ustack performance, $(date -u '+%Y-%m-%d'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); bulk: $MIB MiB, median of $REPEATS:"
echo
echo "| figure | ustack | reference | ratio | notes |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
