#!/usr/bin/env bash
# ustack-ping: the stack (tap1, 10.0.0.3) pings Linux, with iputils-like
# output; large requests are fragmented both ways; an absent host fails after
# exactly 3 ARP requests with "Destination Host Unreachable"; and stack to
# stack over the bridge (ustack-ping on tap1 -> ustackd on tap0).
. "$(dirname "$0")/lib.sh"

ns_up
PING=("$BIN/ustack-ping" --tap tap1 --addr 10.0.0.3/24)

# --- to Linux: 20 requests, all answered, output as iputils prints it
nsx "${PING[@]}" -c 20 -i 0.05 --stats "$WORK/st20" 10.0.0.1 >"$WORK/p20" 2>&1
rc=$?
check "ustack-ping -c 20 10.0.0.1 exits 0" [ $rc -eq 0 ]
check "header: PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data." \
    grep -qx 'PING 10\.0\.0\.1 (10\.0\.0\.1) 56(84) bytes of data\.' "$WORK/p20"
check_eq "reply lines '64 bytes from 10.0.0.1: icmp_seq=N ttl=64 time=T ms'" \
    "$(grep -cE '^64 bytes from 10\.0\.0\.1: icmp_seq=[0-9]+ ttl=64 time=[0-9]+\.[0-9]{3} ms$' "$WORK/p20")" 20
check_eq "every icmp_seq 1..20 answered once" \
    "$(grep -oE 'icmp_seq=[0-9]+' "$WORK/p20" | sort -u | wc -l)" 20
check "summary: 20 packets transmitted, 20 received, 0% packet loss" \
    grep -qE '^20 packets transmitted, 20 received, 0% packet loss, time [0-9]+ms$' "$WORK/p20"
check "summary: rtt min/avg/max/mdev line" \
    grep -qE '^rtt min/avg/max/mdev = [0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3} ms$' "$WORK/p20"
check "statistics banner: --- 10.0.0.1 ping statistics ---" grep -qx -- '--- 10.0.0.1 ping statistics ---' "$WORK/p20"
check_eq "--stats: raw_rx (replies taken by the raw socket)" "$(counter raw_rx "$WORK/st20")" 20

# --- -s 8000: fragmented both ways
nsx "${PING[@]}" -c 3 -i 0.05 -s 8000 --stats "$WORK/st8000" 10.0.0.1 >"$WORK/p8000" 2>&1
rc=$?
check "ustack-ping -s 8000 exits 0" [ $rc -eq 0 ]
check "ustack-ping -s 8000: 3 received, 0% loss" grep -qE '^3 packets transmitted, 3 received, 0% packet loss' "$WORK/p8000"
check_eq "ustack-ping -s 8000: replies carry 8008 bytes" "$(grep -cE '^8008 bytes from 10\.0\.0\.1: icmp_seq=' "$WORK/p8000")" 3
check_eq "requests fragmented by the stack (ip_tx_fragmented)" "$(counter ip_tx_fragmented "$WORK/st8000")" 3
check_eq "fragments sent: 6 per 8028-byte datagram (ip_frags_tx)" "$(counter ip_frags_tx "$WORK/st8000")" 18
check_eq "Linux's fragmented replies reassembled (ip_reasm_ok)" "$(counter ip_reasm_ok "$WORK/st8000")" 3

# --- an absent host: 3 ARP requests, then Destination Host Unreachable
tcpdump_start "$WORK/br0-99.pcap" arp
check "tcpdump on br0 is capturing" [ $? -eq 0 ]
start=$(date +%s.%N)
nsx "${PING[@]}" -c 3 -i 0.2 --stats "$WORK/st99" --pcap "$WORK/stack-99.pcap" 10.0.0.99 >"$WORK/p99" 2>&1
rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
who99='Request who-has 10\.0\.0\.99 '
wait_for 5 test "$(pcap_count "$WORK/br0-99.pcap" "$who99")" -ge 3
tcpdump_stop
check_eq "ustack-ping 10.0.0.99 exit status" "$rc" 1
check_eq "'From 10.0.0.3 icmp_seq=N Destination Host Unreachable' for each request" \
    "$(grep -cE '^From 10\.0\.0\.3 icmp_seq=[123] Destination Host Unreachable$' "$WORK/p99")" 3
check "summary: 3 transmitted, 0 received, +3 errors, 100% packet loss" \
    grep -qE '^3 packets transmitted, 0 received, \+3 errors, 100% packet loss' "$WORK/p99"
check_eq "tcpdump on br0: ARP requests for 10.0.0.99" "$(pcap_count "$WORK/br0-99.pcap" "$who99")" 3
check_eq "ustack-ping --pcap: ARP requests for 10.0.0.99" "$(pcap_count "$WORK/stack-99.pcap" "$who99")" 3
check_eq "no IP frame left the stack for 10.0.0.99" "$(pcap_count "$WORK/stack-99.pcap" '> 10\.0\.0\.99:')" 0
# RFC 1122 2.3.2.1: at most one request per second per address (arp_retry_us 1 s).
gaps=$(tcpdump -r "$WORK/br0-99.pcap" -nn -tt 2>/dev/null | grep -E "$who99" |
       awk 'NR > 1 { printf "%.3f ", $1 - prev } { prev = $1 }')
check "ARP requests for 10.0.0.99 about 1 s apart (gaps: ${gaps:-none})" \
    awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); if (n != 2) exit 1; for (i = 1; i <= n; i++) if (a[i] < 0.9 || a[i] > 1.5) exit 1 }'
check_range "gave up after 3 requests 1 s apart: seconds taken" "$took" 2.8 6
check_eq "arp_resolve_failed" "$(counter arp_resolve_failed "$WORK/st99")" 1
check_eq "arp_tx_requests" "$(counter arp_tx_requests "$WORK/st99")" 3
check_eq "arp_drop_queue_full" "$(counter arp_drop_queue_full "$WORK/st99")" 0
check_eq "the 3 queued echo requests were handed to ARP (ip_tx)" "$(counter ip_tx "$WORK/st99")" 3
check_eq "frames sent = 3 requests + the announcements: nothing queued got out (eth_tx_frames)" \
    "$(counter eth_tx_frames "$WORK/st99")" $((3 + $(counter arp_tx_gratuitous "$WORK/st99")))

# --- stack to stack: ustack-ping on tap1 -> ustackd on tap0
ustackd_start || { FAIL=$((FAIL + 1)); finish; exit 1; }
nsx "${PING[@]}" -c 20 -i 0.05 10.0.0.2 >"$WORK/s2s" 2>&1
rc=$?
check "stack to stack: exits 0" [ $rc -eq 0 ]
check "stack to stack: 20 received, 0% loss" grep -qE '^20 packets transmitted, 20 received, 0% packet loss' "$WORK/s2s"
check_eq "stack to stack: reply lines from 10.0.0.2" "$(grep -cE '^64 bytes from 10\.0\.0\.2: icmp_seq=[0-9]+ ttl=64 time=' "$WORK/s2s")" 20
nsx "${PING[@]}" -c 3 -i 0.05 -s 8000 10.0.0.2 >"$WORK/s2s8000" 2>&1
rc=$?
check "stack to stack -s 8000: exits 0, 3 received" \
    bash -c "[ $rc -eq 0 ] && grep -qE '^3 packets transmitted, 3 received, 0% packet loss' '$WORK/s2s8000'"
ustackd_stop
check_eq "ustackd: echo replies" "$(counter icmp_tx_echo_replies)" 23
check_eq "ustackd: reassembled the 8000-byte requests" "$(counter ip_reasm_ok)" 3
check_eq "ustackd: fragmented its 8000-byte replies" "$(counter ip_tx_fragmented)" 3
finish
