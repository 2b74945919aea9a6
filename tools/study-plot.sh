#!/usr/bin/env bash
# Plots what `ustack-study NAME -o DIR` wrote (make study, make study-docs,
# tests/study/test_study.sh): DIR/trace.jsonl with its capture (SACK blocks),
# or for a group each part's DIR/PART/trace.jsonl and then the comparison of
# the parts in DIR (compare-cwnd, compare-tseq): of those that made the same
# transfer as the last part (in rack-tlp, the two tail-loss runs; the
# reordering run sends more).
#
#   tools/study-plot.sh DIR NAME [-q]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${USTACK_BIN:-$ROOT/build/bin}
PY=/usr/bin/python3
PLOT=$ROOT/tools/ustack-plot
dir=$1
name=$2
quiet=${3:-}
say() { if [ -n "$quiet" ]; then cat >/dev/null; else cat; fi; }

if [ "${name%%/*}" = syn-flood ]; then
    # Series, not a trace: one graph of the run(s).
    if [ -f "$dir/series.csv" ]; then runs=("$dir"); else runs=("$dir/cookies-off" "$dir/cookies-on"); fi
    $PY "$PLOT" --synflood "${runs[@]}" -o "$dir" --name "$name" | say
    exit 0
fi
if [ -f "$dir/trace.jsonl" ]; then
    $PY "$PLOT" "$dir/trace.jsonl" -o "$dir" --name "$name" --pcap "$dir/capture.pcap" | say
    exit 0
fi
parts=()
while IFS= read -r p; do
    [ -f "$dir/$p/trace.jsonl" ] || { echo "study-plot: no $dir/$p/trace.jsonl" >&2; exit 1; }
    $PY "$PLOT" "$dir/$p/trace.jsonl" -o "$dir/$p" --name "$name/$p" --pcap "$dir/$p/capture.pcap" | say
    parts+=("$p")
done < <("$BIN/ustack-study" --parts "$name")
[ ${#parts[@]} -gt 0 ] || { echo "study-plot: no trace in $dir" >&2; exit 1; }
transfer() { grep -m1 '^bytes ' "$dir/$1/summary.txt"; }
last=$(transfer "${parts[-1]}")
same=()
for p in "${parts[@]}"; do [ "$(transfer "$p")" != "$last" ] || same+=("$dir/$p"); done
$PY "$PLOT" --compare "${same[@]}" -o "$dir" --name "$name" | say
