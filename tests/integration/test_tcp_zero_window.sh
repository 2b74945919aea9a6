#!/usr/bin/env bash
# TCP zero window and persist probes, both ways at once.
#  - The stack reads slowly behind a Linux sender: ustack-bulk on tap1, with a
#    4 KiB receive buffer, reads nothing for 2 s, then drains 1 KiB every
#    100 ms, while Linux's nc sends 24 KiB. Its window closes
#    (zero-window ACKs in its --pcap), Linux probes it (TcpExtTCPWinProbe;
#    segments one below the acknowledged sequence in the capture), the stack
#    answers each probe with its window, and the transfer completes intact.
#  - The stack sends to a slow Linux reader: ustack-bulk on tap0 sends 24 KiB
#    to a Python reader with a small SO_RCVBUF that reads nothing for 2 s,
#    then 1 KiB every 100 ms. Linux's window closes (TcpExtTCPToZeroWindowAdv,
#    zero windows in the capture), the stack's persist timer probes it
#    (tcp_persist_probes; probes in its --pcap), and everything arrives.
# Linux only probes a window that stays shut for longer than its RTO (200 ms
# or more), and a reader draining 1 KiB every 100 ms reopens it every 200 ms:
# the 2 s without reading is what makes probes certain.
. "$(dirname "$0")/lib.sh"

ns_up
N=24576
chargen_file $N "$WORK/in"
want=$(chargen_sha256 $N)
nsx nstat -n >/dev/null   # start Linux's counter history (per namespace)

cat >"$WORK/reader.py" <<'PYEOF'
import hashlib, socket, sys, time
port = int(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # the smallest; inherited
ls.bind(("10.0.0.1", port))
ls.listen(1)
print("listening", flush=True)
c, _ = ls.accept()
time.sleep(2)
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1024)
    if not d:
        break
    h.update(d)
    n += len(d)
    time.sleep(0.1)
c.close()
print("bytes", n)
print("sha256", h.hexdigest())
PYEOF

# What a capture of the stack (its --pcap) shows about one connection:
# zero-window advertisements by each side, and window probes (a segment
# without data whose sequence number is one below what the other side has
# acknowledged, RFC 9293 3.8.6.1 as Linux and ustack send them) with the
# answers to them.
cat >"$WORK/zw.py" <<'PYEOF'
import struct, sys
path, me = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
end = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
off = 24
segs = []
while off + 16 <= len(data):
    incl = struct.unpack_from(end + "I", data, off + 8)[0]
    f = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6:
        continue
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack_from("!H", ip, 2)[0]
    tcp = ip[ihl:tot]
    src = ".".join(str(b) for b in ip[12:16])
    seq, ack = struct.unpack_from("!II", tcp, 4)
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    wnd = struct.unpack_from("!H", tcp, 14)[0]
    segs.append((src == me, seq, ack, flags, wnd, len(tcp) - doff))
acked = {True: None, False: None}   # highest ACK sent by us / by the peer
zero = {True: 0, False: 0}
probes = {True: 0, False: 0}
answered = {True: 0, False: 0}
pending = {True: False, False: False}
for mine, seq, ack, flags, wnd, dlen in segs:
    if flags & 0x07:               # SYN, FIN, RST
        continue
    other = acked[not mine]        # what the receiver of this segment acknowledged
    if dlen == 0 and other is not None and seq == (other - 1) & 0xffffffff:
        probes[mine] += 1
        pending[mine] = True
    elif pending[not mine] and dlen == 0:
        answered[not mine] += 1
        pending[not mine] = False
    if flags & 0x10:
        acked[mine] = ack
        if wnd == 0:
            zero[mine] += 1
for who, mine in (("us", True), ("peer", False)):
    print("zero_windows_%s %d" % (who, zero[mine]))
    print("probes_%s %d" % (who, probes[mine]))
    print("probes_answered_%s %d" % (who, answered[mine]))
PYEOF

# --- the stack reads slowly (tap1), Linux sends
BG_STDIN=$WORK/in bg_start ncs nc -N -l 10.0.0.1 7100
NCS=$BG_PID
check "nc -l 10.0.0.1 7100 is listening" wait_for 10 bash -c "ip netns exec $NS ss -ltnH 'sport = :7100' | grep -q ."
# --- the stack sends (tap0), Linux reads slowly
bg_start reader "$PY" "$WORK/reader.py" 7101
RD=$BG_PID
check "the slow Linux reader is listening" wait_for 10 grep -q '^listening$' "$WORK/reader.out"

t0=$(now_s)
bg_start slowrd "$BIN/ustack-bulk" --tcp-rcvbuf 4096 --read-start-ms 2000 --read-chunk 1024 --read-delay-ms 100 \
    --pcap "$WORK/slowrd.pcap" --stats "$WORK/slowrd.stats" --recv 0 10.0.0.1 7100
A=$BG_PID
bg_start sender "$BIN/ustack-bulk" --tap tap0 --addr 10.0.0.2/24 \
    --pcap "$WORK/sender.pcap" --stats "$WORK/sender.stats" --send $N 10.0.0.1 7101
B=$BG_PID
wait_exit 60 "$A"
rc_a=$?
echo "time: slow ustack reader done after $(since_s "$t0") s"
wait_exit 60 "$B"
rc_b=$?
echo "time: ustack sender to the slow Linux reader done after $(since_s "$t0") s"
wait_exit 10 "$RD"
wait_exit 10 "$NCS"
nsx nstat -az TcpExtTCPWinProbe TcpExtTCPToZeroWindowAdv >"$WORK/nstat"
linux() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/nstat"; }

# the stack as the slow reader
check_eq "slow reader: ustack-bulk exit$(note "$WORK/slowrd.err")" "$rc_a" 0
check_eq "slow reader: all $N bytes, sha256-equal" "$(awk '{ print $2, $8 }' "$WORK/slowrd.out")" "$N $want"
"$PY" "$WORK/zw.py" "$WORK/slowrd.pcap" 10.0.0.3 >"$WORK/slowrd.zw"
zw() { counter "$1" "$WORK/$2.zw"; }
check_ge "slow reader: the stack advertised a zero window (capture)" "$(zw zero_windows_us slowrd)" 1
check_ge "slow reader: Linux sent window probes (TcpExtTCPWinProbe)" "$(linux TcpExtTCPWinProbe)" 1
check_ge "slow reader: Linux's window probes in the capture" "$(zw probes_peer slowrd)" 1
check_eq "slow reader: the stack answered every probe" "$(zw probes_answered_peer slowrd)" "$(zw probes_peer slowrd)"
check_ge "slow reader: window updates once the reader drained (tcp_window_updates)" \
    "$(counter tcp_window_updates "$WORK/slowrd.stats")" 1
check_no_leaks "slow reader ustack-bulk at exit" "$WORK/slowrd.stats" 1
[ $FAIL -eq 0 ] || sed 's/^/  | /' "$WORK/slowrd.zw"

# the stack as the sender behind a slow Linux reader
check_eq "sender: ustack-bulk exit$(note "$WORK/sender.err")" "$rc_b" 0
check_eq "sender: the Linux reader got all $N bytes" "$(counter bytes "$WORK/reader.out")" $N
check_eq "sender: sha256-equal" "$(awk '$1 == "sha256" { print $2 }' "$WORK/reader.out")" "$want"
"$PY" "$WORK/zw.py" "$WORK/sender.pcap" 10.0.0.2 >"$WORK/sender.zw"
check_ge "sender: Linux advertised zero windows (TcpExtTCPToZeroWindowAdv)" "$(linux TcpExtTCPToZeroWindowAdv)" 1
check_ge "sender: zero windows from Linux in the capture" "$(zw zero_windows_peer sender)" 1
check_ge "sender: the stack's persist probes (tcp_persist_probes)" "$(counter tcp_persist_probes "$WORK/sender.stats")" 1
check_ge "sender: the stack's probes in the capture" "$(zw probes_us sender)" 1
check "sender: no more probes in the capture than counted" \
    [ "$(zw probes_us sender)" -le "$(counter tcp_persist_probes "$WORK/sender.stats")" ]
check_ge "sender: Linux answered probes" "$(zw probes_answered_us sender)" 1
check_eq "sender: the connection was not given up on (tcp_timeout)" "$(counter tcp_timeout "$WORK/sender.stats")" 0
check_no_leaks "sender ustack-bulk at exit" "$WORK/sender.stats" 1
[ $FAIL -eq 0 ] || sed 's/^/  | /' "$WORK/sender.zw"
finish
