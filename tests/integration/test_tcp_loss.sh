#!/usr/bin/env bash
# TCP under loss and reordering on both sides at once; every byte arrives intact.
# The kernel drops 3% of the frames towards each TAP (tools/netns.sh impair:
# nftables, as this kernel may have no netem), and the stacks' own fault
# injectors drop 3%, reorder 10%, duplicate 2%, corrupt 0.5% and delay 5 ms
# each way. Three 20 MiB transfers run at once, each within a generous bound:
# curl downloads /bytes/20971520 from ustackd (the stack sends), curl uploads
# 20 MiB to /upload (the stack receives), and ustack-get on tap1 fetches 20 MiB
# from `python3 -m http.server` (the stack as client). All sha256-equal; the
# counters show that the faults happened and were recovered from; nothing
# leaks. About 6% of ustack's segments are lost in all when it sends, and the
# download runs at what CUBIC gets at that loss (about 5 Mbit/s, 30 s); Linux
# sends with its default congestion control (bbr here, which ignores random
# loss), so the upload takes a second or two. The "time:" lines say how long.
. "$(dirname "$0")/lib.sh"

BOUND=180                       # seconds, per transfer
N=20971520
FAULTS=(--drop 0.03 --reorder 0.1 --dup 0.02 --corrupt 0.005 --delay-ms 5)

ns_up
ustackd_start --services all "${FAULTS[@]}" --seed 3 || { FAIL=$((FAIL + 1)); finish; exit 1; }
mkdir -p "$WORK/srv"
head -c $N /dev/urandom >"$WORK/srv/get.bin"
head -c $N /dev/urandom >"$WORK/up"
bg_start httpd "$PY" -m http.server 8000 --bind 10.0.0.1 --directory "$WORK/srv"
HTTPD_PID=$BG_PID
check "python3 -m http.server is serving on 10.0.0.1:8000" \
    wait_for 10 ip netns exec "$NS" curl -sf -o /dev/null http://10.0.0.1:8000/
for dev in tap0 tap1; do
    "$ROOT/tools/netns.sh" impair $dev loss 3% --ns "$NS" >/dev/null
    check "kernel-side loss 3% on $dev" bash -c "ip netns exec $NS nft list table netdev ustack_impair_$dev | grep -q 'mod 1000 < 30 '"
done

# Each transfer in the background; NAME.rc and NAME.time when it ends.
PIDS=()
run_timed() {
    local name=$1; shift
    (
        t0=$(now_s)
        ip netns exec "$NS" timeout $BOUND "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
        echo $? >"$WORK/$name.rc"
        since_s "$t0" >"$WORK/$name.time"
    ) &
    PIDS+=($!)
}
run_timed download curl -sS -f -o "$WORK/download" -w '%{http_code} %{size_download}' http://10.0.0.2/bytes/$N
run_timed upload curl -sS -f -T "$WORK/up" http://10.0.0.2/upload
# Linux is the sender here: with the injector reordering 10% of its segments
# it raises its duplicate-ACK threshold (no SACK to tell reordering from loss)
# and repairs a lost segment by its own backed-off RTO, which was seen to leave
# the connection silent for 30 s while ustack kept acknowledging; ustack-get's
# inactivity timeout is therefore set well above that, inside the 180 s bound.
run_timed get "$BIN/ustack-get" "${FAULTS[@]}" --seed 4 --timeout 150 --stats "$WORK/get.stats" -o "$WORK/get" \
    http://10.0.0.1:8000/get.bin
wait "${PIDS[@]}"

for t in download upload get; do
    echo "time: $t of 20 MiB under loss: $(cat "$WORK/$t.time") s (bound $BOUND s)"
done
check_eq "download (the stack sends): curl exit$(note "$WORK/download.err")" "$(cat "$WORK/download.rc")" 0
check_eq "download: status and size" "$(cat "$WORK/download.out")" "200 $N"
check_eq "download: sha256 of the chargen pattern" "$(sha256_of "$WORK/download")" "$(chargen_sha256 $N)"
check_eq "upload (the stack receives): curl exit$(note "$WORK/upload.err")" "$(cat "$WORK/upload.rc")" 0
check_eq "upload: count" "$(counter bytes "$WORK/upload.out")" $N
check_eq "upload: sha256" "$(awk '$1 == "sha256" { print $2 }' "$WORK/upload.out")" "$(sha256_of "$WORK/up")"
check_eq "ustack-get (the stack as client): exit$(note "$WORK/get.err")" "$(cat "$WORK/get.rc")" 0
check_eq "ustack-get: sha256" "$(sha256_of "$WORK/get")" "$(sha256_of "$WORK/srv/get.bin")"
check "ustack-get: nothing on stderr$(note "$WORK/get.err")" [ ! -s "$WORK/get.err" ]

kdrop() { ip netns exec "$NS" nft list table netdev "ustack_impair_$1" | sed -nE 's/.*counter packets ([0-9]+).*/\1/p'; }
check_ge "nftables dropped frames towards tap0" "$(kdrop tap0)" 100
check_ge "nftables dropped frames towards tap1" "$(kdrop tap1)" 100
"$ROOT/tools/netns.sh" unimpair tap0 --ns "$NS"
"$ROOT/tools/netns.sh" unimpair tap1 --ns "$NS"

ustackd_stop
for k in fault_in_dropped fault_out_dropped fault_in_reordered fault_in_duplicated fault_in_corrupted \
         tcp_rx_ooo tcp_drop_bad_checksum tcp_drop_unacceptable tcp_retransmit_segs tcp_fast_retransmit; do
    check_ge "ustackd: $k" "$(counter $k)" 1
done
check_eq "ustackd: no connection timed out or was reset" "$(($(counter tcp_timeout) + $(counter tcp_conn_reset)))" 0
check_no_leaks "ustackd at exit" "$USTACKD_OUT"
S=$WORK/get.stats
for k in fault_in_dropped fault_out_dropped fault_in_reordered tcp_rx_ooo tcp_drop_bad_checksum tcp_drop_unacceptable; do
    check_ge "ustack-get: $k" "$(counter $k "$S")" 1
done
check_no_leaks "ustack-get at exit" "$S"
kill "$HTTPD_PID" 2>/dev/null; wait "$HTTPD_PID" 2>/dev/null
finish
