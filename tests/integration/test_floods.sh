#!/usr/bin/env bash
# Floods and scans against `ustackd --services all` while Linux keeps using
# it: for each flood, a curl loop from 10.0.0.1 fetches /bytes/N (N varies,
# body compared with the chargen pattern) for as long as the flood runs, and
# three fetches follow it at once. Every one of them must complete with the
# right body within CURL_MAX_S; a few seconds of latency are fine, a failure
# is not. During and after each flood ustackd's RSS stays within RSS_SLACK_KIB
# of what it was before the first flood of its run. After each run ustackd
# exits with status 0, holds nothing (check_no_leaks), every frame it read
# from tap0 is in eth_rx_frames and is accounted for by the outcome counters
# of Ethernet and IPv4 (see frames_accounted), and each flood's frames are
# counted under their reason:
#
#   run   flood (seconds)                              counted as
#   syn   hping3 -S --flood --rand-source -p 80 (10)   tcp_syncookies_sent (the queue is full), ip_drop_bad_src;
#                                                      nothing in tcp_drop_syn_queue_full; the fetches
#                                                      complete on cookies (tcp_syncookies_recv)
#   tcp   hping3 -A, then -R, with random sequence and acknowledgment numbers, spoofed as
#         10.0.0.1 onto the 4-tuple of an established echo connection that keeps
#         exchanging (and checking) data throughout (4 + 4); hping3 -A and -R
#         --rand-source to port 80 (3 + 3)             tcp_drop_unacceptable (+ ack_too_new/old),
#                                                      tcp_drop_rst_unacceptable, tcp_listen_ack_rst,
#                                                      tcp_drop_listen_rst; no tcp_conn_reset
#   icmp  hping3 -1 --flood (4); the same to 10.0.0.255 (3); LAND: hping3 -S -a 10.0.0.2
#         -s 80 -k -p 80 (3)                           icmp_tx_echo_replies, icmp_drop_broadcast_echo,
#                                                      ip_drop_bad_src; no LAND SYN reaches TCP
#   frag  first fragments that never complete, random sources and ids (hping3 -1 -x, 4);
#         overlapping fragment pairs (flood_frames.py overlap, 3); whole echo requests in
#         16-byte fragments (hping3 -1 -f, 3)        ip_frags_rx, ip_reasm_evicted, ip_reasm_timeout,
#                                                      ip_reasm_overlap, ip_reasm_ok
#   arp   ARP storm from 4096 random senders (flood_frames.py arp, 4)
#                                                      arp_rx, arp_evictions, arp_tx_replies
#   scan  nmap -sS -O -p 1-1024, nmap -sU -p 1-200     tcp_rx_closed_port, udp_drop_no_port
#
# "Counted as" is checked against the frames ustackd read while the flood
# ran (check_counted: at least 90% of them under the reason; the rest are the
# fetches' own segments), not against what the flooder sent: Linux drops what
# the TAP's queue cannot hold while ustackd is busy, and that loss is not the
# stack's (the time: lines show both numbers).
#
# ustackd runs with --gw 10.0.0.1: its answers to spoofed off-subnet sources
# go to the Linux host, which does not forward and drops them, as a flood's
# answers are lost in the Internet. Each run is a ustackd of its own so its
# counters are the flood's; a SYN-RECEIVED queue left full by the SYN flood
# (about 30 s of SYN-ACK retries) does not reach the next run. The frag run's
# ustackd gives up a reassembly after 1 s (--ip-reasm-timeout-ms), so what
# the floods left incomplete is gone, and counted, before it exits.
#
# The floods run in the test's namespace only (ip netns exec), each under
# `timeout`. An ASan build (USTACK_BIN) gets a small quarantine, or freed
# buffers would count in the RSS bound.
. "$(dirname "$0")/lib.sh"

HERE=$ROOT/tests/integration
CURL_MAX_S=8         # a request slower than this fails
AFTER_FETCHES=3      # requests right after each flood
# The RSS bound: what the stack holds under these floods is bounded by its
# limits, a few MiB in all (reassembly 4 MiB, 128 SYN-RECEIVED TCBs of under
# 1 KiB each per listener, 64 ARP entries with at most 64 queued frames each,
# a curl connection's buffers and its thread's 256 KiB stack); 16 MiB above the
# start leaves room for the allocator and an ASan build (about 1 MiB of growth
# seen, 5 MiB with ASan), and still catches a leak of 20 bytes a frame: the
# SYN flood alone brings over 300000 even to an ASan build.
RSS_SLACK_KIB=16384
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64

ns_up
chargen_file 65536 "$WORK/cg"

# One fetch per iteration until DIR/stop exists; a line per fetch in DIR/log:
# "ok|bad SIZE curl-exit http-code bytes seconds [error]".
cat >"$WORK/curl_loop.sh" <<'EOF'
dir=$1 cg=$2 max=$3 count=${4:-0}
i=0
while { [ "$count" -eq 0 ] && [ ! -e "$dir/stop" ]; } || [ "$i" -lt "$count" ]; do
    n=$((1000 + (i * 7919 + $$) % 64000))
    w=$(curl -sS --max-time "$max" -o "$dir/body" -w '%{http_code} %{size_download} %{time_total}' \
        "http://10.0.0.2/bytes/$n" 2>"$dir/err")
    rc=$?
    ok=bad
    if [ $rc -eq 0 ] && [ "${w% *}" = "200 $n" ] && cmp -s "$dir/body" <(head -c "$n" "$cg"); then ok=ok; fi
    echo "$ok $n $rc $w $(head -c 120 "$dir/err" | tr '\n' ' ')" >>"$dir/log"
    i=$((i + 1))
done
EOF

# An echo client (port 7) that exchanges 4 KiB blocks until STOP exists,
# checking each block comes back intact; writes its local port to PORTFILE
# once connected, and at the end one line: "echo: ok ..." or "echo: FAIL ...".
cat >"$WORK/echo_client.py" <<'EOF'
import os, socket, sys, time
stop, portfile = sys.argv[1], sys.argv[2]
pattern = bytes((i * 7 + i // 251) % 256 for i in range(1 << 16))
try:
    s = socket.create_connection(("10.0.0.2", 7), timeout=10)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    n, total, worst = 0, 0, 0.0
    while not os.path.exists(stop):
        off = (n * 4096) % len(pattern)
        block = pattern[off:off + 4096]
        t0 = time.monotonic()
        s.sendall(block)
        got = b""
        while len(got) < len(block):
            r = s.recv(len(block) - len(got))
            if not r:
                raise RuntimeError("connection closed by ustackd after %d bytes" % total)
            got += r
        worst = max(worst, time.monotonic() - t0)
        if got != block:
            raise RuntimeError("block %d came back different" % n)
        n, total = n + 1, total + len(block)
        time.sleep(0.02)
    s.shutdown(socket.SHUT_WR)
    rest = s.recv(1)
    if rest:
        raise RuntimeError("bytes after the last block")
    print("echo: ok %d bytes in %d blocks, each back intact, slowest %.2f s; closed cleanly" % (total, n, worst))
except Exception as e:
    print("echo: FAIL %s" % e)
    sys.exit(1)
EOF

tap_read() { nsx cat /sys/class/net/tap0/statistics/tx_packets; } # frames ustackd read
tap_dropped() { nsx cat /sys/class/net/tap0/statistics/tx_dropped; } # its queue was full
tap_read_ge() { [ "$(tap_read)" -ge "$1" ]; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$USTACKD_PID/status" 2>/dev/null; }
sum_counters() { awk -v re="$1" '$1 ~ re { s += $2 } END { print s + 0 }' "$USTACKD_OUT"; }
# hping3 prints its statistics on stderr, flood_frames.py on stdout.
hping_sent() { sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' "$1" | tail -1; }

# run_start NAME [ARGS]: a ustackd of its own for run NAME (ARGS added to
# its options, default --control off), a first fetch, the baseline of RSS
# and of the frames read from tap0.
RUN=
run_start() {
    RUN=$1
    shift
    echo "=== run $RUN"
    TAP0=$(tap_read)
    [ $# -gt 0 ] || set -- --control off
    ustackd_start --services all --gw 10.0.0.1 "$@" || { FAIL=$((FAIL + 1)); return 1; }
    mkdir -p "$WORK/$RUN.warm"
    : >"$WORK/$RUN.warm/log"
    nsx bash "$WORK/curl_loop.sh" "$WORK/$RUN.warm" "$WORK/cg" "$CURL_MAX_S" 1
    check_fetches "$RUN: a fetch before the floods" "$WORK/$RUN.warm" 1
    RSS0=$(rss_kib) RSS_MAX=$(rss_kib)
}

# check_fetches WHAT DIR MIN: every fetch in DIR/log good, at least MIN.
check_fetches() {
    local what=$1 log=$2/log min=$3
    local n ok slowest
    n=$(wc -l <"$log" 2>/dev/null || echo 0)
    ok=$(grep -c '^ok ' "$log" 2>/dev/null)
    slowest=$(awk '{ if ($6 + 0 > m) m = $6 } END { printf "%.2f", m }' "$log" 2>/dev/null)
    check "$what: $ok of $n fetches good (want all, at least $min), slowest $slowest s$(
        grep -m1 -v '^ok ' "$log" 2>/dev/null | sed 's/^/; first bad: /')" \
        [ "$n" -ge "$min" -a "$ok" -eq "$n" ]
}

# flood NAME MIN_FETCHES SECS CMD...: runs CMD in the namespace (under
# timeout SECS) with the curl loop going from the moment ustackd has read 100
# frames more (the flood is on) until CMD ends; then AFTER_FETCHES fetches.
# At least MIN_FETCHES ran during the flood (the suite asks for 1: on a
# machine busy with other work one fetch may take most of a 3 s flood).
# CMD's output is in $WORK/NAME.flood.out, its status in FLOOD_RC, the
# frames ustackd read meanwhile (the flood's, the fetches', a few ARP) in
# READ[NAME].
FLOOD_RC=
declare -A READ
flood() {
    local name=$1 min=$2 secs=$3; shift 3
    local d=$WORK/$name t0 tx0 drop0 fpid cpid r
    mkdir -p "$d" "$d.after"
    : >"$d/log"
    : >"$d.after/log"
    tx0=$(tap_read)
    drop0=$(tap_dropped)
    t0=$(now_s)
    bg_start "$name.flood" timeout "$secs" "$@"
    fpid=$BG_PID
    wait_for 5 tap_read_ge $((tx0 + 100))
    bg_start "$name.curl" bash "$WORK/curl_loop.sh" "$d" "$WORK/cg" "$CURL_MAX_S"
    cpid=$BG_PID
    while kill -0 "$fpid" 2>/dev/null; do # ends: timeout SECS
        r=$(rss_kib) && [ -n "$r" ] && [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
        sleep 0.2
    done
    wait "$fpid"
    FLOOD_RC=$?
    touch "$d/stop"
    wait_exit $((CURL_MAX_S + 5)) "$cpid" >/dev/null
    nsx bash "$WORK/curl_loop.sh" "$d.after" "$WORK/cg" "$CURL_MAX_S" "$AFTER_FETCHES"
    r=$(rss_kib) && [ -n "$r" ] && [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
    READ[$name]=$(($(tap_read) - tx0))
    echo "time: $RUN/$name: $(since_s "$t0") s (flood and fetches), ustackd read ${READ[$name]} frames, the TAP's queue dropped $(($(tap_dropped) - drop0))$(
        grep -hE 'packets transmitted|flood_frames: sent|Nmap done' "$WORK/$name.flood.out" "$WORK/$name.flood.err" | head -1 | sed 's/^/; /')"
    check_fetches "$RUN/$name: fetches during the flood" "$d" "$min"
    check_fetches "$RUN/$name: fetches right after it" "$d.after" "$AFTER_FETCHES"
    check "$RUN/$name: RSS $RSS_MAX KiB within $RSS_SLACK_KIB KiB of the $RSS0 KiB before the first flood" \
        [ "$RSS_MAX" -le $((RSS0 + RSS_SLACK_KIB)) ]
}

# check_flood_sent NAME MIN: the flood sent at least MIN frames (hping3's
# statistics or flood_frames.py's line), so it was one.
check_flood_sent() {
    local n
    n=$(hping_sent "$WORK/$1.flood.err")
    [ -n "$n" ] || n=$(sed -nE 's/^flood_frames: sent ([0-9]+) .*/\1/p' "$WORK/$1.flood.out")
    check_ge "$RUN/$1: frames sent by the flood" "${n:-0}" "$2"
}

# check_counted WHAT COUNT FLOOD...: COUNT, what the stack counted under the
# reason of the FLOODs' frames, is at least 90% of the frames ustackd read
# while they ran; the rest are the fetches' segments and a little ARP.
check_counted() {
    local what=$1 got=$2 read=0 f
    shift 2
    for f; do read=$((read + ${READ[$f]:-0})); done
    check_ge "$RUN: $what, of the $read frames read during $*" "$got" $((read * 9 / 10))
}

# frames_accounted: after ustackd_stop, every frame ustackd read from tap0 is
# in eth_rx_frames, and each one has exactly one outcome at Ethernet (a drop,
# ARP or IPv4) and each datagram at IPv4 (a drop, reassembly, or a transport;
# a reassembled datagram is one more input). No raw socket is open, and
# nothing is sent to ourselves (which would enter ip_rx without a frame).
frames_accounted() {
    local read=$(($(tap_read) - TAP0)) eth ip
    check_eq "$RUN: frames read from tap0 = eth_rx_frames" "$(counter eth_rx_frames)" "$read"
    eth=$(($(sum_counters '^eth_drop_') + $(counter arp_rx) + $(counter ip_rx)))
    check_eq "$RUN: eth_rx_frames = eth_drop_* + arp_rx + ip_rx" "$(counter eth_rx_frames)" "$eth"
    ip=0
    for c in ip_drop_short ip_drop_bad_version ip_drop_bad_ihl ip_drop_bad_len ip_drop_bad_checksum \
        ip_drop_not_for_us ip_drop_bad_src ip_frags_rx icmp_rx udp_rx tcp_rx ip_drop_unknown_proto; do
        ip=$((ip + $(counter $c)))
    done
    check_eq "$RUN: ip_rx + ip_reasm_ok = IPv4 input drops + ip_frags_rx + icmp_rx + udp_rx + tcp_rx" \
        "$(($(counter ip_rx) + $(counter ip_reasm_ok)))" "$ip"
    check_eq "$RUN: pbuf_alloc_failed" "$(counter pbuf_alloc_failed)" 0
}

# run_stop: ustackd exits cleanly, holding nothing; the frames are accounted.
run_stop() {
    ustackd_stop && check "$RUN: ustackd exited with status 0" true
    frames_accounted
    check_no_leaks "$RUN: ustackd at exit" "$USTACKD_OUT" 1000
    echo "$RUN: counters: $(grep -E '^(eth_rx_frames|ip_drop_bad_src|tcp_drop_syn_queue_full|tcp_drop_unacceptable|tcp_drop_rst_unacceptable|tcp_listen_ack_rst|tcp_drop_listen_rst|tcp_challenge_ack|icmp_rx_echo_requests|icmp_drop_broadcast_echo|ip_reasm_evicted|ip_reasm_overlap|ip_reasm_ok|arp_rx|arp_evictions|arp_tx_requests|arp_drop_cache_full|tcp_rx_closed_port|udp_drop_no_port|icmp_err_rate_limited|[a-z_]*cookie[a-z_]*) ' "$USTACKD_OUT" | tr '\n' ' ')"
}

# --- syn: SYN flood from random sources. The listener's SYN queue (128)
# fills with half-open connections whose SYN-ACKs go nowhere; every SYN
# beyond it is answered with a SYN cookie (tcp_syncookies default 1), and
# Linux's SYNs too: its handshakes complete on their cookies.
if run_start syn; then
    flood syn 1 10 hping3 -S --flood --rand-source -p 80 10.0.0.2
    check_flood_sent syn 10000
    run_stop
    check_counted "SYNs answered with a SYN cookie or dropped for a source that cannot be a host (tcp_syncookies_sent + ip_drop_bad_src)" \
        $(($(counter tcp_syncookies_sent) + $(counter ip_drop_bad_src))) syn
    check_ge "syn: spoofed sources that cannot be hosts dropped (ip_drop_bad_src)" "$(counter ip_drop_bad_src)" 1
    check_eq "syn: no SYN dropped for a full queue (tcp_drop_syn_queue_full + tcp_drop_max_half_open)" \
        $(($(counter tcp_drop_syn_queue_full) + $(counter tcp_drop_max_half_open))) 0
    check_ge "syn: the fetches' handshakes completed on SYN cookies (tcp_syncookies_recv)" \
        "$(counter tcp_syncookies_recv)" 1
    check_eq "syn: no returning ACK failed its cookie (tcp_syncookies_failed)" "$(counter tcp_syncookies_failed)" 0
fi

# --- syn0: the same flood for 3 s with SYN cookies off, to show what the
# syn run's cookies buy: the SYN queue fills and stays full, Linux's SYN is
# dropped like the flood's, and a fetch started during the flood fails.
if run_start syn0 --control off --tcp-syncookies 0; then
    tx0=$(tap_read)
    bg_start syn0.flood timeout 3 hping3 -S --flood --rand-source -p 80 10.0.0.2
    fpid=$BG_PID
    wait_for 5 tap_read_ge $((tx0 + 1000))
    nsx curl -sS --max-time 2 -o /dev/null http://10.0.0.2/bytes/1000 2>"$WORK/syn0.curl.err"
    rc=$?
    wait "$fpid"
    READ[syn0]=$(($(tap_read) - tx0))
    check_eq "syn0: without SYN cookies a fetch during the flood times out (curl's exit status)" "$rc" 28
    run_stop
    check_counted "SYNs dropped for the full SYN queue or their source (tcp_drop_syn_queue_full + ip_drop_bad_src)" \
        $(($(counter tcp_drop_syn_queue_full) + $(counter ip_drop_bad_src))) syn0
    check_eq "syn0: no SYN cookie sent (tcp_syncookies_sent)" "$(counter tcp_syncookies_sent)" 0
fi

# --- tcp: ACK and RST floods with random numbers on an established
# connection's 4-tuple (RFC 5961: dropped, answered at most by rate-limited
# ACKs; the connection carries on), and from random sources to the HTTP
# listener (an RST for each ACK; RSTs ignored).
if run_start tcp; then
    bg_start echo "$PY" "$WORK/echo_client.py" "$WORK/echo.stop" "$WORK/echo.port"
    ECHO_PID=$BG_PID
    wait_for 10 test -s "$WORK/echo.port"
    port=$(cat "$WORK/echo.port" 2>/dev/null)
    check "tcp: echo connection established (Linux port ${port:-none})" [ -n "$port" ]
    port=${port:-1}
    flood ack-conn 1 4 hping3 -A --flood -a 10.0.0.1 -s "$port" -k -p 7 10.0.0.2
    check_flood_sent ack-conn 10000
    flood rst-conn 1 4 hping3 -R --flood -a 10.0.0.1 -s "$port" -k -p 7 10.0.0.2
    check_flood_sent rst-conn 10000
    flood ack-rand 1 3 hping3 -A --flood --rand-source -p 80 10.0.0.2
    check_flood_sent ack-rand 10000
    flood rst-rand 1 3 hping3 -R --flood --rand-source -p 80 10.0.0.2
    check_flood_sent rst-rand 10000
    touch "$WORK/echo.stop"
    wait_exit 20 "$ECHO_PID"
    check "tcp: the echo connection survived all four floods$(sed 's/^/: /' "$WORK/echo.out" | head -1)" \
        grep -q '^echo: ok ' "$WORK/echo.out"
    run_stop
    check_counted "ACKs with unacceptable numbers dropped (tcp_drop_unacceptable + tcp_drop_ack_too_new + tcp_drop_ack_too_old)" \
        $(($(counter tcp_drop_unacceptable) + $(counter tcp_drop_ack_too_new) + $(counter tcp_drop_ack_too_old))) ack-conn
    check_counted "RSTs with unacceptable numbers dropped (tcp_drop_rst_unacceptable)" \
        "$(counter tcp_drop_rst_unacceptable)" rst-conn
    check_counted "ACKs and RSTs to the listener answered with an RST or ignored, or dropped for their source (tcp_listen_ack_rst + tcp_drop_listen_rst + ip_drop_bad_src)" \
        $(($(counter tcp_listen_ack_rst) + $(counter tcp_drop_listen_rst) + $(counter ip_drop_bad_src))) ack-rand rst-rand
    check_ge "tcp: ACKs to the listener answered with an RST (tcp_listen_ack_rst)" \
        "$(counter tcp_listen_ack_rst)" $((${READ[ack-rand]} * 8 / 10))
    check_ge "tcp: RSTs to the listener ignored (tcp_drop_listen_rst)" \
        "$(counter tcp_drop_listen_rst)" $((${READ[rst-rand]} * 8 / 10))
    check_eq "tcp: no connection reset (tcp_conn_reset)" "$(counter tcp_conn_reset)" 0
fi

# --- icmp: echo request flood, broadcast ping flood, LAND.
if run_start icmp; then
    flood echo 1 4 hping3 -1 --flood 10.0.0.2
    check_flood_sent echo 10000
    flood bcast 1 3 hping3 -1 --flood 10.0.0.255
    check_flood_sent bcast 10000
    flood land 1 3 hping3 -S --flood -a 10.0.0.2 -s 80 -k -p 80 10.0.0.2
    check_flood_sent land 10000
    run_stop
    check_counted "echo requests answered (icmp_tx_echo_replies)" "$(counter icmp_tx_echo_replies)" echo
    check_counted "broadcast echo requests ignored (icmp_drop_broadcast_echo)" "$(counter icmp_drop_broadcast_echo)" bcast
    check_eq "icmp: each echo request answered or, sent to the broadcast address, ignored" \
        "$(($(counter icmp_tx_echo_replies) + $(counter icmp_drop_broadcast_echo)))" "$(counter icmp_rx_echo_requests)"
    check_counted "LAND segments dropped: our own address as the source (ip_drop_bad_src)" "$(counter ip_drop_bad_src)" land
    check_eq "icmp: no LAND segment reached the listener (tcp_passive_opens + tcp_syncookies_sent + tcp_drop_syn_queue_full)" \
        $(($(counter tcp_passive_opens) + $(counter tcp_syncookies_sent) + $(counter tcp_drop_syn_queue_full))) \
        $(($(cat "$WORK"/{icmp.warm,echo,echo.after,bcast,bcast.after,land,land.after}/log | wc -l)))
fi

# --- frag: never-completing first fragments, overlapping pairs, tiny
# fragments of whole datagrams. A reassembly timeout of 1 s lets what the
# floods left incomplete time out before ustackd exits.
if run_start frag --control "$WORK/frag.sock" --ip-reasm-timeout-ms 1000; then
    flood first-frags 1 4 hping3 -1 -x -d 200 --flood --rand-source 10.0.0.2
    check_flood_sent first-frags 10000
    flood overlap 1 3 "$PY" "$HERE/flood_frames.py" overlap 30
    check_flood_sent overlap 10000
    flood tiny-frags 1 3 hping3 -1 -f -d 200 --flood 10.0.0.2
    check_flood_sent tiny-frags 2000 # datagrams, each in 12 fragments
    reasm_idle() { "$BIN/ustack-stat" --control "$WORK/frag.sock" --raw | grep -qx 'usage reasm_datagrams 0'; }
    wait_for 10 reasm_idle
    check "frag: what the floods left incomplete timed out (usage reasm_datagrams 0 within 10 s)" reasm_idle
    run_stop
    check_counted "fragments received or dropped for their source (ip_frags_rx + ip_drop_bad_src)" \
        $(($(counter ip_frags_rx) + $(counter ip_drop_bad_src))) first-frags overlap tiny-frags
    check_ge "frag: never-completing datagrams evicted to stay within the limits or timed out (ip_reasm_evicted + ip_reasm_timeout)" \
        $(($(counter ip_reasm_evicted) + $(counter ip_reasm_timeout))) $((${READ[first-frags]} * 8 / 10))
    check_ge "frag: the last of them timed out (ip_reasm_timeout)" "$(counter ip_reasm_timeout)" 1
    check_ge "frag: overlapping fragments discarded their datagram (ip_reasm_overlap, one per pair)" \
        "$(counter ip_reasm_overlap)" $((${READ[overlap]} * 4 / 10))
    check_ge "frag: whole datagrams reassembled from tiny fragments (ip_reasm_ok)" \
        "$(counter ip_reasm_ok)" $((${READ[tiny-frags]} / 30))
    check_eq "frag: each reassembled datagram answered (icmp_tx_echo_replies = ip_reasm_ok)" \
        "$(counter icmp_tx_echo_replies)" "$(counter ip_reasm_ok)"
fi

# --- arp: a storm of requests and unsolicited replies from random senders.
if run_start arp; then
    flood storm 1 4 "$PY" "$HERE/flood_frames.py" arp 30
    check_flood_sent storm 10000
    run_stop
    check_counted "ARP packets (arp_rx)" "$(counter arp_rx)" storm
    check_ge "arp: senders learnt beyond the cache's 64 entries evicted others (arp_evictions)" \
        "$(counter arp_evictions)" $(($(counter arp_rx) / 2))
    check_ge "arp: the requests, 80% of the storm, answered (arp_tx_replies)" \
        "$(counter arp_tx_replies)" $(($(counter arp_rx) * 7 / 10))
    check_range "arp: the entry of the Linux host, in use, was never evicted: no request of ours to resolve it again (arp_tx_requests)" \
        "$(counter arp_tx_requests)" 0 1
fi

# --- scan: nmap SYN scan with OS detection, and a UDP scan.
if run_start scan; then
    flood nmap-sS 1 60 nmap -sS -O -p 1-1024 --max-retries 1 -T5 -n 10.0.0.2
    check_eq "scan: nmap -sS -O finished" "$FLOOD_RC" 0
    check_eq "scan: nmap -sS finds the open ports" \
        "$(grep -oE '^[0-9]+/tcp +open' "$WORK/nmap-sS.flood.out" | cut -d/ -f1 | tr '\n' ' ')" "7 9 19 80 "
    flood nmap-sU 1 60 nmap -sU -p 1-200 --max-retries 1 -T5 -n 10.0.0.2
    check_eq "scan: nmap -sU finished" "$FLOOD_RC" 0
    check "scan: nmap -sU finds UDP echo open (7/udp)" grep -qE '^7/udp +open ' "$WORK/nmap-sU.flood.out"
    run_stop
    check_ge "scan: SYNs to closed ports answered with an RST (tcp_rx_closed_port)" "$(counter tcp_rx_closed_port)" 1000
    check_ge "scan: UDP to closed ports (udp_drop_no_port)" "$(counter udp_drop_no_port)" 150
fi

finish
