/*
 * What every congestion control shares: the registry of algorithms behind
 * struct tcp_cc_ops (by name, as TCP_CONGESTION and ustack_config.tcp name
 * them), the RFC 6928 initial window and RFC 5681's FlightSize. The
 * algorithms themselves are tcp_cc_newreno.c and tcp_cc_cubic.c.
 */
#include <stdint.h>
#include <string.h>
#include "tcp_var.h"

const char *tcp_cc_name(const struct tcp_cc_ops *cc) { return cc->name; }

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
    static const struct tcp_cc_ops *const all[] = {&tcp_cc_cubic, &tcp_cc_newreno};
    if (strcmp(name, "reno") == 0)
        name = "newreno"; /* Linux's name for the same algorithm */
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

uint32_t tcp_flight_size(const struct tcb *tcb)
{
    return tcb->snd_max - tcb->snd_una;
}

/* RFC 6928's byte bound on an initial window of 10 segments. */
#define TCP_IW10_BYTES 14600u

/* RFC 6928: IW = min(10 * SMSS, max(2 * SMSS, 14600)) (for 10 segments). */
uint32_t tcp_initial_window(const struct tcb *tcb)
{
    uint32_t segs = tcb->ts->cfg->initial_window_segs ? tcb->ts->cfg->initial_window_segs : 1;
    uint32_t cap = 2u * tcb->mss > TCP_IW10_BYTES ? 2u * tcb->mss : TCP_IW10_BYTES;
    if (segs <= 4) /* RFC 3390 for a smaller configured IW */
        return segs * tcb->mss;
    return segs * tcb->mss < cap ? segs * tcb->mss : cap;
}
