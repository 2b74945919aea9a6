#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.sh and test_*.py), or
# those named as arguments, and prints their summaries plus one overall line.
# Needs root (namespaces, TAPs). USTACK_BIN points them all at another build
# of the programs (make integration-asan).
set -uo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
    echo "integration tests need root (network namespaces, TAP devices)"
    echo "integration: 0 passed, 1 failed"
    exit 1
fi
pass=0 fail=0
[ $# -gt 0 ] || set -- test_*.sh test_*.py
for t in "$@"; do
    if [ ! -e "$t" ]; then
        echo "=== $t: no such test"; fail=$((fail + 1)); continue
    fi
    echo "=== $t"
    case "$t" in
        *.py) out=$(/usr/bin/python3 "$t" 2>&1) ;;
        *) out=$(bash "$t" 2>&1) ;;
    esac
    rc=$?
    echo "$out"
    line=$(echo "$out" | grep -E '^integration: [0-9]+ passed, [0-9]+ failed' | tail -1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/integration: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    else
        p=0 f=1
    fi
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
    pass=$((pass + p)); fail=$((fail + f))
done
echo "=== all integration tests"
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
