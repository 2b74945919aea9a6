#!/usr/bin/env bash
# TCP options and SACK-driven recovery against Linux, read from the captures.
#
#   1. Negotiation, both ways, read from the captures with tshark:
#      a. Linux's curl -> ustackd (8 MiB download): SYN and SYN,ACK both carry
#         window scale, SACK-permitted and timestamps; every later segment,
#         both ways, carries a timestamp; each side's advertised window, the
#         field shifted by the scale it announced, exceeds 65535 bytes; and
#         more than 65535 bytes were in flight from ustack at once (it used
#         Linux's scaled window).
#      b. ustack-get (tap1) -> python3 -m http.server on Linux (8 MiB): the
#         same, the roles swapped (ustack's window > 65535 and Linux in flight
#         > 65535: ustack's scaled window was honoured).
#   2. ustack sends under loss, Linux's SACKs drive its recovery: an nftables
#      rule on tap0's ingress (frames the stack writes, before the bridge)
#      drops 2% of ustackd's data segments (IP length > 200) while curl
#      downloads 50 MiB (sha256 of the chargen pattern). Asserted: Linux's
#      ACKs carry SACK blocks; the trace shows losses marked from SACK
#      information (RACK or RFC 6675: mark_lost with rack_lost/sack_lost) and
#      retransmissions with why "sack"; RTO-driven ones are few; retransmitted
#      segments < 1.5 x dropped data segments and retransmitted bytes < 1.5 x
#      dropped payload bytes (see the comment there for how both are counted).
#   3. Linux sends under loss, ustack's SACKs drive Linux's recovery: 2% of
#      Linux's data segments (IP length > 200) towards tap0 are dropped
#      (tap0's egress; br0 set to one segment per GSO packet so that a drop is
#      one segment) while curl uploads 30 MiB to ustackd's /upload. Asserted:
#      the upload completes within a bound and the sha256 ustackd computed
#      matches; ustack's ACKs carry SACK blocks and every block is right when
#      checked against the data that had arrived (ustackd's own capture): left
#      < right edge, above RCV.NXT (the ACK), within the window offered
#      (allowing the rounding of the scaled window field), covering only data
#      received, no two blocks overlapping, the first one holding the latest
#      segment (RFC 2018 4); D-SACK blocks report data received before.
#      Linux's own counters (/proc/net in the namespace) show SACK recovery,
#      no Reno recovery, and retransmitted segments < 1.5 x the drops.
#
# Each transfer takes about a second on a TAP; the suite about 20 s, most of
# it tshark reading the captures. The lines starting "2:" and "3:" give the
# numbers (drops, retransmissions and their causes, ratios).
. "$(dirname "$0")/lib.sh"

N_NEG=8388608           # the negotiation transfers
N_LOSS=52428800         # 2: 50 MiB from ustackd
N_UP=31457280           # 3: 30 MiB to ustackd
PERMILLE=20             # 2% loss
# A control socket of the suite's own (the default path is shared by every
# ustackd on a tap0, in whatever namespace).
CTL=(--control "$WORK/ctl.sock")
BOUND=60                # seconds, per transfer under loss (each takes ~1 s)

if ! command -v tshark >/dev/null; then
    echo "FAIL: tshark is not installed (tools/deps.sh installs it)"
    FAIL=$((FAIL + 1)); finish; exit 1
fi

# One line per TCP segment of PCAP matching FILTER: the fields the analysis
# below reads, raw sequence numbers, no sequence analysis (not needed, and it
# would take most of the time on 50 MiB).
FIELDS=(ip.src tcp.srcport tcp.dstport tcp.flags tcp.seq_raw tcp.ack_raw tcp.len tcp.window_size_value
        tcp.hdr_len tcp.options.wscale.shift tcp.options.sack_perm tcp.options.timestamp.tsval
        tcp.options.sack_le tcp.options.sack_re)
segments() {
    local pcap=$1 filter=$2 a=()
    for f in "${FIELDS[@]}"; do a+=(-e "$f"); done
    tshark -r "$pcap" -n -o tcp.analyze_sequence_numbers:FALSE -o tcp.relative_sequence_numbers:FALSE \
        -Y "$filter" -T fields -E separator=/t -E occurrence=a -E aggregator=, "${a[@]}" 2>"$pcap.err"
}

# analyze MODE TSV A B: `key value` lines about the connection between
# addresses A and B in TSV (from segments()).
#   negotiation: A is the client. syn_* / synack_* (1 when the option is
#     there), segments after the handshake without a timestamp each way, the
#     largest window each side advertised (field << its announced shift), the
#     largest amount each side had in flight (sequence sent beyond the other's
#     latest ACK, as seen in this capture).
#   sackcheck: A sends data, B receives and SACKs it; the capture is B's own
#     (what arrived at B, in order, and what B sent). Every ACK from B with
#     SACK blocks is checked against what had arrived by then.
analyze() {
    "$PY" - "$@" <<'PYEOF'
import sys
mode, tsv, A, B = sys.argv[1:5]
M = 1 << 32
segs = []
for line in open(tsv):
    f = line.rstrip("\n").split("\t")
    if len(f) < 14 or not f[0]:
        continue
    segs.append(dict(src=f[0], flags=int(f[3], 16), seq=int(f[4]), ack=int(f[5] or 0), len=int(f[6] or 0),
                     win=int(f[7] or 0), hdr=int(f[8] or 0), shift=f[9], sackperm=f[10] != "", ts=f[11] != "",
                     le=[int(x) for x in f[12].split(",") if x], re=[int(x) for x in f[13].split(",") if x]))
SYN, RST, ACK = 0x02, 0x04, 0x10
out = {}
def put(k, v): out[k] = v

syn = next((s for s in segs if s["src"] == A and s["flags"] & SYN and not s["flags"] & ACK), None)
synack = next((s for s in segs if s["src"] == B and s["flags"] & SYN and s["flags"] & ACK), None)
put("segments", len(segs))
if not syn or not synack:
    put("handshake", 0)
    for k, v in out.items(): print(k, v)
    sys.exit(0)
put("handshake", 1)
scaled = syn["shift"] != "" and synack["shift"] != ""
shift = {A: int(syn["shift"]) if scaled else 0, B: int(synack["shift"]) if scaled else 0}
isn = {A: syn["seq"], B: synack["seq"]}
def off(src, seq): return (seq - isn[src]) % M      # sequence offset from the sender's ISN

if mode == "negotiation":
    for name, s in (("syn", syn), ("synack", synack)):
        put(name + "_wscale", int(s["shift"] != ""))
        put(name + "_shift", s["shift"] or "-")
        put(name + "_sackperm", int(s["sackperm"]))
        put(name + "_ts", int(s["ts"]))
    later = [s for s in segs if not s["flags"] & (SYN | RST)]
    last_ack = {A: None, B: None}       # the latest ACK each side sent (offset into the other's space)
    win_max = {A: 0, B: 0}
    inflight_max = {A: 0, B: 0}
    for s in later:
        src = s["src"]
        other = B if src == A else A
        win_max[src] = max(win_max[src], s["win"] << shift[src])
        if s["flags"] & ACK:
            a = off(other, s["ack"])
            if last_ack[src] is None or a > last_ack[src]:
                last_ack[src] = a
        if s["len"] and last_ack[other] is not None:
            inflight_max[src] = max(inflight_max[src], off(src, s["seq"]) + s["len"] - last_ack[other])
    for tag, src in (("client", A), ("server", B)):
        put(tag + "_segments", sum(1 for s in later if s["src"] == src))
        put(tag + "_no_ts", sum(1 for s in later if s["src"] == src and not s["ts"]))
        put(tag + "_win_max", win_max[src])
        put(tag + "_inflight_max", inflight_max[src])

elif mode == "sackcheck":
    got = []            # intervals [start, end) of A's data that arrived, merged, by offset
    def add(a, b):
        nonlocal_got = []
        for x, y in sorted(got + [[a, b]]):
            if nonlocal_got and x <= nonlocal_got[-1][1]:
                nonlocal_got[-1][1] = max(nonlocal_got[-1][1], y)
            else:
                nonlocal_got.append([x, y])
        got[:] = nonlocal_got
    def covered(a, b): return any(x <= a and b <= y for x, y in got)
    n_acks = n_sack_acks = n_blocks = n_dsack = max_blocks = 0
    bad = {"order": 0, "not_above_ack": 0, "beyond_window": 0, "not_received": 0, "overlap": 0,
           "first_not_latest": 0, "dsack_not_received": 0}
    examples = []
    latest = None       # the latest data segment from A: (start, end) offsets
    rounding = [0, 0]   # blocks past the edge shown, within the rounding; the largest excess
    for i, s in enumerate(segs):
        if s["src"] == A:
            if s["len"]:
                a = off(A, s["seq"])
                add(a, a + s["len"])
                latest = (a, a + s["len"])
            continue
        if s["flags"] & SYN or not s["flags"] & ACK:
            continue
        n_acks += 1
        if not s["le"]:
            continue
        n_sack_acks += 1
        ack = off(A, s["ack"])
        wnd = s["win"] << shift[B]
        blocks = [(off(A, l), off(A, r)) for l, r in zip(s["le"], s["re"])]
        n_blocks += len(blocks)
        max_blocks = max(max_blocks, len(blocks))
        why = []
        # RFC 2883: a first block below the ACK, or inside the second, is a D-SACK.
        d = blocks[0]
        if d[1] <= ack or (len(blocks) > 1 and blocks[1][0] <= d[0] and d[1] <= blocks[1][1]):
            n_dsack += 1
            if not covered(*d):
                why.append("dsack_not_received")
            blocks = blocks[1:]
        for l, r in blocks:
            if not l < r:
                why.append("order")
            if not l > ack:
                why.append("not_above_ack")
            # RFC 7323 2.4: the scaled field rounds the window to a multiple
            # of 2^shift, so the edge it shows may lie up to 2^shift - 1
            # bytes left of the one offered before (a retraction the sender
            # must tolerate; Linux rounds its own up instead). Beyond that
            # tolerance, a block is outside the window.
            if r > ack + wnd + (1 << shift[B]) - 1:
                why.append("beyond_window")
            elif r > ack + wnd:
                rounding[0] += 1
                rounding[1] = max(rounding[1], r - ack - wnd)
            if not covered(l, r):
                why.append("not_received")
        srt = sorted(blocks)
        if any(srt[k][1] >= srt[k + 1][0] for k in range(len(srt) - 1)):
            why.append("overlap")
        # RFC 2018 4: the first block holds the most recently received
        # segment, when that segment was out of order (above the ACK).
        if blocks and latest and latest[0] > ack and not (blocks[0][0] <= latest[0] and latest[1] <= blocks[0][1]):
            why.append("first_not_latest")
        for w in set(why):
            bad[w] += 1
        if why and len(examples) < 5:
            examples.append("segment %d: ack %d win %d blocks %s latest %s: %s" %
                            (i + 1, ack, wnd, [(off(A, l), off(A, r)) for l, r in zip(s["le"], s["re"])],
                             latest, ",".join(sorted(set(why)))))
    put("acks", n_acks)
    put("sack_acks", n_sack_acks)
    put("blocks", n_blocks)
    put("dsack_blocks", n_dsack)
    put("max_blocks", max_blocks)
    put("receiver_shift", shift[B])
    put("rounding_blocks", rounding[0])
    put("rounding_max", rounding[1])
    put("bad_total", sum(bad.values()))
    for k, v in bad.items():
        put("bad_" + k, v)
    for e in examples:
        print("example", e)
    put("data_end", got[0][1] if got and got[0][0] <= 1 else 0)
for k, v in out.items():
    print(k, v)
PYEOF
}
val() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

# Linux's TCP counters in the namespace (per namespace: /proc/net/snmp and
# /proc/net/netstat as read from inside it), `Group:Name value` lines.
linux_mib() {
    nsx cat /proc/net/snmp /proc/net/netstat |
        awk '{ if (hdr[$1] == "") { hdr[$1] = $0; next }
               n = split(hdr[$1], h); for (i = 2; i <= n; i++) print $1 h[i], $i; hdr[$1] = "" }'
}
mib_delta() { awk -v k="$1" '$1 == k { print $2 }' "$2" "$3" | awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }'; }

ns_up

# --- 1a. curl -> ustackd
ustackd_start --services all "${CTL[@]}" --pcap "$WORK/1a.pcap" || { FAIL=$((FAIL + 1)); finish; exit 1; }
out=$(nsx curl -sS -m 30 -o "$WORK/1a.bin" -w '%{http_code} %{size_download}' http://10.0.0.2/bytes/$N_NEG 2>&1)
check_eq "1a: curl downloads $N_NEG bytes from ustackd" "$out" "200 $N_NEG"
check_eq "1a: the chargen pattern" "$(sha256_of "$WORK/1a.bin")" "$(chargen_sha256 $N_NEG)"
ustackd_stop
segments "$WORK/1a.pcap" 'tcp.port == 80' >"$WORK/1a.tsv"
analyze negotiation "$WORK/1a.tsv" 10.0.0.1 10.0.0.2 >"$WORK/1a.res"
R=$WORK/1a.res
echo "1a: shifts: Linux $(val syn_shift "$R"), ustack $(val synack_shift "$R");" \
     "windows (max, scaled): Linux $(val client_win_max "$R"), ustack $(val server_win_max "$R");" \
     "in flight (max): ustack $(val server_inflight_max "$R")"
check_eq "1a: one handshake in the capture" "$(val handshake "$R")" 1
for o in wscale sackperm ts; do
    check_eq "1a: Linux's SYN carries $o" "$(val syn_$o "$R")" 1
    check_eq "1a: ustack's SYN,ACK carries $o" "$(val synack_$o "$R")" 1
done
check_ge "1a: segments from ustack after the handshake" "$(val server_segments "$R")" 1000
check_eq "1a: ... all with a timestamp" "$(val server_no_ts "$R")" 0
check_ge "1a: segments from Linux after the handshake" "$(val client_segments "$R")" 100
check_eq "1a: ... all with a timestamp" "$(val client_no_ts "$R")" 0
check_ge "1a: ustack's advertised window, scaled, exceeds 65535" "$(val server_win_max "$R")" 65536
check_ge "1a: Linux's advertised window, scaled, exceeds 65535" "$(val client_win_max "$R")" 65536
check_ge "1a: ustack had more than 65535 bytes in flight (Linux's scaled window used)" \
    "$(val server_inflight_max "$R")" 65536

# --- 1b. ustack-get -> python3 -m http.server
mkdir -p "$WORK/srv"
head -c $N_NEG /dev/urandom >"$WORK/srv/neg.bin"
bg_start httpd "$PY" -m http.server 8000 --bind 10.0.0.1 --directory "$WORK/srv"
HTTPD_PID=$BG_PID
check "1b: python3 -m http.server is serving on 10.0.0.1:8000" \
    wait_for 10 ip netns exec "$NS" curl -sf -o /dev/null http://10.0.0.1:8000/
# ustack-get's own capture for the options; one on br0, Linux's side, for
# what Linux had in flight (seen from ustack, each segment is acknowledged
# as soon as it arrives).
tcpdump_start "$WORK/1b-br0.pcap" -s 128 -B 65536 tcp port 8000
nsx timeout 60 "$BIN/ustack-get" --pcap "$WORK/1b.pcap" -o "$WORK/1b.bin" http://10.0.0.1:8000/neg.bin 2>"$WORK/1b.err"
rc=$?
tcpdump_stop
kill "$HTTPD_PID" 2>/dev/null; wait "$HTTPD_PID" 2>/dev/null
check_eq "1b: ustack-get downloads $N_NEG bytes from Linux$(note "$WORK/1b.err")" "$rc" 0
check_eq "1b: sha256-equal" "$(sha256_of "$WORK/1b.bin")" "$(sha256_of "$WORK/srv/neg.bin")"
segments "$WORK/1b.pcap" 'tcp.port == 8000' >"$WORK/1b.tsv"
analyze negotiation "$WORK/1b.tsv" 10.0.0.3 10.0.0.1 >"$WORK/1b.res"
segments "$WORK/1b-br0.pcap" 'tcp.port == 8000' >"$WORK/1b-br0.tsv"
analyze negotiation "$WORK/1b-br0.tsv" 10.0.0.3 10.0.0.1 >"$WORK/1b-br0.res"
R=$WORK/1b.res
inflight_l=$(val server_inflight_max "$WORK/1b-br0.res")
echo "1b: shifts: ustack $(val syn_shift "$R"), Linux $(val synack_shift "$R");" \
     "windows (max, scaled): ustack $(val client_win_max "$R"), Linux $(val server_win_max "$R");" \
     "in flight (max, on br0): Linux $inflight_l"
check_eq "1b: one handshake in the capture" "$(val handshake "$R")" 1
for o in wscale sackperm ts; do
    check_eq "1b: ustack's SYN carries $o" "$(val syn_$o "$R")" 1
    check_eq "1b: Linux's SYN,ACK carries $o" "$(val synack_$o "$R")" 1
done
check_ge "1b: segments from Linux after the handshake" "$(val server_segments "$R")" 1000
check_eq "1b: ... all with a timestamp" "$(val server_no_ts "$R")" 0
check_ge "1b: segments from ustack after the handshake" "$(val client_segments "$R")" 100
check_eq "1b: ... all with a timestamp" "$(val client_no_ts "$R")" 0
check_ge "1b: ustack's advertised window, scaled, exceeds 65535" "$(val client_win_max "$R")" 65536
# (Linux's window here, the server's, only ever had a request to receive: it
# stays near its initial 64 KiB and is printed, not checked; 1a checks it.)
check_ge "1b: Linux had more than 65535 bytes in flight (ustack's scaled window honoured)" \
    "${inflight_l:-0}" 65536

# --- 2. ustackd sends 50 MiB, 2% of its data segments are lost
# The rule sits on tap0's ingress: the frames ustackd writes to its TAP,
# before the bridge and Linux see them. It drops only data segments of the
# HTTP connection (IP length > 200: pure ACKs, the FIN and a short response
# header pass), so its counter counts dropped data segments exactly, and its
# bytes are their IP lengths. ustackd's --pcap is written before the drop: it
# holds the lost segments too, and Linux's ACKs as they arrived.
ustackd_start --services all "${CTL[@]}" --trace "$WORK/2.trace" --pcap "$WORK/2.pcap" || { FAIL=$((FAIL + 1)); finish; exit 1; }
nsx nft -f - <<NFT
table netdev sack_test {
    chain tap0_in {
        type filter hook ingress device "tap0" priority 0; policy accept;
        ip saddr 10.0.0.2 tcp sport 80 ip length > 200 numgen random mod 1000 < $PERMILLE counter drop
    }
}
NFT
check "2: nftables drops ${PERMILLE}/1000 of ustackd's data segments" \
    bash -c "ip netns exec $NS nft list table netdev sack_test | grep -q 'mod 1000 < $PERMILLE counter'"
t0=$(now_s)
out=$(nsx curl -sS -m $BOUND -o "$WORK/2.bin" -w '%{http_code} %{size_download}' http://10.0.0.2/bytes/$N_LOSS 2>&1)
echo "time: 2: curl downloads $N_LOSS bytes under ${PERMILLE}/1000 loss: $(since_s "$t0") s (bound $BOUND s)"
check_eq "2: curl downloads $N_LOSS bytes under loss" "$out" "200 $N_LOSS"
check_eq "2: the chargen pattern (sha256)" "$(sha256_of "$WORK/2.bin")" "$(chargen_sha256 $N_LOSS)"
rule=$(nsx nft list table netdev sack_test | grep 'counter packets')
drop_segs=$(echo "$rule" | sed -nE 's/.*counter packets ([0-9]+) bytes ([0-9]+).*/\1/p')
drop_ipbytes=$(echo "$rule" | sed -nE 's/.*counter packets ([0-9]+) bytes ([0-9]+).*/\2/p')
nsx nft delete table netdev sack_test
ustackd_stop
# ustackd's data segments carry IPv4 (20) and TCP (20 + 12 timestamp option)
# headers and nothing else (checked below from the capture: no SACK blocks
# on a connection where ustack receives nothing out of order), so the payload
# dropped is the IP bytes less 52 per segment.
segments "$WORK/2.pcap" 'ip.src == 10.0.0.2 && tcp.srcport == 80 && tcp.len > 0' |
    awk -F'\t' '{ n[$9]++ } END { for (h in n) print h, n[h] }' >"$WORK/2.hdr"
check_eq "2: every data segment of ustackd has a 32-byte TCP header (header length, segments)" \
    "$(awk '{ printf "%s%s", sep, $1; sep = "," }' "$WORK/2.hdr")" 32
drop_bytes=$((drop_ipbytes - 52 * drop_segs))
sack_acks=$(segments "$WORK/2.pcap" 'ip.src == 10.0.0.1 && tcp.dstport == 80 && tcp.options.sack_le' | wc -l)
# The trace: loss marking and retransmissions, by cause.
"$PY" - "$WORK/2.trace" >"$WORK/2.res" <<'PYEOF'
import collections, json, sys
n, seg, byt = collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    n[e["ev"]] += 1
    if e["ev"] == "retransmit":
        seg[e["why"]] += 1
        byt[e["why"]] += e["len"]
for k in ("mark_lost", "rack_lost", "sack_lost", "recovery_start", "rto_fired", "tlp"):
    print(k, n[k])
print("rexmit_segs", sum(seg.values()))
print("rexmit_bytes", sum(byt.values()))
for w in ("sack", "rto", "fast_retransmit", "tlp"):
    print("rexmit_" + w, seg[w])
print("rexmit_other", sum(v for k, v in seg.items() if k not in ("sack", "rto", "fast_retransmit", "tlp")))
PYEOF
R=$WORK/2.res
rs=$(val rexmit_segs "$R") rb=$(val rexmit_bytes "$R")
ratio_s=$(awk -v a="$rs" -v b="$drop_segs" 'BEGIN { printf "%.3f", b ? a / b : 99 }')
ratio_b=$(awk -v a="$rb" -v b="$drop_bytes" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 99 }')
echo "2: dropped $drop_segs data segments ($drop_bytes payload bytes); retransmitted $rs segments ($rb bytes):" \
     "why sack $(val rexmit_sack "$R"), rto $(val rexmit_rto "$R"), tlp $(val rexmit_tlp "$R"), other $(val rexmit_other "$R");" \
     "ratio $ratio_s (segments), $ratio_b (bytes)"
echo "2: trace: mark_lost $(val mark_lost "$R"), rack_lost $(val rack_lost "$R"), sack_lost $(val sack_lost "$R")," \
     "recovery_start $(val recovery_start "$R"), rto_fired $(val rto_fired "$R"), tlp $(val tlp "$R");" \
     "counters: tcp_rx_sack_blocks $(counter tcp_rx_sack_blocks), tcp_rack_marked_lost $(counter tcp_rack_marked_lost)," \
     "tcp_sack_marked_lost $(counter tcp_sack_marked_lost), tcp_rto_marked_lost $(counter tcp_rto_marked_lost)," \
     "tcp_rto_expired $(counter tcp_rto_expired); Linux's ACKs with SACK blocks: $sack_acks"
check_ge "2: nftables dropped data segments" "${drop_segs:-0}" 100
check_ge "2: Linux's ACKs carry SACK blocks (capture)" "$sack_acks" 50
check_ge "2: ustackd took SACK blocks in (tcp_rx_sack_blocks)" "$(counter tcp_rx_sack_blocks)" 50
check_ge "2: trace: losses marked (mark_lost)" "$(val mark_lost "$R")" "$((drop_segs / 2))"
check_ge "2: trace: ... by SACK information (rack_lost + sack_lost events)" \
    "$(($(val rack_lost "$R") + $(val sack_lost "$R")))" 1
check_eq "2: counters: SACK/RACK-marked losses = mark_lost events not caused by an RTO" \
    "$(($(counter tcp_rack_marked_lost) + $(counter tcp_sack_marked_lost)))" \
    "$(($(val mark_lost "$R") - $(counter tcp_rto_marked_lost)))"
# Most retransmissions are SACK-driven, RTO ones few: at most 5% of them (at
# least 3 allowed: a retransmission lost in turn at the very end of the
# transfer can need the timer).
check_ge "2: retransmissions with why \"sack\": at least 90% of $rs" "$(val rexmit_sack "$R")" "$((rs * 9 / 10 > 0 ? rs * 9 / 10 : 1))"
rto_max=$((rs / 20 > 3 ? rs / 20 : 3))
check "2: RTO-driven retransmissions are few (got $(val rexmit_rto "$R"), want <= $rto_max)" \
    [ "$(val rexmit_rto "$R")" -le $rto_max ]
# Retransmitted vs dropped. Segments: retransmit events (= tcp_retransmit_segs)
# against the rule's packet count; a dropped retransmission is dropped again
# and resent again, so both sides count it, and a perfect sender scores 1.0.
# Bytes: the retransmit events' len (sequence space) against the dropped
# payload (IP bytes less headers, above).
check_eq "2: retransmit events = tcp_retransmit_segs" "$rs" "$(counter tcp_retransmit_segs)"
check_range "2: retransmitted segments / dropped data segments" "$ratio_s" 0.9 1.5
check_range "2: retransmitted bytes / dropped payload bytes" "$ratio_b" 0.9 1.5
check_eq "2: no connection timed out or was reset" "$(($(counter tcp_timeout) + $(counter tcp_conn_reset)))" 0

# --- 3. Linux uploads 30 MiB to ustackd, 2% of its data segments are lost
# The rule sits on tap0's egress: frames from the bridge towards ustackd.
# ustackd's --pcap therefore shows what arrived and the ACKs it sent. The
# egress hook runs before GSO packets are cut into frames: with Linux's
# default GSO one "packet" there is up to 64 KiB, and a drop would lose tens
# of segments at once. gso_max_segs 1 on br0 (in the namespace) makes Linux
# build one segment per packet, so the rule drops 2% of the segments, each on
# its own, and counts them one by one (checked: no dropped packet exceeds one
# segment).
nsx ip link set dev br0 gso_max_segs 1
check_eq "3: br0 in the namespace: one segment per GSO packet" \
    "$(nsx ip -d link show br0 | grep -oE 'gso_max_segs [0-9]+')" "gso_max_segs 1"
head -c $N_UP /dev/urandom >"$WORK/up.bin"
ustackd_start --services all "${CTL[@]}" --pcap "$WORK/3.pcap" || { FAIL=$((FAIL + 1)); finish; exit 1; }
nsx nft -f - <<NFT
table netdev sack_test {
    chain tap0_out {
        type filter hook egress device "tap0" priority 0; policy accept;
        ip saddr 10.0.0.1 tcp dport 80 ip length > 200 numgen random mod 1000 < $PERMILLE counter drop
    }
}
NFT
check "3: nftables drops ${PERMILLE}/1000 of Linux's data segments to ustackd" \
    bash -c "ip netns exec $NS nft list table netdev sack_test | grep -q 'mod 1000 < $PERMILLE counter'"
linux_mib >"$WORK/mib0"
t0=$(now_s)
nsx curl -sS -m $BOUND -f -T "$WORK/up.bin" -o "$WORK/3.out" http://10.0.0.2/upload 2>"$WORK/3.err"
rc=$?
t3=$(since_s "$t0")
linux_mib >"$WORK/mib1"
echo "time: 3: curl uploads $N_UP bytes under ${PERMILLE}/1000 loss: $t3 s (bound $BOUND s)"
check_eq "3: curl uploads $N_UP bytes under loss: exit$(note "$WORK/3.err")" "$rc" 0
check_eq "3: ustackd received $N_UP bytes" "$(counter bytes "$WORK/3.out")" $N_UP
check_eq "3: sha256 computed by ustackd = the file's" "$(awk '$1 == "sha256" { print $2 }' "$WORK/3.out")" \
    "$(sha256_of "$WORK/up.bin")"
rule=$(nsx nft list table netdev sack_test | grep 'counter packets')
drop3_pkts=$(echo "$rule" | sed -nE 's/.*counter packets ([0-9]+) bytes ([0-9]+).*/\1/p')
drop3_ipbytes=$(echo "$rule" | sed -nE 's/.*counter packets ([0-9]+) bytes ([0-9]+).*/\2/p')
nsx nft delete table netdev sack_test
ustackd_stop
segments "$WORK/3.pcap" 'tcp.port == 80' >"$WORK/3.tsv"
analyze sackcheck "$WORK/3.tsv" 10.0.0.1 10.0.0.2 >"$WORK/3.res"
R=$WORK/3.res
grep '^example' "$R" | sed 's/^/3: /'
# Dropped segments: the rule's packet count, one segment each (above). Its
# bytes (IP lengths, plus the Ethernet header at this hook) confirm it: at
# most 1514 per packet, where a GSO packet of two full segments would be
# twice that. Linux's data segments carry the timestamp option only (checked
# from the capture).
awk -F'\t' '$1 == "10.0.0.1" && $7 > 0 { n[$9]++ } END { for (h in n) print h, n[h] }' "$WORK/3.tsv" >"$WORK/3.hdr"
check_eq "3: every data segment of Linux's has a 32-byte TCP header (header length, segments)" \
    "$(awk '{ printf "%s%s", sep, $1; sep = "," }' "$WORK/3.hdr")" 32
drop3=${drop3_pkts:-0}
check "3: each dropped packet was one frame (${drop3_ipbytes:-?} bytes in $drop3 packets)" \
    [ "${drop3_ipbytes:-0}" -le $((drop3 * 1514)) ]
l_rexmit=$(mib_delta Tcp:RetransSegs "$WORK/mib0" "$WORK/mib1")
l_sackrec=$(mib_delta TcpExt:TCPSackRecovery "$WORK/mib0" "$WORK/mib1")
l_renorec=$(mib_delta TcpExt:TCPRenoRecovery "$WORK/mib0" "$WORK/mib1")
l_timeouts=$(mib_delta TcpExt:TCPTimeouts "$WORK/mib0" "$WORK/mib1")
ratio3=$(awk -v a="$l_rexmit" -v b="$drop3" 'BEGIN { printf "%.3f", b ? a / b : 99 }')
echo "3: SACK blocks past RCV.NXT + the window shown, by less than the scale's granularity" \
     "2^$(val receiver_shift "$R"): $(val rounding_blocks "$R") (at most $(val rounding_max "$R") bytes)"
echo "3: dropped $drop3 of Linux's data segments; ustack sent $(val sack_acks "$R") ACKs with SACK" \
     "($(val blocks "$R") blocks, $(val dsack_blocks "$R") D-SACK, at most $(val max_blocks "$R") per ACK) of $(val acks "$R") ACKs;" \
     "Linux: RetransSegs $l_rexmit (ratio $ratio3), TCPSackRecovery $l_sackrec, TCPRenoRecovery $l_renorec, TCPTimeouts $l_timeouts"
check_ge "3: nftables dropped Linux's data segments" "$drop3" 100
check_ge "3: ustack's ACKs carry SACK blocks (capture)" "$(val sack_acks "$R")" 50
check_eq "3: SACK blocks in the capture = tcp_tx_sack_blocks" "$(val blocks "$R")" "$(counter tcp_tx_sack_blocks)"
check_eq "3: the capture has all $N_UP bytes plus the request in order" "$(( $(val data_end "$R") > N_UP ))" 1
for k in order not_above_ack beyond_window not_received overlap first_not_latest dsack_not_received; do
    check_eq "3: SACK blocks from ustack: $k" "$(val bad_$k "$R")" 0
done
check_ge "3: Linux recovered with SACK (TCPSackRecovery)" "${l_sackrec:-0}" 1
check_eq "3: Linux never fell back to Reno recovery (TCPRenoRecovery)" "${l_renorec:-x}" 0
check_range "3: Linux's retransmitted segments / dropped data segments" "$ratio3" 0.9 1.5
to_max=$((drop3 / 20 > 3 ? drop3 / 20 : 3))
check "3: Linux's timeouts are few (TCPTimeouts $l_timeouts, want <= $to_max)" [ "${l_timeouts:-999}" -le $to_max ]
check_eq "3: no connection timed out or was reset" "$(($(counter tcp_timeout) + $(counter tcp_conn_reset)))" 0
finish
