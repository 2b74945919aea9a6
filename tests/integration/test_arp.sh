#!/usr/bin/env bash
# ARP against Linux's arping: requests for the stack's address are answered
# with its MAC (the default 02:00 + IPv4 bytes, and one given with --mac),
# the gratuitous ARP at start-up is in the capture, and requests for other
# addresses are not answered; the counters agree with what arping saw.
. "$(dirname "$0")/lib.sh"

ns_up
ustackd_start --pcap "$WORK/arp.pcap" || { FAIL=$((FAIL + 1)); finish; exit 1; }

sent() { grep -oE 'Sent [0-9]+ probes' "$1" | grep -oE '[0-9]+'; }
received() { grep -oE 'Received [0-9]+ response' "$1" | grep -oE '[0-9]+'; }

# --- requests for 10.0.0.2: answered with the default MAC
nsx arping -c 3 -I br0 10.0.0.2 >"$WORK/arping" 2>&1
rc=$?
check "arping 10.0.0.2 exits 0" [ $rc -eq 0 ]
check_eq "arping 10.0.0.2: responses" "$(received "$WORK/arping")" 3
check_eq "arping 10.0.0.2: replies from 02:00:0a:00:00:02" \
    "$(grep -ciE '^Unicast reply from 10\.0\.0\.2 \[02:00:0a:00:00:02\]' "$WORK/arping")" 3

# --- requests for an address that is not ours: never answered
nsx arping -c 3 -I br0 10.0.0.77 >"$WORK/arping77" 2>&1
rc=$?
check "arping 10.0.0.77 exits 1 (no answer)" [ $rc -eq 1 ]
check_eq "arping 10.0.0.77: responses" "$(received "$WORK/arping77")" 0
sent77=$(sent "$WORK/arping77")
check_ge "arping 10.0.0.77: probes sent" "${sent77:-0}" 1

ustackd_stop
check "ustackd exits 0 with counters" grep -q '^arp_tx_replies ' "$USTACKD_OUT"
check_eq "arp_tx_replies" "$(counter arp_tx_replies)" 3
check_eq "arp_drop_not_for_us = probes for 10.0.0.77" "$(counter arp_drop_not_for_us)" "${sent77:-x}"
check_eq "arp_rx = all requests seen" "$(counter arp_rx)" $((3 + ${sent77:-0}))

# --- the capture: the announcement first, then the replies
tcpdump -r "$WORK/arp.pcap" -nn -e arp >"$WORK/arp.txt" 2>"$WORK/arp.err"
check "tcpdump -r reads the capture" [ $? -eq 0 ]
first=$(head -1 "$WORK/arp.txt")
check "first ARP frame is the announcement: broadcast request for 10.0.0.2 from 10.0.0.2" \
    bash -c '[[ $1 == *"02:00:0a:00:00:02 > ff:ff:ff:ff:ff:ff"* ]] &&
             [[ $1 =~ "Request who-has 10.0.0.2 tell 10.0.0.2"|"Announcement 10.0.0.2" ]]' _ "$first"
# RFC 5227 2.3: two announcements, 2 s apart; ustackd ran longer than that
# (two arping runs of 3 probes, 1 s apart).
check_eq "announcements in the capture (RFC 5227: two)" \
    "$(grep -cE 'Request who-has 10\.0\.0\.2 tell 10\.0\.0\.2|Announcement 10\.0\.0\.2' "$WORK/arp.txt")" 2
check_eq "arp_tx_gratuitous counts them" "$(counter arp_tx_gratuitous)" 2
check_eq "replies in the capture: 10.0.0.2 is-at 02:00:0a:00:00:02" \
    "$(grep -c 'Reply 10.0.0.2 is-at 02:00:0a:00:00:02' "$WORK/arp.txt")" 3
check_eq "no reply about 10.0.0.77 in the capture" "$(grep -c 'Reply 10.0.0.77' "$WORK/arp.txt")" 0

# --- --mac: the given MAC answers and announces
MAC=02:5a:11:22:33:44
# Linux side too: tcpdump on br0 from before start-up sees the announcement.
tcpdump_start "$WORK/br0.pcap" arp
check "tcpdump on br0 is capturing" [ $? -eq 0 ]
ustackd_start --mac $MAC --pcap "$WORK/mac.pcap" || { FAIL=$((FAIL + 1)); finish; exit 1; }
announced_on_br0() {
    tcpdump -r "$WORK/br0.pcap" -nn -e 2>/dev/null |
        grep -qE "^[0-9:.]+ $MAC > ff:ff:ff:ff:ff:ff.*(Request who-has 10\.0\.0\.2 tell 10\.0\.0\.2|Announcement 10\.0\.0\.2)"
}
nsx arping -c 2 -I br0 10.0.0.2 >"$WORK/arping-mac" 2>&1
rc=$?
check "arping with --mac exits 0" [ $rc -eq 0 ]
check_eq "arping with --mac: replies from $MAC" \
    "$(grep -ciE "^Unicast reply from 10\.0\.0\.2 \[$MAC\]" "$WORK/arping-mac")" 2
# The bridge may drop the first announcement if it has not yet seen the
# TAP's carrier come up; the second, 2 s later, gets through.
wait_for 5 announced_on_br0
ustackd_stop
tcpdump_stop
check "br0 saw the announcement from $MAC" announced_on_br0
check_eq "arp_tx_replies with --mac" "$(counter arp_tx_replies)" 2
tcpdump -r "$WORK/mac.pcap" -nn -e arp >"$WORK/mac.txt" 2>/dev/null
check "announcement with --mac comes from $MAC" \
    grep -qE "^[0-9:.]+ $MAC > ff:ff:ff:ff:ff:ff.*(Request who-has 10\.0\.0\.2 tell 10\.0\.0\.2|Announcement 10\.0\.0\.2)" "$WORK/mac.txt"
check "no frame from the default MAC with --mac" bash -c "! grep -q '02:00:0a:00:00:02 >' '$WORK/mac.txt'"
finish
