/*
 * CUBIC's per-connection state as numbers (tcp_cc_cubic.c), for tests and
 * study tools: the curve a connection follows and where HyStart++ stands.
 */
#ifndef USTACK_TCP_CC_CUBIC_H
#define USTACK_TCP_CC_CUBIC_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_var.h"

struct tcp_cubic_info {
    /* RFC 9438 4.1, windows in bytes. */
    uint32_t w_max;                 /* W_max */
    uint32_t cwnd_prior;            /* cwnd when ssthresh was last set */
    uint32_t cwnd_epoch;            /* cwnd when the current congestion avoidance stage began */
    uint32_t w_est;                 /* W_est, the Reno-friendly estimate */
    uint32_t k_ms;                  /* K */
    bool epoch_valid;               /* a congestion avoidance stage is under way */
    ustack_time_t epoch_start;      /* t_epoch (us, st->now's clock), if epoch_valid */
    /* RFC 9406 HyStart++. */
    bool round_valid;               /* a round is being timed */
    uint32_t round_end;             /* it ends when snd_una reaches this (windowEnd) */
    bool css;                       /* in conservative slow start */
    unsigned css_rounds;            /* rounds ended in CSS */
    ustack_time_t cur_round_min_rtt;  /* us, 0: no sample yet */
    ustack_time_t last_round_min_rtt; /* us, 0: none */
    unsigned rtt_samples;           /* samples in the current round */
};

/* Fills *out and returns true if the connection runs CUBIC; false otherwise. */
bool tcp_cubic_get_info(const struct tcb *tcb, struct tcp_cubic_info *out);

#endif
