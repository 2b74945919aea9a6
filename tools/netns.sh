#!/usr/bin/env bash
# The default topology, inside a network namespace of its own:
#
#   netns NAME (default "ustack")
#     br0   10.0.0.1/24   the Linux host side
#      ├── tap0           persistent TAP: ustackd runs here as 10.0.0.2
#      └── tap1           persistent TAP: a client stack runs here as 10.0.0.3
#
#   tools/netns.sh up [NAME]      create it (idempotent)
#   tools/netns.sh down [NAME]    remove it
#   tools/netns.sh exec NAME CMD  run CMD inside it
#   tools/netns.sh impair DEV loss 5% [...] [--ns NAME]
#       kernel-side impairment on DEV inside the namespace: `tc netem` where
#       the kernel has it; otherwise nftables random drop (loss only).
#   tools/netns.sh unimpair DEV [--ns NAME]
#
# Nothing here touches the root namespace.
set -euo pipefail

die() { echo "netns.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it creates a network namespace)"

cmd=${1:-}
shift || true

up() {
    local ns=$1
    ip netns list | awk '{print $1}' | grep -qx "$ns" || ip netns add "$ns"
    local x="ip -n $ns"
    $x link set lo up
    $x link show br0 >/dev/null 2>&1 || $x link add br0 type bridge
    # No STP and no forwarding delay: ports forward at once.
    $x link set br0 type bridge stp_state 0 forward_delay 0 2>/dev/null || true
    for t in tap0 tap1; do
        $x link show "$t" >/dev/null 2>&1 || $x tuntap add dev "$t" mode tap
        $x link set "$t" master br0
        $x link set "$t" up
    done
    $x addr show dev br0 | grep -q "10.0.0.1/24" || $x addr add 10.0.0.1/24 dev br0
    $x link set br0 up
    # IPv6 on the bridge would chatter (router solicitations, MLD) onto the TAPs.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.br0.disable_ipv6=1 2>/dev/null || true
    echo "netns $ns: br0 10.0.0.1/24 with tap0, tap1"
}

down() {
    local ns=$1
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
        ip netns del "$ns"
        echo "netns $ns removed"
    fi
}

have_netem() {
    modprobe -n sch_netem >/dev/null 2>&1 && return 0
    [ -d /sys/module/sch_netem ] && return 0
    return 1
}

impair() {
    local ns=ustack dev=$1; shift
    local args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = "--ns" ]; then ns=$2; shift 2; else args+=("$1"); shift; fi
    done
    [ ${#args[@]} -gt 0 ] || die "impair: what impairment? e.g. loss 5%"
    if ip netns exec "$ns" tc qdisc replace dev "$dev" root netem "${args[@]}" 2>/dev/null; then
        echo "netem on $dev: ${args[*]}"
        return
    fi
    # No netem: nftables can drop at random, nothing else.
    local loss=""
    local i=0
    while [ $i -lt ${#args[@]} ]; do
        case "${args[$i]}" in
            loss) loss=${args[$((i + 1))]}; i=$((i + 2)) ;;
            *) echo "netns.sh: note: without netem only 'loss' can be applied; ignoring '${args[$i]}'" >&2; i=$((i + 1)) ;;
        esac
    done
    [ -n "$loss" ] || die "impair: nothing this kernel can apply (no netem; nftables does loss only)"
    local pct=${loss%\%}
    # numgen random mod 1000 < pct*10 drops pct% of the packets leaving DEV.
    local permille
    permille=$(awk -v p="$pct" 'BEGIN { printf "%d", p * 10 + 0.5 }')
    # The egress hook sees a GSO packet before it is cut into segments: with
    # Linux's default one "packet" can be 64 KiB, and one drop would lose
    # tens of segments. One segment per GSO packet on the namespace's bridge
    # makes the loss per segment, as netem's would be.
    ip netns exec "$ns" ip link set dev br0 gso_max_segs 1 2>/dev/null || true
    ip netns exec "$ns" nft -f - <<NFT
table netdev ustack_impair_$dev
delete table netdev ustack_impair_$dev
table netdev ustack_impair_$dev {
    chain egress {
        type filter hook egress device "$dev" priority 0; policy accept;
        numgen random mod 1000 < $permille counter drop
    }
    chain ingress {
        type filter hook ingress device "$dev" priority 0; policy accept;
    }
}
NFT
    echo "nftables random drop on $dev: ${pct}% of frames towards the TAP (netem not available: loss only)"
}

unimpair() {
    local ns=ustack dev=$1; shift
    [ "${1:-}" = "--ns" ] && ns=$2
    ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    ip netns exec "$ns" nft delete table netdev "ustack_impair_$dev" 2>/dev/null || true
}

case "$cmd" in
    up) up "${1:-ustack}" ;;
    down) down "${1:-ustack}" ;;
    exec) ns=$1; shift; exec ip netns exec "$ns" "$@" ;;
    impair) [ $# -ge 1 ] || die "impair DEV ..."; impair "$@" ;;
    unimpair) [ $# -ge 1 ] || die "unimpair DEV"; unimpair "$@" ;;
    *) echo "usage: tools/netns.sh up|down [NAME] | exec NAME CMD... | impair DEV loss 5% [--ns NAME] | unimpair DEV [--ns NAME]" >&2; exit 2 ;;
esac
