#!/bin/bash
# The libFuzzer targets' runs (docs/fuzzing.md), called by make:
#
#   tools/fuzz.sh ci SECONDS NAME...    replay each kept corpus, then fuzz each target SECONDS
#   tools/fuzz.sh run SECONDS NAME...   fuzz each target SECONDS from its kept corpus
#   tools/fuzz.sh long NAME...          each target to FUZZ_LONG_RUNS executions (or for
#                                       FUZZ_LONG_SECONDS, if that ends first), FUZZ_LONG_JOBS
#                                       at a time, niced; then the table
#   tools/fuzz.sh table                 the table of the long runs done so far
#   tools/fuzz.sh merge NAME [DIR...]   add to the kept corpus the fewest of DIRs' inputs that
#                                       reach every edge they reach
#
# Binaries are $FUZZ_BUILD/fuzz/fuzz_NAME (default build/), kept corpora
# tests/fuzz/corpus_NAME. A finding is an artifact libFuzzer writes (crash-,
# leak-, timeout-, oom-): the target aborted on a sanitizer report, a broken
# invariant or a limit.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FUZZ_BUILD:-build}
ORDER="input tcp tcpopt reasm arp http"

bin() { echo "$B/fuzz/fuzz_$1"; }

# libFuzzer options per target: the input sizes that fit what each parses.
opts() {
    case $1 in
    input) echo "-max_len=4096" ;;
    tcp) echo "-max_len=1024" ;;
    tcpopt) echo "-max_len=128" ;;
    reasm) echo "-max_len=2048" ;;
    arp) echo "-max_len=512" ;;
    http) echo "-max_len=16384" ;;
    *) echo "" ;;
    esac
}

# Extra environment per target: fuzz_tcp checks that its corpus reaches
# every TCP state.
replay_env() {
    case $1 in
    tcp) echo "FUZZ_TCP_STATES=require" ;;
    *) echo "" ;;
    esac
}

replay() {
    local t=$1 log=$B/fuzz/replay_$1.log
    echo "fuzz: replaying tests/fuzz/corpus_$t ($(ls tests/fuzz/corpus_$t | wc -l) files)"
    # shellcheck disable=SC2046
    if ! env $(replay_env "$t") "$(bin "$t")" tests/fuzz/corpus_"$t"/* >"$log" 2>&1; then
        cat "$log"
        echo "fuzz: replaying tests/fuzz/corpus_$t failed"
        exit 1
    fi
    sed -n '/^fuzz_tcp:/,$p' "$log"
}

fuzz_for() {
    local t=$1 secs=$2
    mkdir -p "$B/fuzz/corpus_$t" "$B/fuzz/artifacts"
    # shellcheck disable=SC2046
    "$(bin "$t")" $(opts "$t") -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$B/fuzz/artifacts/$t-" "$B/fuzz/corpus_$t" tests/fuzz/corpus_"$t" \
        >"$B/fuzz/run_$t.log" 2>&1 || {
        tail -60 "$B/fuzz/run_$t.log"
        echo "fuzz: fuzz_$t found something: $B/fuzz/run_$t.log, $B/fuzz/artifacts/$t-*"
        exit 1
    }
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec' "$B/fuzz/run_$t.log" |
        sed "s/^/fuzz_$t: /"
}

# One long run: build/fuzz/long/NAME/{corpus,log,artifacts}, and NAME.result:
# target executions exec/s cov ft findings seconds commit
long_one() {
    local t=$1 d=$B/fuzz/long/$1 limit
    rm -rf "$d" "$d.result"
    mkdir -p "$d/corpus" "$d/artifacts"
    cp tests/fuzz/corpus_"$t"/* "$d/corpus/"
    # FUZZ_LONG_RUNS executions, or FUZZ_LONG_SECONDS if that comes first.
    limit="-runs=${FUZZ_LONG_RUNS:-10000000}"
    [ -z "${FUZZ_LONG_SECONDS:-}" ] || limit="$limit -max_total_time=$FUZZ_LONG_SECONDS"
    local commit t0 t1 rc=0
    commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
    t0=$(date +%s)
    # shellcheck disable=SC2046
    nice -n 10 "$(bin "$t")" $(opts "$t") $limit -print_final_stats=1 -artifact_prefix="$d/artifacts/" \
        "$d/corpus" >"$d/log" 2>&1 || rc=$?
    t1=$(date +%s)
    local execs eps cov ft findings
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$d/log" | tail -1)
    # The last status line: "#N DONE cov: X ft: Y ..." (or the last before a crash).
    local last
    last=$(grep -E '^#[0-9]+' "$d/log" | grep 'cov:' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    if [ -z "$execs" ]; then
        # A crash ends the run before the final stats: the last status line.
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
        eps=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
    fi
    findings=$(find "$d/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
        wc -l)
    echo "$t ${execs:-0} ${eps:-0} ${cov:-?} ${ft:-?} $findings $((t1 - t0)) $commit rc=$rc" >"$d.result"
    echo "fuzz-long: fuzz_$t: $(cat "$d.result")"
}

table() {
    echo "| target | executions | exec/s | cov | ft | findings | seconds | commit |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    for t in $ORDER; do
        local r=$B/fuzz/long/$t.result
        [ -f "$r" ] || continue
        read -r name execs eps cov ft findings secs commit _ <"$r"
        echo "| fuzz_$name | $execs | $eps | $cov | $ft | $findings | $secs | $commit |"
    done
}

cmd=${1:-}
shift || true
case $cmd in
ci)
    secs=$1
    shift
    for t in "$@"; do replay "$t"; done
    for t in "$@"; do fuzz_for "$t" "$secs"; done
    ;;
run)
    secs=$1
    shift
    for t in "$@"; do fuzz_for "$t" "$secs"; done
    ;;
long)
    jobs=${FUZZ_LONG_JOBS:-2}
    mkdir -p "$B/fuzz/long"
    for t in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        long_one "$t" &
    done
    wait
    table
    ;;
table)
    table
    ;;
merge)
    # The kept corpus stays as it is (named seeds, regression inputs); of
    # the DIRs' inputs only those reaching an edge it does not reach are
    # added (-use_counters=0: edges, not hit counts, which keeps it small).
    t=$1
    shift
    before=$(ls tests/fuzz/corpus_"$t" | wc -l)
    # shellcheck disable=SC2046
    "$(bin "$t")" $(opts "$t") -merge=1 -use_counters=0 tests/fuzz/corpus_"$t" "$@" \
        >"$B/fuzz/merge_$t.log" 2>&1 || { tail -20 "$B/fuzz/merge_$t.log"; exit 1; }
    echo "fuzz: tests/fuzz/corpus_$t: $before files, now $(ls tests/fuzz/corpus_"$t" | wc -l)"
    ;;
*)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
