# Shared by tools/bench-loss.sh and tools/bench.sh (sourced, not run): the
# benchmark topology, in three network namespaces of this process's own
# (names end in its PID), with one impairment path for every stack:
#
#   netns L (Linux)        netns M (the wires)                           netns R (Linux)
#   eth0 10.0.0.1 ─veth─ vl ─┐                                ┌─ vr ─veth─ eth0 10.0.0.2
#                            brA ── tapA ═ ustack-impair ═ tapB ── brB
#   ustack 10.0.0.3 ─ tapU ──┘      (user-space netem: loss, delay, reorder, rate)
#
# R is the Linux peer that measures every transfer (tools/bench-tcp.py). The
# endpoint under test sits left of the impairment: Linux in L, or ustack on
# tapU (a program run in M). Everything between the two sides crosses
# ustack-impair, so Linux<->Linux and Linux<->ustack see the same impairment.
# Nothing here touches the root namespace.

BL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BL_BIN=$BL_ROOT/build/bin
# The ustack programs measured (ustack-bulk, ustackd): this tree's, or those
# of another build with USTACK_BIN=DIR (e.g. main's, built from `git archive`
# elsewhere); ustack-impair always comes from this tree.
BL_UBIN=${USTACK_BIN:-$BL_BIN}
BL_PY=/usr/bin/python3
BL_TCP=$BL_ROOT/tools/bench-tcp.py
BL_NS_L=ustb$$l
BL_NS_M=ustb$$m
BL_NS_R=ustb$$r
BL_IP_L=10.0.0.1
BL_IP_R=10.0.0.2
BL_IP_U=10.0.0.3
BL_TMP=$(mktemp -d /tmp/ustack-bench.XXXXXX)
BL_IMPAIR_PID=
BL_PORT=5000

bl_cleanup() {
    local ns pid
    for ns in "$BL_NS_L" "$BL_NS_M" "$BL_NS_R"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    done
    for ns in "$BL_NS_L" "$BL_NS_M" "$BL_NS_R"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$BL_TMP"
}

# Waits until CMD... succeeds, every 20 ms, for at most SECONDS. Returns 1 on timeout.
bl_wait() {
    local secs=$1; shift
    local end=$(($(date +%s%N) + secs * 1000000000))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.02
    done
}

bl_topology_up() {
    local ns
    for ns in "$BL_NS_L" "$BL_NS_M" "$BL_NS_R"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    done
    local m="ip -n $BL_NS_M"
    for br in brA brB; do
        $m link add "$br" type bridge
        $m link set "$br" type bridge stp_state 0 forward_delay 0
        $m link set "$br" up
    done
    for t in tapA tapB tapU; do $m tuntap add dev "$t" mode tap; done
    $m link set tapA master brA
    $m link set tapU master brA
    $m link set tapB master brB
    for t in tapA tapB tapU; do $m link set "$t" up; done
    # The veths start in M and one end moves to L or R as eth0.
    $m link add vl type veth peer name eth0 netns "$BL_NS_L"
    $m link add vr type veth peer name eth0 netns "$BL_NS_R"
    $m link set vl master brA
    $m link set vr master brB
    $m link set vl up
    $m link set vr up
    ip -n "$BL_NS_L" addr add "$BL_IP_L/24" dev eth0
    ip -n "$BL_NS_R" addr add "$BL_IP_R/24" dev eth0
    ip -n "$BL_NS_L" link set eth0 up
    ip -n "$BL_NS_R" link set eth0 up
}

# Starts ustack-impair between tapA and tapB with the given impairments.
bl_impair_start() {
    ip netns exec "$BL_NS_M" "$BL_BIN/ustack-impair" --a tapA --b tapB "$@" \
        >"$BL_TMP/impair.out" 2>"$BL_TMP/impair.err" &
    BL_IMPAIR_PID=$!
    if ! bl_wait 5 grep -q '^ustack-impair: ready$' "$BL_TMP/impair.out"; then
        echo "bench: ustack-impair did not start:" >&2
        cat "$BL_TMP/impair.err" >&2
        return 1
    fi
    # The bridges learn where each side is from the first frames: an ARP
    # round trip L <-> R through the impairment (retried, it may be lossy).
    bl_wait 10 ip netns exec "$BL_NS_R" ping -c 1 -W 1 "$BL_IP_L" || true
}

# Stops ustack-impair; its counters go to $BL_TMP/impair.out (last two lines).
bl_impair_stop() {
    [ -n "$BL_IMPAIR_PID" ] || return 0
    kill -TERM "$BL_IMPAIR_PID" 2>/dev/null || true
    wait "$BL_IMPAIR_PID" 2>/dev/null || true
    BL_IMPAIR_PID=
}

# Sets the congestion control of the Linux endpoints in L and R (the sockets
# of bench-tcp.py: a namespace may only set the algorithms the root namespace
# allows with the sysctl, but root may set any on a socket). Returns 1 if the
# kernel does not have it.
BL_LINUX_CC=
bl_linux_cc() {
    local cc=$1
    grep -qw "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control || modprobe "tcp_$cc" 2>/dev/null || true
    grep -qw "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control || return 1
    BL_LINUX_CC=$cc
}

# Whether ustack runs with congestion control CC ("--tcp-cc CC" is accepted
# and the stack starts): 0 yes, 1 no.
bl_ustack_has_cc() {
    local cc=$1 err
    err=$(ip netns exec "$BL_NS_M" timeout 3 "$BL_UBIN/ustack-bulk" --tap tapU --addr "$BL_IP_U/24" \
        --tcp-cc "$cc" --recv 1 -l "$BL_IP_U" 9 2>&1 >/dev/null) || true
    ! grep -qiE 'cannot start|wants|unknown' <<<"$err"
}

# One bulk transfer, measured by the client in BL_CLI_NS (default R). SIDE is
# linux (the endpoint in BL_SRV_NS at BL_SRV_IP, default L) or ustack
# (ustack-bulk on tapU, with the extra ustack options that follow); DIR is
# "to" (the client sends to the endpoint) or "from" (the endpoint sends);
# BYTES; TIMEOUT seconds. Prints Mbit/s, "timeout" or "fail". With BL_CAP_S
# set, a transfer is cut at that many seconds and its goodput is what arrived
# by then (tools/bench-tcp.py --max-s); the endpoint is then stopped.
bl_transfer() {
    local side=$1 dir=$2 bytes=$3 tmo=$4; shift 4
    local cli_ns=${BL_CLI_NS:-$BL_NS_R} srv_ns=${BL_SRV_NS:-$BL_NS_L}
    # A fresh port each time (this often runs in a subshell, so no counter).
    local port=$((BL_PORT + RANDOM % 20000)) srv_mode cli_mode peer srv
    if [ "$dir" = to ]; then srv_mode=--recv; cli_mode=--send; else srv_mode=--send; cli_mode=--recv; fi
    local hash=()
    [ "${BL_NO_HASH:-0}" = 1 ] && hash=(--no-hash)
    [ -n "$BL_LINUX_CC" ] && hash+=(--cc "$BL_LINUX_CC")
    local cap=()
    [ -n "${BL_CAP_S:-}" ] && cap=(--max-s "$BL_CAP_S")
    if [ "$side" = linux ]; then
        peer=${BL_SRV_IP:-$BL_IP_L}
        ip netns exec "$srv_ns" timeout "$((tmo + 5))" "$BL_PY" "$BL_TCP" listen "$peer" "$port" "$srv_mode" "$bytes" \
            "${hash[@]}" >"$BL_TMP/srv.out" 2>"$BL_TMP/srv.err" &
        srv=$!
        bl_wait 5 grep -q '^listening$' "$BL_TMP/srv.out" || { kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; echo fail; return; }
    else
        peer=$BL_IP_U
        ip netns exec "$BL_NS_M" timeout -s INT "$((tmo + 5))" "$BL_UBIN/ustack-bulk" --tap tapU --addr "$BL_IP_U/24" \
            "$@" "$srv_mode" "$bytes" -l "$peer" "$port" >"$BL_TMP/srv.out" 2>"$BL_TMP/srv.err" &
        srv=$!
    fi
    local out rc=0
    out=$(ip netns exec "$cli_ns" timeout "$tmo" "$BL_PY" "$BL_TCP" connect "$peer" "$port" "$cli_mode" "$bytes" \
        --retry-s 5 "${hash[@]}" "${cap[@]}" 2>"$BL_TMP/cli.err") || rc=$?
    if [ $rc -ne 0 ]; then
        kill "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
        if [ $rc -eq 124 ]; then echo timeout; else echo fail; fi
        return
    fi
    set -- $out
    if [ "${9:-}" = capped ]; then
        # Cut short: the endpoint may wait for more; R checked what it got.
        kill "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
        echo "$6"
        return
    fi
    wait "$srv" 2>/dev/null || rc=$?
    # Both ends saw the same bytes: the server's count and hash match R's.
    local srv_line
    srv_line=$(grep '^bytes ' "$BL_TMP/srv.out" || true)
    if [ $rc -ne 0 ] || [ -z "$srv_line" ] || [ "$2" != "$bytes" ]; then echo fail; return; fi
    local sb sh
    sb=$(awk '{print $2}' <<<"$srv_line"); sh=$(awk '{print $8}' <<<"$srv_line")
    if [ "$sb" != "$bytes" ] || { [ "$8" != - ] && [ "$sh" != - ] && [ "$sh" != "$8" ]; }; then echo fail; return; fi
    echo "$6"
}

# Median of the numbers among the arguments ("timeout"/"fail" are ignored
# unless nothing else is there: then the first of them).
bl_median() {
    local nums
    nums=$(printf '%s\n' "$@" | grep -E '^[0-9.]+$' || true)
    if [ -z "$nums" ]; then echo "${1:-n/a}"; return; fi
    sort -g <<<"$nums" | awk '{ a[NR] = $1 } END { printf "%.1f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

bl_ratio() { # A B -> A/B or n/a
    if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf(r >= 0.1 ? "%.2f" : "%.2g", r) }'
    else
        echo n/a
    fi
}
