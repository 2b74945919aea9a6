/*
 * ARP (RFC 826, RFC 1122 2.3.2): replies, learning and the merge rule, the
 * gratuitous announcement, resolution with queued packets, retries and
 * failure, the per-entry queue limit, aging (REACHABLE -> STALE -> removed),
 * the bounded cache with eviction (never of a neighbour in use to learn a
 * requester), and routing through the gateway.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

static const struct arp_entry *entry(struct h *t, uint32_t ip) { return arp_cache_lookup(t->st, ip); }

/* Asserts the next frame is our broadcast request for `ip`. */
static void expect_request(struct h *t, uint32_t ip)
{
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    ck_assert_mem_eq(arp_sha(&p), OUR_MAC, 6);
    ck_assert_uint_eq(arp_spa(&p), OUR_IP);
    ck_assert_mem_eq(arp_tha(&p), ZERO_MAC, 6);
    ck_assert_uint_eq(arp_tpa(&p), ip);
}

START_TEST(reply_only_for_own_ip_with_correct_fields)
{
    struct h *t = h_new();
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, OUR_IP);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    ck_assert_mem_eq(p.eth_src, OUR_MAC, 6);
    ck_assert_mem_eq(arp_sha(&p), OUR_MAC, 6);
    ck_assert_uint_eq(arp_spa(&p), OUR_IP);
    ck_assert_mem_eq(arp_tha(&p), PEER2_MAC, 6);
    ck_assert_uint_eq(arp_tpa(&p), PEER2_IP);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_replies"), 1);
    h_done(t);
}
END_TEST

START_TEST(request_for_another_ip_is_not_answered_and_counted)
{
    struct h *t = h_new();
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, ip4(10, 0, 0, 99));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_not_for_us"), 1);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_replies"), 0);
    /* Not for us and not known: not learnt either (RFC 826). */
    ck_assert_ptr_null(entry(t, PEER2_IP));
    h_done(t);
}
END_TEST

START_TEST(request_addressed_to_us_teaches_the_sender)
{
    struct ustack_config cfg;
    h_config(&cfg);
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, OUR_IP);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    const struct arp_entry *e = entry(t, PEER2_IP);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->state, ARP_REACHABLE);
    ck_assert_mem_eq(e->mac, PEER2_MAC, 6);
    /* So a datagram to it goes straight out, without a request. */
    int s = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, s, "abc", 3, PEER2_IP, 7), 3);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(merge_rule_updates_existing_entry_even_when_not_for_us)
{
    struct h *t = h_new();
    const uint8_t new_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x77};
    h_step(t, USTACK_SEC(5));
    /* The peer moved to a new MAC and asks about someone else. */
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, new_mac, PEER_IP, ZERO_MAC, ip4(10, 0, 0, 99));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_not_for_us"), 1);
    const struct arp_entry *e = entry(t, PEER_IP);
    ck_assert_ptr_nonnull(e);
    ck_assert_mem_eq(e->mac, new_mac, 6);
    ck_assert_int_eq(e->state, ARP_REACHABLE);
    ck_assert_uint_eq(e->updated, T0 + USTACK_SEC(5)); /* confirmation refreshed */
    int s = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, s, "abc", 3, PEER_IP, 7), 3);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, new_mac, 6);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(merge_rule_completes_a_pending_resolution)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "wait", 4, PEER2_IP, 7), 4);
    expect_request(t, PEER2_IP);
    /* PEER2 asks about someone else: not for us, but it names its MAC. */
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, ip4(10, 0, 0, 99));
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    h_expect_none(t);
    ck_assert_int_eq(entry(t, PEER2_IP)->state, ARP_REACHABLE);
    h_time(t, USTACK_SEC(5)); /* no retries left behind */
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(gratuitous_arp_sent_on_first_poll_only)
{
    struct ustack_config cfg;
    h_config(&cfg);
    struct h *t = h_new_cfg(&cfg, H_NO_START);
    h_expect_none(t);
    h_time(t, 0);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    ck_assert_mem_eq(arp_sha(&p), OUR_MAC, 6);
    ck_assert_uint_eq(arp_spa(&p), OUR_IP);
    ck_assert_mem_eq(arp_tha(&p), ZERO_MAC, 6);
    ck_assert_uint_eq(arp_tpa(&p), OUR_IP);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_gratuitous"), 1);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 0);
    h_step(t, USTACK_SEC(1));
    h_step(t, USTACK_SEC(100));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_gratuitous"), 1);
    h_done(t);
}
END_TEST

START_TEST(two_announcements_two_seconds_apart_by_default)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_gratuitous = 2; /* the default, RFC 5227 ANNOUNCE_NUM */
    struct h *t = h_new_cfg(&cfg, H_NO_START);
    h_time(t, 0);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_uint_eq(arp_spa(&p), OUR_IP);
    ck_assert_uint_eq(arp_tpa(&p), OUR_IP);
    h_time(t, USTACK_SEC(2) - 1);
    h_expect_none(t);
    h_time(t, USTACK_SEC(2));
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_uint_eq(arp_spa(&p), OUR_IP);
    ck_assert_uint_eq(arp_tpa(&p), OUR_IP);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    h_step(t, USTACK_SEC(100));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_gratuitous"), 2);
    h_done(t);
}
END_TEST

START_TEST(gratuitous_arp_not_sent_when_disabled)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_gratuitous = 0;
    struct h *t = h_new_cfg(&cfg, H_NO_START);
    h_time(t, 0);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_gratuitous"), 0);
    h_done(t);
}
END_TEST

START_TEST(first_send_broadcasts_request_and_queues_until_reply)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "one", 3, PEER2_IP, 7), 3);
    expect_request(t, PEER2_IP);
    h_expect_none(t);
    ck_assert_uint_eq(h_usage(t).arp_queued, 1);
    ck_assert_int_eq(entry(t, PEER2_IP)->state, ARP_INCOMPLETE);
    /* A second datagram joins the queue without a second request. */
    ck_assert_int_eq(h_sendto(t, s, "two", 3, PEER2_IP, 7), 3);
    h_expect_none(t);
    ck_assert_uint_eq(h_usage(t).arp_queued, 2);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 1);

    h_step(t, USTACK_MS(300));
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, PEER2_MAC, PEER2_IP, OUR_MAC, OUR_IP);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    ck_assert_uint_eq(p.dst, PEER2_IP);
    ck_assert_mem_eq(p.l4 + UDP_HDR_LEN, "one", 3);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.l4 + UDP_HDR_LEN, "two", 3);
    h_expect_none(t); /* a reply is not answered */
    ck_assert_uint_eq(h_usage(t).arp_queued, 0);
    ck_assert_int_eq(entry(t, PEER2_IP)->state, ARP_REACHABLE);
    /* The retry timer is gone: nothing more at the old retry time. */
    h_step(t, USTACK_SEC(1));
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(arp_request_retried_three_times_then_fails)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "lost", 4, PEER2_IP, 7), 4);
    ck_assert_int_eq(h_sendto(t, s, "lost", 4, PEER2_IP, 7), 4);
    expect_request(t, PEER2_IP); /* at T0 */
    h_expect_none(t);
    h_time(t, USTACK_SEC(1) - 1);
    h_expect_none(t);
    h_time(t, USTACK_SEC(1));
    expect_request(t, PEER2_IP);
    h_time(t, USTACK_SEC(2) - 1);
    h_expect_none(t);
    h_time(t, USTACK_SEC(2));
    expect_request(t, PEER2_IP);
    h_expect_none(t);
    ck_assert_uint_eq(h_usage(t).arp_queued, 2);
    h_time(t, USTACK_SEC(3) - 1);
    ck_assert_uint_eq(h_cnt(t, "arp_resolve_failed"), 0);
    h_time(t, USTACK_SEC(3));
    h_expect_none(t); /* no fourth request */
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 3);
    ck_assert_uint_eq(h_cnt(t, "arp_resolve_failed"), 1);
    struct ustack_usage u = h_usage(t);
    ck_assert_uint_eq(u.arp_queued, 0);
    ck_assert_uint_eq(u.pbufs, 0);
    ck_assert_ptr_null(entry(t, PEER2_IP));
    /* The sender hears about it, once. */
    char buf[16];
    errno = 0;
    ck_assert_int_eq(us_recvfrom(t->st, s, buf, sizeof buf, 0, NULL, NULL), -1);
    ck_assert_int_eq(errno, EHOSTUNREACH);
    ck_assert_int_eq(us_recvfrom(t->st, s, buf, sizeof buf, 0, NULL, NULL), -1);
    ck_assert_int_eq(errno, EAGAIN);
    h_step(t, USTACK_SEC(10));
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(raw_socket_gets_ehostunreach_in_so_error_when_resolution_fails)
{
    struct h *t = h_new();
    int s = us_socket(t->st, AF_INET, SOCK_RAW, 253);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(h_sendto(t, s, "raw!", 4, PEER2_IP, 0), 4);
    h_time(t, USTACK_SEC(3));
    ck_assert_uint_eq(h_drain(t), 3);
    int err = 0;
    socklen_t len = sizeof err;
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, EHOSTUNREACH);
    /* Read once: cleared. */
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(queue_limit_enforced_per_entry)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_queue_len = 4;
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 4000);
    for (uint8_t i = 0; i < 6; i++)
        ck_assert_int_eq(h_sendto(t, s, &i, 1, PEER2_IP, 7), 1);
    ck_assert_uint_eq(h_usage(t).arp_queued, 4);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_queue_full"), 2);
    ck_assert_uint_eq(h_usage(t).pbufs, 4);
    expect_request(t, PEER2_IP);
    h_expect_none(t); /* one request however many wait */
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, PEER2_MAC, PEER2_IP, OUR_MAC, OUR_IP);
    struct pkt p;
    for (uint8_t i = 2; i < 6; i++) { /* RFC 1122 2.3.2.2: the latest four, in order */
        h_expect_ip(t, &p, IPPROTO_UDP_);
        ck_assert_uint_eq(p.l4[UDP_HDR_LEN], i);
    }
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(queue_length_zero_holds_nothing)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_queue_len = 0;
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "a", 1, PEER2_IP, 7), 1);
    expect_request(t, PEER2_IP); /* resolution still starts */
    ck_assert_uint_eq(h_cnt(t, "arp_drop_queue_full"), 1);
    ck_assert_uint_eq(h_usage(t).arp_queued, 0);
    ck_assert_uint_eq(h_usage(t).pbufs, 0);
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, PEER2_MAC, PEER2_IP, OUR_MAC, OUR_IP);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(failure_is_not_reported_to_a_reused_socket_number)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "lost", 4, PEER2_IP, 7), 4);
    us_close(t->st, s);
    int s2 = h_udp(t, 4001);
    ck_assert_int_eq(s2, s); /* same number, another socket */
    h_time(t, USTACK_SEC(3));
    ck_assert_uint_eq(h_cnt(t, "arp_resolve_failed"), 1);
    ck_assert_uint_eq(h_drain(t), 3);
    int err = -1;
    socklen_t len = sizeof err;
    ck_assert_int_eq(us_getsockopt(t->st, s2, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    us_close(t->st, s2);
    h_done(t);
}
END_TEST

START_TEST(reachable_becomes_stale_after_30s_and_is_removed_60s_later)
{
    struct h *t = h_new(); /* PEER learnt at T0 */
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_REACHABLE);
    h_time(t, USTACK_SEC(30) - 1);
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_REACHABLE);
    h_time(t, USTACK_SEC(30));
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_STALE);
    h_time(t, USTACK_SEC(90) - 1);
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_STALE);
    h_time(t, USTACK_SEC(90));
    ck_assert_ptr_null(entry(t, PEER_IP));
    struct ustack_usage u = h_usage(t);
    ck_assert_uint_eq(u.arp_entries, 0);
    ck_assert_uint_eq(u.timers, 0);
    h_expect_none(t); /* aging sends nothing by itself */
    h_done(t);
}
END_TEST

START_TEST(stale_entry_still_used_and_refreshed_by_unicast_request)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    h_time(t, USTACK_SEC(40));
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_STALE);
    ck_assert_int_eq(h_sendto(t, s, "a", 1, PEER_IP, 7), 1);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6); /* unicast poll */
    ck_assert_uint_eq(arp_tpa(&p), PEER_IP);
    h_expect_ip(t, &p, IPPROTO_UDP_); /* sent at once with the old MAC */
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    /* At most one poll per retry interval. */
    h_time(t, USTACK_SEC(40) + USTACK_MS(500));
    ck_assert_int_eq(h_sendto(t, s, "b", 1, PEER_IP, 7), 1);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    h_expect_none(t);
    /* The answer makes it reachable again, for another 30 s. */
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP);
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_REACHABLE);
    h_time(t, USTACK_SEC(70) + USTACK_MS(500) - 1);
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_REACHABLE);
    h_time(t, USTACK_SEC(70) + USTACK_MS(500));
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_STALE);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(stale_entry_dropped_after_unanswered_unicast_polls)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    struct pkt p;
    /* Three unicast polls, one per send a second apart, none answered. */
    for (int i = 0; i < 3; i++) {
        h_time(t, USTACK_SEC(40 + 2 * i));
        ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_STALE);
        ck_assert_int_eq(h_sendto(t, s, "a", 1, PEER_IP, 7), 1);
        h_expect_arp(t, &p, ARP_OP_REQUEST);
        ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
        h_expect_ip(t, &p, IPPROTO_UDP_);
    }
    /* The next send forgets the mapping (RFC 1122 2.3.2.1) and resolves
     * afresh by broadcast; the datagram waits for the answer. */
    h_time(t, USTACK_SEC(46));
    ck_assert_int_eq(h_sendto(t, s, "b", 1, PEER_IP, 7), 1);
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    ck_assert_uint_eq(arp_tpa(&p), PEER_IP);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_stale_expired"), 1);
    ck_assert_int_eq(entry(t, PEER_IP)->state, ARP_INCOMPLETE);
    /* A reply with a new MAC: the datagram goes there. */
    const uint8_t new_mac[6] = {0x02, 0x77, 0, 0, 0, 7};
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, new_mac, PEER_IP, OUR_MAC, OUR_IP);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, new_mac, 6);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(full_cache_evicts_least_recently_confirmed_entry)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_cache_size = 4;
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
    for (uint8_t i = 1; i <= 4; i++) {
        h_time(t, USTACK_SEC(i));
        mac[5] = (uint8_t)(0x20 + i);
        h_learn(t, ip4(10, 0, 0, (uint8_t)(20 + i)), mac);
    }
    /* Reconfirm .21 so that .22 is now the oldest. */
    h_time(t, USTACK_SEC(5));
    mac[5] = 0x21;
    h_learn(t, ip4(10, 0, 0, 21), mac);
    ck_assert_uint_eq(h_usage(t).arp_entries, 4);
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 0);
    mac[5] = 0x25;
    h_learn(t, ip4(10, 0, 0, 25), mac);
    ck_assert_uint_eq(h_usage(t).arp_entries, 4);
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 1);
    ck_assert_ptr_null(entry(t, ip4(10, 0, 0, 22)));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 21)));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 23)));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 24)));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 25)));
    /* The evicted entry's timer went with it: 4 entries, 4 timers. */
    ck_assert_uint_eq(h_usage(t).timers, 4);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(learning_never_evicts_a_neighbour_in_use)
{
    /* An ARP storm from forged senders: each new requester is learnt in
     * place of another one, never in place of the neighbour we send to. */
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_cache_size = 4;
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    int s = h_udp(t, 4000);
    uint32_t busy = ip4(10, 0, 0, 21);
    uint8_t busy_mac[6] = {0x02, 0, 0, 0, 0, 0x21};
    h_learn(t, busy, busy_mac);
    ck_assert_int_eq(h_sendto(t, s, "x", 1, busy, 7), 1);
    h_drain(t);
    /* .21 is now the least recently confirmed entry. */
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
    for (uint8_t i = 0; i < 20; i++) {
        h_step(t, USTACK_MS(10));
        mac[5] = (uint8_t)(0x40 + i);
        h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, mac, ip4(10, 0, 0, (uint8_t)(40 + i)), ZERO_MAC, OUR_IP);
        struct pkt p;
        h_expect_arp(t, &p, ARP_OP_REPLY);
        ck_assert_mem_eq(p.eth_dst, mac, 6);
    }
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 20 - 3);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_cache_full"), 0);
    ck_assert_ptr_nonnull(entry(t, busy));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 59))); /* the latest requester */
    ck_assert_ptr_null(entry(t, ip4(10, 0, 0, 56)));    /* older ones made room */
    /* Still sent to at once, without a new resolution. */
    ck_assert_int_eq(h_sendto(t, s, "y", 1, busy, 7), 1);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, busy_mac, 6);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(cache_in_use_answers_a_requester_without_learning_it)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_cache_size = 2;
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    int s = h_udp(t, 4000);
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
    for (uint8_t i = 1; i <= 2; i++) {
        h_step(t, USTACK_SEC(1));
        mac[5] = (uint8_t)(0x20 + i);
        h_learn(t, ip4(10, 0, 0, (uint8_t)(20 + i)), mac);
        ck_assert_int_eq(h_sendto(t, s, "x", 1, ip4(10, 0, 0, (uint8_t)(20 + i)), 7), 1);
    }
    h_drain(t);
    /* Both in use: the requester is answered, not learnt. */
    mac[5] = 0x30;
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, mac, ip4(10, 0, 0, 30), ZERO_MAC, OUR_IP);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_cache_full"), 1);
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 0);
    ck_assert_ptr_null(entry(t, ip4(10, 0, 0, 30)));
    /* A packet of ours to a new neighbour evicts the least recently used. */
    ck_assert_int_eq(h_sendto(t, s, "z", 1, ip4(10, 0, 0, 31), 7), 1);
    expect_request(t, ip4(10, 0, 0, 31));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 1);
    ck_assert_ptr_null(entry(t, ip4(10, 0, 0, 21)));
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 22)));
    h_step(t, USTACK_MS(100));
    mac[5] = 0x31;
    h_learn(t, ip4(10, 0, 0, 31), mac);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    /* Unused for arp_reachable_us, the least recently confirmed entry (.22)
     * may make room for a requester again. */
    h_step(t, cfg.arp_reachable_us);
    h_drain(t);
    mac[5] = 0x32;
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, mac, ip4(10, 0, 0, 32), ZERO_MAC, OUR_IP);
    h_expect_arp(t, &p, ARP_OP_REPLY);
    ck_assert_ptr_nonnull(entry(t, ip4(10, 0, 0, 32)));
    ck_assert_ptr_null(entry(t, ip4(10, 0, 0, 22)));
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 2);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(cache_of_unresolved_entries_refuses_new_destination)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_cache_size = 2;
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "a", 1, ip4(10, 0, 0, 31), 7), 1);
    ck_assert_int_eq(h_sendto(t, s, "b", 1, ip4(10, 0, 0, 32), 7), 1);
    ck_assert_int_eq(h_sendto(t, s, "c", 1, ip4(10, 0, 0, 33), 7), 1);
    ck_assert_uint_eq(h_drain(t), 2); /* two requests; none for .33 */
    ck_assert_uint_eq(h_cnt(t, "arp_drop_cache_full"), 1);
    ck_assert_uint_eq(h_cnt(t, "arp_evictions"), 0); /* resolving entries are kept */
    ck_assert_uint_eq(h_usage(t).arp_queued, 2);
    char buf[4];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    h_time(t, USTACK_SEC(3));
    ck_assert_uint_eq(h_cnt(t, "arp_resolve_failed"), 2);
    h_drain(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(off_subnet_destination_resolves_the_gateway)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "far", 3, FAR_IP, 53), 3);
    expect_request(t, GW_IP);
    h_expect_none(t);
    ck_assert_ptr_null(entry(t, FAR_IP));
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, GW_MAC, GW_IP, OUR_MAC, OUR_IP);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, GW_MAC, 6);
    ck_assert_uint_eq(p.dst, FAR_IP);
    ck_assert_uint_eq(p.src, OUR_IP);
    /* The next one goes straight to the gateway's MAC. */
    ck_assert_int_eq(h_sendto(t, s, "far", 3, ip4(198, 51, 100, 1), 53), 3);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, GW_MAC, 6);
    ck_assert_uint_eq(p.dst, ip4(198, 51, 100, 1));
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(off_subnet_without_gateway_is_unreachable)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.gateway = 0;
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "far", 3, FAR_IP, 53), -1);
    ck_assert_int_eq(errno, ENETUNREACH);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_no_route"), 1);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(broadcast_destination_needs_no_resolution)
{
    struct h *t = h_new();
    int s = h_udp(t, 4000);
    ck_assert_int_eq(h_sendto(t, s, "all", 3, SUBNET_BCAST, 9), -1);
    ck_assert_int_eq(errno, EACCES); /* SO_BROADCAST first */
    int on = 1;
    ck_assert_int_eq(us_setsockopt(t->st, s, SOL_SOCKET, SO_BROADCAST, &on, sizeof on), 0);
    ck_assert_int_eq(h_sendto(t, s, "all", 3, SUBNET_BCAST, 9), 3);
    ck_assert_int_eq(h_sendto(t, s, "all", 3, ALL_ONES, 9), 3);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    ck_assert_uint_eq(p.dst, SUBNET_BCAST);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, BCAST_MAC, 6);
    ck_assert_uint_eq(p.dst, ALL_ONES);
    ck_assert_uint_eq(h_cnt(t, "arp_tx_requests"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(short_and_malformed_packets_are_dropped_and_counted)
{
    struct h *t = h_new();
    uint8_t a[ARP_LEN];
    forge_arp(a, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, OUR_IP);
    h_inject_eth(t, BCAST_MAC, PEER2_MAC, ETH_TYPE_ARP, a, ARP_LEN - 1);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_short"), 1);
    uint8_t bad[ARP_LEN];
    memcpy(bad, a, ARP_LEN);
    wr16(bad, 6); /* IEEE 802 hardware */
    h_inject_eth(t, BCAST_MAC, PEER2_MAC, ETH_TYPE_ARP, bad, ARP_LEN);
    memcpy(bad, a, ARP_LEN);
    bad[5] = 16; /* protocol length */
    h_inject_eth(t, BCAST_MAC, PEER2_MAC, ETH_TYPE_ARP, bad, ARP_LEN);
    memcpy(bad, a, ARP_LEN);
    wr16(bad + 6, 3); /* RARP request */
    h_inject_eth(t, BCAST_MAC, PEER2_MAC, ETH_TYPE_ARP, bad, ARP_LEN);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_bad_format"), 3);
    h_expect_none(t);
    ck_assert_ptr_null(entry(t, PEER2_IP));
    h_done(t);
}
END_TEST

START_TEST(sender_claiming_our_address_or_multicast_mac_is_not_learnt)
{
    struct h *t = h_new();
    const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x05};
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, OUR_IP, ZERO_MAC, OUR_IP);
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, mcast, PEER2_IP, ZERO_MAC, OUR_IP);
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, OUR_MAC, PEER2_IP, ZERO_MAC, OUR_IP);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "arp_drop_bad_format"), 3);
    ck_assert_ptr_null(entry(t, OUR_IP));
    ck_assert_ptr_null(entry(t, PEER2_IP));
    ck_assert_mem_eq(entry(t, PEER_IP)->mac, PEER_MAC, 6);
    h_done(t);
}
END_TEST

START_TEST(probe_with_zero_sender_is_answered_but_not_learnt)
{
    /* RFC 5227 probe: sender address 0.0.0.0. */
    struct h *t = h_new();
    h_inject_arp(t, BCAST_MAC, ARP_OP_REQUEST, PEER2_MAC, 0, ZERO_MAC, OUR_IP);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    ck_assert_uint_eq(h_usage(t).arp_entries, 1); /* the peer only */
    ck_assert_ptr_null(entry(t, 0));
    h_done(t);
}
END_TEST

Suite *suite_arp(void)
{
    Suite *s = suite_create("arp");
    TCase *tc = tcase_create("arp");
    h_tcase(tc);
    tcase_add_test(tc, reply_only_for_own_ip_with_correct_fields);
    tcase_add_test(tc, request_for_another_ip_is_not_answered_and_counted);
    tcase_add_test(tc, request_addressed_to_us_teaches_the_sender);
    tcase_add_test(tc, merge_rule_updates_existing_entry_even_when_not_for_us);
    tcase_add_test(tc, merge_rule_completes_a_pending_resolution);
    tcase_add_test(tc, gratuitous_arp_sent_on_first_poll_only);
    tcase_add_test(tc, two_announcements_two_seconds_apart_by_default);
    tcase_add_test(tc, gratuitous_arp_not_sent_when_disabled);
    tcase_add_test(tc, first_send_broadcasts_request_and_queues_until_reply);
    tcase_add_test(tc, arp_request_retried_three_times_then_fails);
    tcase_add_test(tc, raw_socket_gets_ehostunreach_in_so_error_when_resolution_fails);
    tcase_add_test(tc, queue_limit_enforced_per_entry);
    tcase_add_test(tc, queue_length_zero_holds_nothing);
    tcase_add_test(tc, failure_is_not_reported_to_a_reused_socket_number);
    tcase_add_test(tc, reachable_becomes_stale_after_30s_and_is_removed_60s_later);
    tcase_add_test(tc, stale_entry_still_used_and_refreshed_by_unicast_request);
    tcase_add_test(tc, stale_entry_dropped_after_unanswered_unicast_polls);
    tcase_add_test(tc, full_cache_evicts_least_recently_confirmed_entry);
    tcase_add_test(tc, learning_never_evicts_a_neighbour_in_use);
    tcase_add_test(tc, cache_in_use_answers_a_requester_without_learning_it);
    tcase_add_test(tc, cache_of_unresolved_entries_refuses_new_destination);
    tcase_add_test(tc, off_subnet_destination_resolves_the_gateway);
    tcase_add_test(tc, off_subnet_without_gateway_is_unreachable);
    tcase_add_test(tc, broadcast_destination_needs_no_resolution);
    tcase_add_test(tc, short_and_malformed_packets_are_dropped_and_counted);
    tcase_add_test(tc, sender_claiming_our_address_or_multicast_mac_is_not_learnt);
    tcase_add_test(tc, probe_with_zero_sender_is_answered_but_not_learnt);
    suite_add_tcase(s, tc);
    return s;
}
