#!/usr/bin/env bash
# tools/check-layers.sh against the real tree and against planted violations:
# the real objects and sources pass; a protocol object that reads the clock,
# takes a pthread lock, makes a system call (write) or calls a specific link
# adapter fails, and the same clock reader under runtime/ passes; a source
# outside stack/tcp*.c that includes tcp_var.h (directly or through a header)
# fails, while stack/tcp_planted.c may; a link adapter or a program that
# includes stack/internal.h fails; so does a source that does not preprocess.
# Last, the other check the build makes: a TCP test with a misspelled
# counter name does not compile.
# The planted files live in copies (objects, stack/, apps/) in a temporary
# directory; nothing in the tree is touched. No root, no network. Ends with
# "integration: N passed, N failed".
#
#   bash tests/layers/test_check_layers.sh
#   CC=clang OBJ=build/clang/obj/stack bash tests/layers/test_check_layers.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
CC=${CC:-gcc}
OBJ=${OBJ:-build/obj/stack}
CHECK=(bash "$ROOT/tools/check-layers.sh" --cc "$CC")
WORK=$(mktemp -d /tmp/ustack-layers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PASS=0
FAIL=0

if [ ! -d "$OBJ" ]; then
    echo "# $OBJ missing: make lib"
    make --no-print-directory BUILD="${OBJ%/obj/stack}" lib >"$WORK/make.log" 2>&1 ||
        { tail -20 "$WORK/make.log"; echo "integration: 0 passed, 1 failed"; exit 1; }
fi

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() {
    FAIL=$((FAIL + 1))
    echo "not ok - $1"
    tail -20 "$WORK/out" | sed 's/^/  | /'
}

# Runs the check with ARGS; its output goes to $WORK/out, its status to RC.
RC=0
run_check() {
    RC=0
    "${CHECK[@]}" "$@" >"$WORK/out" 2>&1 || RC=$?
}

# expect_pass WHAT ARGS...: exit 0 and "0 violations" in the summary.
expect_pass() {
    local what=$1
    shift
    run_check "$@"
    if [ "$RC" -eq 0 ] && grep -qE '^check-layers: [0-9]+ objects, [0-9]+ sources, 0 violations$' "$WORK/out"; then
        ok "$what"
    else
        echo "  (exit $RC)" >>"$WORK/out"
        not_ok "$what"
    fi
}

# expect_fail WHAT WORD1 WORD2 ARGS...: exit 1 and a violation line naming
# both words.
expect_fail() {
    local what=$1 w1=$2 w2=$3
    shift 3
    run_check "$@"
    if [ "$RC" -eq 1 ] && grep -F -- "$w1" "$WORK/out" | grep -qF -- "$w2"; then
        ok "$what"
    else
        echo "  (exit $RC; wanted 1 and a line naming '$w1' and '$w2')" >>"$WORK/out"
        not_ok "$what"
    fi
}

# A copy of the real objects that have a source (not ones left over from a
# file that moved) in DIR.
copy_objects() { # DIR
    local o rel
    while IFS= read -r o; do
        rel=${o#"$OBJ"/}
        [ -f "stack/${rel%.o}.c" ] || continue
        mkdir -p "$1/$(dirname "$rel")"
        cp "$o" "$1/$rel"
    done < <(find "$OBJ" -name '*.o' -type f)
}

# plant_object .../obj/NAME.o C-SOURCE: a fresh copy of the objects in
# .../obj with NAME.o compiled from C-SOURCE among them (NAME may have a /).
# If C-SOURCE does not compile, that is a failed case and the case that
# wanted the object is skipped.
plant_object() {
    local dir=${1%%/obj/*}/obj
    rm -rf "$dir"
    copy_objects "$dir"
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$2" >"$WORK/planted.c"
    "$CC" -std=gnu11 -O2 -D_GNU_SOURCE -Istack/include -Istack -c "$WORK/planted.c" -o "$1" \
        >"$WORK/out" 2>&1 || { not_ok "planting ${1#"$WORK"/} (does not compile)"; return 1; }
}

# A copy of stack/ with tcp_var.h (empty, if the real one is not there yet) and
# a copy of apps/ under DIR.
copy_sources() { # DIR
    rm -rf "$1"
    mkdir -p "$1"
    cp -r stack apps "$1/"
    [ -f "$1/stack/tcp_var.h" ] || : >"$1/stack/tcp_var.h"
}

CLOCK_C='#include <time.h>
long planted_clock(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec; }'

# ------------------------------------------------------------ the real tree

expect_pass "the real tree passes (--src stack --obj $OBJ --apps apps)" \
    --src stack --obj "$OBJ" --apps apps

# ------------------------------------------------------------ rule 1: symbols

CLEAN=$WORK/clean/obj
copy_objects "$CLEAN"
expect_pass "a copy of the real objects passes" --obj "$CLEAN"

plant_object "$WORK/clock/obj/planted_clock.o" "$CLOCK_C" &&
    expect_fail "a protocol object that calls clock_gettime fails" planted_clock.o clock_gettime \
    --obj "$WORK/clock/obj"

plant_object "$WORK/lock/obj/planted_lock.o" '#include <pthread.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
void planted_lock(void) { pthread_mutex_lock(&m); }' &&
    expect_fail "a protocol object that calls pthread_mutex_lock fails" planted_lock.o pthread_mutex_lock \
    --obj "$WORK/lock/obj"

plant_object "$WORK/write/obj/planted_write.o" '#include <unistd.h>
long planted_write(const void *p, unsigned long n) { return write(1, p, n); }' &&
    expect_fail "a protocol object that calls write (a system call) fails" planted_write.o "imports write:" \
    --obj "$WORK/write/obj"

plant_object "$WORK/hub/obj/planted_hub.o" '#include <ustack/link.h>
void *planted_hub(void) { return ustack_mem_hub_new(0); }' &&
    expect_fail "a protocol object that calls a specific link adapter (the mem hub) fails" \
    planted_hub.o "from link/mem.o" --obj "$WORK/hub/obj"

plant_object "$WORK/rt/obj/runtime/planted_clock.o" "$CLOCK_C" &&
    expect_pass "the same clock reader under runtime/ passes" --obj "$WORK/rt/obj"

run_check --obj "$WORK/no-such-dir"
if [ "$RC" -eq 2 ] && grep -qF "make lib" "$WORK/out"; then
    ok "a missing object directory is an error (exit 2) that says to run make lib"
else
    echo "  (exit $RC)" >>"$WORK/out"
    not_ok "a missing object directory is an error (exit 2) that says to run make lib"
fi

# ------------------------------------------------------------ rule 2: headers

T=$WORK/tcb
copy_sources "$T"
echo '#include "tcp_var.h"' >"$T/stack/planted_tcb.c"
expect_fail "stack/planted_tcb.c including tcp_var.h fails" planted_tcb.c tcp_var.h \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"
mv "$T/stack/planted_tcb.c" "$T/stack/tcp_planted.c"
expect_pass "the same file as stack/tcp_planted.c passes" \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"

T=$WORK/indirect
copy_sources "$T"
echo '#include "tcp_var.h"' >"$T/stack/planted.h"
echo '#include "planted.h"' >"$T/stack/planted_indirect.c"
expect_fail "tcp_var.h through another header fails too" planted_indirect.c tcp_var.h \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"

T=$WORK/link
copy_sources "$T"
printf '#include <ustack/link.h>\n#include "internal.h"\n' >"$T/stack/link/planted_link.c"
expect_fail "stack/link/planted_link.c including internal.h fails" planted_link.c internal.h \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"

T=$WORK/app
copy_sources "$T"
printf '#include <ustack/ustack.h>\n#include "internal.h"\n' >"$T/apps/planted_app.c"
expect_fail "apps/planted_app.c including internal.h fails" planted_app.c internal.h \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"

T=$WORK/cpp
copy_sources "$T"
echo '#include "no_such_header.h"' >"$T/stack/planted_cpp.c"
expect_fail "a source that does not preprocess fails" planted_cpp.c "does not preprocess" \
    --src "$T/stack" --apps "$T/apps" --obj "$CLEAN"

# ------------------------------------------------------------ counter names in tests

# The TCP fixture's CNT(name) is checked by the compiler: a counter that does
# not exist cannot make an assertion pass by reading as 0.
cnt_compiles() { # NAME: 0 if a TCP test using CNT(NAME) compiles
    printf '#include "tcp_fixture.h"\nunsigned long long f(void) { return CNT(%s); }\n' "$1" >"$WORK/cnt.c"
    "$CC" -std=gnu11 -D_GNU_SOURCE -Istack/include -Istack -Itests/unit $(pkg-config --cflags check 2>/dev/null) \
        -fsyntax-only "$WORK/cnt.c" >"$WORK/out" 2>&1
}
if cnt_compiles tcp_rx_dup_ack; then ok "CNT(tcp_rx_dup_ack) compiles"; else not_ok "CNT(tcp_rx_dup_ack) compiles"; fi
if ! cnt_compiles tcp_rx_dup_akc && grep -q 'CNT_tcp_rx_dup_akc' "$WORK/out"; then
    ok "a misspelled counter, CNT(tcp_rx_dup_akc), does not compile"
else
    not_ok "a misspelled counter, CNT(tcp_rx_dup_akc), does not compile"
fi

echo "integration: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
