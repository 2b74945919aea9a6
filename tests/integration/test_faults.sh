#!/usr/bin/env bash
# The fault injector on a real TAP, against Linux's ping: drop applies to each
# direction independently (--drop 0.3 loses 45-57% of 1000 pings, --drop-in 0.3
# or --drop-out 0.3 alone 25-35%), --dup 1.0 makes ping report DUP!,
# --delay-ms 50 delays each direction, --reorder loses nothing, and with
# --corrupt every corrupted frame the stack receives is dropped by the counter
# of the check that catches it (verified frame by frame against its capture),
# without a crash.
#
# ARP: frames of both directions pass the injector, ARP included. So that ARP
# cannot turn injected faults into extra loss, Linux gets a permanent
# neighbour entry for 10.0.0.2 (it never ARPs), and each ustackd run first
# resolves 10.0.0.1 itself: one ping must come back before the measurement.
# Its entry then stays usable (REACHABLE 30 s, then STALE but still used) for
# the whole run, and nothing in this test makes Linux send it ARP again. With
# --corrupt, a corrupted ARP reply could teach the stack a wrong MAC for
# 10.0.0.1; the resolving ping would then fail, and the run is retried with
# the next seed.
. "$(dirname "$0")/lib.sh"

ns_up
MAC=02:00:0a:00:00:02
nsx ip neigh replace 10.0.0.2 lladdr $MAC dev br0 nud permanent

resolve() { wait_for "${1:-15}" timeout 5 ip netns exec "$NS" ping -c 1 -W 1 10.0.0.2; }
loss() { grep -oE '[0-9.]+% packet loss' "$1" | cut -d% -f1; }
stat_of() { grep -oE "[0-9]+ $2" "$1" | head -1 | cut -d' ' -f1; }

# --- drop: 1000 pings per setting
drop_run() {
    local name=$1; shift
    ustackd_start "$@" || return 1
    check "$name: 10.0.0.1 resolved by the stack (a ping came back)" resolve
    timeout 60 ip netns exec "$NS" ping -q -c 1000 -i 0.002 -W 1 10.0.0.2 >"$WORK/$name.ping" 2>&1
    ustackd_stop
    cp "$USTACKD_OUT" "$WORK/$name.counters"
}
drop_run both --drop 0.3 --seed 7
check_range "--drop 0.3 --seed 7: loss % of 1000 pings" "$(loss "$WORK/both.ping")" 45 57
check_range "--drop 0.3: fault_in_dropped" "$(counter fault_in_dropped "$WORK/both.counters")" 240 370
check_range "--drop 0.3: fault_out_dropped" "$(counter fault_out_dropped "$WORK/both.counters")" 150 270

drop_run in --drop-in 0.3 --seed 7
check_range "--drop-in 0.3: loss % of 1000 pings" "$(loss "$WORK/in.ping")" 25 35
check_range "--drop-in 0.3: fault_in_dropped" "$(counter fault_in_dropped "$WORK/in.counters")" 240 370
check_eq "--drop-in 0.3: nothing dropped outbound (fault_out_dropped)" "$(counter fault_out_dropped "$WORK/in.counters")" 0
check_eq "--drop-in 0.3: every request that got in was answered" \
    "$(counter icmp_tx_echo_replies "$WORK/in.counters")" "$(counter icmp_rx_echo_requests "$WORK/in.counters")"

drop_run out --drop-out 0.3 --seed 7
check_range "--drop-out 0.3: loss % of 1000 pings" "$(loss "$WORK/out.ping")" 25 35
check_eq "--drop-out 0.3: nothing dropped inbound (fault_in_dropped)" "$(counter fault_in_dropped "$WORK/out.counters")" 0
check_range "--drop-out 0.3: fault_out_dropped" "$(counter fault_out_dropped "$WORK/out.counters")" 240 370

# --- dup: every frame doubled each way; ping sees the duplicates
ustackd_start --dup 1.0 || { FAIL=$((FAIL + 1)); finish; exit 1; }
timeout 60 ip netns exec "$NS" ping -c 5 -i 0.1 -W 2 10.0.0.2 >"$WORK/dup.ping" 2>&1
ustackd_stop
check "--dup 1.0: 5 received" grep -qE '^5 packets transmitted, 5 received, \+[0-9]+ duplicates' "$WORK/dup.ping"
# Each request arrives twice and each reply leaves twice: 3 duplicates per
# request, all before the next request (the last one's may come after ping exits).
check_ge "--dup 1.0: (DUP!) lines" "$(grep -c '(DUP!)' "$WORK/dup.ping")" 12
check_ge "--dup 1.0: ping's duplicate count" "$(stat_of "$WORK/dup.ping" duplicates)" 12
check_eq "--dup 1.0: the stack got each request twice (icmp_rx_echo_requests)" "$(counter icmp_rx_echo_requests)" 10
check_eq "--dup 1.0: and answered each (icmp_tx_echo_replies)" "$(counter icmp_tx_echo_replies)" 10
check_ge "--dup 1.0: fault_out_duplicated" "$(counter fault_out_duplicated)" 10

# --- delay: both directions, then inbound only
rtt_min() { sed -nE 's|^rtt min/avg/max/mdev = ([0-9.]+)/.*|\1|p' "$1"; }
ustackd_start --delay-ms 50 || { FAIL=$((FAIL + 1)); finish; exit 1; }
timeout 60 ip netns exec "$NS" ping -c 5 -i 0.2 -W 2 10.0.0.2 >"$WORK/delay.ping" 2>&1
ustackd_stop
check "--delay-ms 50: 0% loss" grep -q ' 0% packet loss' "$WORK/delay.ping"
check_range "--delay-ms 50: min rtt (ms), 50 ms each way" "$(rtt_min "$WORK/delay.ping")" 100 10000
check_ge "--delay-ms 50: fault_in_delayed" "$(counter fault_in_delayed)" 5
check_ge "--delay-ms 50: fault_out_delayed" "$(counter fault_out_delayed)" 5
ustackd_start --delay-in-ms 50 || { FAIL=$((FAIL + 1)); finish; exit 1; }
timeout 60 ip netns exec "$NS" ping -c 5 -i 0.2 -W 2 10.0.0.2 >"$WORK/delayin.ping" 2>&1
ustackd_stop
check_range "--delay-in-ms 50: min rtt (ms), 50 ms inbound only" "$(rtt_min "$WORK/delayin.ping")" 50 90
check_eq "--delay-in-ms 50: fault_out_delayed" "$(counter fault_out_delayed)" 0

# --- reorder: frames held back and released after the next one, none lost
ustackd_start --reorder 0.5 --seed 3 || { FAIL=$((FAIL + 1)); finish; exit 1; }
timeout 60 ip netns exec "$NS" ping -q -c 100 -i 0.01 -W 2 10.0.0.2 >"$WORK/reorder.ping" 2>&1
ustackd_stop
check_eq "--reorder 0.5: loss %" "$(loss "$WORK/reorder.ping")" 0
check_ge "--reorder 0.5: fault_in_reordered" "$(counter fault_in_reordered)" 10
check_ge "--reorder 0.5: fault_out_reordered" "$(counter fault_out_reordered)" 10

# --- corrupt: every corrupted frame dropped by the check that catches it
started=
for seed in 11 12 13 14; do
    ustackd_start --corrupt 0.3 --seed $seed --pcap "$WORK/corrupt.pcap" || break
    if resolve 6; then started=$seed; break; fi
    ustackd_stop
done
check "--corrupt 0.3: ustackd started and resolved 10.0.0.1 (seed ${started:-none})" [ -n "$started" ]
if [ -n "$started" ]; then
    # Not Linux's ping: corrupted replies with a valid-looking timestamp send
    # iputils ping into a loop ("time of day goes back"). Echo requests from a
    # raw ICMP socket and datagrams to port 7, interleaved, then every answer
    # that arrives (Linux drops corrupted UDP; ICMP replies are checked here).
    timeout 60 ip netns exec "$NS" "$PY" - >"$WORK/corrupt.traffic" 2>&1 <<'PYEOF'
import os, socket, struct, time
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
ident = os.getpid() & 0xffff
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ud = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ic.setblocking(False)
ud.setblocking(False)
N = 300
for i in range(N):
    body = bytes(range(56))
    h = struct.pack("!BBHHH", 8, 0, 0, ident, i) + body
    h = h[:2] + struct.pack("!H", csum(h)) + h[4:]
    ic.sendto(h, ("10.0.0.2", 0))
    ud.sendto(b"corrupt me %03d " % i + bytes(range(64)), ("10.0.0.2", 7))
    time.sleep(0.002)
replies = set(); echoes = set(); bad = 0
end = time.time() + 3
quiet = time.time() + 0.5
while time.time() < min(end, quiet):
    got = False
    try:
        d = ic.recv(2048)
        ihl = (d[0] & 15) * 4
        icmp = d[ihl:]
        if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
            got = True
            if csum(icmp) == 0 and icmp[8:] == bytes(range(56)):
                replies.add(struct.unpack("!H", icmp[6:8])[0])
            else:
                bad += 1
    except BlockingIOError:
        pass
    try:
        d = ud.recv(2048)
        got = True
        echoes.add(d)
    except BlockingIOError:
        pass
    if got:
        quiet = time.time() + 0.5
    else:
        time.sleep(0.001)
print("icmp_replies", len(replies))
print("icmp_replies_bad", bad)
print("udp_echoes", len(echoes))
PYEOF
    tr=$WORK/corrupt.traffic
    check_ge "--corrupt 0.3: Linux got intact echo replies" "$(counter icmp_replies "$tr")" 50
    check_ge "--corrupt 0.3: Linux got intact UDP echoes" "$(counter udp_echoes "$tr")" 50
    ustackd_stop
    check "--corrupt 0.3: ustackd exits 0 with its counters (no crash)" \
        bash -c "[ $? -eq 0 ] && grep -q '^fault_in_corrupted ' '$USTACKD_OUT'"
    check_ge "--corrupt 0.3: fault_in_corrupted" "$(counter fault_in_corrupted)" 100
    # Classify each frame the stack received (its capture holds them as
    # received, after the injector) with the stack's own order of checks.
    "$PY" - "$WORK/corrupt.pcap" $MAC >"$WORK/corrupt.expect" 2>&1 <<'PYEOF'
import struct, sys
from collections import Counter
data = open(sys.argv[1], "rb").read()
ours = bytes.fromhex(sys.argv[2].replace(":", ""))
me = bytes([10, 0, 0, 2])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def bcast(a):
    return a in (b"\xff\xff\xff\xff", bytes([10, 0, 0, 255]))
c = Counter()
off = 24
while off + 16 <= len(data):
    incl = struct.unpack_from("<I", data, off + 8)[0]
    f = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if f[6:12] == ours:
        continue                      # sent by the stack (captured before corruption)
    c["eth_rx_frames"] += 1
    dst = f[:6]
    if dst != ours and dst != b"\xff" * 6:
        c["eth_drop_multicast" if dst[0] & 1 else "eth_drop_other_mac"] += 1
        continue
    et = f[12:14]
    if et == b"\x08\x06":
        continue
    if et != b"\x08\x00":
        c["eth_drop_ethertype"] += 1
        continue
    ip = f[14:]
    if len(ip) < 20:
        c["ip_drop_short"] += 1; continue
    if ip[0] >> 4 != 4:
        c["ip_drop_bad_version"] += 1; continue
    ihl = (ip[0] & 15) * 4
    if ihl < 20 or ihl > len(ip):
        c["ip_drop_bad_ihl"] += 1; continue
    tot = struct.unpack_from("!H", ip, 2)[0]
    if tot < ihl or tot > len(ip):
        c["ip_drop_bad_len"] += 1; continue
    if csum(ip[:ihl]) != 0:
        c["ip_drop_bad_checksum"] += 1; continue
    ip = ip[:tot]
    src, dsti = ip[12:16], ip[16:20]
    if dsti != me and not bcast(dsti):
        c["ip_drop_not_for_us"] += 1; continue
    if src == me or bcast(src) or src[0] == 127 or src[0] >> 4 == 0xe:
        c["ip_drop_bad_src"] += 1; continue
    if struct.unpack_from("!H", ip, 6)[0] & 0x3fff:
        c["fragments"] += 1; continue
    l4 = ip[ihl:]
    if ip[9] == 1:
        if len(l4) < 8:
            c["icmp_drop_short"] += 1
        elif csum(l4) != 0:
            c["icmp_drop_bad_checksum"] += 1
        elif l4[0] == 8:
            c["icmp_rx_echo_requests"] += 1
            if not bcast(dsti):
                c["icmp_tx_echo_replies"] += 1
    elif ip[9] == 17:
        if len(l4) < 8:
            c["udp_drop_short"] += 1; continue
        ulen = struct.unpack_from("!H", l4, 4)[0]
        if ulen < 8 or ulen > len(l4):
            c["udp_drop_bad_len"] += 1; continue
        u = l4[:ulen]
        if u[6:8] == b"\0\0":
            c["udp_rx_zero_checksum"] += 1
        elif csum(src + dsti + bytes([0, 17]) + struct.pack("!H", ulen) + u) != 0:
            c["udp_drop_bad_checksum"] += 1; continue
        if struct.unpack_from("!H", u, 2)[0] == 7:
            c["udp_echoed"] += 1
for k in ("eth_rx_frames", "eth_drop_multicast", "eth_drop_other_mac", "eth_drop_ethertype",
          "ip_drop_short", "ip_drop_bad_version", "ip_drop_bad_ihl", "ip_drop_bad_len",
          "ip_drop_bad_checksum", "ip_drop_not_for_us", "ip_drop_bad_src", "fragments",
          "icmp_drop_short", "icmp_drop_bad_checksum", "icmp_rx_echo_requests", "icmp_tx_echo_replies",
          "udp_drop_short", "udp_drop_bad_len", "udp_drop_bad_checksum", "udp_rx_zero_checksum", "udp_echoed"):
    print(k, c[k])
PYEOF
    exp() { counter "$1" "$WORK/corrupt.expect"; }
    check_ge "--corrupt: the capture has bad IP checksums" "$(exp ip_drop_bad_checksum)" 1
    check_ge "--corrupt: the capture has bad ICMP checksums" "$(exp icmp_drop_bad_checksum)" 1
    check_ge "--corrupt: the capture has bad UDP checksums" "$(exp udp_drop_bad_checksum)" 1
    for k in eth_rx_frames eth_drop_multicast eth_drop_other_mac eth_drop_ethertype ip_drop_short \
             ip_drop_bad_version ip_drop_bad_ihl ip_drop_bad_len ip_drop_bad_checksum ip_drop_not_for_us \
             ip_drop_bad_src icmp_drop_short icmp_drop_bad_checksum icmp_rx_echo_requests \
             icmp_tx_echo_replies udp_drop_short udp_drop_bad_len udp_drop_bad_checksum udp_rx_zero_checksum; do
        check_eq "--corrupt: $k as the capture says" "$(counter $k)" "$(exp $k)"
    done
    check_eq "--corrupt: no fragments were made up" "$(exp fragments)" 0
    check_eq "--corrupt: each intact datagram to port 7 echoed (udp_tx)" "$(counter udp_tx)" "$(exp udp_echoed)"
fi
finish
