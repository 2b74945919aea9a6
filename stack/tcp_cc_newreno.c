/*
 * NewReno congestion control (RFC 5681, with RFC 6582's recovery in the
 * engine) behind struct tcp_cc_ops: slow start from the RFC 6928 initial
 * window, congestion avoidance with byte counting (RFC 3465), and
 * ssthresh = max(FlightSize / 2, 2 * SMSS) on a congestion event. The engine
 * (tcp_input.c, tcp_recovery.c, tcp_timer.c) detects the events and sets
 * cwnd during recovery; this file only says how cwnd grows and how far
 * ssthresh falls.
 */
#include <stdint.h>
#include "tcp_var.h"

static void newreno_init(struct tcb *tcb)
{
    tcb->cwnd = tcp_initial_window(tcb);
    tcb->ssthresh = UINT32_MAX; /* "arbitrarily high" (RFC 5681 3.1) */
    tcb->cc_bytes_acked = 0;
}

static void newreno_cong_avoid(struct tcb *tcb, uint32_t acked, ustack_time_t rtt_us)
{
    (void)rtt_us;
    if (tcb->cwnd < tcb->ssthresh) {
        /* Slow start (3.1): by every byte acknowledged, never past ssthresh
         * (as Linux's tcp_slow_start(); byte counting cannot be fooled by
         * ACK division), or with byte-counting off at most one SMSS per ACK
         * (RFC 5681 eq. 2). */
        uint32_t inc = tcp_feature(tcb, USTACK_TCPF_BYTE_COUNT) ? acked : acked < tcb->mss ? acked : tcb->mss;
        if (tcb->ssthresh != UINT32_MAX && tcb->cwnd + (uint64_t)inc > tcb->ssthresh)
            inc = tcb->ssthresh - tcb->cwnd;
        tcb->cwnd += inc;
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

/* RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t newreno_ssthresh(struct tcb *tcb)
{
    uint32_t half = tcp_flight_size(tcb) / 2;
    tcb->cc_bytes_acked = 0;
    return half > 2u * tcb->mss ? half : 2u * tcb->mss;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .name = "newreno",
    .init = newreno_init,
    .cong_avoid = newreno_cong_avoid,
    .ssthresh = newreno_ssthresh,
};
