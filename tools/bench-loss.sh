#!/usr/bin/env bash
# Goodput under loss and reordering, ustack against Linux over the same
# impaired path (`make bench-loss`; not part of `make test`). The topology is
# in tools/bench-lib.sh: the Linux peer R measures a bulk transfer with an
# endpoint left of ustack-impair, which is Linux (namespace L) or ustack
# (ustack-bulk on a TAP); one impairment, applied in both directions (data and
# ACKs), by one mechanism: `tc netem` on the path if this kernel has it, else
# ustack-impair (seeded).
#
# Cells: impairment x direction x congestion control. "to ustack": R (Linux)
# sends and the endpoint receives; "from ustack": the endpoint sends. Linux in
# L and R (set per socket) and ustack use the same algorithm (cubic, newreno =
# Linux reno); the bbr rows are Linux's bbr, an extra reference, not like for
# like (ustack runs its default). Each cell moves a fixed number of bytes (checked: count and
# SHA-256 at both ends) REPEATS times, each transfer capped at CAP seconds
# (default 8; a capped transfer counts what arrived in that time, checked at
# R); the table has the medians in Mbit/s. A cell ustack cannot run (e.g. an
# algorithm it does not have) reads n/a.
#
#   tools/bench-loss.sh [--repeats N] [--cap S] [--quick] [--cc LIST] [--only NAME]
#     --repeats N   transfers per cell (default 3; --quick: 1)
#     --cap S       seconds a transfer may take at most (default 8; --quick: 4)
#     --quick       smaller transfers, one repeat (about 2 minutes)
#     --cc LIST     comma-separated, default cubic,newreno,bbr
#     --only NAME   one impairment: loss1 loss2 loss5 reorder
# QUICK=1 in the environment is --quick; USTACK_BIN=DIR measures the ustack
# programs of another build (tools/bench-lib.sh). Needs root and a built tree.
set -euo pipefail

REPEATS=3
CAP=8
QUICK=${QUICK:-0}
CCS=cubic,newreno,bbr
ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) REPEATS=$2; shift 2 ;;
        --cap) CAP=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --cc) CCS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench-loss: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    [ "$REPEATS" = 3 ] && REPEATS=1
    [ "$CAP" = 8 ] && CAP=4
fi
export BL_CAP_S=$CAP
[ "$(id -u)" -eq 0 ] || { echo "bench-loss: run as root (it creates network namespaces)" >&2; exit 1; }
. "$(dirname "$0")/bench-lib.sh"
[ -x "$BL_BIN/ustack-impair" ] && [ -x "$BL_UBIN/ustack-bulk" ] || { echo "bench-loss: build first (make all)" >&2; exit 1; }

trap bl_cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench-loss: failed (line $LINENO)" >&2' ERR

# name | label | ustack-impair options (both directions) | netem options | MiB
IMPAIRMENTS=(
    "loss1|loss 1%, delay 10 ms|--loss 0.01 --delay-ms 10|loss 1% delay 10ms|4"
    "loss2|loss 2%, delay 10 ms|--loss 0.02 --delay-ms 10|loss 2% delay 10ms|3"
    "loss5|loss 5%, delay 10 ms|--loss 0.05 --delay-ms 10|loss 5% delay 10ms|2"
    "reorder|reorder 5%, delay 10 ms, jitter 2 ms|--reorder 0.05 --delay-ms 10 --jitter-ms 2|delay 10ms 2ms reorder 5%|32"
)

bl_topology_up

# tc netem, if the kernel has it, on the two bridge ports of the wires (one
# per direction); otherwise ustack-impair does it. The forwarder runs either way.
USE_NETEM=0
if ip netns exec "$BL_NS_M" tc qdisc add dev tapA root netem delay 1ms 2>/dev/null; then
    ip netns exec "$BL_NS_M" tc qdisc del dev tapA root
    USE_NETEM=1
fi
MECH=$([ $USE_NETEM = 1 ] && echo "tc netem on tapA and tapB" || echo "ustack-impair (seed 1)")

echo "bench-loss: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uname -r); $(nproc) CPUs:" \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench-loss: ustack programs from $BL_UBIN${USTACK_BIN:+ (USTACK_BIN)}; this tree $(git -C "$BL_ROOT" log -1 --format='%h %s' 2>/dev/null || echo '?')"
echo "bench-loss: impairment by $MECH, both directions; $REPEATS transfer(s) per cell, medians;" \
     "each transfer capped at $CAP s"

declare -A USTACK_CC=()
IFS=, read -r -a CC_LIST <<<"$CCS"
for cc in "${CC_LIST[@]}"; do
    [ "$cc" = bbr ] && continue
    if bl_ustack_has_cc "$cc"; then USTACK_CC[$cc]=1; else USTACK_CC[$cc]=0; echo "bench-loss: ustack has no --tcp-cc $cc: n/a"; fi
done

ROWS=()
for imp in "${IMPAIRMENTS[@]}"; do
    IFS='|' read -r name label iopts nopts mib <<<"$imp"
    [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
    [ "$QUICK" = 1 ] && mib=$(awk -v m="$mib" 'BEGIN { print m / 4 }')
    tmo=$((CAP + 10))
    bytes=$(awk -v m="$mib" 'BEGIN { printf "%d", m * 1048576 }')
    if [ $USE_NETEM = 1 ]; then
        bl_impair_start
        # shellcheck disable=SC2086
        for dev in tapA tapB; do ip netns exec "$BL_NS_M" tc qdisc replace dev "$dev" root netem $nopts; done
    else
        # shellcheck disable=SC2086
        bl_impair_start $iopts --seed 1
    fi
    for cc in "${CC_LIST[@]}"; do
        lcc=$cc
        [ "$cc" = newreno ] && lcc=reno # Linux's reno is NewReno (RFC 6582)
        if ! bl_linux_cc "$lcc"; then
            echo "bench-loss: Linux has no $cc, skipped" >&2
            continue
        fi
        ucc=()
        u_ok=1
        if [ "$cc" = bbr ]; then
            label_cc="bbr (Linux; ustack default)"
        else
            label_cc=$cc
            ucc=(--tcp-cc "$cc")
            [ "${USTACK_CC[$cc]}" = 1 ] || u_ok=0
        fi
        for dir in to from; do
            ll=() lu=()
            for r in $(seq "$REPEATS"); do
                ll+=("$(bl_transfer linux "$dir" "$bytes" "$tmo")")
                if [ $u_ok = 1 ]; then lu+=("$(bl_transfer ustack "$dir" "$bytes" "$tmo" "${ucc[@]}")"); else lu+=(n/a); fi
            done
            mll=$(bl_median "${ll[@]}"); mlu=$(bl_median "${lu[@]}")
            dlabel=$([ "$dir" = to ] && echo "to ustack" || echo "from ustack")
            echo "bench-loss: $name $dlabel $cc: Linux<->Linux ${ll[*]} | Linux<->ustack ${lu[*]} (Mbit/s)"
            ROWS+=("| $label | $dlabel | $label_cc | $mll | $mlu | $(bl_ratio "$mlu" "$mll") |")
        done
    done
    bl_impair_stop
    if [ $USE_NETEM = 0 ]; then
        echo "bench-loss: ustack-impair for $name: $(tail -2 "$BL_TMP/impair.out" | tr '\n' ';' | sed 's/ forwarded_bytes [0-9]*//g; s/ write_errors 0//g')"
    fi
done

echo
echo "Goodput, $MECH, $(date -u '+%Y-%m-%d'), $(nproc) CPUs, median of $REPEATS transfer(s) per cell, each capped at $CAP s:"
echo
echo "| impairment | direction | cc | Linux↔Linux Mbit/s | Linux↔ustack Mbit/s | ratio ustack/Linux |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
