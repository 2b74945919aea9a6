#!/usr/bin/env bash
# A study scenario over the real TAP, against Linux: the counterpart of
# `make study` (which runs in the simulator). ustackd runs in a namespace of
# its own with --trace and --pcap; Linux's curl or nc is the peer; the
# impairment is the kernel-side one (tools/netns.sh impair: netem where the
# kernel has it, else nftables loss) together with the stack's own injector.
# The trace is then plotted with tools/ustack-plot.
#
#   tools/study-real.sh SCENARIO [SEED]     (make study-real SCENARIO=NAME)
#
# Scenarios (what Linux does, what is impaired):
#   handshake             curl GET / : connection set-up and close, no loss
#   slow-start            curl of 2 MiB from ustackd, no loss: cwnd from IW10
#   loss-fast-retransmit  the same with 1% of ustackd's segments dropped by its
#                         injector: losses repaired by three duplicate ACKs
#   loss-rto              Linux's ACKs dropped at 20% on their way to ustackd:
#                         tail losses that only the RTO repairs
#   reorder               10% of ustackd's segments held back one place
#   zero-window           a slow ustack reader (ustack-bulk) behind a Linux nc
#                         sender: ustack's window closes, Linux probes it
#   lossy-5pct            5% kernel-side loss towards ustackd and 5% of its own
#                         segments dropped by its injector
# sack-recovery, rack-tlp and cubic-vs-newreno are simulator-only (make study):
# they drop or delay chosen segments, which the real TAP's random injector and
# the kernel-side loss cannot do.
# Output in build/study-real/NAME/: trace.jsonl, capture.pcap, counters.txt,
# summary.txt and the plots. Randomness in the injector comes from SEED; the
# kernel-side loss and Linux's timing are not seeded, so runs differ (the
# simulated scenarios are the reproducible ones).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
SCENARIO=${1:-}
SEED=${2:-1}
SCENARIOS="handshake slow-start loss-fast-retransmit loss-rto reorder zero-window lossy-5pct"
case "$SCENARIO" in
    sack-recovery | rack-tlp | cubic-vs-newreno)
        echo "study-real: $SCENARIO runs only in the simulator (make study SCENARIO=$SCENARIO): it drops or" \
            "delays chosen segments, which the TAP's random injector cannot" >&2
        exit 2 ;;
esac
case " $SCENARIOS " in
    *" $SCENARIO "*) ;;
    *) echo "usage: tools/study-real.sh SCENARIO [SEED]; SCENARIO is one of: $SCENARIOS" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "study-real: run as root (it creates a network namespace)" >&2; exit 1; }
[ -x "$BIN/ustackd" ] || { echo "study-real: build first (make all)" >&2; exit 1; }

OUT=$ROOT/build/study-real/$SCENARIO
NS=uststudy$$
rm -rf "$OUT"
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
"$ROOT/tools/netns.sh" up "$NS" >/dev/null
nsx() { ip netns exec "$NS" "$@"; }

# SIGTERM to the namespace's processes called NAME, then wait (bounded)
# until they are gone: they print their counters and close their trace.
stop_in_ns() {
    local pids=() p
    for p in $(ip netns pids "$NS" 2>/dev/null); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = "$1" ] && pids+=("$p")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local end=$((SECONDS + 10))
    for p in "${pids[@]}"; do
        while [ -e /proc/$p ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
    done
}

wait_for_file_line() { # FILE REGEX SECONDS
    local end=$((SECONDS + $3))
    until grep -qE "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

FAULTS=()
case "$SCENARIO" in
    loss-fast-retransmit) FAULTS=(--drop-out 0.01 --seed "$SEED") ;;
    reorder) FAULTS=(--reorder-out 0.1 --seed "$SEED") ;;
    lossy-5pct) FAULTS=(--drop-out 0.05 --seed "$SEED") ;;
esac
case "$SCENARIO" in
    loss-rto) "$ROOT/tools/netns.sh" impair tap0 loss 20% --ns "$NS" ;;
    lossy-5pct) "$ROOT/tools/netns.sh" impair tap0 loss 5% --ns "$NS" ;;
esac

if [ "$SCENARIO" = zero-window ]; then
    # The ustack side reads: ustack-bulk on tap1 waits for Linux's nc, reads
    # nothing for 2 s, then 1 KiB every 100 ms from a 4 KiB buffer.
    head -c 262144 /dev/zero >"$OUT/data"
    nsx "$BIN/ustack-bulk" --trace "$OUT/trace.jsonl" --pcap "$OUT/capture.pcap" --stats "$OUT/counters.txt" \
        --tcp-rcvbuf 4096 --recv 262144 --read-chunk 1024 --read-delay-ms 100 --read-start-ms 2000 \
        -l 10.0.0.3 5001 >"$OUT/bulk.out" 2>&1 &
    PIDS+=($!)
    bulk=$!
    # ustack-bulk listens right after its stack starts; connect once it does
    # (a refused attempt before that costs nothing: nc exits at once).
    end=$((SECONDS + 10))
    until nsx timeout 120 nc -N 10.0.0.3 5001 <"$OUT/data" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { echo "study-real: could not connect to ustack-bulk" >&2; exit 1; }
        sleep 0.1
    done
    wait "$bulk" || true
    cat "$OUT/bulk.out" >"$OUT/summary.txt"
else
    nsx "$BIN/ustackd" --tap tap0 --addr 10.0.0.2/24 --services http --control off \
        --trace "$OUT/trace.jsonl" --pcap "$OUT/capture.pcap" "${FAULTS[@]}" >"$OUT/counters.txt" 2>"$OUT/ustackd.err" &
    PIDS+=($!)
    daemon=$!
    wait_for_file_line "$OUT/counters.txt" '^ustackd: ready$' 10 || { cat "$OUT/ustackd.err" >&2; exit 1; }
    case "$SCENARIO" in
        handshake) url=http://10.0.0.2/bytes/2000 ;;
        *) url=http://10.0.0.2/bytes/2097152 ;;
    esac
    nsx curl -s -m 120 -o /dev/null -w 'curl: %{http_code} %{size_download} bytes in %{time_total} s\n' "$url" \
        >"$OUT/summary.txt"
    stop_in_ns ustackd
    wait "$daemon" 2>/dev/null || true
fi

{
    echo "scenario $SCENARIO (real TAP, seed $SEED for the stack's injector)"
    grep -E '^(tcp_retransmit_segs|tcp_fast_retransmit|tcp_rto_expired|tcp_rx_dup_ack|tcp_persist_probes|tcp_rtt_samples|fault_out_dropped|fault_out_reordered) ' \
        "$OUT/counters.txt" || true
    echo "trace events: $(wc -l <"$OUT/trace.jsonl")"
} >>"$OUT/summary.txt"
/usr/bin/python3 "$ROOT/tools/ustack-plot" "$OUT/trace.jsonl" -o "$OUT" --name "$SCENARIO (real TAP)" >/dev/null
cat "$OUT/summary.txt"
echo "study-real: $OUT"
