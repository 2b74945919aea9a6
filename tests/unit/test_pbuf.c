/*
 * Packet buffers: the bytes they hold are counted (ustack_usage.pbuf_bytes)
 * and bounded by cfg.mem_max; past it an allocation fails, is counted, and
 * the work that needed it is refused; freeing brings the count back.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

START_TEST(memory_limit_refuses_buffers_and_counts)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.mem_max = 8192;
    struct h *t = h_new_cfg(&cfg, 0);
    ck_assert_uint_eq(h_usage(t).pbuf_bytes, 0);
    int s = h_udp(t, 7);
    static uint8_t d[1000];
    h_fill(d, sizeof d, 3);
    /* Each datagram is held in the buffer its frame came in: charged its
     * allocation, header and frame. */
    const size_t frame = ETH_HDR_LEN + IPV4_HDR_LEN + UDP_HDR_LEN + sizeof d;
    const size_t each = sizeof(struct pbuf) + frame;
    h_inject_udp(t, 1111, 7, d, sizeof d);
    ck_assert_uint_eq(h_usage(t).pbuf_bytes, each);
    unsigned held = 1;
    while (h_cnt(t, "pbuf_drop_mem_limit") == 0) {
        h_inject_udp(t, 1111, 7, d, sizeof d);
        struct ustack_usage u = h_usage(t);
        ck_assert_uint_le(u.pbuf_bytes, cfg.mem_max);
        if (h_cnt(t, "pbuf_drop_mem_limit") == 0)
            held++;
        ck_assert_uint_eq(u.pbuf_bytes, held * each);
    }
    ck_assert_uint_eq(held, cfg.mem_max / each);
    ck_assert_uint_eq(h_cnt(t, "pbuf_alloc_failed"), 1);
    ck_assert_uint_eq(h_cnt(t, "udp_rx"), held); /* the refused frame went no further */
    /* Sending needs a buffer too: ENOBUFS while the queue holds the memory. */
    int tx = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, tx, d, sizeof d, PEER_IP, 9), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(h_cnt(t, "pbuf_drop_mem_limit"), 2);
    h_expect_none(t);
    /* Reading frees: the total goes back to zero, and work is taken again. */
    char buf[1024];
    for (unsigned i = 0; i < held; i++)
        ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), (ssize_t)sizeof d);
    ck_assert_uint_eq(h_usage(t).pbuf_bytes, 0);
    ck_assert_uint_eq(h_usage(t).pbufs, 0);
    ck_assert_int_eq(h_sendto(t, tx, d, sizeof d, PEER_IP, 9), (ssize_t)sizeof d);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(h_usage(t).pbuf_bytes, 0);
    t->alloc_failures_expected = 2;
    us_close(t->st, s);
    us_close(t->st, tx);
    h_done(t);
}
END_TEST

START_TEST(memory_limit_default_is_64_mib)
{
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    ck_assert_uint_eq(cfg.mem_max, 64u << 20);
}
END_TEST

Suite *suite_pbuf(void)
{
    Suite *s = suite_create("pbuf");
    TCase *tc = tcase_create("pbuf");
    h_tcase(tc);
    tcase_add_test(tc, memory_limit_refuses_buffers_and_counts);
    tcase_add_test(tc, memory_limit_default_is_64_mib);
    suite_add_tcase(s, tc);
    return s;
}
