/*
 * Reno congestion control (RFC 5681) behind struct tcp_cc_ops: slow start
 * from an initial window of 10 segments (RFC 6928), congestion avoidance with
 * byte counting, fast retransmit / fast recovery with window inflation, and
 * the loss window after a retransmission timeout. The engine (tcp_input.c,
 * tcp_timer.c) detects the events; this file only moves cwnd and ssthresh.
 */
#include <stdint.h>
#include "tcp.h"

uint32_t tcp_flight_size(const struct tcb *tcb)
{
    return tcb->snd_max - tcb->snd_una;
}

/* RFC 6928: IW = min(10 * SMSS, max(2 * SMSS, 14600)) (for 10 segments). */
static uint32_t reno_initial_window(const struct tcb *tcb)
{
    uint32_t segs = tcb->ts->cfg.initial_window_segs ? tcb->ts->cfg.initial_window_segs : 1;
    uint32_t cap = 2u * tcb->mss > 14600u ? 2u * tcb->mss : 14600u;
    if (segs <= 4) /* RFC 3390 for a smaller configured IW */
        return segs * tcb->mss;
    return segs * tcb->mss < cap ? segs * tcb->mss : cap;
}

static void reno_init(struct tcb *tcb)
{
    tcb->cwnd = reno_initial_window(tcb);
    tcb->ssthresh = UINT32_MAX; /* "arbitrarily high" (RFC 5681 3.1) */
    tcb->cc_bytes_acked = 0;
}

/* RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t reno_half_flight(const struct tcb *tcb)
{
    uint32_t half = tcp_flight_size(tcb) / 2;
    return half > 2u * tcb->mss ? half : 2u * tcb->mss;
}

static void reno_on_ack(struct tcb *tcb, uint32_t acked, ustack_time_t rtt_us)
{
    (void)rtt_us;
    if (tcb->cwnd < tcb->ssthresh) {
        /* Slow start (3.1): at most one SMSS per ACK (RFC 5681 eq. 2). */
        tcb->cwnd += acked < tcb->mss ? acked : tcb->mss;
        return;
    }
    /* Congestion avoidance with byte counting (RFC 5681 3.1, RFC 3465):
     * one SMSS per cwnd's worth of acknowledged bytes. */
    tcb->cc_bytes_acked += acked;
    if (tcb->cc_bytes_acked >= tcb->cwnd) {
        tcb->cc_bytes_acked -= tcb->cwnd;
        tcb->cwnd += tcb->mss;
    }
}

static void reno_enter_recovery(struct tcb *tcb)
{
    /* 3.2 steps 2-3: halve, then inflate by the three segments that left. */
    tcb->ssthresh = reno_half_flight(tcb);
    tcb->cwnd = tcb->ssthresh + 3u * tcb->mss;
    tcb->cc_bytes_acked = 0;
}

static void reno_on_dupack(struct tcb *tcb)
{
    tcb->cwnd += tcb->mss; /* 3.2 step 4 */
}

static void reno_exit_recovery(struct tcb *tcb)
{
    tcb->cwnd = tcb->ssthresh; /* 3.2 step 6: deflate */
}

static void reno_on_rto(struct tcb *tcb, bool repeated)
{
    if (!repeated)
        tcb->ssthresh = reno_half_flight(tcb);
    tcb->cwnd = tcb->mss; /* loss window (3.1) */
    tcb->cc_bytes_acked = 0;
}

const struct tcp_cc_ops tcp_cc_reno = {
    .name = "reno",
    .init = reno_init,
    .on_ack = reno_on_ack,
    .enter_recovery = reno_enter_recovery,
    .on_dupack = reno_on_dupack,
    .exit_recovery = reno_exit_recovery,
    .on_rto = reno_on_rto,
};
