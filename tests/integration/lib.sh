# Shared helpers for the integration tests: each test file sources this, gets
# a namespace of its own (the default topology under a unique name), starts
# ustackd in it, checks outcomes with deadlines, and removes everything on exit.
#
#   ns_up                 create $NS (br0 10.0.0.1/24, tap0, tap1)
#   ustackd_start ARGS    start ustackd on tap0 as 10.0.0.2, wait for "ready"
#   ustackd_stop          SIGTERM it and wait; counters land in $USTACKD_OUT
#                         (a non-zero exit status counts as a failure)
#   counter NAME          a counter from the last stopped ustackd
#   check "what" CMD...   run CMD, count a pass or a failure
#   wait_for SECS CMD...  poll CMD until it succeeds or SECS pass
#   finish                print "integration: N passed, N failed", exit 0/1
#   check_eq/check_ge/check_range, bg_start, wait_exit, tcpdump_start/stop,
#   pcap_count, and for TCP chargen_file/chargen_sha256, sha256_of, now_s/since_s,
#   note, check_no_leaks: see below

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${USTACK_BIN:-$ROOT/build/bin}  # USTACK_BIN: test another build (e.g. ASan)
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
    if [ $rc -ne 0 ]; then
        # A crash, a sanitizer report (USTACK_BIN=an ASan build) or a bad exit.
        FAIL=$((FAIL + 1))
        echo "FAIL: ustackd exited with status $rc"
        tail -20 "$WORK/ustackd.err" | sed 's/^/  | /'
    fi
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

# Checks that print what they saw, so a failure says why:
#   check_eq "what" ACTUAL EXPECTED      equal (compared as strings)
#   check_ge "what" ACTUAL MIN           integer >= MIN
#   check_range "what" ACTUAL LO HI      LO <= number <= HI (decimals allowed)
check_eq() { check "$1 (got ${2:-?}, want $3)" [ "${2:-x}" = "$3" ]; }
check_ge() { check "$1 (got ${2:-?}, want >= $3)" [ "${2:-0}" -ge "$3" ]; }
check_range() {
    check "$1 (got ${2:-?}, want $3..$4)" awk -v x="${2:-}" -v lo="$3" -v hi="$4" \
        'BEGIN { exit !(x != "" && x + 0 >= lo + 0 && x + 0 <= hi + 0) }'
}

# counter NAME FILE reads the same `name value` lines from FILE: a program's
# --stats FILE, or a copy of $USTACKD_OUT kept from an earlier run.

# Starts a background command inside $NS, output in $WORK/NAME.out/.err; its
# pid lands in BG_PID. Its input is BG_STDIN (default /dev/null), e.g.
# `BG_STDIN=FILE bg_start ...`. cleanup() kills whatever is left in the namespace.
bg_start() {
    local name=$1; shift
    ip netns exec "$NS" "$@" <"${BG_STDIN:-/dev/null}" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BG_PID=$!
}

# wait_exit SECS PID: waits (at most SECS) for a background PID to end and
# returns its exit status; after SECS it kills PID and returns 124.
wait_exit() {
    timeout "$1" tail -s 0.05 --pid="$2" -f /dev/null
    if [ $? -eq 124 ]; then
        kill -9 "$2" 2>/dev/null
        wait "$2" 2>/dev/null
        return 124
    fi
    wait "$2"
}

# tcpdump on br0 inside $NS writing FILE; returns once it is capturing.
TCPDUMP_PID=
tcpdump_start() {
    local file=$1; shift
    bg_start tcpdump tcpdump -i br0 -nn --immediate-mode -U -w "$file" "$@"
    TCPDUMP_PID=$BG_PID
    wait_for 10 grep -q 'listening on' "$WORK/tcpdump.err"
}
tcpdump_stop() {
    [ -n "$TCPDUMP_PID" ] || return 0
    kill -INT "$TCPDUMP_PID" 2>/dev/null
    wait "$TCPDUMP_PID" 2>/dev/null
    TCPDUMP_PID=
}

# Lines of `tcpdump -r FILE -nn` matching the extended regex RE.
pcap_count() { tcpdump -r "$1" -nn 2>/dev/null | grep -cE "$2"; }

# --- TCP helpers
#   chargen_file N FILE     N bytes of the chargen pattern (apps/util.c, also
#                           served by ustackd's /bytes/N) into FILE
#   chargen_sha256 N        the sha256 of those N bytes, computed here
#   sha256_of FILE          a file's sha256 (hex)
#   now_s / since_s T0      a clock in seconds (decimals) and the time since T0
#   note FILE               ": " and FILE's first line if it has one (to add a
#                           program's complaint to a check's description)
#   check_no_leaks WHAT FILE [TCBS]
#                           the usage_* lines a program prints at exit (ustackd
#                           on stdout, any program with --stats FILE): no
#                           socket, busy connection, packet buffer (nor its
#                           bytes), ARP queue or reassembly left; at most TCBS connections
#                           (default 0; TIME-WAIT ones are legitimate)
chargen_py='
import sys
def chargen(n, out):
    # Byte i: line i // 74, column i % 74; columns 72, 73 are CR LF, the others
    # chr(32 + (line + column) % 95). The pattern repeats every 95 lines.
    period = bytes(13 if c == 72 else 10 if c == 73 else 32 + (l + c) % 95
                   for l in range(95) for c in range(74))
    block = period * (1048576 // len(period) + 1)
    block = block[:len(block) - len(block) % len(period)]
    while n > 0:
        k = min(n, len(block))
        out(block[:k])
        n -= k
'
chargen_file() {
    "$PY" -c "$chargen_py"'
f = open(sys.argv[2], "wb")
chargen(int(sys.argv[1]), f.write)
' "$1" "$2"
}
chargen_sha256() {
    "$PY" -c "$chargen_py"'
import hashlib
h = hashlib.sha256()
chargen(int(sys.argv[1]), h.update)
print(h.hexdigest())
' "$1"
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
note() { [ -s "$1" ] && echo ": $(head -1 "$1")"; }
now_s() { date +%s.%N; }
since_s() { awk -v t0="$1" -v t1="$(now_s)" 'BEGIN { printf "%.2f", t1 - t0 }'; }
check_no_leaks() {
    local what=$1 file=$2 tcbs=${3:-0} k
    check "$what: usage_* lines present" grep -q '^usage_sockets ' "$file"
    for k in usage_sockets usage_tcp_busy usage_pbufs usage_pbuf_bytes usage_arp_queued usage_reasm_datagrams usage_reasm_bytes; do
        check_eq "$what: $k" "$(counter $k "$file")" 0
    done
    check "$what: usage_tcp_connections (got $(counter usage_tcp_connections "$file"), want <= $tcbs)" \
        [ "$(counter usage_tcp_connections "$file")" -le "$tcbs" ]
}
