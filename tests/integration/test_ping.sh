#!/usr/bin/env bash
# Linux pings the stack: small, MTU-sized and fragmented echo requests, and a
# flood; every reply must come back with the request's payload.
. "$(dirname "$0")/lib.sh"

ns_up
ustackd_start || { FAIL=$((FAIL + 1)); finish; exit 1; }

loss() { grep -oE '[0-9.]+% packet loss' "$1" | cut -d% -f1; }

nsx ping -c 200 -i 0.01 -W 2 10.0.0.2 >"$WORK/p200" 2>&1
check "ping -c 200 -i 0.01: 0% loss" [ "$(loss "$WORK/p200")" = 0 ]
for size in 1472 8000 65000; do
    nsx ping -c 5 -i 0.05 -W 2 -s $size 10.0.0.2 >"$WORK/ps$size" 2>&1
    check "ping -s $size: 0% loss" [ "$(loss "$WORK/ps$size")" = 0 ]
    check "ping -s $size: replies carry $((size + 8)) bytes" grep -q "^$((size + 8)) bytes from 10.0.0.2" "$WORK/ps$size"
done
nsx ping -f -c 20000 -W 1 10.0.0.2 >"$WORK/flood" 2>&1
recv=$(grep -oE '[0-9]+ received' "$WORK/flood" | cut -d' ' -f1)
check "ping -f -c 20000: >= 99.9% answered (got ${recv:-0})" [ "${recv:-0}" -ge 19980 ]

ustackd_stop
check "ustackd exits 0 and prints counters" grep -q '^icmp_tx_echo_replies ' "$USTACKD_OUT"
replies=$(counter icmp_tx_echo_replies)
check "echo replies counted (${replies})" [ "$replies" -ge $((200 + 15 + 19980)) ]
check "fragmented replies sent" [ "$(counter ip_tx_fragmented)" -ge 10 ]
check "reassembled requests" [ "$(counter ip_reasm_ok)" -ge 10 ]
finish
