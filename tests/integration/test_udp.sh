#!/usr/bin/env bash
# UDP against Linux: socat's datagrams to the echo service (port 7) come back
# identical, one datagram each way per payload (1, 100, 1472 and 8000 bytes,
# the last fragmented both ways); a closed port answers ICMP port unreachable,
# which a connected Linux socket reports as "Connection refused"; crafted
# datagrams (scapy): a bad checksum is dropped and counted, a zero checksum
# (none computed) is accepted and echoed, and a datagram whose checksum
# computes to zero (sent as 0xffff) is accepted and echoed with 0xffff.
. "$(dirname "$0")/lib.sh"

ns_up
ustackd_start || { FAIL=$((FAIL + 1)); finish; exit 1; }
tcpdump_start "$WORK/br0.pcap" udp or icmp
check "tcpdump on br0 is capturing" [ $? -eq 0 ]

# --- echo of 1, 100, 1472, 8000 bytes
SIZES="1 100 1472 8000"
for n in $SIZES; do
    head -c "$n" /dev/urandom >"$WORK/in$n"
    # One read of stdin (<= -b) makes one datagram; -t 1: wait 1 s for the
    # echo after stdin's EOF; -T 5 bounds the whole exchange.
    nsx socat -b 65536 -t 1 -T 5 - UDP:10.0.0.2:7 <"$WORK/in$n" >"$WORK/out$n" 2>"$WORK/socat$n.err"
    check "socat $n bytes: exit 0" [ $? -eq 0 ]
    check "socat $n bytes: echoed identically (cmp; sha256 $(sha256sum <"$WORK/in$n" | cut -c1-12)…)" \
        cmp -s "$WORK/in$n" "$WORK/out$n"
done

# --- a closed port: ICMP port unreachable -> ECONNREFUSED on a connected socket
nsx "$PY" - >"$WORK/refused" 2>&1 <<'PYEOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("10.0.0.2", 9))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("got an answer")
except ConnectionRefusedError as e:
    print("ConnectionRefusedError:", e)
except socket.timeout:
    print("timeout")
PYEOF
check "closed port: Linux reports Connection refused ($(head -1 "$WORK/refused"))" \
    grep -q '^ConnectionRefusedError: .*Connection refused' "$WORK/refused"

# --- crafted checksums (scapy from br0)
nsx "$PY" - >"$WORK/crafted" 2>&1 <<'PYEOF'
import socket, sys
from scapy.all import Ether, IP, UDP, Raw, conf
conf.verb = 0
MAC = "02:00:0a:00:00:02"
l2 = conf.L2socket(iface="br0")

def udp_frame(payload, sport, chksum=None):
    u = UDP(sport=sport, dport=7)
    if chksum is not None:
        u.chksum = chksum
    return Ether(dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / u / Raw(payload)

def good_sum(frame):
    return Ether(bytes(frame))[UDP].chksum

def recv_all(sock, n):
    got = []
    for _ in range(n):
        try:
            got.append(sock.recv(2048))
        except socket.timeout:
            break
    return got

# Bad checksums: 5 datagrams with a wrong sum, then a good one. The first (and
# only) echo must be the good one: the stack answers in order, so a bad one
# echoed would arrive before it.
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("10.0.0.1", 40001))
r.settimeout(3)
for i in range(5):
    f = udp_frame(b"bad checksum %d" % i, 40001)
    c = good_sum(f)
    l2.send(udp_frame(b"bad checksum %d" % i, 40001, chksum=(c ^ 0x5a5a) or 1))
l2.send(udp_frame(b"good after bad", 40001))
got = recv_all(r, 1)
print("bad-then-good:", got[0].decode() if got else "nothing")
r.settimeout(0.3)   # anything more would already be here behind the first echo
print("extra echoes:", len(recv_all(r, 5)))

# Zero checksum: 3 datagrams with no checksum, each echoed.
z = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
z.bind(("10.0.0.1", 40002))
z.settimeout(3)
for i in range(3):
    l2.send(udp_frame(b"zero checksum %d" % i, 40002, chksum=0))
got = recv_all(z, 3)
print("zero echoed:", sum(1 for i, g in enumerate(got) if g == b"zero checksum %d" % i))

# A checksum that computes to 0, sent as 0xffff by Linux itself: choose the
# first two payload bytes so that the sum comes out zero.
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
body = b"\0\0" + b"sums to zero"
ulen = 8 + len(body)
pseudo = socket.inet_aton("10.0.0.1") + socket.inet_aton("10.0.0.2") + bytes([0, 17]) + ulen.to_bytes(2, "big")
hdr = (40003).to_bytes(2, "big") + (7).to_bytes(2, "big") + ulen.to_bytes(2, "big") + b"\0\0"
adj = csum(pseudo + hdr + body)
body = adj.to_bytes(2, "big") + body[2:]
assert csum(pseudo + hdr + body) == 0
f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
f.bind(("10.0.0.1", 40003))
f.settimeout(3)
f.sendto(body, ("10.0.0.2", 7))
got = recv_all(f, 1)
print("ffff echoed:", bool(got and got[0] == body))
PYEOF
check "bad checksums not echoed, the good one after them is" \
    grep -qx 'bad-then-good: good after bad' "$WORK/crafted"
check "no other echo on the bad-checksum port" grep -qx 'extra echoes: 0' "$WORK/crafted"
check "zero-checksum datagrams echoed" grep -qx 'zero echoed: 3' "$WORK/crafted"
check "checksum 0xffff (computed zero) accepted and echoed" grep -qx 'ffff echoed: True' "$WORK/crafted"
[ $FAIL -eq 0 ] || sed 's/^/  | /' "$WORK/crafted"

wait_for 5 test "$(pcap_count "$WORK/br0.pcap" '10\.0\.0\.2\.7 > 10\.0\.0\.1\.40003')" -ge 1
tcpdump_stop
ustackd_stop

# --- one datagram each way per payload, as seen on br0
for n in $SIZES; do
    check_eq "br0: one $n-byte datagram to port 7" \
        "$(pcap_count "$WORK/br0.pcap" "^[0-9:.]+ IP 10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.7: UDP, length $n\$")" 1
    check_eq "br0: one $n-byte echo from port 7" \
        "$(pcap_count "$WORK/br0.pcap" "^[0-9:.]+ IP 10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: UDP, length $n\$")" 1
done
check_eq "br0: ICMP port unreachable for port 9" \
    "$(pcap_count "$WORK/br0.pcap" 'IP 10\.0\.0\.2 > 10\.0\.0\.1: ICMP 10\.0\.0\.2 udp port 9 unreachable')" 1
sum=$("$PY" -c '
import sys
from scapy.all import rdpcap, IP, UDP
for p in rdpcap(sys.argv[1]):
    if UDP in p and p[IP].src == "10.0.0.2" and p[UDP].sport == 7 and p[UDP].dport == 40003:
        print(hex(p[UDP].chksum))
' "$WORK/br0.pcap" 2>/dev/null)
check_eq "the echo whose checksum computes to zero carries 0xffff" "$sum" 0xffff

# --- counters: 4 socat + 1 closed port + 5 bad + 1 good + 3 zero + 1 ffff
check_eq "udp_rx" "$(counter udp_rx)" 15
check_eq "udp_drop_bad_checksum" "$(counter udp_drop_bad_checksum)" 5
check_eq "udp_rx_zero_checksum" "$(counter udp_rx_zero_checksum)" 3
check_eq "udp_drop_no_port" "$(counter udp_drop_no_port)" 1
check_eq "udp_tx (echoes)" "$(counter udp_tx)" 9
check_eq "icmp_tx_errors (port unreachable)" "$(counter icmp_tx_errors)" 1
check_eq "8000-byte datagram reassembled (ip_reasm_ok)" "$(counter ip_reasm_ok)" 1
check_eq "8000-byte echo fragmented (ip_tx_fragmented)" "$(counter ip_tx_fragmented)" 1
finish
