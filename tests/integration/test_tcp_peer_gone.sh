#!/usr/bin/env bash
# TCP: the peer goes away mid-transfer; the error reaches the application.
#  - Linux's receiver (nc -l) is killed -9 while ustack-bulk sends: the kernel
#    answers with an RST and ustack-bulk reports "Connection reset by peer"
#    (ECONNRESET) at once. Again with a receiver that stopped reading first
#    (its window shut, the stack's send buffer full, ustack-bulk blocked in a
#    send that has queued part of its buffer): the error must not be lost.
#  - Linux's sender is killed -9 while ustack-bulk receives: the kernel still
#    sends what it had queued and a FIN (no RST: nothing was left unread), and
#    ustack-bulk reports that the peer closed early.
#  - curl is killed -9 while downloading from ustackd (RST) and while
#    uploading to it (FIN): ustackd's HTTP threads see the reset or the early
#    end, and nothing is left.
#  - nftables drops every frame on tap1 while ustack-bulk sends with
#    --tcp-data-retries 5 --tcp-rto-max-ms 2000: it gives up with ETIMEDOUT
#    ("Connection timed out") after the backed-off RTOs, 0.2 + 0.4 + 0.8 +
#    1.6 + 2 + 2 = 7 s.
# Every program's usage_* lines at exit show no socket, connection or buffer
# left.
. "$(dirname "$0")/lib.sh"

ns_up
ustackd_start --services all || { FAIL=$((FAIL + 1)); finish; exit 1; }

listening() { ip netns exec "$NS" ss -ltnH "sport = :$1" | grep -q .; }
# moved_ge PORT FIELD N: a Linux connection to or from PORT has FIELD
# (bytes_received, bytes_acked: ss -ti) >= N; a transfer is under way.
moved_ge() {
    ip netns exec "$NS" ss -tinH state established "( sport = :$1 or dport = :$1 )" |
        grep -oE "$2:[0-9]+" | cut -d: -f2 | awk -v n="$3" '$1 >= n { f = 1 } END { exit !f }'
}

# --- Linux's receiver killed: RST -> ECONNRESET
bg_start ncr nc -l 10.0.0.1 7001
NCR=$BG_PID
check "nc -l 10.0.0.1 7001 is listening" wait_for 10 listening 7001
bg_start bulk1 "$BIN/ustack-bulk" --stats "$WORK/bulk1.stats" --send 100G 10.0.0.1 7001
B=$BG_PID
check "ustack-bulk --send: 10 MB have reached Linux" wait_for 20 moved_ge 7001 bytes_received 10000000
kill -9 "$NCR"
t0=$(now_s)
wait "$NCR" 2>/dev/null
wait_exit 30 "$B"
rc=$?
t=$(since_s "$t0")
echo "time: ustack-bulk --send reported the reset $t s after nc was killed"
check_eq "receiver killed: ustack-bulk exits 1$(note "$WORK/bulk1.err")" "$rc" 1
check "receiver killed: ustack-bulk says 'Connection reset by peer'" \
    grep -q '^ustack-bulk: send: Connection reset by peer$' "$WORK/bulk1.err"
check_range "receiver killed: reported within (seconds)" "$t" 0 2
check_eq "receiver killed: tcp_conn_reset" "$(counter tcp_conn_reset "$WORK/bulk1.stats")" 1
check_no_leaks "ustack-bulk (reset) at exit" "$WORK/bulk1.stats"

# --- the same with a receiver that stopped reading: killed behind a shut window
cat >"$WORK/noread.py" <<'PYEOF'
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.bind(("10.0.0.1", 7004))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
c.recv(1000)          # a little, then nothing more
time.sleep(3600)
PYEOF
nsx nstat -n >/dev/null
bg_start noread "$PY" "$WORK/noread.py"
NR=$BG_PID
check "a receiver that stops reading is listening" wait_for 10 grep -q '^listening$' "$WORK/noread.out"
bg_start bulk4 "$BIN/ustack-bulk" --stats "$WORK/bulk4.stats" --send 100G 10.0.0.1 7004
B=$BG_PID
window_shut() {
    [ "$(ip netns exec "$NS" nstat -az TcpExtTCPToZeroWindowAdv | awk '$1 == "TcpExtTCPToZeroWindowAdv" { print $2 }')" -ge 1 ] 2>/dev/null
}
check "Linux's window shut (TcpExtTCPToZeroWindowAdv)" wait_for 20 window_shut
kill -9 "$NR"
t0=$(now_s)
wait "$NR" 2>/dev/null
wait_exit 30 "$B"
rc=$?
t=$(since_s "$t0")
check_eq "stalled receiver killed: ustack-bulk exits 1$(note "$WORK/bulk4.err")" "$rc" 1
check "stalled receiver killed: ustack-bulk says 'Connection reset by peer'" \
    grep -q '^ustack-bulk: send: Connection reset by peer$' "$WORK/bulk4.err"
check_range "stalled receiver killed: reported within (seconds)" "$t" 0 2
check_no_leaks "ustack-bulk (reset behind a shut window) at exit" "$WORK/bulk4.stats"

# --- Linux's sender killed: its kernel flushes and closes -> early EOF
BG_STDIN=/dev/zero bg_start ncs nc -l 10.0.0.1 7002
NCS=$BG_PID
check "nc -l 10.0.0.1 7002 (sending zeros) is listening" wait_for 10 listening 7002
bg_start bulk2 "$BIN/ustack-bulk" --stats "$WORK/bulk2.stats" --recv 100G 10.0.0.1 7002
B=$BG_PID
check "ustack-bulk --recv: 10 MB have come from Linux" wait_for 20 moved_ge 7002 bytes_acked 10000000
kill -9 "$NCS"
t0=$(now_s)
wait "$NCS" 2>/dev/null
wait_exit 30 "$B"
rc=$?
t=$(since_s "$t0")
echo "time: ustack-bulk --recv saw the end $t s after nc was killed"
check_eq "sender killed: ustack-bulk exits 1$(note "$WORK/bulk2.err")" "$rc" 1
check "sender killed: ustack-bulk says the peer closed early" \
    grep -qE '^ustack-bulk: the peer closed after [0-9]+ of 107374182400 bytes$' "$WORK/bulk2.err"
check_range "sender killed: reported within (seconds)" "$t" 0 2
check_no_leaks "ustack-bulk (early FIN) at exit" "$WORK/bulk2.stats"

# --- curl killed while downloading from / uploading to ustackd
bg_start curldl curl -sS -o /dev/null http://10.0.0.2/bytes/1099511627776
D=$BG_PID
BG_STDIN=/dev/zero bg_start curlup curl -sS -T - http://10.0.0.2/upload
U=$BG_PID
check "curl is downloading (10 MB in)" wait_for 20 moved_ge 80 bytes_received 10000000
check "curl is uploading (10 MB out)" wait_for 20 moved_ge 80 bytes_acked 10000000
kill -9 "$D" "$U"
wait "$D" "$U" 2>/dev/null
# The download's socket is reset at once; the upload's closes (FIN) and the
# stack answers with its own FIN: Linux then holds nothing but TIME-WAIT.
check "Linux's ends of both connections are gone (ustackd answered the FIN)" \
    wait_for 10 bash -c "! ip netns exec $NS ss -tnH dst 10.0.0.2 exclude time-wait | grep -q ."
ustackd_stop
check_ge "ustackd: the download was reset (tcp_conn_reset)" "$(counter tcp_conn_reset)" 1
check_no_leaks "ustackd at exit" "$USTACKD_OUT"

# --- every frame dropped: ETIMEDOUT within the configured bound
bg_start ncr3 nc -l 10.0.0.1 7003
NCR=$BG_PID
check "nc -l 10.0.0.1 7003 is listening" wait_for 10 listening 7003
bg_start bulk3 "$BIN/ustack-bulk" --tcp-data-retries 5 --tcp-rto-max-ms 2000 --stats "$WORK/bulk3.stats" \
    --send 100G 10.0.0.1 7003
B=$BG_PID
check "ustack-bulk --send: 10 MB have reached Linux" wait_for 20 moved_ge 7003 bytes_received 10000000
nsx nft -f - <<'NFT'
table netdev ustack_blackhole {
    chain in {
        type filter hook ingress device "tap1" priority 0; policy accept;
        counter drop
    }
    chain out {
        type filter hook egress device "tap1" priority 0; policy accept;
        counter drop
    }
}
NFT
check "nftables drops every frame on tap1" [ $? -eq 0 ]
t0=$(now_s)
wait_exit 60 "$B"
rc=$?
t=$(since_s "$t0")
echo "time: ustack-bulk timed out $t s after every frame began to be dropped"
check_eq "black hole: ustack-bulk exits 1$(note "$WORK/bulk3.err")" "$rc" 1
check "black hole: ustack-bulk says 'Connection timed out'" \
    grep -q '^ustack-bulk: send: Connection timed out$' "$WORK/bulk3.err"
check_range "black hole: gave up after the 6th RTO, ~7 s (seconds)" "$t" 5 12
check_eq "black hole: tcp_timeout" "$(counter tcp_timeout "$WORK/bulk3.stats")" 1
check_ge "black hole: tcp_rto_expired" "$(counter tcp_rto_expired "$WORK/bulk3.stats")" 6
dropped() { nsx nft list chain netdev ustack_blackhole "$1" | sed -nE 's/.*counter packets ([0-9]+).*/\1/p'; }
check_ge "black hole: nftables dropped the stack's retransmissions (from tap1)" "$(dropped in)" 6
check_no_leaks "ustack-bulk (timed out) at exit" "$WORK/bulk3.stats"
nsx nft delete table netdev ustack_blackhole
kill "$NCR" 2>/dev/null; wait "$NCR" 2>/dev/null
finish
