# Shared helpers for the integration tests: each test file sources this, gets
# a namespace of its own (the default topology under a unique name), starts
# ustackd in it, checks outcomes with deadlines, and removes everything on exit.
#
#   ns_up                 create $NS (br0 10.0.0.1/24, tap0, tap1)
#   ustackd_start ARGS    start ustackd on tap0 as 10.0.0.2, wait for "ready"
#   ustackd_stop          SIGTERM it and wait; counters land in $USTACKD_OUT
#   counter NAME          a counter from the last stopped ustackd
#   check "what" CMD...   run CMD, count a pass or a failure
#   wait_for SECS CMD...  poll CMD until it succeeds or SECS pass
#   finish                print "integration: N passed, N failed", exit 0/1

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/build/bin
NS=ust$$$(printf '%04x' $RANDOM)
WORK=$(mktemp -d /tmp/ustack-it.XXXXXX)
USTACKD_PID=
USTACKD_OUT=$WORK/ustackd.out
PASS=0
FAIL=0
PY=/usr/bin/python3

nsx() { ip netns exec "$NS" "$@"; }

cleanup() {
    if [ -n "$USTACKD_PID" ]; then
        kill "$USTACKD_PID" 2>/dev/null
        wait "$USTACKD_PID" 2>/dev/null
    fi
    # Anything else still running in our namespace.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns_up() {
    "$ROOT/tools/netns.sh" up "$NS" >/dev/null
}

wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    "$@" >/dev/null 2>&1
}

ustackd_start() {
    : >"$USTACKD_OUT"
    ip netns exec "$NS" "$BIN/ustackd" --tap tap0 --addr 10.0.0.2/24 "$@" >"$USTACKD_OUT" 2>"$WORK/ustackd.err" &
    USTACKD_PID=$!
    if ! wait_for 10 grep -q '^ustackd: ready$' "$USTACKD_OUT"; then
        echo "ustackd did not become ready:"; cat "$WORK/ustackd.err"
        return 1
    fi
}

ustackd_stop() {
    [ -n "$USTACKD_PID" ] || return 0
    kill -TERM "$USTACKD_PID"
    wait "$USTACKD_PID"
    local rc=$?
    USTACKD_PID=
    return $rc
}

counter() {
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "${2:-$USTACKD_OUT}"
}

check() {
    local what=$1; shift
    if "$@"; then
        PASS=$((PASS + 1)); echo "PASS: $what"
    else
        FAIL=$((FAIL + 1)); echo "FAIL: $what"
    fi
}

finish() {
    echo "integration: $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
