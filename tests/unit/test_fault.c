/*
 * The fault injector's rate limit (stack/link/fault.c): frames leave one
 * after another at the configured bit rate, the queue in front of the wire is
 * bounded and tail-drops, the delay comes after the wire, both directions work
 * alike, and an unimpaired direction passes frames through unchanged. Driven
 * over an in-memory link pair with times given by the test.
 */
#include <string.h>
#include "harness.h"

#define FT0 USTACK_SEC(5)

struct pair {
    struct ustack_link *fault; /* wraps end a */
    struct ustack_link *b;     /* the other end */
};

static void pair_new(struct pair *p, const struct ustack_fault_config *cfg)
{
    struct ustack_link *a;
    ck_assert_int_eq(ustack_link_mem_pair(&a, &p->b), 0);
    p->fault = ustack_link_fault_new(a, cfg);
    ck_assert_ptr_nonnull(p->fault);
}

static void pair_free(struct pair *p)
{
    ustack_link_close(p->fault);
    ustack_link_close(p->b);
}

static void send_frames(struct pair *p, ustack_time_t now, unsigned n, size_t len)
{
    uint8_t f[2000];
    for (unsigned i = 0; i < n; i++) {
        memset(f, (int)(0x40 + i), len);
        ck_assert_int_eq(ustack_link_send(p->fault, now, f, len), 0);
    }
}

/* Frames the far end has received by `now` (after the injector released
 * what was due). */
static unsigned arrived_out(struct pair *p, ustack_time_t now)
{
    uint8_t buf[2048];
    unsigned n = 0;
    ustack_link_poll(p->fault, now);
    while (ustack_link_recv(p->b, now, buf, sizeof buf) > 0)
        n++;
    return n;
}

START_TEST(rate_sends_frames_one_after_another)
{
    /* 8 Mbit/s: one byte per microsecond, a 1000-byte frame takes 1 ms. */
    struct ustack_fault_config cfg = {.out = {.rate_bps = 8000000}};
    struct pair p;
    pair_new(&p, &cfg);
    send_frames(&p, FT0, 3, 1000);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 999), 0);
    ck_assert_uint_eq(ustack_link_next_deadline(p.fault), FT0 + 1000);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 1000), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 2999), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 3000), 1);
    ck_assert_uint_eq(ustack_link_next_deadline(p.fault), USTACK_TIME_NEVER);
    /* An idle wire does not save up: a frame after a pause takes its own
     * time from when it comes. */
    send_frames(&p, FT0 + 10000, 1, 500);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 10499), 0);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 10500), 1);
    struct ustack_fault_stats s;
    ustack_link_fault_stats(p.fault, 1, &s);
    ck_assert_uint_eq(s.queue_dropped, 0);
    ck_assert_uint_eq(s.dropped, 0);
    ck_assert_uint_eq(s.delayed, 0);
    pair_free(&p);
}
END_TEST

START_TEST(rate_keeps_sub_microsecond_time)
{
    /* 100 Mbit/s: 125 bytes take 10 us, 1 byte takes 80 ns. 25 one-byte
     * frames take 2 us in all, not 25 rounded-up microseconds. */
    struct ustack_fault_config cfg = {.out = {.rate_bps = 100000000}};
    struct pair p;
    pair_new(&p, &cfg);
    send_frames(&p, FT0, 25, 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 1), 12); /* 12 * 80 ns = 0.96 us */
    ck_assert_uint_eq(arrived_out(&p, FT0 + 2), 13);
    pair_free(&p);
}
END_TEST

START_TEST(full_queue_drops_at_the_tail_and_counts)
{
    struct ustack_fault_config cfg = {.out = {.rate_bps = 8000000, .queue_bytes = 2500}};
    struct pair p;
    pair_new(&p, &cfg);
    /* The backlog holds two 1000-byte frames (counting the one on the wire). */
    send_frames(&p, FT0, 5, 1000);
    struct ustack_fault_stats s;
    ustack_link_fault_stats(p.fault, 1, &s);
    ck_assert_uint_eq(s.queue_dropped, 3);
    ck_assert_uint_eq(s.dropped, 0);
    /* After one frame has left there is room for one more. */
    ck_assert_uint_eq(arrived_out(&p, FT0 + 1000), 1);
    send_frames(&p, FT0 + 1000, 2, 1000);
    ustack_link_fault_stats(p.fault, 1, &s);
    ck_assert_uint_eq(s.queue_dropped, 4);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 2000), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 3000), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 100000), 0);
    pair_free(&p);
}
END_TEST

START_TEST(delay_is_added_after_the_wire)
{
    struct ustack_fault_config cfg = {.out = {.rate_bps = 8000000, .delay_us = USTACK_MS(10)}};
    struct pair p;
    pair_new(&p, &cfg);
    send_frames(&p, FT0, 2, 1000);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 10999), 0);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 11000), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 11999), 0);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 12000), 1);
    struct ustack_fault_stats s;
    ustack_link_fault_stats(p.fault, 1, &s);
    ck_assert_uint_eq(s.delayed, 2);
    pair_free(&p);
}
END_TEST

START_TEST(rate_limits_the_inbound_direction_too)
{
    struct ustack_fault_config cfg = {.in = {.rate_bps = 8000000, .queue_bytes = 1500}};
    struct pair p;
    pair_new(&p, &cfg);
    uint8_t f[1000], buf[2048];
    memset(f, 0x55, sizeof f);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ustack_link_send(p.b, FT0, f, sizeof f), 0);
    /* The first recv pulls all three: one fits in the queue, two are dropped. */
    ck_assert_int_eq(ustack_link_recv(p.fault, FT0, buf, sizeof buf), 0);
    ck_assert_int_eq(ustack_link_recv(p.fault, FT0 + 999, buf, sizeof buf), 0);
    ck_assert_int_eq(ustack_link_recv(p.fault, FT0 + 1000, buf, sizeof buf), 1000);
    ck_assert_int_eq(memcmp(buf, f, sizeof f), 0);
    struct ustack_fault_stats s;
    ustack_link_fault_stats(p.fault, 0, &s);
    ck_assert_uint_eq(s.queue_dropped, 2);
    ustack_link_fault_stats(p.fault, 1, &s);
    ck_assert_uint_eq(s.queue_dropped, 0);
    pair_free(&p);
}
END_TEST

START_TEST(duplicate_copies_each_take_the_wire)
{
    struct ustack_fault_config cfg = {.out = {.rate_bps = 8000000, .dup = 1.0}};
    struct pair p;
    pair_new(&p, &cfg);
    send_frames(&p, FT0, 1, 1000);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 1000), 1);
    ck_assert_uint_eq(arrived_out(&p, FT0 + 2000), 1);
    pair_free(&p);
}
END_TEST

START_TEST(unimpaired_direction_passes_frames_unchanged)
{
    /* Only the outbound direction is impaired; inbound takes the fast path
     * and still counts its frames. */
    struct ustack_fault_config cfg = {.out = {.drop = 1.0}};
    struct pair p;
    pair_new(&p, &cfg);
    uint8_t f[300], buf[2048];
    for (size_t i = 0; i < sizeof f; i++)
        f[i] = (uint8_t)i;
    ck_assert_int_eq(ustack_link_send(p.b, FT0, f, sizeof f), 0);
    ck_assert_int_eq(ustack_link_recv(p.fault, FT0, buf, sizeof buf), (int)sizeof f);
    ck_assert_int_eq(memcmp(buf, f, sizeof f), 0);
    ck_assert_int_eq(ustack_link_recv(p.fault, FT0, buf, sizeof buf), 0);
    ck_assert_uint_eq(p.fault->rx_frames, 1);
    ck_assert_uint_eq(p.fault->rx_bytes, sizeof f);
    send_frames(&p, FT0, 1, 100);
    ck_assert_uint_eq(arrived_out(&p, FT0 + USTACK_SEC(1)), 0);
    pair_free(&p);
}
END_TEST

/* The same seed gives the same losses with and without a rate limit that
 * never fills: the limit draws no random numbers. */
START_TEST(rate_keeps_the_random_stream)
{
    unsigned got[2];
    for (int k = 0; k < 2; k++) {
        struct ustack_fault_config cfg = {.out = {.drop = 0.3, .rate_bps = k ? 1000000000 : 0}, .seed = 42};
        struct pair p;
        pair_new(&p, &cfg);
        send_frames(&p, FT0, 200, 100);
        got[k] = arrived_out(&p, FT0 + USTACK_SEC(1));
        struct ustack_fault_stats s;
        ustack_link_fault_stats(p.fault, 1, &s);
        ck_assert_uint_eq(s.dropped + got[k], 200);
        pair_free(&p);
    }
    ck_assert_uint_eq(got[0], got[1]);
    ck_assert_uint_gt(got[0], 100);
    ck_assert_uint_lt(got[0], 180);
}
END_TEST

Suite *suite_fault(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("rate");
    tcase_add_test(tc, rate_sends_frames_one_after_another);
    tcase_add_test(tc, rate_keeps_sub_microsecond_time);
    tcase_add_test(tc, full_queue_drops_at_the_tail_and_counts);
    tcase_add_test(tc, delay_is_added_after_the_wire);
    tcase_add_test(tc, rate_limits_the_inbound_direction_too);
    tcase_add_test(tc, duplicate_copies_each_take_the_wire);
    tcase_add_test(tc, unimpaired_direction_passes_frames_unchanged);
    tcase_add_test(tc, rate_keeps_the_random_stream);
    suite_add_tcase(s, tc);
    return s;
}
