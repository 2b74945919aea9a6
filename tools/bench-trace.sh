#!/usr/bin/env bash
# What the event trace costs: the throughput of a bulk
# TCP transfer from ustackd (curl downloads /bytes/N over the TAP) without
# --trace ("off") and with --trace to a file on tmpfs ("on"), alternating, RUNS
# runs each, in a network namespace of its own. Prints one line per run, a
# table of each variant's runs with their mean and median, the ratio on/off
# (and off/base), and what the trace wrote. Not part of `make test`: run it on
# a quiet machine (`make bench-trace`; results in docs/trace.md, "Cost").
#
#   tools/bench-trace.sh [--bytes N] [--runs R] [--base REV]
#     --bytes N   bytes per transfer (default 500000000)
#     --runs R    runs per variant (default 3)
#     --base REV  also measure ustackd built from git revision REV ("base"),
#                 e.g. the commit before the trace existed, to see that "off"
#                 is within noise of it; built from `git archive` in a
#                 temporary directory, the working tree is not touched
# Needs root and a built tree (make all). The numbers are Mbit/s of payload
# (curl's size_download * 8 / time_total).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BYTES=500000000
RUNS=3
BASE=
while [ $# -gt 0 ]; do
    case "$1" in
        --bytes) BYTES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-trace: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-trace: run as root (it creates a network namespace)" >&2; exit 1; }
BIN=$ROOT/build/bin
[ -x "$BIN/ustackd" ] || { echo "bench-trace: build first (make all)" >&2; exit 1; }

NS=ustbench$$
TMP=$(mktemp -d /tmp/ustack-bench.XXXXXX)
# The trace goes to tmpfs, so that what is measured is the stack's cost of
# building and formatting events, not a disk.
TRACE_DIR=$(mktemp -d /dev/shm/ustack-bench-trace.XXXXXX)
[ "$(stat -f -c %T "$TRACE_DIR")" = tmpfs ] || echo "bench-trace: note: $TRACE_DIR is not on tmpfs" >&2

cleanup() {
    # What is left of ours in the namespace (a run that failed half-way).
    local pid
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    "$ROOT/tools/netns.sh" down "$NS" >/dev/null 2>&1 || true
    rm -rf "$TMP" "$TRACE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench-trace: failed (line $LINENO)" >&2' ERR

variants=(off on)
declare -A UBIN=([off]=$BIN/ustackd [on]=$BIN/ustackd)
if [ -n "$BASE" ]; then
    echo "bench-trace: building $BASE ($(git -C "$ROOT" log -1 --format='%h %s' "$BASE"))"
    mkdir -p "$TMP/base"
    git -C "$ROOT" archive "$BASE" | tar -x -C "$TMP/base"
    make -C "$TMP/base" -j"$(nproc)" apps >"$TMP/base.log" 2>&1 || { tail -20 "$TMP/base.log"; exit 1; }
    UBIN[base]=$TMP/base/build/bin/ustackd
    variants=(base off on)
fi

"$ROOT/tools/netns.sh" up "$NS" >/dev/null

# One transfer; prints Mbit/s (and, for "on", the trace's events and bytes).
run_one() {
    local v=$1 bin=${UBIN[$1]} args=(--tap tap0 --addr 10.0.0.2/24 --services http)
    # ustack-stat's control socket, where the build has one, would take a
    # path shared with any other ustackd on a tap0: off.
    local help
    help=$("$bin" --help 2>/dev/null || true)
    [[ $help == *--control* ]] && args+=(--control off)
    [ "$v" = on ] && args+=(--trace "$TRACE_DIR/t.jsonl")
    ip netns exec "$NS" "$bin" "${args[@]}" >"$TMP/ustackd.out" 2>"$TMP/ustackd.err" &
    UPID=$!
    local i
    for i in $(seq 200); do grep -q '^ustackd: ready$' "$TMP/ustackd.out" && break; sleep 0.05; done
    if ! grep -q '^ustackd: ready$' "$TMP/ustackd.out"; then
        echo "bench-trace: ustackd ($v) did not become ready:" >&2
        cat "$TMP/ustackd.err" >&2
        kill "$UPID"
        exit 1
    fi
    local r
    r=$(ip netns exec "$NS" curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "http://10.0.0.2/bytes/$BYTES")
    kill -TERM "$UPID"; wait "$UPID" || true
    set -- $r
    [ "$1" = 200 ] && [ "$2" = "$BYTES" ] || { echo "bench-trace: transfer failed: $r" >&2; exit 1; }
    local mbps extra=""
    mbps=$(awk -v b="$2" -v t="$3" 'BEGIN { printf "%.1f", b * 8 / t / 1e6 }')
    if [ "$v" = on ]; then
        extra=" $(wc -l <"$TRACE_DIR/t.jsonl") $(stat -c %s "$TRACE_DIR/t.jsonl") $3"
        rm -f "$TRACE_DIR/t.jsonl"
    fi
    echo "$mbps$extra"
}

echo "bench-trace: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uname -r); $(nproc) CPUs:" \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "bench-trace: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench-trace: curl of /bytes/$BYTES from ustackd, ${variants[*]}, $RUNS runs each, alternating"
declare -A SUM=() ALL=()
EVENTS=0 TBYTES=0 TSECS=0
for r in $(seq "$RUNS"); do
    line="run $r:"
    for v in "${variants[@]}"; do
        out=$(run_one "$v")
        set -- $out
        SUM[$v]=$(awk -v a="${SUM[$v]:-0}" -v b="$1" 'BEGIN { print a + b }')
        ALL[$v]="${ALL[$v]:-} $1"
        line="$line $v $1"
        if [ "$v" = on ]; then
            EVENTS=$((EVENTS + $2)); TBYTES=$((TBYTES + $3))
            TSECS=$(awk -v a="$TSECS" -v b="$4" 'BEGIN { print a + b }')
        fi
    done
    echo "$line Mbit/s"
done

mean() { awk -v s="${SUM[$1]}" -v n="$RUNS" 'BEGIN { printf "%.1f", s / n }'; }
median() { echo ${ALL[$1]} | tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { printf "%.1f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "| variant | Mbit/s, each run | mean | median |"
echo "|---|---|---|---|"
for v in "${variants[@]}"; do
    echo "| $v |$(echo ${ALL[$v]} | sed 's/ /, /g; s/^/ /') | $(mean "$v") | $(median "$v") |"
done
echo
ratio() { # NAME A B: A against B, by mean and by median
    awk -v n="$1" -v am="$(mean "$2")" -v bm="$(mean "$3")" -v ad="$(median "$2")" -v bd="$(median "$3")" \
        'BEGIN { printf "%s: %.3f by the means (%+.1f%%), %.3f by the medians (%+.1f%%)\n", n, am / bm, (am / bm - 1) * 100, ad / bd, (ad / bd - 1) * 100 }'
}
ratio "throughput on/off" on off
[ -n "$BASE" ] && ratio "throughput off/base" off base
awk -v e="$EVENTS" -v b="$TBYTES" -v s="$TSECS" -v n="$RUNS" 'BEGIN {
    printf "trace on: %.0f events (%.0f MB) per transfer, %.0f events/s, %.0f bytes per event\n",
        e / n, b / n / 1e6, e / s, b / e }'
echo "bench-trace: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
