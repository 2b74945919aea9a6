#!/usr/bin/env bash
# ustackd's event-driven services over the real TAP, with the limits a user
# gets by default:
#  - 10 000 concurrent connections from Linux to echo (SERVICES_CONNS): all
#    open first, then each echoes one byte of its own, then all close;
#    meanwhile ustackd runs on a handful of threads (no thread per
#    connection); afterwards no connection, socket or buffer is left and its
#    resident memory comes back (two rounds: the second must return what it
#    took);
#  - chargen's first 256 KiB are RFC 864's lines, and discard takes 1 MiB;
#  - a connection idle for --idle-timeout is closed by ustackd (a second run).
. "$(dirname "$0")/lib.sh"

CONNS=${SERVICES_CONNS:-10000}
CTL=$WORK/ctl.sock
ns_up
ustackd_start --services echo,discard,chargen --control "$CTL" ||
    { FAIL=$((FAIL + 1)); finish; exit 1; }

usage() { "$BIN/ustack-stat" --control "$CTL" --raw 2>/dev/null | awk -v n="$1" '$1 == "usage" && $2 == n { print $3 }'; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$USTACKD_PID/status"; }
tcb0=$(usage tcp_connections) sock0=$(usage sockets)
check "a snapshot before the first connection (tcp_connections=$tcb0 sockets=$sock0)" [ -n "$tcb0" -a -n "$sock0" ]
mem0=$(($(usage tcp_mem_bytes) + $(usage sock_mem_bytes)))
idle() { [ "$(usage tcp_connections)" = "$tcb0" ] && [ "$(usage sockets)" = "$sock0" ] && [ "$(usage pbufs)" = 0 ]; }

# The client: opens every connection (non-blocking, a few hundred connecting
# at a time), then, once all are established, sends each its own byte and
# reads it back, then prints what it saw; it waits for a line on stdin
# between the phases so that the shell can look at ustackd.
conns_py='
import os, resource, selectors, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
sel = selectors.DefaultSelector()
socks, pending, i = [], set(), 0
deadline = time.time() + 120
while (i < n or pending) and time.time() < deadline:
    while i < n and len(pending) < 256:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("10.0.0.2", 7))
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s); pending.add(s); i += 1
    for key, _ in sel.select(1):
        s = key.fileobj
        sel.unregister(s); pending.discard(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            print("connect failed"); sys.exit(1)
print("open", len(socks) - len(pending), flush=True)
sys.stdin.readline()
want = {}
for k, s in enumerate(socks):
    b = bytes([k % 251])
    s.send(b)
    want[s] = b
    sel.register(s, selectors.EVENT_READ)
ok = bad = 0
while want and time.time() < deadline:
    for key, _ in sel.select(1):
        s = key.fileobj
        got = s.recv(16)
        sel.unregister(s)
        if got == want.pop(s): ok += 1
        else: bad += 1
print("echoed", ok, "wrong", bad, "missing", len(want), flush=True)
sys.stdin.readline()
for s in socks: s.close()
print("closed", flush=True)
'
# One round: CONNS connections opened, each echoing its byte, closed; PEAK
# is ustackd's resident memory while they were open.
round() {
    local line
    coproc CLIENT { nsx "$PY" -c "$conns_py" "$CONNS" 2>&1; }
    read -r -t 150 line <&"${CLIENT[0]}"
    check_eq "$1: Linux opened $CONNS connections to echo" "$line" "open $CONNS"
    echo go >&"${CLIENT[1]}"
    read -r -t 150 line <&"${CLIENT[0]}"
    check_eq "$1: each connection echoed its own byte" "$line" "echoed $CONNS wrong 0 missing 0"
    # All open and established on both sides now (a SYN-cookie connection
    # exists in ustackd from its first data on).
    check_eq "$1: ustackd holds them all (TCBs beyond the listeners)" "$(($(usage tcp_connections) - tcb0))" "$CONNS"
    check_range "$1: ustackd's threads with $CONNS connections open" "$(status Threads)" 1 8
    PEAK=$(status VmRSS)
    # What the stack allocated for them (TCBs, tables, socket slots; a ring
    # goes once what it held is read or acknowledged: idle means the last
    # ACKs are in), per connection.
    per_conn() { echo $((($(usage tcp_mem_bytes) + $(usage sock_mem_bytes) - mem0) / CONNS)); }
    wait_for 10 [ "$(per_conn)" -le 4096 ]
    local mem=$(($(usage tcp_mem_bytes) + $(usage sock_mem_bytes) - mem0))
    echo "$1: stack memory for $CONNS idle connections: $mem bytes, $((mem / CONNS)) each"
    check_range "$1: stack memory per idle connection (bytes)" "$((mem / CONNS))" 1 4096
    echo go >&"${CLIENT[1]}"
    read -r -t 150 line <&"${CLIENT[0]}"
    check_eq "$1: the client closed them" "$line" "closed"
    wait "$CLIENT_PID" 2>/dev/null
    wait_for 60 idle
    check "$1: ustackd idle again: tcp_connections=$(usage tcp_connections) sockets=$(usage sockets) pbufs=$(usage pbufs)" idle
}
# The first round sizes what stays sized for the peak (the socket table's
# slots, the connection hash, as a kernel's descriptor table); the second
# must give back everything else.
t0=$(now_s)
round "round 1"
echo "time: round 1 ($CONNS connections) $(since_s "$t0") s"
# Once idle the runtime hands freed memory back (at most once a second):
# the start of round 2 is where the resident size settles.
stable() { local a; a=$(status VmRSS); sleep 1.5; [ "$a" = "$(status VmRSS)" ]; }
wait_for 20 stable
rss0=$(status VmRSS)
round "round 2"
echo "ustackd resident memory: $rss0 KiB after round 1, $PEAK KiB with $CONNS connections open" \
    "($(((PEAK - rss0) * 1024 / CONNS)) bytes each)"
back() { [ "$(status VmRSS)" -le $((rss0 + rss0 / 10)) ]; }
wait_for 15 back
check "resident memory back within 10% of where round 2 started ($rss0 -> $(status VmRSS) KiB)" back

# chargen and discard.
nsx timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("10.0.0.2", 19), timeout=10)
got = b""
while len(got) < 262144:
    b = s.recv(65536)
    if not b: break
    got += b
sys.stdout.buffer.write(got[:262144])
' >"$WORK/chargen.out"
chargen_file 262144 "$WORK/chargen.want"
check_eq "chargen: the first 256 KiB are RFC 864's" "$(sha256_of "$WORK/chargen.out")" "$(sha256_of "$WORK/chargen.want")"
head -c 1048576 /dev/zero | nsx timeout 20 nc -N 10.0.0.2 9 >/dev/null
check_eq "discard: 1 MiB taken (nc's exit status)" "$?" 0

ustackd_stop
check_no_leaks "ustackd at exit" "$USTACKD_OUT"
# The chargen reader closes with data unread: Linux resets that connection.
check_eq "one connection reset (chargen's reader), none timed out" \
    "$(counter tcp_conn_reset)/$(counter tcp_timeout)" 1/0

# The idle timeout: a connection that says nothing is closed after 3 s.
ustackd_start --services echo,http --idle-timeout 3 --control "$CTL" || { FAIL=$((FAIL + 1)); finish; exit 1; }
nsx timeout 20 "$PY" -c '
import socket, time
s = socket.create_connection(("10.0.0.2", 7), timeout=15)
t0 = time.time()
b = s.recv(1)
print("eof" if b == b"" else "data", "%.0f" % (time.time() - t0))
' >"$WORK/idle.out" 2>&1
read -r what secs <"$WORK/idle.out"
check_eq "an idle echo connection is closed by ustackd" "$what" eof
check_range "after the 3 s idle timeout (seconds)" "$secs" 3 5
# HTTP: a keep-alive connection with no second request, closed the same.
nsx timeout 20 "$PY" -c '
import socket, time
s = socket.create_connection(("10.0.0.2", 80), timeout=15)
s.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n")
got = b""
while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 10:
    b = s.recv(4096)
    if not b: break
    got += b
t0 = time.time()
rest = s.recv(1)
print(got.split(b"\r\n", 1)[0].decode(), "eof" if rest == b"" else "data", "%.0f" % (time.time() - t0))
' >"$WORK/idle_http.out" 2>&1
read -r proto code _ what secs <"$WORK/idle_http.out"
check_eq "HTTP: the request answered" "$proto $code" "HTTP/1.1 200"
check_eq "HTTP: the idle keep-alive connection closed by ustackd" "$what" eof
check_range "HTTP: after the 3 s idle timeout (seconds)" "$secs" 3 5
ustackd_stop
# ustackd closed first: its side of those two connections may be in TIME-WAIT.
check_no_leaks "ustackd at exit, after the idle timeouts" "$USTACKD_OUT" 2
finish
