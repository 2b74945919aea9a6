#!/usr/bin/env bash
# check-layers: the build-time check that ustack keeps its layers apart.
#
# The layers, from the bottom:
#
#   protocol code   stack/*.c (eth, arp, ipv4, icmp, udp, raw, tcp*, sock, stack,
#                   stat, trace, timer, pbuf, checksum, ...). It never reads the
#                   clock and never makes a system call: time comes in as an
#                   argument, frames leave through the generic link interface
#                   (stack/link/link.c, ustack_link_send and friends). That is
#                   what lets every mechanism run deterministically in virtual
#                   time, the same in the simulator, the unit tests and on a TAP.
#   TCP engine      stack/tcp*.c, inside the protocol code. The connection block
#                   (TCB) and the engine's internals live in the private header
#                   stack/tcp_var.h, which only stack/tcp*.c include; every other
#                   layer goes through the engine's calls (stack/tcp.h).
#   link adapters   stack/link/*.c (TAP, in-memory hub, fault injector, pcap) and
#   and runtime     stack/runtime/*.c (loop thread, clock, locks, simulator):
#                   they may call anything, and use only the public headers
#                   (stack/include/ustack/*.h), never the library's private ones.
#   programs        apps/*.c: the public headers and apps/*.h only.
#
# Rule 1 (symbols, from nm on the built objects): a protocol object imports only
# symbols that protocol objects or link/link.o define, or C library functions
# in ALLOWED_LIBC (no system call, no clock); it calls nothing that another
# link/ or runtime/ object defines. Rule 2 (headers, from $CC -MM on every
# source): tcp_var.h only in stack/tcp*.c; no stack/*.h in link adapters, the
# runtime or programs; every source preprocesses.
#
#   bash tools/check-layers.sh [--src DIR] [--obj DIR] [--apps DIR] [--cc CC]
#
# Prints one line per violation and a summary line; exit 0 if there is none,
# 1 if there are, 2 on a usage error or when there are no objects (make lib).
set -euo pipefail

PROG=check-layers

# C library functions protocol code may call: none makes a system call or
# reads the clock. Keep it to what the objects need (nm -u on a gcc and a clang
# build, -O2 and -O0), with the reason next to each entry; no stdio output, no
# time, no threads, no randomness from the OS: those belong to the runtime.
ALLOWED_LIBC=(
    malloc calloc realloc free         # stacks, sockets, TCBs, buffers, the timer heap
    memcpy memmove memset memcmp       # copying, zeroing, MAC compares (memset/memcmp: inlined at -O2, calls at -O0)
    strlen strcmp strncmp strchr strcspn  # names: counters, CC algorithms, feature lists, trace fields
    snprintf                           # into caller buffers: ustack_ip_str, CC names (no stdio output)
    sscanf __isoc99_sscanf __isoc23_sscanf  # ustack_ip_parse, ustack_mac_parse: one function, the libcs' names
    htons ntohs                        # byte order in sock.c: calls at -O0
    __errno_location                   # errno, which the socket calls set
    __stack_chk_fail                   # emitted by -fstack-protector (on by default in some distributions)
)

usage() {
    echo "usage: bash tools/check-layers.sh [--src DIR] [--obj DIR] [--apps DIR] [--cc CC]" >&2
    exit 2
}

SRC=stack
OBJ=build/obj/stack
APPS=apps
CC=${CC:-gcc}
NM=${NM:-nm}
while [ $# -gt 0 ]; do
    case $1 in
    --src | --obj | --apps | --cc)
        if [ $# -lt 2 ] || [ -z "$2" ]; then usage; fi
        case $1 in
        --src) SRC=$2 ;;
        --obj) OBJ=$2 ;;
        --apps) APPS=$2 ;;
        --cc) CC=$2 ;;
        esac
        shift 2
        ;;
    -h | --help) usage ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage ;;
    esac
done
SRC=${SRC%/}
OBJ=${OBJ%/}
APPS=${APPS%/}

VIOLATIONS=0
violation() {
    echo "$PROG: $*"
    VIOLATIONS=$((VIOLATIONS + 1))
}

# Link adapters and the runtime: everything under link/ and runtime/.
is_runtime() { # REL (path under --src or --obj)
    case $1 in link/* | runtime/*) return 0 ;; *) return 1 ;; esac
}

# For an object with no source next to it (planted, or left over from a file
# that moved: make clean).
stale_hint() { # REL (path under --obj)
    [ -f "$SRC/${1%.o}.c" ] || echo " [no source $SRC/${1%.o}.c: a stale object? make clean]"
}

# ------------------------------------------------------------ rule 1: symbols

OBJECTS=()
check_symbols() {
    local -A allowed=() protocol_def=() other_def=()
    local sym file rel name defs imports

    for sym in "${ALLOWED_LIBC[@]}"; do allowed[$sym]=1; done

    # nm -A -P prints "FILE: NAME TYPE [VALUE SIZE]".
    defs=$("$NM" -A -P -g --defined-only "${OBJECTS[@]}") || { echo "$PROG: $NM failed" >&2; exit 2; }
    imports=$("$NM" -A -P -u "${OBJECTS[@]}") || { echo "$PROG: $NM failed" >&2; exit 2; }

    # Who defines what: protocol objects and link/link.o on one side, the other
    # link adapters and runtime objects on the other.
    while read -r file name _; do
        file=${file%:}
        [ -n "$name" ] || continue
        rel=${file#"$OBJ"/}
        if [ "$rel" = link/link.o ] || ! is_runtime "$rel"; then
            protocol_def[$name]=1
        else
            other_def[$name]=$rel
        fi
    done <<<"$defs"

    # What each protocol object imports.
    while read -r file name _; do
        file=${file%:}
        [ -n "$name" ] || continue
        rel=${file#"$OBJ"/}
        is_runtime "$rel" && continue
        if [ -n "${other_def[$name]:-}" ]; then
            violation "$file (protocol) imports $name from ${other_def[$name]}:" \
                "protocol code calls neither the runtime nor a specific link adapter, only link/link.o$(stale_hint "$rel")"
        elif [ -z "${protocol_def[$name]:-}" ] && [ -z "${allowed[$name]:-}" ]; then
            violation "$file (protocol) imports $name:" \
                "protocol code neither reads the clock nor makes system calls" \
                "(not defined by protocol code or link/link.o, not in the C library allowlist)$(stale_hint "$rel")"
        fi
    done <<<"$imports"
}

# A source without its object means an incomplete build: what it defines shows
# up as imported from nowhere. Said on stderr; not a violation by itself.
note_missing_objects() {
    local file rel
    while IFS= read -r file; do
        rel=${file#"$SRC"/}
        [ -f "$OBJ/${rel%.c}.o" ] ||
            echo "$PROG: note: no $OBJ/${rel%.c}.o for $file (incomplete build? make lib)" >&2
    done < <(find "$SRC" -name '*.c' -type f | LC_ALL=C sort)
}

# ------------------------------------------------------------ rule 2: headers

SOURCES=0
SRC_R='' PUB_R='' APPS_R='' TCPVAR_R=''

# PATH made absolute (from the current directory) with "." and ".." resolved
# lexically, so that the compiler's paths and ours compare as strings.
normalize() { # PATH -> $REPLY
    local p=$1 part parts out=()
    [[ $p == /* ]] || p=$PWD/$p
    IFS=/ read -ra parts <<<"$p"
    for part in "${parts[@]}"; do
        case $part in
        '' | .) ;;
        ..) [ ${#out[@]} -eq 0 ] || unset 'out[${#out[@]}-1]' ;;
        *) out+=("$part") ;;
        esac
    done
    local IFS=/
    REPLY="/${out[*]}"
}

# The -MM rules of many files at once (one compiler run instead of one per
# file), by source: BATCH[file] is the text after the rule's colon. A batch
# that fails (a file does not preprocess) is left empty, and deps_of() asks
# file by file, which names the culprit.
declare -A BATCH=()
batch_deps() { # CPPFLAGS... -- FILES...
    local flags=() out rule src
    while [ "$1" != -- ]; do flags+=("$1"); shift; done
    shift
    [ $# -gt 0 ] || return 0
    out=$("$CC" -MM -std=gnu11 -D_GNU_SOURCE "${flags[@]}" "$@" 2>/dev/null) || return 0
    out=${out//\\$'\n'/ }
    while IFS= read -r rule; do
        [ -n "$rule" ] || continue
        rule=${rule#*:}
        read -r src _ <<<"$rule"
        BATCH[$src]=$rule
    done <<<"$out"
}

# Sets DEPS to the headers FILE depends on, normalized (-MM leaves out system
# headers); fails with the compiler's messages in DEPS if FILE does not
# preprocess.
DEPS=()
deps_of() { # FILE CPPFLAGS...
    local file=$1 out words w
    shift
    DEPS=()
    if [ -n "${BATCH[$file]:-}" ]; then
        read -ra words <<<"${BATCH[$file]}"
        for w in "${words[@]:1}"; do
            normalize "$w"
            DEPS+=("$REPLY")
        done
        return 0
    fi
    if ! out=$("$CC" -MM -std=gnu11 -D_GNU_SOURCE "$@" "$file" 2>&1); then
        DEPS=("$out")
        return 1
    fi
    # "x.o: x.c a.h \<newline> b.h" -> a.h b.h (the first word is the source)
    out=${out//\\$'\n'/ }
    read -ra words <<<"${out#*:}"
    for w in "${words[@]:1}"; do
        normalize "$w"
        DEPS+=("$REPLY")
    done
}

# LAYER is protocol, link, runtime or program; REL is FILE relative to its tree.
check_headers_of() { # FILE LAYER REL CPPFLAGS...
    local file=$1 layer=$2 rel=$3 dep shown line
    shift 3
    SOURCES=$((SOURCES + 1))
    if ! deps_of "$file" "$@"; then
        violation "$file does not preprocess: $(grep -m1 error <<<"${DEPS[0]}" || head -n1 <<<"${DEPS[0]}")"
        while IFS= read -r line; do echo "    $line"; done <<<"${DEPS[0]}" >&2
        return 0
    fi
    for dep in "${DEPS[@]}"; do
        shown=${dep#"$PWD"/}
        if [ "$dep" = "$TCPVAR_R" ]; then
            # tcp_var.h: only for the TCP engine, stack/tcp*.c (not in subdirectories)
            [ "$layer" = protocol ] && [[ $rel == tcp* && $rel != */* ]] && continue
            violation "$file ($layer) depends on $shown:" \
                "the TCB is private to the TCP engine; only $SRC/tcp*.c include tcp_var.h," \
                "the others go through the engine's calls"
            continue
        fi
        case $layer in
        link | runtime)
            [ "${dep%/*}" = "$PUB_R" ] && continue
            violation "$file ($layer) depends on $shown:" \
                "link adapters and the runtime use only the public headers ($SRC/include/ustack/*.h)" \
                "and system headers"
            ;;
        program)
            [ "${dep%/*}" = "$PUB_R" ] && continue
            [ "${dep%/*}" = "$APPS_R" ] && continue
            violation "$file ($layer) depends on $shown:" \
                "programs use only the public headers ($SRC/include/ustack/*.h)," \
                "system headers and $APPS/*.h"
            ;;
        esac
    done
}

check_headers() {
    local file rel layer
    normalize "$SRC"
    SRC_R=$REPLY
    PUB_R=$SRC_R/include/ustack
    TCPVAR_R=$SRC_R/tcp_var.h
    normalize "$APPS"
    APPS_R=$REPLY

    local sources=() programs=()
    mapfile -t sources < <(find "$SRC" -name '*.c' -type f | LC_ALL=C sort)
    for file in "$APPS"/*.c; do [ -f "$file" ] && programs+=("$file"); done
    batch_deps -I"$SRC/include" -I"$SRC" -- "${sources[@]}"
    batch_deps -I"$SRC/include" -I"$SRC" -I"$APPS" -- "${programs[@]}"

    for file in "${sources[@]}"; do
        rel=${file#"$SRC"/}
        case $rel in
        link/*) layer='link' ;;
        runtime/*) layer='runtime' ;;
        *) layer='protocol' ;;
        esac
        check_headers_of "$file" "$layer" "$rel" -I"$SRC/include" -I"$SRC"
    done

    for file in "${programs[@]}"; do
        [ -f "$file" ] || continue
        check_headers_of "$file" program "${file#"$APPS"/}" -I"$SRC/include" -I"$SRC" -I"$APPS"
    done
}

# ------------------------------------------------------------ main

main() {
    local tool
    for tool in "$CC" "$NM"; do
        command -v "$tool" >/dev/null || { echo "$PROG: '$tool' not found" >&2; exit 2; }
    done
    [ -d "$SRC" ] || { echo "$PROG: source directory '$SRC' not found" >&2; exit 2; }
    [ -d "$APPS" ] || { echo "$PROG: programs directory '$APPS' not found" >&2; exit 2; }
    if [ -d "$OBJ" ]; then
        mapfile -t OBJECTS < <(find "$OBJ" -name '*.o' -type f | LC_ALL=C sort)
    fi
    if [ ${#OBJECTS[@]} -eq 0 ]; then
        echo "$PROG: no objects under '$OBJ': run \`make lib\` first" >&2
        exit 2
    fi

    note_missing_objects
    check_symbols
    check_headers

    echo "$PROG: ${#OBJECTS[@]} objects, $SOURCES sources, $VIOLATIONS violations"
    [ "$VIOLATIONS" -eq 0 ]
}

main
