/*
 * The event trace: building events and formatting them as JSON lines. The
 * stack calls trace_emit() at each decision point when tracing is on; the
 * callback (the program's, the simulator's) decides where the line goes.
 */
#include <stdio.h>
#include <string.h>
#include <ustack/trace.h>
#include "internal.h"

void ustack_set_trace(struct ustack *st, ustack_trace_fn fn, void *ctx, int all)
{
    st->trace_fn = fn;
    st->trace_ctx = ctx;
    st->trace_all = all != 0;
}

void trace_begin(const struct ustack *st, struct ustack_trace_event *ev, const char *name)
{
    ev->time = st->now;
    ev->name = name;
    ev->laddr = ev->raddr = 0;
    ev->lport = ev->rport = 0;
    ev->nints = ev->nstrs = 0;
}

void trace_int(struct ustack_trace_event *ev, const char *key, int64_t value)
{
    if (ev->nints < USTACK_TRACE_MAX_INTS) {
        ev->ints[ev->nints].key = key;
        ev->ints[ev->nints].value = value;
        ev->nints++;
    }
}

void trace_str(struct ustack_trace_event *ev, const char *key, const char *value)
{
    if (ev->nstrs < USTACK_TRACE_MAX_STRS) {
        ev->strs[ev->nstrs].key = key;
        ev->strs[ev->nstrs].value = value;
        ev->nstrs++;
    }
}

void trace_emit(struct ustack *st, const struct ustack_trace_event *ev)
{
    if (st->trace_fn)
        st->trace_fn(st->trace_ctx, ev);
}

static int put_addr(char *buf, size_t cap, uint32_t a, uint16_t port)
{
    const uint8_t *b = (const uint8_t *)&a;
    return snprintf(buf, cap, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3], port);
}

int ustack_trace_format_json(const struct ustack_trace_event *ev, char *buf, size_t cap)
{
    /* Appends with snprintf semantics: n counts what would be written. */
    size_t n = 0;
#define ROOM() (n < cap ? cap - n : 0)
#define AT() (n < cap ? buf + n : NULL)
    n += (size_t)snprintf(AT(), ROOM(), "{\"t\":%llu,\"ev\":\"%s\"", (unsigned long long)ev->time, ev->name);
    if (ev->lport || ev->rport) {
        n += (size_t)snprintf(AT(), ROOM(), ",\"conn\":\"");
        n += (size_t)put_addr(AT(), ROOM(), ev->laddr, ev->lport);
        n += (size_t)snprintf(AT(), ROOM(), ">");
        n += (size_t)put_addr(AT(), ROOM(), ev->raddr, ev->rport);
        n += (size_t)snprintf(AT(), ROOM(), "\"");
    }
    for (unsigned i = 0; i < ev->nstrs; i++)
        n += (size_t)snprintf(AT(), ROOM(), ",\"%s\":\"%s\"", ev->strs[i].key, ev->strs[i].value);
    for (unsigned i = 0; i < ev->nints; i++)
        n += (size_t)snprintf(AT(), ROOM(), ",\"%s\":%lld", ev->ints[i].key, (long long)ev->ints[i].value);
    n += (size_t)snprintf(AT(), ROOM(), "}\n");
#undef ROOM
#undef AT
    if (cap)
        buf[n < cap ? n : cap - 1] = 0;
    return (int)n;
}
