/*
 * CUBIC congestion control (RFC 9438), the default, behind struct
 * tcp_cc_ops, with HyStart++ (RFC 9406) for the first slow start when the
 * connection has USTACK_TCPF_HYSTART. The engine detects congestion and owns
 * the window during recovery (tcp.h); this file says how cwnd grows (slow
 * start, then the cubic curve or the Reno-friendly estimate, whichever is
 * higher) and where ssthresh falls. All arithmetic is integer and exact where
 * the RFC's constants allow: windows in bytes, the curve's clock in
 * milliseconds, beta, C and alpha as fractions. So a run gives the same
 * windows with any compiler on any machine.
 */
#include <stdint.h>
#include <string.h>

#include "tcp_var.h"
#include "tcp_cc_cubic.h"

/* RFC 9438 4.1 constants, as fractions. */
#define CUBIC_BETA_NUM 7u  /* beta_cubic = 0.7: the window left after a congestion event */
#define CUBIC_BETA_DEN 10u
#define CUBIC_FC_NUM 17u   /* fast convergence (4.7): W_max = cwnd * (1 + beta) / 2 */
#define CUBIC_FC_DEN 20u
#define CUBIC_ALPHA_NUM 9u /* alpha_cubic = 3 * (1 - beta) / (1 + beta) = 9/17 (4.3) */
#define CUBIC_ALPHA_DEN 17u
/* C = 0.4 segments / s^3 = 2 / (5 * 10^9) segments / ms^3. */
#define CUBIC_C_NUM 2u
#define CUBIC_C_DEN_MS3 5000000000ull
/* |t - K| is capped here (about 17 minutes): d^3 then fits 64 bits, and the
 * curve is already far outside [cwnd, 1.5 * cwnd] for any 32-bit cwnd. */
#define CUBIC_T_MAX_MS (1ull << 20)

/* RFC 9406 constants (section 4.3). */
#define HYSTART_MIN_RTT_THRESH_US USTACK_MS(4)
#define HYSTART_MAX_RTT_THRESH_US USTACK_MS(16)
#define HYSTART_MIN_RTT_DIVISOR 8u
#define HYSTART_N_RTT_SAMPLE 8u
#define HYSTART_CSS_GROWTH_DIVISOR 4u
#define HYSTART_CSS_ROUNDS 5u

/* struct cubic.flags */
#define CUBIC_EPOCH 0x01   /* a congestion avoidance stage is under way: epoch_start, K, W_est hold */
#define CUBIC_RESTART 0x02 /* the next stage starts on its plateau: K = 0, W_max = cwnd (4.8, 4.10) */
/* struct cubic.hs_flags */
#define HS_ROUND 0x01      /* a round is being timed: hs_window_end holds */
#define HS_CSS 0x02        /* conservative slow start */

/* What a congestion event changes, for undo (RFC 9438 4.9). */
struct cubic_undo {
    uint32_t w_max, cwnd_prior, w_est, k_ms;
    ustack_time_t epoch_start;
    uint8_t flags;
};

struct cubic {
    uint32_t w_max;            /* W_max, bytes */
    uint32_t cwnd_prior;       /* cwnd when ssthresh was last set, bytes */
    uint32_t cwnd_epoch;       /* cwnd at epoch_start, bytes */
    uint32_t w_est;            /* W_est, bytes */
    uint32_t k_ms;             /* K */
    uint8_t flags;             /* CUBIC_* */
    uint8_t hs_flags;          /* HS_* */
    uint8_t hs_samples;        /* RTT samples in this round (saturates) */
    uint8_t hs_css_rounds;     /* rounds ended in CSS */
    uint64_t w_est_acc;        /* W_est growth below a byte, in 1/(17 * cwnd) bytes */
    uint64_t grow_acc;         /* cwnd growth below a byte, in 1/cwnd bytes */
    ustack_time_t epoch_start; /* t_epoch, us */
    ustack_time_t last_ca;     /* the last congestion avoidance update, us */
    struct cubic_undo undo;
    /* HyStart++ (RFC 9406 4.2); RTTs in us, 0 meaning none (infinity). */
    uint32_t hs_window_end;    /* the round ends when snd_una reaches it */
    uint32_t hs_css_acc;       /* CSS growth below a byte, in quarter bytes */
    ustack_time_t hs_cur_min, hs_last_min, hs_css_baseline;
};
_Static_assert(sizeof(struct cubic) <= sizeof(((struct tcb *)0)->cc_priv), "struct cubic must fit cc_priv");
_Static_assert(_Alignof(struct cubic) <= _Alignof(uint64_t), "struct cubic must align like cc_priv");

static struct cubic *cubic_of(struct tcb *tcb) { return (struct cubic *)(void *)tcb->cc_priv; }

static uint32_t sat32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

/* floor(cbrt(x)), bit by bit (Hacker's Delight 11-2): no libm, no rounding. */
static uint64_t icbrt64(uint64_t x)
{
    uint64_t y = 0;
    for (int s = 63; s >= 0; s -= 3) {
        y <<= 1;
        uint64_t b = 3 * y * (y + 1) + 1;
        if ((x >> s) >= b) {
            x -= b << s;
            y++;
        }
    }
    return y;
}

/* K = cbrt((W_max - cwnd_epoch) / C) (RFC 9438 eq. 2), in ms: the cube root
 * of diff / SMSS * 2.5 * 10^9 ms^3. diff < 2^32, so diff * 2.5e9 < 2^64. */
static uint32_t cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss)
{
    uint64_t diff = w_max - cwnd_epoch;
    return (uint32_t)icbrt64(diff * 2500000000ull / mss);
}

/* W_cubic(t) = C * (t - K)^3 + W_max (RFC 9438 eq. 1), in bytes, t in ms
 * since the epoch. C * d^3 segments is 2 * d^3 / 5e9; quotient and remainder
 * are scaled to bytes apart so that nothing overflows or is lost. */
static uint64_t cubic_w(const struct cubic *c, uint32_t mss, uint64_t t_ms)
{
    uint64_t d = t_ms >= c->k_ms ? t_ms - c->k_ms : c->k_ms - t_ms;
    if (d > CUBIC_T_MAX_MS)
        d = CUBIC_T_MAX_MS;
    uint64_t n = CUBIC_C_NUM * d * d * d;
    uint64_t delta = n / CUBIC_C_DEN_MS3 * mss + n % CUBIC_C_DEN_MS3 * mss / CUBIC_C_DEN_MS3;
    if (t_ms >= c->k_ms)
        return c->w_max + delta;
    return delta < c->w_max ? c->w_max - delta : 0;
}

static void cubic_init(struct tcb *tcb)
{
    tcb->cwnd = tcp_initial_window(tcb);
    tcb->ssthresh = UINT32_MAX; /* "arbitrarily high" (RFC 5681 3.1) */
    tcb->cc_bytes_acked = 0;
    memset(tcb->cc_priv, 0, sizeof tcb->cc_priv);
}

/* ------------------------------------------------------------ HyStart++ */

/* RFC 9406 applies to the first slow start only (4.3: later ones stop at the
 * ssthresh a congestion event left), and only when the connection asks. */
static bool hystart_on(const struct tcb *tcb)
{
    return (tcb->opt.features & USTACK_TCPF_HYSTART) && tcb->ssthresh == UINT32_MAX;
}

static void hystart_round_start(struct tcb *tcb, struct cubic *c)
{
    c->hs_flags |= HS_ROUND;
    c->hs_last_min = c->hs_cur_min;
    c->hs_cur_min = 0;
    c->hs_samples = 0;
    c->hs_window_end = tcb->snd_max;
}

/* One ACK in slow start: takes its RTT sample, decides between standard and
 * conservative slow start, and returns the growth for `inc` bytes. */
static uint32_t hystart_ack(struct tcb *tcb, struct cubic *c, uint32_t inc, ustack_time_t rtt_us)
{
    if (!(c->hs_flags & HS_ROUND))
        hystart_round_start(tcb, c);
    if (rtt_us) {
        if (!c->hs_cur_min || rtt_us < c->hs_cur_min)
            c->hs_cur_min = rtt_us;
        if (c->hs_samples < UINT8_MAX)
            c->hs_samples++;
    }
    if (c->hs_samples >= HYSTART_N_RTT_SAMPLE) {
        if (!(c->hs_flags & HS_CSS)) {
            /* A delay increase of more than eta over the last round's
             * minimum: leave standard slow start for CSS. */
            if (c->hs_last_min) {
                ustack_time_t eta = c->hs_last_min / HYSTART_MIN_RTT_DIVISOR;
                if (eta > HYSTART_MAX_RTT_THRESH_US)
                    eta = HYSTART_MAX_RTT_THRESH_US;
                if (eta < HYSTART_MIN_RTT_THRESH_US)
                    eta = HYSTART_MIN_RTT_THRESH_US;
                if (c->hs_cur_min >= c->hs_last_min + eta) {
                    c->hs_flags |= HS_CSS;
                    c->hs_css_baseline = c->hs_cur_min;
                    c->hs_css_rounds = 0;
                    c->hs_css_acc = 0;
                }
            }
        } else if (c->hs_cur_min < c->hs_css_baseline) {
            /* The increase was spurious: back to standard slow start. */
            c->hs_flags &= ~HS_CSS;
            c->hs_css_baseline = 0;
        }
    }
    if (c->hs_flags & HS_CSS) {
        uint32_t q = inc + c->hs_css_acc;
        inc = q / HYSTART_CSS_GROWTH_DIVISOR;
        c->hs_css_acc = q % HYSTART_CSS_GROWTH_DIVISOR;
    }
    return inc;
}

/* After the ACK's growth: a round ends when everything sent before it began
 * is acknowledged. CSS_ROUNDS rounds in CSS end slow start (ssthresh = cwnd);
 * CUBIC then starts on its plateau (RFC 9438 4.10). */
static void hystart_after_ack(struct tcb *tcb, struct cubic *c)
{
    if (!SEQ_GEQ(tcb->snd_una, c->hs_window_end))
        return;
    if ((c->hs_flags & HS_CSS) && ++c->hs_css_rounds >= HYSTART_CSS_ROUNDS) {
        tcb->ssthresh = tcb->cwnd;
        c->cwnd_prior = tcb->cwnd;
        c->flags = (uint8_t)((c->flags & ~CUBIC_EPOCH) | CUBIC_RESTART);
        c->hs_flags = 0;
        return;
    }
    hystart_round_start(tcb, c);
}

/* ------------------------------------------------ congestion avoidance */

static void cubic_epoch_begin(struct tcb *tcb, struct cubic *c, ustack_time_t now)
{
    c->flags |= CUBIC_EPOCH;
    c->epoch_start = now;
    c->last_ca = now;
    c->cwnd_epoch = tcb->cwnd;
    c->w_est = tcb->cwnd; /* 4.3 */
    c->w_est_acc = 0;
    c->grow_acc = 0;
    if ((c->flags & CUBIC_RESTART) || c->w_max <= tcb->cwnd) {
        /* After an RTO (4.8) or a HyStart++ exit (4.10), or with no W_max
         * above cwnd to return to: the curve starts flat at cwnd. */
        c->w_max = tcb->cwnd;
        c->k_ms = 0;
        c->flags &= (uint8_t)~CUBIC_RESTART;
    } else {
        c->k_ms = cubic_k_ms(c->w_max, tcb->cwnd, tcb->mss);
    }
}

static void cubic_ca(struct tcb *tcb, struct cubic *c, uint32_t acked)
{
    ustack_time_t now = tcb->ts->st->now;
    ustack_time_t rtt = tcb->srtt ? tcb->srtt : tcb->min_rtt;
    uint32_t mss = tcb->mss;
    if (!(c->flags & CUBIC_EPOCH)) {
        cubic_epoch_begin(tcb, c, now);
    } else if (rtt && now - c->last_ca > 2 * rtt) {
        /* No update for over two RTTs: the sender was held back by the
         * application or the receiver (the engine grows cwnd only while it
         * limits the sender). t must not count that time (4.2, 5.8): the
         * curve moves later by it, as Linux does after idle. */
        c->epoch_start += now - c->last_ca;
    }
    c->last_ca = now;
    uint32_t cwnd = tcb->cwnd;

    /* W_est += alpha * segments_acked / cwnd (eq. 4), in bytes: alpha *
     * acked * SMSS / cwnd; alpha becomes 1 once W_est reached cwnd_prior. */
    uint64_t alpha = c->w_est >= c->cwnd_prior ? CUBIC_ALPHA_DEN : CUBIC_ALPHA_NUM;
    uint64_t den = (uint64_t)CUBIC_ALPHA_DEN * cwnd;
    c->w_est_acc += alpha * acked * mss;
    c->w_est = sat32(c->w_est + c->w_est_acc / den);
    c->w_est_acc %= den;

    uint64_t t_us = now - c->epoch_start;
    if (cubic_w(c, mss, t_us / 1000) < c->w_est) {
        /* Reno-friendly region (4.3): cwnd = W_est. */
        if (c->w_est > cwnd)
            tcb->cwnd = c->w_est;
        return;
    }
    /* Concave (4.4) or convex (4.5) region: towards W_cubic(t + RTT), at
     * least cwnd, at most 1.5 * cwnd (4.2), by (target - cwnd) / cwnd per
     * segment acknowledged. */
    uint64_t target = cubic_w(c, mss, (t_us + rtt) / 1000);
    if (target < cwnd)
        target = cwnd;
    else if (target > (uint64_t)cwnd + cwnd / 2)
        target = (uint64_t)cwnd + cwnd / 2;
    c->grow_acc += (target - cwnd) * acked;
    tcb->cwnd = sat32((uint64_t)cwnd + c->grow_acc / cwnd);
    c->grow_acc %= cwnd;
}

/* ---------------------------------------------------------- the ops */

static void cubic_cong_avoid(struct tcb *tcb, uint32_t acked, ustack_time_t rtt_us)
{
    struct cubic *c = cubic_of(tcb);
    if (tcb->cwnd < tcb->ssthresh) {
        /* Slow start (RFC 9438 4.10): cwnd grows by the bytes this ACK
         * acknowledged, as Linux's tcp_slow_start() counts every segment,
         * rather than by at most one SMSS per ACK (RFC 5681 eq. 2; RFC 3465
         * allows 2). Byte counting is immune to ACK division, and a sender
         * whose ACKs are thinned (delayed ACKs, ACKs lost or discarded by
         * PAWS when the path reorders them) still doubles its window every
         * round trip. Never past ssthresh; HyStart++ may divide it. */
        uint32_t inc = tcp_feature(tcb, USTACK_TCPF_BYTE_COUNT) ? acked : acked < tcb->mss ? acked : tcb->mss;
        if (tcb->ssthresh != UINT32_MAX && tcb->cwnd + (uint64_t)inc > tcb->ssthresh)
            inc = tcb->ssthresh - tcb->cwnd;
        bool hs = hystart_on(tcb);
        if (hs)
            inc = hystart_ack(tcb, c, inc, rtt_us);
        tcb->cwnd = sat32((uint64_t)tcb->cwnd + inc);
        if (hs)
            hystart_after_ack(tcb, c);
        return;
    }
    cubic_ca(tcb, c, acked);
}

/* RFC 9438 4.6, 4.7. ssthresh = cwnd * beta: cwnd rather than FlightSize (as
 * Linux), which 4.6 allows because the engine does not grow cwnd while it
 * does not limit the sender; so cwnd is what the path carried. */
static uint32_t cubic_ssthresh(struct tcb *tcb)
{
    struct cubic *c = cubic_of(tcb);
    uint32_t cwnd = tcb->cwnd;
    c->undo = (struct cubic_undo){
        .w_max = c->w_max,
        .cwnd_prior = c->cwnd_prior,
        .w_est = c->w_est,
        .k_ms = c->k_ms,
        .epoch_start = c->epoch_start,
        .flags = c->flags,
    };
    if (cwnd < c->w_max) /* fast convergence: the saturation point fell */
        c->w_max = (uint32_t)((uint64_t)cwnd * CUBIC_FC_NUM / CUBIC_FC_DEN);
    else
        c->w_max = cwnd;
    c->cwnd_prior = cwnd;
    c->flags &= (uint8_t)~(CUBIC_EPOCH | CUBIC_RESTART); /* a new stage follows recovery */
    c->hs_flags = 0;
    uint32_t ss = (uint32_t)((uint64_t)cwnd * CUBIC_BETA_NUM / CUBIC_BETA_DEN);
    return ss > 2u * tcb->mss ? ss : 2u * tcb->mss;
}

/* RFC 9438 4.8: the first congestion avoidance stage after a timeout starts
 * on its plateau at the cwnd it begins with. */
static void cubic_on_rto(struct tcb *tcb)
{
    struct cubic *c = cubic_of(tcb);
    c->flags = (uint8_t)((c->flags & ~CUBIC_EPOCH) | CUBIC_RESTART);
    c->hs_flags = 0;
}

/* RFC 9438 4.9: the engine restored cwnd and ssthresh; the curve comes back
 * as it was, epoch included (time in the spurious recovery counts). */
static void cubic_undo(struct tcb *tcb)
{
    struct cubic *c = cubic_of(tcb);
    c->w_max = c->undo.w_max;
    c->cwnd_prior = c->undo.cwnd_prior;
    c->w_est = c->undo.w_est;
    c->k_ms = c->undo.k_ms;
    c->epoch_start = c->undo.epoch_start;
    c->flags = c->undo.flags;
    c->last_ca = tcb->ts->st->now; /* the recovery was not an idle period */
}

const struct tcp_cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .cong_avoid = cubic_cong_avoid,
    .ssthresh = cubic_ssthresh,
    .on_rto = cubic_on_rto,
    .undo = cubic_undo,
};

bool tcp_cubic_get_info(const struct tcb *tcb, struct tcp_cubic_info *out)
{
    if (tcb->opt.cc != &tcp_cc_cubic)
        return false;
    const struct cubic *c = (const struct cubic *)(const void *)tcb->cc_priv;
    *out = (struct tcp_cubic_info){
        .w_max = c->w_max,
        .cwnd_prior = c->cwnd_prior,
        .cwnd_epoch = c->cwnd_epoch,
        .w_est = c->w_est,
        .k_ms = c->k_ms,
        .epoch_valid = c->flags & CUBIC_EPOCH,
        .epoch_start = c->epoch_start,
        .round_valid = c->hs_flags & HS_ROUND,
        .round_end = c->hs_window_end,
        .css = c->hs_flags & HS_CSS,
        .css_rounds = c->hs_css_rounds,
        .cur_round_min_rtt = c->hs_cur_min,
        .last_round_min_rtt = c->hs_last_min,
        .rtt_samples = c->hs_samples,
    };
    return true;
}
