#!/usr/bin/env bash
# --pcap: the capture is a valid pcap that tcpdump reads, it holds exactly the
# frames the stack counted (eth_rx_frames + eth_tx_frames, printed at exit),
# also with the fault injector in the path, and its timestamps are the wall
# clock at which each frame passed.
. "$(dirname "$0")/lib.sh"

ns_up

# Frames in a pcap file and the checks tcpdump does not do: magic, link type,
# record lengths, timestamps within [LO, HI] (seconds) and never decreasing.
pcap_info() {
    "$PY" - "$@" <<'PYEOF'
import struct, sys
path, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
d = open(path, "rb").read()
magic, vmaj, vmin, _, _, snap, lt = struct.unpack_from("<IHHiIII", d, 0)
ok = magic == 0xa1b2c3d4 and (vmaj, vmin) == (2, 4) and lt == 1
off, n, prev, order_ok, range_ok, len_ok = 24, 0, 0.0, True, True, True
while off + 16 <= len(d):
    s, us, incl, orig = struct.unpack_from("<IIII", d, off)
    t = s + us / 1e6
    order_ok &= t >= prev
    range_ok &= lo <= t <= hi
    len_ok &= incl == orig and 14 <= incl <= 65535 and us < 1000000
    prev = t
    off += 16 + incl
    n += 1
print("frames", n)
print("header_ok", int(ok))
print("trailing_ok", int(off == len(d)))
print("order_ok", int(order_ok))
print("range_ok", int(range_ok))
print("len_ok", int(len_ok))
PYEOF
}

traffic() {
    nsx ping -c 20 -i 0.01 -W 2 10.0.0.2 >/dev/null 2>&1
    nsx ping -c 3 -i 0.05 -W 2 -s 8000 10.0.0.2 >/dev/null 2>&1
    head -c 3000 /dev/urandom | nsx socat -b 65536 -t 0.5 -T 3 - UDP:10.0.0.2:7 >/dev/null 2>&1
    echo x | nsx socat -t 0.5 -T 3 - UDP:10.0.0.2:9 >/dev/null 2>&1
    nsx arping -c 1 -I br0 10.0.0.2 >/dev/null 2>&1
}

run() {
    local name=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    ustackd_start --pcap "$WORK/$name.pcap" "$@" || { FAIL=$((FAIL + 1)); return 1; }
    check "$name: the capture exists while running" test -s "$WORK/$name.pcap"
    traffic
    ustackd_stop
    t1=$(date +%s.%N)
    local rx tx
    rx=$(counter eth_rx_frames)
    tx=$(counter eth_tx_frames)
    tcpdump -r "$WORK/$name.pcap" -nn >"$WORK/$name.txt" 2>"$WORK/$name.err"
    check "$name: tcpdump -r reads it (exit 0)" [ $? -eq 0 ]
    check "$name: tcpdump reports no damage" bash -c "! grep -qiE 'truncated|bogus|invalid' '$WORK/$name.err' '$WORK/$name.txt'"
    check_eq "$name: tcpdump's frames = eth_rx_frames + eth_tx_frames ($rx + $tx)" \
        "$(wc -l <"$WORK/$name.txt")" $((rx + tx))
    pcap_info "$WORK/$name.pcap" "$t0" "$t1" >"$WORK/$name.info"
    check_eq "$name: pcap records = eth_rx_frames + eth_tx_frames" "$(counter frames "$WORK/$name.info")" $((rx + tx))
    check_eq "$name: pcap header (magic a1b2c3d4, v2.4, Ethernet)" "$(counter header_ok "$WORK/$name.info")" 1
    check_eq "$name: no bytes after the last record" "$(counter trailing_ok "$WORK/$name.info")" 1
    check_eq "$name: record lengths sane, nothing cut" "$(counter len_ok "$WORK/$name.info")" 1
    check_eq "$name: timestamps within the run (wall clock)" "$(counter range_ok "$WORK/$name.info")" 1
    check_eq "$name: timestamps never go back" "$(counter order_ok "$WORK/$name.info")" 1
    [ "$name" = plain ] || return 0 # with faults, what got through varies
    check_eq "$name: the announcements (arp_tx_gratuitous)" \
        "$(grep -cE 'Request who-has 10\.0\.0\.2 tell 10\.0\.0\.2' "$WORK/$name.txt")" "$(counter arp_tx_gratuitous)"
    check_ge "$name: at least one announcement" "$(counter arp_tx_gratuitous)" 1
    check_ge "$name: echo requests" "$(grep -cE '10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request' "$WORK/$name.txt")" 1
    check_ge "$name: echo replies" "$(grep -cE '10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply' "$WORK/$name.txt")" 1
    check_ge "$name: fragments (8000-byte pings)" "$(grep -cE 'ip-proto-1$|ip-proto-1 ' "$WORK/$name.txt")" 1
    check_ge "$name: UDP to port 7 and its echo" "$(grep -cE '10\.0\.0\.2\.7 > 10\.0\.0\.1\.[0-9]+: UDP' "$WORK/$name.txt")" 1
    check_ge "$name: port unreachable" "$(grep -cE 'udp port 9 unreachable' "$WORK/$name.txt")" 1
}

run plain
run faults --drop 0.2 --dup 0.2 --reorder 0.1 --seed 5
check_ge "faults: the injector did drop inbound" "$(counter fault_in_dropped)" 1
check_ge "faults: the injector did duplicate inbound" "$(counter fault_in_duplicated)" 1

# A capture of the client stack: each echo request is stamped when it was
# sent, so just before its reply (Linux answers within microseconds).
t0=$(date +%s.%N)
nsx "$BIN/ustack-ping" --tap tap1 --addr 10.0.0.3/24 -c 4 -i 0.3 --pcap "$WORK/client.pcap" --stats "$WORK/client.stats" \
    10.0.0.1 >"$WORK/client.out" 2>&1
check "ustack-ping --pcap: exit 0" [ $? -eq 0 ]
t1=$(date +%s.%N)
pcap_info "$WORK/client.pcap" "$t0" "$t1" >"$WORK/client.info"
check_eq "ustack-ping --pcap: records = eth_rx_frames + eth_tx_frames" "$(counter frames "$WORK/client.info")" \
    $(($(counter eth_rx_frames "$WORK/client.stats") + $(counter eth_tx_frames "$WORK/client.stats")))
check_eq "ustack-ping --pcap: timestamps within the run (wall clock)" "$(counter range_ok "$WORK/client.info")" 1
gaps=$(tcpdump -r "$WORK/client.pcap" -nn -tt 'icmp' 2>/dev/null | awk '
    / ICMP echo request, / { match($0, /seq [0-9]+/); s = substr($0, RSTART + 4, RLENGTH - 4); req[s] = $1 }
    / ICMP echo reply, /   { match($0, /seq [0-9]+/); s = substr($0, RSTART + 4, RLENGTH - 4)
                             if (s in req) printf "%.3f ", $1 - req[s] }')
check "ustack-ping --pcap: each request stamped < 50 ms before its reply (gaps: ${gaps:-none})" \
    awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); if (n != 4) exit 1; for (i = 1; i <= n; i++) if (a[i] < 0 || a[i] > 0.05) exit 1 }'
finish
