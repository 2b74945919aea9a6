#!/usr/bin/env bash
# Connection churn over the real TAP: Linux opens CHURN_CONNS (default
# 100 000, about 30 s) short connections to ustackd's echo service, 32 at a time, each sending 16
# bytes that must come back unchanged before it closes. Then ustackd must be
# where it started: no connection, socket or buffer left (its control socket's
# usage lines, polled until the last connection is gone) and its resident
# memory within 16 MiB of what it was after the first thousand connections.
# The Linux side reuses TIME-WAIT ports (tcp_tw_reuse, this namespace only)
# so that 100 000 connections are not limited by its port range.
. "$(dirname "$0")/lib.sh"

CONNS=${CHURN_CONNS:-100000}
CTL=$WORK/ctl.sock
ns_up
nsx sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000"
ustackd_start --services echo --control "$CTL" || { FAIL=$((FAIL + 1)); finish; exit 1; }

# usage NAME: a usage value from a live snapshot of ustackd; idle: the same
# TCBs, sockets (the echo listener and ustackd's own) and buffers as before the
# first connection.
usage() { "$BIN/ustack-stat" --control "$CTL" --raw 2>/dev/null | awk -v n="$1" '$1 == "usage" && $2 == n { print $3 }'; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$USTACKD_PID/status"; }
idle() { [ "$(usage tcp_connections)" = "$tcb0" ] && [ "$(usage sockets)" = "$sock0" ] && [ "$(usage pbufs)" = 0 ]; }

churn_py='
import socket, sys, threading
host, port, n, workers = sys.argv[1], 7, int(sys.argv[2]), 32
ok = [0] * workers
bad = []
def work(w):
    for i in range(w, n, workers):
        msg = ("%015d\n" % i).encode()
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(64)
                if not b:
                    break
                got += b
            s.close()
            if got == msg:
                ok[w] += 1
            else:
                bad.append("%d: got %r" % (i, got))
        except OSError as e:
            bad.append("%d: %s" % (i, e))
ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
for t in ts: t.start()
for t in ts: t.join()
print("ok", sum(ok))
print("failed", len(bad))
for b in bad[:5]: print("  ", b)
'

tcb0=$(usage tcp_connections) sock0=$(usage sockets)
check "a snapshot before the first connection (tcp_connections=$tcb0 sockets=$sock0)" [ -n "$tcb0" -a -n "$sock0" ]
nsx "$PY" -c "$churn_py" 10.0.0.2 1000 >"$WORK/warm.out" 2>&1
check_eq "warm-up: 1000 connections echoed" "$(counter ok "$WORK/warm.out")" 1000
wait_for 30 idle
rss0=$(rss_kib)

t0=$(now_s)
nsx "$PY" -c "$churn_py" 10.0.0.2 "$CONNS" >"$WORK/churn.out" 2>&1
echo "time: $CONNS connections: $(since_s "$t0") s"
sed -n '/^failed/,$p' "$WORK/churn.out"
check_eq "$CONNS connections echoed byte for byte" "$(counter ok "$WORK/churn.out")" "$CONNS"
check_eq "no connection failed" "$(counter failed "$WORK/churn.out")" 0
wait_for 60 idle
check "ustackd idle again: $tcb0 TCB(s) and $sock0 socket(s) as before, no buffer (usage tcp_connections=$(usage tcp_connections) sockets=$(usage sockets) pbufs=$(usage pbufs))" \
    idle
rss1=$(rss_kib)
echo "ustackd resident memory: ${rss0} KiB after the warm-up, ${rss1} KiB after $CONNS connections"
check "resident memory back within 16 MiB of the start (${rss0} -> ${rss1} KiB)" [ "$rss1" -le $((rss0 + 16384)) ]

ustackd_stop
check_no_leaks "ustackd at exit" "$USTACKD_OUT"
check_eq "passive opens counted" "$(counter tcp_passive_opens)" $((CONNS + 1000))
check_eq "no connection reset or timed out" "$(( $(counter tcp_conn_reset) + $(counter tcp_timeout) ))" 0
finish
