/*
 * Timers: the min-heap fires timers in expiry order whatever the arming
 * order, cancel and re-arm (earlier and later) keep it consistent, and
 * ustack_next_deadline() reports the earliest armed timer.
 */
#include <stdlib.h>
#include <string.h>
#include "harness.h"

#define NT 2000

struct rec {
    struct timer timer;
    unsigned idx;
    unsigned fired;
    ustack_time_t fired_at;
};

static struct rec recs[NT];
static unsigned fire_log[NT * 2];
static unsigned nfired;
static ustack_time_t last_fired_when;
static bool order_ok;

static void on_fire(struct ustack *st, struct timer *t)
{
    struct rec *r = (struct rec *)((char *)t - offsetof(struct rec, timer));
    r->fired++;
    r->fired_at = ustack_now(st);
    if (t->when < last_fired_when)
        order_ok = false;
    last_fired_when = t->when;
    fire_log[nfired++] = r->idx;
}

/* A started stack with no timer of its own armed. */
static struct h *bare(void)
{
    struct ustack_config cfg;
    h_config(&cfg);
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    ck_assert_uint_eq(h_usage(t).timers, 0);
    memset(recs, 0, sizeof recs);
    for (unsigned i = 0; i < NT; i++) {
        timer_init(&recs[i].timer, on_fire);
        recs[i].idx = i;
    }
    nfired = 0;
    last_fired_when = 0;
    order_ok = true;
    return t;
}

START_TEST(many_timers_fire_in_expiry_order)
{
    struct h *t = bare();
    uint64_t seed = 42;
    for (unsigned i = 0; i < NT; i++)
        ck_assert_int_eq(timer_arm(t->st, &recs[i].timer, T0 + 1 + ustack_rand64(&seed) % USTACK_SEC(10)), 0);
    ck_assert_uint_eq(h_usage(t).timers, NT);
    /* Walk time forward in uneven steps; nothing fires early. */
    unsigned checked = 0;
    for (ustack_time_t now = T0; now <= T0 + USTACK_SEC(10); now += 7777) {
        h_poll_at(t, now);
        for (; checked < nfired; checked++)
            ck_assert_uint_le(recs[fire_log[checked]].timer.when, now);
    }
    h_poll_at(t, T0 + USTACK_SEC(11));
    ck_assert_uint_eq(nfired, NT);
    ck_assert(order_ok);
    for (unsigned i = 0; i < NT; i++) {
        ck_assert_uint_eq(recs[i].fired, 1);
        ck_assert(!timer_armed(&recs[i].timer));
        ck_assert_uint_ge(recs[i].fired_at, recs[i].timer.when);
        ck_assert_uint_lt(recs[i].fired_at - recs[i].timer.when, 7777);
    }
    ck_assert_uint_eq(h_usage(t).timers, 0);
    ck_assert_uint_eq(ustack_next_deadline(t->st), USTACK_TIME_NEVER);
    h_done(t);
}
END_TEST

START_TEST(one_late_poll_fires_all_due_timers_in_order)
{
    struct h *t = bare();
    uint64_t seed = 7;
    for (unsigned i = 0; i < 500; i++)
        timer_arm(t->st, &recs[i].timer, T0 + 1 + ustack_rand64(&seed) % 1000);
    h_poll_at(t, T0 + 1000);
    ck_assert_uint_eq(nfired, 500);
    ck_assert(order_ok);
    h_done(t);
}
END_TEST

START_TEST(cancelled_timers_never_fire)
{
    struct h *t = bare();
    for (unsigned i = 0; i < 1000; i++)
        timer_arm(t->st, &recs[i].timer, T0 + 100 + (i * 7919) % 1000);
    for (unsigned i = 0; i < 1000; i += 3)
        timer_cancel(t->st, &recs[i].timer);
    timer_cancel(t->st, &recs[0].timer); /* twice: harmless */
    timer_cancel(t->st, &recs[1500].timer); /* never armed: harmless */
    ck_assert_uint_eq(h_usage(t).timers, 1000 - 334);
    h_poll_at(t, T0 + 2000);
    ck_assert_uint_eq(nfired, 1000 - 334);
    ck_assert(order_ok);
    for (unsigned i = 0; i < 1000; i++)
        ck_assert_uint_eq(recs[i].fired, i % 3 ? 1 : 0);
    h_done(t);
}
END_TEST

START_TEST(rearming_earlier_or_later_moves_the_timer)
{
    struct h *t = bare();
    for (unsigned i = 0; i < 100; i++)
        timer_arm(t->st, &recs[i].timer, T0 + 1000 + i);
    timer_arm(t->st, &recs[50].timer, T0 + 10);   /* earlier */
    timer_arm(t->st, &recs[0].timer, T0 + 5000);  /* later */
    timer_arm(t->st, &recs[99].timer, T0 + 1050); /* into the middle */
    ck_assert_uint_eq(h_usage(t).timers, 100); /* moved, not duplicated */
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 10);
    h_poll_at(t, T0 + 10);
    ck_assert_uint_eq(nfired, 1);
    ck_assert_uint_eq(fire_log[0], 50);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 1001);
    h_poll_at(t, T0 + 1000);
    ck_assert_uint_eq(nfired, 1); /* recs[0] no longer at 1000 */
    h_poll_at(t, T0 + 4999);
    ck_assert_uint_eq(nfired, 99);
    ck_assert(order_ok);
    ck_assert_uint_eq(recs[0].fired, 0);
    ck_assert_uint_eq(recs[99].fired_at, T0 + 4999);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 5000);
    h_poll_at(t, T0 + 5000);
    ck_assert_uint_eq(recs[0].fired, 1);
    ck_assert_uint_eq(nfired, 100);
    h_done(t);
}
END_TEST

START_TEST(next_deadline_is_the_earliest_armed_timer)
{
    struct ustack_config cfg;
    h_config(&cfg);
    struct h *t = h_new_cfg(&cfg, H_NO_START);
    /* Before the first poll the stack wants to run at once. */
    ck_assert_uint_eq(ustack_next_deadline(t->st), 0);
    h_poll_at(t, T0);
    h_drain(t);
    ck_assert_uint_eq(ustack_next_deadline(t->st), USTACK_TIME_NEVER);
    memset(recs, 0, sizeof recs);
    for (unsigned i = 0; i < 3; i++)
        timer_init(&recs[i].timer, on_fire);
    nfired = 0;
    last_fired_when = 0;
    timer_arm(t->st, &recs[0].timer, T0 + 300);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 300);
    timer_arm(t->st, &recs[1].timer, T0 + 200);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 200);
    timer_arm(t->st, &recs[2].timer, T0 + 400);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 200);
    timer_cancel(t->st, &recs[1].timer);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 300);
    h_poll_at(t, T0 + 300);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 400);
    h_poll_at(t, T0 + 400);
    ck_assert_uint_eq(ustack_next_deadline(t->st), USTACK_TIME_NEVER);
    /* The stack's own timers count too: an ARP resolution wants a retry. */
    int s = h_udp(t, 0);
    h_sendto(t, s, "x", 1, PEER2_IP, 9);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + 400 + USTACK_SEC(1));
    h_time(t, USTACK_SEC(10));
    h_drain(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

/* A callback that re-arms itself: a periodic timer. */
static void periodic(struct ustack *st, struct timer *t)
{
    struct rec *r = (struct rec *)((char *)t - offsetof(struct rec, timer));
    r->fired++;
    if (r->fired < 5)
        timer_arm(st, t, ustack_now(st) + 100);
}

/* A callback that cancels the next timer (recs[1]). */
static void canceller(struct ustack *st, struct timer *t)
{
    (void)t;
    recs[0].fired++;
    timer_cancel(st, &recs[1].timer);
}

START_TEST(callbacks_may_rearm_and_cancel_timers)
{
    struct h *t = bare();
    timer_init(&recs[5].timer, periodic);
    timer_arm(t->st, &recs[5].timer, T0 + 100);
    h_run_to(t, T0 + 10000);
    ck_assert_uint_eq(recs[5].fired, 5);
    ck_assert(!timer_armed(&recs[5].timer));
    /* Both due at one poll: the first cancels the second, which must not run. */
    timer_init(&recs[0].timer, canceller);
    timer_arm(t->st, &recs[0].timer, T0 + 20000);
    timer_arm(t->st, &recs[1].timer, T0 + 20001);
    h_poll_at(t, T0 + 30000);
    ck_assert_uint_eq(recs[0].fired, 1);
    ck_assert_uint_eq(recs[1].fired, 0);
    ck_assert_uint_eq(h_usage(t).timers, 0);
    h_done(t);
}
END_TEST

START_TEST(clock_never_goes_backwards)
{
    struct h *t = bare();
    timer_arm(t->st, &recs[0].timer, T0 + 100);
    ustack_poll(t->st, T0 + 50);
    ustack_poll(t->st, T0 + 10); /* earlier: ignored */
    ck_assert_uint_eq(ustack_now(t->st), T0 + 50);
    ck_assert_uint_eq(recs[0].fired, 0);
    ustack_poll(t->st, T0 + 100);
    ck_assert_uint_eq(recs[0].fired, 1);
    ck_assert_uint_eq(recs[0].fired_at, T0 + 100);
    h_done(t);
}
END_TEST

Suite *suite_timer(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("timer");
    h_tcase(tc);
    tcase_add_test(tc, many_timers_fire_in_expiry_order);
    tcase_add_test(tc, one_late_poll_fires_all_due_timers_in_order);
    tcase_add_test(tc, cancelled_timers_never_fire);
    tcase_add_test(tc, rearming_earlier_or_later_moves_the_timer);
    tcase_add_test(tc, next_deadline_is_the_earliest_armed_timer);
    tcase_add_test(tc, callbacks_may_rearm_and_cancel_timers);
    tcase_add_test(tc, clock_never_goes_backwards);
    suite_add_tcase(s, tc);
    return s;
}
