/*
 * The event trace: what TCP did and why, one event at a time, for study and
 * plotting. The stack hands each event to a callback (it never writes files
 * itself); ustack_trace_format_json() turns an event into one JSON line, the
 * format documented in docs/trace.md. Times are the stack's own (real in the
 * runtime, virtual in the simulator), so a seeded simulated run yields the
 * same trace byte for byte.
 *
 * Tracing costs one predictable branch per event site when it is off.
 */
#ifndef USTACK_TRACE_H
#define USTACK_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USTACK_TRACE_MAX_INTS 8
#define USTACK_TRACE_MAX_STRS 3

struct ustack_trace_event {
    ustack_time_t time;            /* microseconds, stack time */
    const char *name;              /* "seg_out", "rtt", "state", ... (docs/trace.md) */
    /* The connection, addresses in network order, ports in host order;
     * all zero for an event about no connection. */
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    unsigned nints, nstrs;
    struct { const char *key; int64_t value; } ints[USTACK_TRACE_MAX_INTS];
    struct { const char *key; const char *value; } strs[USTACK_TRACE_MAX_STRS];
};

typedef void (*ustack_trace_fn)(void *ctx, const struct ustack_trace_event *ev);

/* Sends events to fn (NULL: tracing off). all != 0 traces every connection;
 * all == 0 only those whose socket has SO_DEBUG set (the per-socket switch). */
void ustack_set_trace(struct ustack *st, ustack_trace_fn fn, void *ctx, int all);

/* Formats ev as one JSON object followed by a newline, e.g.
 *   {"t":1000250,"ev":"rtt","conn":"10.0.0.2:80>10.0.0.1:40312","sample":212,"srtt":212,...}
 * Returns the length (as snprintf: the length it would have had if cap is
 * too small). */
int ustack_trace_format_json(const struct ustack_trace_event *ev, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
