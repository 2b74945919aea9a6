/*
 * CUBIC (RFC 9438) and HyStart++ (RFC 9406), driven directly through
 * struct tcp_cc_ops as the engine drives them: a connection block on a bare
 * stack, the clock set by hand, and scripted ACK streams (one window of ACKs
 * per round trip, spread evenly over it, each acknowledging one SMSS). The
 * expected windows are computed here from the RFC formulas in floating
 * point, independently of the module's integer arithmetic.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <ustack/ustack.h>
#include "tcp_cc_cubic.h"
#include "tcp_fixture.h"

#define MSS 1000u /* SMSS: windows in segments are bytes / 1000 */
#define SEG(n) ((uint32_t)((n) * MSS))

/* RFC 9438 constants, for the expected values. */
#define C_CUBIC 0.4
#define BETA_CUBIC 0.7
#define ALPHA_CUBIC (3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC))

static ustack_time_t last_ack; /* when ack() last ran */

/* The Reno-friendly estimate W_est (RFC 9438 eq. 4, segments), kept beside
 * the module from the same ACKs, to know which region applies. */
struct west_model {
    double w_est, cwnd_prior;
};

/* A connection block of the fixture's stack, driven by hand: nothing is
 * sent, the clock is set directly, the fixture's teardown lets go of it. */
static struct tcb *cc_setup(unsigned features)
{
    T.now = T.st->now = USTACK_SEC(1000);
    struct tcb *tcb = tcp_tcb_new(T.ts);
    ck_assert_ptr_nonnull(tcb);
    tcb->tflags |= TF_USER;
    tcb->mss = MSS;
    tcb->opt.features = features;
    tcb->opt.cc = &tcp_cc_cubic;
    tcb->iss = 4000000000u; /* near 2^32: rounds must work across wraparound */
    tcb->snd_una = tcb->iss + 1;
    tcb->opt.cc->init(tcb);
    tcb->snd_max = tcb->snd_nxt = tcb->snd_una + tcb->cwnd;
    return tcb;
}

static double segs(uint32_t bytes) { return (double)bytes / MSS; }

static struct tcp_cubic_info info(const struct tcb *tcb)
{
    struct tcp_cubic_info i;
    ck_assert(tcp_cubic_get_info(tcb, &i));
    return i;
}

/* W_cubic(t) = C * (t - K)^3 + W_max, segments, t and K in seconds. */
static double w_cubic(double t, double k, double w_max) { return C_CUBIC * pow(t - k, 3) + w_max; }

/* One ACK of `acked` bytes with an RTT sample (0: none); the sender then
 * fills its window, as a bulk sender does. */
static void ack(struct tcb *tcb, uint32_t acked, ustack_time_t rtt_us, struct west_model *m)
{
    uint32_t before = tcb->cwnd;
    last_ack = T.st->now;
    tcb->snd_una += acked;
    tcb->opt.cc->cong_avoid(tcb, acked, rtt_us);
    if (m && before >= tcb->ssthresh) {
        double a = m->w_est >= m->cwnd_prior ? 1.0 : ALPHA_CUBIC;
        m->w_est += a * segs(acked) / segs(before);
    }
    tcb->snd_max = tcb->snd_una + tcb->cwnd;
    tcb->snd_nxt = tcb->snd_max;
}

/* One round trip: the window at its start comes back as one ACK per SMSS,
 * evenly spread over rtt; the clock ends rtt later. */
static void ack_round(struct tcb *tcb, ustack_time_t rtt, ustack_time_t sample, struct west_model *m)
{
    uint32_t n = tcb->cwnd / MSS;
    ustack_time_t start = T.st->now;
    for (uint32_t i = 0; i < n; i++) {
        T.st->now = start + rtt * i / n;
        ack(tcb, MSS, sample, m);
    }
    T.st->now = start + rtt;
}

/* A congestion event at cwnd `w` segments as the engine runs it: ssthresh()
 * then cwnd = ssthresh when recovery ends. Returns the new ssthresh. */
static uint32_t loss_at(struct tcb *tcb, uint32_t w, struct west_model *m)
{
    tcb->cwnd = w;
    uint32_t ss = tcb->opt.cc->ssthresh(tcb);
    tcb->ssthresh = ss;
    tcb->cwnd = ss;
    if (m)
        *m = (struct west_model){.w_est = segs(ss), .cwnd_prior = segs(w)};
    return ss;
}

/* Rounds until at least `t_us` after the epoch began; returns the time
 * since the epoch (s) where they end. */
static double run_to(struct tcb *tcb, ustack_time_t epoch, ustack_time_t t_us, ustack_time_t rtt,
                     struct west_model *m)
{
    while (T.st->now < epoch + t_us)
        ack_round(tcb, rtt, 0, m);
    return (double)(T.st->now - epoch) / 1e6;
}

/* HyStart++'s own rounds: ACKs of one SMSS (the last one may be shorter),
 * each with an RTT sample, until snd_una reaches the end of the round under
 * way, spread over rtt. Returns the bytes acknowledged. */
static uint32_t hs_round(struct tcb *tcb, ustack_time_t rtt)
{
    struct tcp_cubic_info i;
    ck_assert(tcp_cubic_get_info(tcb, &i));
    uint32_t end = i.round_valid ? i.round_end : tcb->snd_max;
    uint32_t bytes = end - tcb->snd_una;
    uint32_t n = (bytes + MSS - 1) / MSS;
    ustack_time_t start = T.st->now;
    for (uint32_t k = 0; k < n; k++) {
        T.st->now = start + rtt * k / n;
        uint32_t left = end - tcb->snd_una;
        ack(tcb, left < MSS ? left : MSS, rtt, NULL);
    }
    ck_assert_uint_eq(tcb->snd_una, end);
    T.st->now = start + rtt;
    return bytes;
}

static void assert_near(double got, double want, double tol, const char *what, double t)
{
    ck_assert_msg(fabs(got - want) <= tol, "%s at t=%.2f s: %.3f segments, expected %.3f +- %.2f", what, t, got,
                  want, tol);
}

/* ----------------------------------------------------------- the setup */

START_TEST(cubic_is_found_by_name)
{
    ck_assert_ptr_eq(tcp_cc_find("cubic"), &tcp_cc_cubic);
    ck_assert_str_eq(tcp_cc_cubic.name, "cubic");
    ck_assert_ptr_eq(tcp_cc_find("newreno"), &tcp_cc_newreno);
    ck_assert_ptr_eq(tcp_cc_find("reno"), &tcp_cc_newreno);
    ck_assert_ptr_null(tcp_cc_find("bbr"));
}
END_TEST

START_TEST(cubic_is_the_default_without_hystart)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    ck_assert_str_eq(c.congestion, "cubic");
    ck_assert_ptr_eq(T.ts->cc, &tcp_cc_cubic);
    ck_assert_uint_eq(c.features & USTACK_TCPF_HYSTART, 0); /* HyStart++ is opt-in */
    struct ustack_config uc;
    ustack_config_default(&uc);
    ck_assert_str_eq(uc.tcp.congestion, "cubic");
}
END_TEST

START_TEST(init_gives_initial_window_and_infinite_ssthresh)
{
    struct tcb *tcb = cc_setup(0);
    ck_assert_uint_eq(tcb->cwnd, SEG(10)); /* RFC 6928 IW10 */
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    struct tcp_cubic_info i = info(tcb);
    ck_assert(!i.epoch_valid);
    ck_assert_uint_eq(i.w_max, 0);
    struct tcb other = {.opt.cc = &tcp_cc_newreno};
    ck_assert(!tcp_cubic_get_info(&other, &i));
}
END_TEST

/* ------------------------------------------- (a) the curve, RFC 9438 4.2 */

START_TEST(congestion_event_sets_ssthresh_wmax_and_k)
{
    struct tcb *tcb = cc_setup(0);
    tcb->srtt = USTACK_MS(100);
    ck_assert_uint_eq(loss_at(tcb, SEG(100), NULL), SEG(70)); /* beta_cubic 0.7 (4.6) */
    struct tcp_cubic_info i = info(tcb);
    ck_assert_uint_eq(i.w_max, SEG(100));
    ck_assert_uint_eq(i.cwnd_prior, SEG(100));
    ck_assert(!i.epoch_valid); /* the epoch begins with congestion avoidance */
    ack(tcb, MSS, 0, NULL);
    i = info(tcb);
    ck_assert(i.epoch_valid);
    ck_assert_uint_eq(i.epoch_start, T.st->now);
    ck_assert_uint_eq(i.cwnd_epoch, SEG(70));
    /* W_est starts at cwnd_epoch; this ACK added 9/17 * 1000 * 1000 / 70000 = 7.6 bytes. */
    ck_assert_uint_eq(i.w_est, SEG(70) + 7);
    double k = cbrt(100 * (1 - BETA_CUBIC) / C_CUBIC); /* 4.2172 s */
    ck_assert(fabs(k - 4.2172) < 0.0001);
    ck_assert_msg(fabs(i.k_ms - k * 1000) <= 1.0, "K %u ms, expected %.1f", i.k_ms, k * 1000);
    /* ssthresh never falls below 2 SMSS. */
    ck_assert_uint_eq(loss_at(tcb, SEG(2), NULL), SEG(2));
}
END_TEST

/* RTT 100 ms, W_max 100 segments: the cubic region. W_est grows 0.53
 * segment per RTT and stays below W_cubic until about t = 5.9 s, where it
 * overtakes (4.3: alpha becomes 1 once W_est reaches cwnd_prior = 100). */
START_TEST(window_follows_the_cubic_curve_rtt_100ms)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    struct west_model m;
    loss_at(tcb, SEG(100), &m);
    ustack_time_t epoch = T.st->now;
    double k = cbrt(100 * (1 - BETA_CUBIC) / C_CUBIC);
    const double ts[] = {1.0, 2.0, 4.2, 6.0};
    for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
        double t = run_to(tcb, epoch, (ustack_time_t)(ts[j] * 1e6 + 0.5), rtt, &m);
        ck_assert(fabs(t - ts[j]) < 1e-9); /* the checkpoints fall on round ends */
        double w = w_cubic(ts[j], k, 100);
        assert_near(segs(tcb->cwnd), w, 1.0, "cwnd vs W_cubic", ts[j]);
        if (ts[j] < 5)
            ck_assert_msg(m.w_est < w - 5, "t=%.1f: W_est %.2f should be well under W_cubic %.2f", ts[j], m.w_est,
                          w);
    }
    ck_assert_uint_eq(info(tcb).epoch_start, epoch);
    /* The numbers themselves, for the record: 86.7, 95.6, 100.0, 102.3. */
    ck_assert(fabs(w_cubic(1, k, 100) - 86.68) < 0.01 && fabs(w_cubic(2, k, 100) - 95.64) < 0.01);
    ck_assert(fabs(w_cubic(6, k, 100) - 102.27) < 0.01);
}
END_TEST

/* RTT 10 ms: Reno would add a segment every 10 ms while the curve needs
 * seconds: the Reno-friendly region (4.3) dominates and cwnd = W_est, which
 * grows by alpha_cubic = 0.53 segment per RTT up to cwnd_prior (100), then
 * by one. */
START_TEST(reno_friendly_region_dominates_at_short_rtt)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(10);
    tcb->srtt = rtt;
    struct west_model m;
    loss_at(tcb, SEG(100), &m);
    ustack_time_t epoch = T.st->now;
    double k = cbrt(100 * (1 - BETA_CUBIC) / C_CUBIC);
    const double ts[] = {0.1, 0.3, 0.6, 1.0};
    for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
        double t = run_to(tcb, epoch, (ustack_time_t)(ts[j] * 1e6 + 0.5), rtt, &m);
        ck_assert(fabs(t - ts[j]) < 1e-9);
        assert_near(segs(tcb->cwnd), m.w_est, 1.0, "cwnd vs W_est", ts[j]);
        ck_assert(m.w_est > w_cubic(ts[j], k, 100));
    }
    /* At 1 s: about 100 + (100 - 56.7) = 143 segments; the curve is at 86.7. */
    ck_assert(segs(tcb->cwnd) > 140 && segs(tcb->cwnd) < 145);
    /* 100 rounds: 57 at alpha 0.53 to reach 100, then 43 at 1. */
    ck_assert(segs(tcb->cwnd) - w_cubic(1.0, k, 100) > 50);
}
END_TEST

/* ------------------------------------- (b) concave, plateau, convex */

/* W_max 1000 segments, RTT 100 ms: K = cbrt(750) = 9.086 s; W_est (0.53
 * segment per RTT from 700) stays far below the curve throughout. */
START_TEST(window_plateaus_at_wmax_concave_then_convex)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    struct west_model m;
    ck_assert_uint_eq(loss_at(tcb, SEG(1000), &m), SEG(700));
    ustack_time_t epoch = T.st->now;
    double k = cbrt(1000 * (1 - BETA_CUBIC) / C_CUBIC);
    /* Checkpoints (s): start, 1 s in, around K, and well past it. */
    const double ts[] = {0.0, 1.0, 7.6, 8.6, 9.1, 9.6, 10.6, 11.6, 12.6};
    double cw[sizeof ts / sizeof ts[0]];
    for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
        if (ts[j] > 0)
            ck_assert(fabs(run_to(tcb, epoch, (ustack_time_t)(ts[j] * 1e6 + 0.5), rtt, &m) - ts[j]) < 1e-9);
        cw[j] = segs(tcb->cwnd);
        double w = w_cubic(ts[j], k, 1000);
        assert_near(cw[j], w, 0.01 * w, "cwnd vs W_cubic", ts[j]); /* 1% */
        if (ts[j] > 0)
            ck_assert(m.w_est < w - 50);
    }
    ck_assert_msg(fabs(info(tcb).k_ms - k * 1000) <= 1.0, "K %u", info(tcb).k_ms);
    /* Concave: fast far below W_max (about 89 segments in the first second),
     * slow near it (about 1.3 in the second before K - 0.5). */
    ck_assert(cw[1] - cw[0] > 80);
    ck_assert(cw[3] - cw[2] < 3);
    /* The plateau: within 2 segments of W_max from K - 0.5 to K + 0.5. */
    for (int j = 3; j <= 5; j++)
        assert_near(cw[j], 1000, 2.0, "plateau", ts[j]);
    /* Convex: growth speeds up again past W_max (about 1.3, 5, then 11 a second). */
    ck_assert(cw[6] > 1000 && cw[6] - cw[5] < 3);
    ck_assert(cw[7] - cw[6] > cw[6] - cw[5] + 2);
    ck_assert(cw[8] - cw[7] > cw[7] - cw[6] + 3);
}
END_TEST

/* --------------------------------------- (c) fast convergence, 4.7 */

START_TEST(fast_convergence_lowers_wmax_after_a_loss_below_it)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    loss_at(tcb, SEG(100), NULL);
    ck_assert_uint_eq(info(tcb).w_max, SEG(100));
    /* Grow on the curve to about 80 segments (t = 0.6 s), then lose again. */
    while (tcb->cwnd < SEG(80))
        ack_round(tcb, rtt, 0, NULL);
    uint32_t cwnd = tcb->cwnd;
    ck_assert(cwnd < SEG(82));
    uint32_t ss = loss_at(tcb, cwnd, NULL);
    struct tcp_cubic_info i = info(tcb);
    /* W_max = cwnd * (1 + beta) / 2 = 0.85 cwnd, ssthresh = 0.7 cwnd. */
    ck_assert_uint_eq(i.w_max, (uint32_t)((uint64_t)cwnd * 17 / 20));
    ck_assert_uint_eq(ss, (uint32_t)((uint64_t)cwnd * 7 / 10));
    ck_assert_uint_eq(i.cwnd_prior, cwnd);
    /* The new curve: K = cbrt((0.85 - 0.7) cwnd / C). */
    ack(tcb, MSS, 0, NULL);
    double k = cbrt((segs(i.w_max) - segs(ss)) / C_CUBIC);
    ck_assert_msg(fabs(info(tcb).k_ms - k * 1000) <= 1.0, "K %u, expected %.1f", info(tcb).k_ms, k * 1000);
    /* A loss above W_max: W_max is that cwnd, no reduction. */
    loss_at(tcb, SEG(90), NULL);
    ck_assert_uint_eq(info(tcb).w_max, SEG(90));
}
END_TEST

/* ---------------------------------------------------- (d) undo, 4.9 */

START_TEST(undo_restores_wmax_k_and_epoch)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    loss_at(tcb, SEG(100), NULL);
    ustack_time_t epoch = T.st->now;
    run_to(tcb, epoch, USTACK_SEC(1), rtt, NULL);
    struct tcp_cubic_info before = info(tcb);
    uint32_t cwnd = tcb->cwnd, ssthresh = tcb->ssthresh;
    ck_assert(before.epoch_valid && before.k_ms > 4000);

    /* A (spurious) fast retransmit: the curve is reset ... */
    uint32_t ss = tcb->opt.cc->ssthresh(tcb);
    tcb->ssthresh = ss;
    tcb->cwnd = ss;
    struct tcp_cubic_info during = info(tcb);
    ck_assert_uint_ne(during.w_max, before.w_max); /* fast convergence: 0.85 * cwnd */
    ck_assert(!during.epoch_valid);
    T.st->now += USTACK_MS(50);
    /* ... and undone: the engine restores cwnd and ssthresh, CUBIC the rest. */
    tcb->cwnd = cwnd;
    tcb->ssthresh = ssthresh;
    tcb->opt.cc->undo(tcb);
    struct tcp_cubic_info after = info(tcb);
    ck_assert_uint_eq(after.w_max, before.w_max);
    ck_assert_uint_eq(after.k_ms, before.k_ms);
    ck_assert_uint_eq(after.epoch_start, before.epoch_start);
    ck_assert_uint_eq(after.w_est, before.w_est);
    ck_assert_uint_eq(after.cwnd_prior, before.cwnd_prior);
    ck_assert(after.epoch_valid);
    /* The window carries on along the same curve from the same epoch. */
    double t = run_to(tcb, epoch, USTACK_SEC(2), rtt, NULL);
    ck_assert_uint_eq(info(tcb).epoch_start, epoch);
    double k = cbrt(100 * (1 - BETA_CUBIC) / C_CUBIC);
    assert_near(segs(tcb->cwnd), w_cubic(t, k, 100), 1.0, "cwnd after undo", t);

    /* A spurious RTO is undone the same way. */
    before = info(tcb);
    cwnd = tcb->cwnd;
    tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    tcb->cwnd = MSS;
    tcb->opt.cc->on_rto(tcb);
    ck_assert(!info(tcb).epoch_valid);
    tcb->cwnd = cwnd;
    tcb->ssthresh = ssthresh;
    tcb->opt.cc->undo(tcb);
    after = info(tcb);
    ck_assert_uint_eq(after.w_max, before.w_max);
    ck_assert_uint_eq(after.k_ms, before.k_ms);
    ck_assert_uint_eq(after.epoch_start, before.epoch_start);
    ack(tcb, MSS, 0, NULL);
    ck_assert_uint_eq(info(tcb).k_ms, before.k_ms); /* no new epoch: the RTO's K = 0 rule is undone too */
}
END_TEST

/* ----------------------------------------------- after an RTO, 4.8 */

START_TEST(after_rto_the_curve_starts_flat_at_cwnd)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    tcb->cwnd = SEG(100);
    tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    ck_assert_uint_eq(tcb->ssthresh, SEG(70));
    tcb->cwnd = MSS; /* the engine's loss window */
    tcb->opt.cc->on_rto(tcb);
    while (tcb->cwnd < tcb->ssthresh) /* slow start back to ssthresh */
        ack(tcb, MSS, 0, NULL);
    ck_assert_uint_eq(tcb->cwnd, SEG(70));
    ck_assert(!info(tcb).epoch_valid);
    uint32_t start = tcb->cwnd;
    ustack_time_t epoch = T.st->now;
    ack(tcb, MSS, 0, NULL);
    struct tcp_cubic_info i = info(tcb);
    ck_assert(i.epoch_valid);
    ck_assert_uint_eq(i.k_ms, 0);
    ck_assert_uint_eq(i.w_max, start);
    ck_assert_uint_eq(i.cwnd_epoch, start);
    ck_assert(i.w_est >= start && i.w_est < start + MSS);
    /* A second later cwnd has grown like W_est (0.53 segment per RTT), not
     * back towards the old W_max of 100 as the pre-RTO curve would (86.7). */
    run_to(tcb, epoch, USTACK_SEC(1), rtt, NULL);
    ck_assert_msg(segs(tcb->cwnd) > segs(start) + 4 && segs(tcb->cwnd) < segs(start) + 7, "cwnd %.2f from %.2f",
                  segs(tcb->cwnd), segs(start));
}
END_TEST

/* ---------------------------------------- application-limited, 5.8 */

START_TEST(idle_period_shifts_the_epoch)
{
    struct tcb *tcb = cc_setup(0);
    const ustack_time_t rtt = USTACK_MS(100);
    tcb->srtt = rtt;
    loss_at(tcb, SEG(100), NULL);
    ustack_time_t epoch = T.st->now;
    run_to(tcb, epoch, USTACK_SEC(1), rtt, NULL);
    uint32_t cwnd = tcb->cwnd;
    ustack_time_t last = last_ack;
    /* Five seconds with nothing that grows cwnd (no ACK, or not cwnd-limited). */
    T.st->now += USTACK_SEC(5);
    ack(tcb, MSS, 0, NULL);
    ustack_time_t shifted = info(tcb).epoch_start;
    ck_assert_uint_eq(shifted, epoch + (T.st->now - last));
    ck_assert_uint_lt(tcb->cwnd - cwnd, MSS); /* no jump towards W_cubic(6 s) = 102 */
    /* The curve continues as if the pause had not happened: a second of
     * sending later, cwnd is near W_cubic(2 s) = 95.6, not W_cubic(7 s). */
    double t = run_to(tcb, shifted, USTACK_SEC(2), rtt, NULL);
    ck_assert(t < 2.1);
    double k = cbrt(100 * (1 - BETA_CUBIC) / C_CUBIC);
    assert_near(segs(tcb->cwnd), w_cubic(t, k, 100), 1.0, "cwnd after idle", t);
    /* Gaps of up to two RTTs are ordinary ACK spacing: no shift. */
    T.st->now = last_ack + 2 * rtt;
    ack(tcb, MSS, 0, NULL);
    ck_assert_uint_eq(info(tcb).epoch_start, shifted);
}
END_TEST

/* ---------------------------------------------------- (e) slow start */

START_TEST(slow_start_grows_one_smss_per_ack_without_byte_counting)
{
    struct tcb *tcb = cc_setup(0); /* byte-counting off: RFC 5681 eq. 2 */
    ack(tcb, 5 * MSS, 0, NULL);
    ck_assert_uint_eq(tcb->cwnd, SEG(11));
    ack(tcb, 300, 0, NULL);
    ck_assert_uint_eq(tcb->cwnd, SEG(11) + 300);
}
END_TEST

START_TEST(slow_start_grows_by_the_bytes_acknowledged)
{
    struct tcb *tcb = cc_setup(USTACK_TCPF_BYTE_COUNT);
    ck_assert_uint_eq(tcb->cwnd, SEG(10));
    ack(tcb, 5 * MSS, 0, NULL); /* a stretch ACK of five segments: all five count, as Linux */
    ck_assert_uint_eq(tcb->cwnd, SEG(15));
    ack(tcb, 300, 0, NULL); /* a small segment: its bytes only (no ACK division) */
    ck_assert_uint_eq(tcb->cwnd, SEG(15) + 300);
    /* Never past ssthresh in slow start. */
    tcb->ssthresh = SEG(17);
    ack(tcb, 4 * MSS, 0, NULL);
    ck_assert_uint_eq(tcb->cwnd, SEG(17));
    tcb->ssthresh = UINT32_MAX;
    tcb->cwnd = SEG(10);
    ack_round(tcb, USTACK_MS(100), 0, NULL); /* ten ACKs: the window doubles */
    ck_assert_uint_eq(tcb->cwnd, SEG(20));
    ack_round(tcb, USTACK_MS(100), 0, NULL);
    ck_assert_uint_eq(tcb->cwnd, SEG(40));
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    ck_assert(!info(tcb).epoch_valid);
    /* Reaching ssthresh: the next ACK is congestion avoidance. */
    tcb->ssthresh = SEG(40);
    tcb->srtt = USTACK_MS(100);
    ack(tcb, MSS, 0, NULL);
    ck_assert(info(tcb).epoch_valid);
    ck_assert_uint_lt(tcb->cwnd, SEG(41));
}
END_TEST

/* ------------------------------------------------- (f) HyStart++ */

/* Slow start from IW10 with an RTT sample on every ACK: three rounds at
 * 50 ms. The rounds are HyStart++'s own (a round ends when snd_una reaches
 * the snd_max of its start, which the engine reads before it sends what the
 * ACK allows, so rounds are a little shorter than a window). */
static void hystart_three_rounds(struct tcb *tcb)
{
    for (int r = 0; r < 3; r++)
        hs_round(tcb, USTACK_MS(50));
    ck_assert(tcb->cwnd > SEG(60));
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
}

/* The RTT then rises to 60 ms: more than eta = 50 / 8 = 6.25 ms. */
START_TEST(hystart_enters_css_on_rtt_rise_then_leaves_slow_start)
{
    struct tcb *tcb = cc_setup(USTACK_TCPF_HYSTART);
    tcb->srtt = USTACK_MS(50);
    hystart_three_rounds(tcb);
    struct tcp_cubic_info i = info(tcb);
    ck_assert(!i.css);
    ck_assert(i.round_valid);
    ck_assert_uint_eq(i.last_round_min_rtt, USTACK_MS(50)); /* round 3's, for round 4 */
    uint32_t w = tcb->cwnd;
    for (int n = 1; n <= 7; n++)
        ack(tcb, MSS, USTACK_MS(60), NULL);
    i = info(tcb);
    ck_assert(!i.css); /* not before N_RTT_SAMPLE = 8 samples */
    ck_assert_uint_eq(i.rtt_samples, 7);
    ck_assert_uint_eq(i.cur_round_min_rtt, USTACK_MS(60));
    ck_assert_uint_eq(tcb->cwnd, w + SEG(7));
    ack(tcb, MSS, USTACK_MS(60), NULL);
    ck_assert(info(tcb).css);
    /* CSS: a quarter of slow start's growth (CSS_GROWTH_DIVISOR = 4); the
     * 8th ACK already counts at a quarter. */
    ck_assert_uint_eq(tcb->cwnd, w + SEG(7) + MSS / 4);
    ack(tcb, MSS, USTACK_MS(60), NULL);
    ck_assert_uint_eq(tcb->cwnd, w + SEG(7) + 2 * (MSS / 4));
    ack(tcb, 2, USTACK_MS(60), NULL); /* growth under a byte is carried, not lost */
    ack(tcb, 2, USTACK_MS(60), NULL);
    ck_assert_uint_eq(tcb->cwnd, w + SEG(7) + 2 * (MSS / 4) + 1);
    /* The rest of this round is the first of CSS_ROUNDS = 5 ... */
    hs_round(tcb, USTACK_MS(60));
    ck_assert_uint_eq(info(tcb).css_rounds, 1);
    /* ... three more at a quarter of the growth ... */
    for (unsigned r = 2; r <= 4; r++) {
        w = tcb->cwnd;
        uint32_t bytes = hs_round(tcb, USTACK_MS(60));
        ck_assert_uint_eq(info(tcb).css_rounds, r);
        ck_assert(info(tcb).css);
        ck_assert(bytes > SEG(80));
        /* bytes / 4, give or take the quarter bytes carried over */
        ck_assert_msg(4 * (tcb->cwnd - w) + 3 >= bytes && 4 * (tcb->cwnd - w) <= bytes + 3, "grew %u for %u",
                      tcb->cwnd - w, bytes);
        ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    }
    /* ... and the fifth ends slow start: ssthresh = cwnd. */
    hs_round(tcb, USTACK_MS(60));
    ck_assert_uint_eq(tcb->ssthresh, tcb->cwnd);
    ck_assert(!info(tcb).css);
    w = tcb->cwnd;
    /* 74 segments after three rounds, then 1.25 times per CSS round: about
     * 237 (standard slow start would be near 2400). */
    ck_assert_msg(w > SEG(225) && w < SEG(250), "cwnd %u", w);
    /* Congestion avoidance on a curve flat at cwnd (RFC 9438 4.10). */
    ack(tcb, MSS, USTACK_MS(60), NULL);
    i = info(tcb);
    ck_assert(i.epoch_valid);
    ck_assert_uint_eq(i.k_ms, 0);
    ck_assert_uint_eq(i.w_max, w);
    ck_assert_uint_eq(i.cwnd_prior, w);
    ck_assert_uint_lt(tcb->cwnd - w, MSS);
}
END_TEST

START_TEST(hystart_off_without_the_feature_bit)
{
    struct tcb *tcb = cc_setup(0);
    tcb->srtt = USTACK_MS(50);
    hystart_three_rounds(tcb);
    for (int r = 0; r < 6; r++) {
        uint32_t w = tcb->cwnd;
        uint32_t bytes = hs_round(tcb, USTACK_MS(60));
        ck_assert_uint_eq(tcb->cwnd, w + bytes); /* standard slow start throughout */
    }
    ck_assert(tcb->cwnd > SEG(1000));
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    struct tcp_cubic_info i = info(tcb);
    ck_assert(!i.css && !i.round_valid && i.rtt_samples == 0); /* nothing tracked */
}
END_TEST

START_TEST(hystart_resumes_slow_start_when_the_rtt_falls_back)
{
    struct tcb *tcb = cc_setup(USTACK_TCPF_HYSTART);
    tcb->srtt = USTACK_MS(50);
    hystart_three_rounds(tcb);
    hs_round(tcb, USTACK_MS(60));
    ck_assert(info(tcb).css);
    ck_assert_uint_eq(info(tcb).css_rounds, 1);
    /* The next round's RTTs fall below the CSS baseline (60 ms). */
    for (int n = 1; n < 8; n++)
        ack(tcb, MSS, USTACK_MS(55), NULL);
    ck_assert(info(tcb).css);
    uint32_t w = tcb->cwnd;
    ack(tcb, MSS, USTACK_MS(55), NULL);
    ck_assert(!info(tcb).css);
    ck_assert_uint_eq(tcb->cwnd, w + MSS); /* full slow-start growth again */
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
}
END_TEST

/* eta = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms). */
static bool hystart_css_after(ustack_time_t base, ustack_time_t rise)
{
    struct tcb *tcb = cc_setup(USTACK_TCPF_HYSTART);
    tcb->srtt = base;
    for (int r = 0; r < 2; r++)
        hs_round(tcb, base);
    ck_assert(!info(tcb).css);
    ck_assert(hs_round(tcb, base + rise) >= SEG(8));
    return info(tcb).css;
}

START_TEST(hystart_threshold_is_clamped_between_4_and_16_ms)
{
    /* 10 ms / 8 is below the floor: eta = 4 ms. */
    ck_assert(!hystart_css_after(USTACK_MS(10), 3999));
    ck_assert(hystart_css_after(USTACK_MS(10), USTACK_MS(4)));
    /* 80 ms / 8 = 10 ms. */
    ck_assert(!hystart_css_after(USTACK_MS(80), 9999));
    ck_assert(hystart_css_after(USTACK_MS(80), USTACK_MS(10)));
    /* 400 ms / 8 is above the ceiling: eta = 16 ms. */
    ck_assert(!hystart_css_after(USTACK_MS(400), 15999));
    ck_assert(hystart_css_after(USTACK_MS(400), USTACK_MS(16)));
}
END_TEST

START_TEST(hystart_only_in_the_first_slow_start)
{
    struct tcb *tcb = cc_setup(USTACK_TCPF_HYSTART);
    tcb->srtt = USTACK_MS(50);
    loss_at(tcb, SEG(40), NULL); /* ssthresh 28 segments */
    tcb->cwnd = SEG(2);
    for (int r = 0; r < 3; r++)
        ack_round(tcb, USTACK_MS(50), USTACK_MS(50 + 20 * r), NULL);
    ck_assert(!info(tcb).css);
    ck_assert_uint_eq(tcb->cwnd, SEG(16)); /* 2, 4, 8, 16: undivided */
}
END_TEST

/* ----------------------------------------------------------- limits */

START_TEST(large_windows_do_not_overflow)
{
    struct tcb *tcb = cc_setup(0);
    tcb->srtt = USTACK_MS(100);
    /* W_max 10000 segments of 1460 bytes: K = cbrt(3000 / 0.4) = 19.574 s. */
    tcb->mss = 1460;
    tcb->cwnd = 10000u * 1460;
    tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    ck_assert_uint_eq(tcb->ssthresh, 7000u * 1460);
    tcb->cwnd = tcb->ssthresh;
    tcb->opt.cc->cong_avoid(tcb, 1460, 0);
    ck_assert_msg(fabs(info(tcb).k_ms - cbrt(7500) * 1000) <= 1.0, "K %u", info(tcb).k_ms);
    /* cwnd near 2^32 bytes: the arithmetic saturates, never wraps. */
    tcb->mss = 536;
    tcb->cwnd = UINT32_MAX - 1000;
    uint32_t ss = tcb->opt.cc->ssthresh(tcb);
    ck_assert_uint_eq(ss, (uint32_t)((uint64_t)(UINT32_MAX - 1000) * 7 / 10));
    tcb->ssthresh = ss;
    tcb->cwnd = ss;
    tcb->srtt = USTACK_SEC(2); /* ACKs a second apart are not idle periods */
    uint32_t prev = tcb->cwnd;
    for (int n = 0; n < 1000; n++) {
        T.st->now += USTACK_SEC(1);
        tcb->opt.cc->cong_avoid(tcb, 1u << 30, 0);
        ck_assert_uint_ge(tcb->cwnd, prev);
        prev = tcb->cwnd;
    }
    ck_assert_uint_eq(tcb->cwnd, UINT32_MAX);
}
END_TEST

Suite *suite_tcp_cubic(void)
{
    Suite *s = suite_create("tcp_cubic");
    TCase *tc = tcase_create("cubic");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, cubic_is_found_by_name);
    tcase_add_test(tc, cubic_is_the_default_without_hystart);
    tcase_add_test(tc, init_gives_initial_window_and_infinite_ssthresh);
    tcase_add_test(tc, congestion_event_sets_ssthresh_wmax_and_k);
    tcase_add_test(tc, window_follows_the_cubic_curve_rtt_100ms);
    tcase_add_test(tc, reno_friendly_region_dominates_at_short_rtt);
    tcase_add_test(tc, window_plateaus_at_wmax_concave_then_convex);
    tcase_add_test(tc, fast_convergence_lowers_wmax_after_a_loss_below_it);
    tcase_add_test(tc, undo_restores_wmax_k_and_epoch);
    tcase_add_test(tc, after_rto_the_curve_starts_flat_at_cwnd);
    tcase_add_test(tc, idle_period_shifts_the_epoch);
    tcase_add_test(tc, slow_start_grows_by_the_bytes_acknowledged);
    tcase_add_test(tc, slow_start_grows_one_smss_per_ack_without_byte_counting);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hystart");
    tcase_add_checked_fixture(th, fx_setup, fx_teardown);
    tcase_add_test(th, hystart_enters_css_on_rtt_rise_then_leaves_slow_start);
    tcase_add_test(th, hystart_off_without_the_feature_bit);
    tcase_add_test(th, hystart_resumes_slow_start_when_the_rtt_falls_back);
    tcase_add_test(th, hystart_threshold_is_clamped_between_4_and_16_ms);
    tcase_add_test(th, hystart_only_in_the_first_slow_start);
    suite_add_tcase(s, th);
    TCase *tl = tcase_create("limits");
    tcase_add_checked_fixture(tl, fx_setup, fx_teardown);
    tcase_add_test(tl, large_windows_do_not_overflow);
    suite_add_tcase(s, tl);
    return s;
}
