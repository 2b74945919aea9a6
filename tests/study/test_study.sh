#!/usr/bin/env bash
# The study scenarios (apps/ustack-study.c) and their plots (tools/ustack-plot),
# all in the simulator, so no root and no network: for every scenario, two
# runs with the same seed write byte-identical files (trace, both pcaps,
# summary); tcpdump reads the pcaps and they agree with the trace segment by
# segment; the plots are valid PNG and SVG and their CSV data hold the points
# the trace says; and each scenario shows what it is about
# (tests/study/check_study.py). A group of runs (sack-recovery, rack-tlp,
# cubic-vs-newreno) is checked part by part and then as a comparison. A
# scenario the build cannot run (ustack-study exits 77: cubic-vs-newreno
# before CUBIC is merged) is skipped, and says so. Ends with "integration: N
# passed, N failed".
#
#   tests/study/test_study.sh [SCENARIO...]     (default: every scenario)
#   USTACK_BIN=DIR: the programs to test (default build/bin)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${USTACK_BIN:-$ROOT/build/bin}
PY=/usr/bin/python3
PLOT="$PY $ROOT/tools/ustack-plot"
WORK=$(mktemp -d /tmp/ustack-study.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PASS=0
FAIL=0
SKIP=0

check() {
    local what=$1; shift
    if "$@" >"$WORK/out" 2>&1; then
        PASS=$((PASS + 1))
        echo "ok - $what"
    else
        FAIL=$((FAIL + 1))
        echo "FAIL - $what"
        tail -20 "$WORK/out" | sed 's/^/  | /'
    fi
}

# Tallies the lines check_study.py prints.
tally() {
    local line
    while IFS= read -r line; do
        echo "$line"
        case $line in
        "ok - "*) PASS=$((PASS + 1)) ;;
        "FAIL - "*) FAIL=$((FAIL + 1)) ;;
        esac
    done <"$1"
}

if [ ! -x "$BIN/ustack-study" ]; then
    echo "FAIL - $BIN/ustack-study is not built (make apps)"
    echo "integration: 0 passed, 1 failed"
    exit 1
fi
if ! $PY -c 'import matplotlib' 2>/dev/null; then
    echo "FAIL - $PY has no matplotlib (make deps: python3-matplotlib)"
    echo "integration: 0 passed, 1 failed"
    exit 1
fi

start=$SECONDS
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || mapfile -t scenarios < <("$BIN/ustack-study" --list)
check "ustack-study lists the eleven scenarios" \
    test "$("$BIN/ustack-study" --list | tr '\n' ' ')" = \
    "handshake slow-start loss-fast-retransmit loss-rto reorder zero-window lossy-5pct sack-recovery rack-tlp cubic-vs-newreno syn-flood "
check "ustack-study refuses an unknown scenario (status 2)" \
    bash -c "\"$BIN/ustack-study\" no-such -o \"$WORK/x\" >/dev/null 2>&1; [ \$? -eq 2 ]"
check "ustack-study --modern runs a classic scenario with the default TCP and CUBIC" \
    bash -c "\"$BIN/ustack-study\" reorder --modern -q -o \"$WORK/modern\" &&
             grep -q '^tcp .*sack.*(default), congestion control cubic' \"$WORK/modern/summary.txt\""
check "ustack-study --tcp-features/--tcp-cc override it; a bad list is refused (status 2)" \
    bash -c "\"$BIN/ustack-study\" handshake --tcp-features default,-sack --tcp-cc newreno -q -o \"$WORK/override\" &&
             grep -q '^tcp .*(default,-sack), congestion control newreno' \"$WORK/override/summary.txt\" &&
             { \"$BIN/ustack-study\" handshake --tcp-features bogus -o \"$WORK/x\" >/dev/null 2>&1; [ \$? -eq 2 ]; }"

for s in "${scenarios[@]}"; do
    d=$WORK/$s
    rc=0
    "$BIN/ustack-study" "$s" --seed 1 -q -o "$d" >"$WORK/run.out" 2>&1 || rc=$?
    if [ $rc -eq 77 ]; then
        SKIP=$((SKIP + 1))
        echo "SKIP - $s: $(grep -m1 'not available' "$WORK/run.out" || echo 'not available in this build')"
        continue
    fi
    check "$s: runs (seed 1)" test $rc -eq 0
    [ $rc -eq 0 ] || sed 's/^/  | /' "$WORK/run.out" | tail -20
    check "$s: runs again (seed 1)" "$BIN/ustack-study" "$s" --seed 1 -q -o "$d.again"
    parts=$("$BIN/ustack-study" --parts "$s")
    files="trace.jsonl capture.pcap capture-server.pcap summary.txt"
    [ "$s" != syn-flood ] || files="series.csv connects.csv capture-server.pcap summary.txt"
    for p in ${parts:-.}; do
        label=$([ "$p" = . ] || echo "$p/")
        for f in $files; do
            check "$s: the same seed gives a byte-identical $label$f" cmp "$d/$p/$f" "$d.again/$p/$f"
        done
    done
    [ -z "$parts" ] || [ "$s" = syn-flood ] || check "$s: the same seed gives a byte-identical summary.txt of the group" \
        cmp "$d/summary.txt" "$d.again/summary.txt"
    check "$s: ustack-plot draws it" env USTACK_BIN="$BIN" bash "$ROOT/tools/study-plot.sh" "$d" "$s" -q
    if [ "$s" = syn-flood ]; then
        $PY "$ROOT/tests/study/check_synflood.py" "$d" >"$WORK/check.out" 2>&1 ||
            echo "FAIL - $s: check_synflood.py failed" >>"$WORK/check.out"
        tally "$WORK/check.out"
        continue
    fi
    $PY "$ROOT/tests/study/check_study.py" "$s" "$d" >"$WORK/check.out" 2>&1 ||
        echo "FAIL - $s: check_study.py failed" >>"$WORK/check.out"
    tally "$WORK/check.out"
done

# Replays: lossy-5pct with a fixed seed twice gives the same run, another seed another.
if [[ " ${scenarios[*]} " == *" lossy-5pct "* ]]; then
    d=$WORK/lossy-5pct
    check "lossy-5pct: another seed gives another run" \
        bash -c "\"$BIN/ustack-study\" lossy-5pct --seed 2 -q -o \"$WORK/seed2\" && ! cmp -s \"$d/trace.jsonl\" \"$WORK/seed2/trace.jsonl\""
    check "lossy-5pct: the plots of the second run are identical too (CSV, PNG, SVG)" \
        bash -c "$PLOT \"$d.again/trace.jsonl\" -o \"$d.again\" --name lossy-5pct >/dev/null &&
                 for f in tseq.csv cwnd.csv rtt.csv rto.csv rwnd.csv tseq.png tseq.svg cwnd.png cwnd.svg rtt.png rtt.svg; do
                     cmp \"$d/\$f\" \"$d.again/\$f\" || exit 1; done"
fi

echo "study: $((SECONDS - start)) s$([ $SKIP -eq 0 ] || echo ", $SKIP scenario(s) skipped (SKIP lines above)")"
echo "integration: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
