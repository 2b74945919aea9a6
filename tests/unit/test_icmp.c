/*
 * ICMP: echo replies, input checks, the errors the stack sends (port and
 * protocol unreachable, time exceeded) with the RFC 1122 3.2.2 rules on when
 * not to send one, the rate limits of errors and of echo replies, and errors
 * received for our own UDP datagrams surfacing on the socket.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

static void inject_icmp(struct h *t, uint32_t dst, const uint8_t eth_dst[6], const uint8_t *icmp, size_t len)
{
    static uint8_t ip[USTACK_FRAME_MAX];
    size_t n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_, .dst = dst}, icmp, len);
    h_inject_eth(t, eth_dst, PEER_MAC, ETH_TYPE_IPV4, ip, n);
}

START_TEST(echo_reply_mirrors_id_seq_and_data)
{
    struct h *t = h_new();
    uint8_t d[56], icmp[64];
    h_fill(d, sizeof d, 1);
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x12340042, d, sizeof d);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_uint_eq(p.ttl, 64);
    ck_assert_uint_eq(p.l4len, n);
    ck_assert_uint_eq(p.l4[0], ICMP_ECHO_REPLY);
    ck_assert_uint_eq(p.l4[1], 0);
    ck_assert_uint_eq(rd16(p.l4 + 4), 0x1234); /* identifier */
    ck_assert_uint_eq(rd16(p.l4 + 6), 0x0042); /* sequence */
    ck_assert_mem_eq(p.l4 + ICMP_HDR_LEN, d, sizeof d);
    ck_assert_uint_eq(inet_checksum(p.l4, p.l4len), 0);
    /* Only the type changed (8 -> 0): the checksum grew by 0x0800 in
     * one's-complement arithmetic (RFC 1624). */
    uint32_t c = rd16(icmp + 2) + 0x0800u;
    ck_assert_uint_eq(rd16(p.l4 + 2), (c & 0xffff) + (c >> 16));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_echo_requests"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_echo_replies"), 1);
    h_done(t);
}
END_TEST

START_TEST(echo_with_bad_checksum_is_dropped_and_counted)
{
    struct h *t = h_new();
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    icmp[9] ^= 0x40;
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "icmp_drop_bad_checksum"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_echo_requests"), 0);
    /* Shorter than an ICMP header. */
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, 7);
    ck_assert_uint_eq(h_cnt(t, "icmp_drop_short"), 1);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(broadcast_echo_is_ignored)
{
    struct h *t = h_new();
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    inject_icmp(t, SUBNET_BCAST, BCAST_MAC, icmp, n);
    inject_icmp(t, ALL_ONES, BCAST_MAC, icmp, n);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "icmp_drop_broadcast_echo"), 2);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    h_done(t);
}
END_TEST

START_TEST(closed_udp_port_gets_port_unreachable_quoting_header_and_8_bytes)
{
    struct h *t = h_new();
    uint8_t d[100], u[120], ip[160];
    h_fill(d, sizeof d, 2);
    size_t n = forge_udp(u, PEER_IP, OUR_IP, 3333, 9999, d, sizeof d);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .id = 0x0abc}, u, n);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 1);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_uint_eq(p.l4[0], ICMP_DEST_UNREACH);
    ck_assert_uint_eq(p.l4[1], ICMP_UNREACH_PORT);
    ck_assert_uint_eq(rd32(p.l4 + 4), 0); /* unused */
    ck_assert_uint_eq(p.l4len, ICMP_HDR_LEN + IPV4_HDR_LEN + 8);
    ck_assert_mem_eq(p.l4 + ICMP_HDR_LEN, ip, IPV4_HDR_LEN + 8);
    ck_assert_uint_eq(inet_checksum(p.l4, p.l4len), 0);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_errors"), 1);
    h_expect_none(t);
    h_done(t);
}
END_TEST

/* Calls icmp_send_error directly on a datagram `orig` and tells whether an
 * error went out. */
static bool error_sent(struct h *t, const uint8_t *orig, size_t len)
{
    uint64_t before = h_cnt(t, "icmp_tx_errors");
    icmp_send_error(t->st, orig, len, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTO);
    bool sent = h_cnt(t, "icmp_tx_errors") == before + 1;
    if (sent) {
        struct pkt p;
        h_expect_ip(t, &p, IPPROTO_ICMP_);
    }
    h_expect_none(t);
    return sent;
}

START_TEST(no_error_about_an_icmp_error)
{
    struct h *t = h_new();
    static const uint8_t err_types[] = {ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT, ICMP_TIME_EXCEEDED,
                                        ICMP_PARAM_PROBLEM};
    uint8_t quote[28] = {0x45}, icmp[64], ip[128];
    for (size_t i = 0; i < sizeof err_types; i++) {
        size_t n = forge_icmp(icmp, err_types[i], 0, 0, quote, sizeof quote);
        n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
        ck_assert_msg(!error_sent(t, ip, n), "error sent about ICMP type %u", err_types[i]);
    }
    ck_assert_uint_eq(h_cnt(t, "icmp_err_suppressed"), sizeof err_types);
    /* An echo request or reply is not an error: errors about it are allowed. */
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0, quote, 8);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert(error_sent(t, ip, n));
    n = forge_icmp(icmp, ICMP_ECHO_REPLY, 0, 0, quote, 8);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert(error_sent(t, ip, n));
    h_done(t);
}
END_TEST

START_TEST(no_time_exceeded_for_a_fragmented_icmp_error)
{
    struct h *t = h_new();
    /* A fragmented destination unreachable whose first piece arrives alone:
     * its reassembly times out silently. */
    uint8_t icmp[64] = {0};
    size_t n = forge_icmp(icmp, ICMP_DEST_UNREACH, 1, 0, icmp + 8, 40);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .id = 9, .mf = true}, icmp, 16);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_err_suppressed"), 1);
    h_expect_none(t);
    /* The same for an echo request is answered with time exceeded. */
    h_learn(t, PEER_IP, PEER_MAC); /* fresh, so no ARP poll precedes it */
    n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0, icmp + 8, 40);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .id = 10, .mf = true}, icmp, 16);
    h_time(t, USTACK_SEC(60));
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.l4[0], ICMP_TIME_EXCEEDED);
    ck_assert_uint_eq(p.l4[1], ICMP_TIMXCEED_REASM);
    ck_assert_uint_eq(n, 48);
    h_done(t);
}
END_TEST

START_TEST(no_error_about_a_broadcast)
{
    struct h *t = h_new();
    uint8_t u[32], ip[64];
    size_t n = forge_udp(u, PEER_IP, SUBNET_BCAST, 3333, 9999, "abcd", 4);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .dst = SUBNET_BCAST}, u, n);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 1);
    h_expect_none(t);
    /* Nor about a datagram that came as a link-layer broadcast (RFC 1122
     * 3.2.2), even to our unicast address. */
    n = forge_udp(u, PEER_IP, OUR_IP, 3333, 9999, "abcd", 4);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_}, u, n);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 2);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    /* The rule itself: a datagram to a broadcast or multicast address, or
     * from a broadcast, multicast or zero source. */
    const uint32_t dsts[] = {SUBNET_BCAST, ALL_ONES, ip4(224, 0, 0, 1)};
    for (size_t i = 0; i < 3; i++) {
        n = forge_ip(ip, &(struct ipspec){.proto = 253, .dst = dsts[i]}, "12345678", 8);
        ck_assert(!error_sent(t, ip, n));
    }
    const uint32_t srcs[] = {SUBNET_BCAST, ALL_ONES, ip4(239, 0, 0, 1)};
    for (size_t i = 0; i < 3; i++) {
        n = forge_ip(ip, &(struct ipspec){.proto = 253, .src = srcs[i]}, "12345678", 8);
        ck_assert(!error_sent(t, ip, n));
    }
    n = forge_ip(ip, &(struct ipspec){.proto = 253}, "12345678", 8);
    wraddr(ip + 12, 0);
    ck_assert(!error_sent(t, ip, n));
    ck_assert_uint_eq(h_cnt(t, "icmp_err_suppressed"), 7);
    h_done(t);
}
END_TEST

START_TEST(no_error_about_link_layer_broadcasts_even_in_fragments)
{
    struct h *t = h_new();
    uint8_t ip[128], u[64];
    /* Unknown protocol to our address, in a broadcast frame. */
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253}, "12345678", 8);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_unknown_proto"), 1);
    h_expect_none(t);
    /* A UDP datagram to a closed port in two broadcast fragments. */
    size_t ul = forge_udp(u, PEER_IP, OUR_IP, 3333, 9999, "0123456789abcdef", 16);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .id = 5, .mf = true}, u, 16);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .id = 5, .off = 16}, u + 16, ul - 16);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 1);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 1);
    h_expect_none(t);
    /* A first fragment alone, in a broadcast frame: its timeout is silent. */
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .id = 6, .mf = true}, u, 16);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 1);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    /* Echo requests to our address are still answered (as Linux does). */
    uint8_t icmp[16];
    n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    h_learn(t, PEER_IP, PEER_MAC);
    inject_icmp(t, OUR_IP, BCAST_MAC, icmp, n);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    h_done(t);
}
END_TEST

START_TEST(no_error_about_a_non_first_fragment)
{
    struct h *t = h_new();
    uint8_t ip[64];
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253, .off = 8, .mf = true}, "12345678", 8);
    ck_assert(!error_sent(t, ip, n));
    n = forge_ip(ip, &(struct ipspec){.proto = 253, .off = 1480}, "12345678", 8);
    ck_assert(!error_sent(t, ip, n));
    ck_assert_uint_eq(h_cnt(t, "icmp_err_suppressed"), 2);
    /* The first fragment is fine. */
    n = forge_ip(ip, &(struct ipspec){.proto = 253, .mf = true}, "12345678", 8);
    ck_assert(error_sent(t, ip, n));
    h_done(t);
}
END_TEST

START_TEST(error_rate_limit_allows_a_burst_then_refills)
{
    struct h *t = h_new(); /* 100 per second, burst 50 */
    for (int i = 0; i < 60; i++)
        h_inject_udp(t, 3333, 9999, "x", 1);
    ck_assert_uint_eq(h_drain(t), 50);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_errors"), 50);
    ck_assert_uint_eq(h_cnt(t, "icmp_err_rate_limited"), 10);
    /* One token per 10 ms. */
    h_step(t, USTACK_MS(10) - 1);
    h_inject_udp(t, 3333, 9999, "x", 1);
    ck_assert_uint_eq(h_drain(t), 0);
    h_step(t, 1);
    h_inject_udp(t, 3333, 9999, "x", 1);
    h_inject_udp(t, 3333, 9999, "x", 1);
    ck_assert_uint_eq(h_drain(t), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_err_rate_limited"), 12);
    /* A long pause refills to the burst, never beyond. */
    h_step(t, USTACK_SEC(10));
    for (int i = 0; i < 60; i++)
        h_inject_udp(t, 3333, 9999, "x", 1);
    ck_assert_uint_eq(h_drain(t), 50);
    ck_assert_uint_eq(h_cnt(t, "icmp_err_rate_limited"), 22);
    /* Echo replies are not rate limited. */
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    for (int i = 0; i < 5; i++)
        inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    ck_assert_uint_eq(h_drain(t), 5);
    h_done(t);
}
END_TEST

START_TEST(echo_replies_unlimited_by_default)
{
    struct h *t = h_new();
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    for (int i = 0; i < 300; i++)
        h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 300);
    ck_assert_uint_eq(h_cnt(t, "icmp_echo_rate_limited"), 0);
    h_done(t);
}
END_TEST

START_TEST(echo_reply_rate_limit_allows_a_burst_then_refills)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.icmp_echo_per_sec = 10;
    cfg.icmp_echo_burst = 3;
    struct h *t = h_new_cfg(&cfg, 0);
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    for (int i = 0; i < 5; i++)
        h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 3);
    ck_assert_uint_eq(h_cnt(t, "icmp_echo_rate_limited"), 2);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_echo_requests"), 5);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_echo_replies"), 3);
    /* One token per 100 ms. */
    h_step(t, USTACK_MS(100) - 1);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 0);
    h_step(t, 1);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_echo_rate_limited"), 4);
    /* Errors have a bucket of their own. */
    h_inject_udp(t, 3333, 9999, "x", 1);
    ck_assert_uint_eq(h_drain(t), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_errors"), 1);
    /* A long pause refills to the burst, no more. */
    h_step(t, USTACK_SEC(10));
    h_learn(t, PEER_IP, PEER_MAC);
    h_drain(t);
    for (int i = 0; i < 5; i++)
        h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 3);
    h_done(t);
}
END_TEST

/* Sends one datagram from s to PEER:7777 and builds, in icmp[], the ICMP
 * error (type, code) PEER would answer with; returns its length. */
static size_t error_for_sent(struct h *t, int s, uint8_t *icmp, uint8_t type, uint8_t code)
{
    ck_assert_int_eq(us_send(t->st, s, "ping", 4, 0), 4);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    return forge_icmp(icmp, type, code, 0, p.l3, IPV4_HDR_LEN + 8);
}

START_TEST(port_unreachable_surfaces_as_econnrefused_on_connected_socket)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    struct sockaddr_in to = sin_of(PEER_IP, 7777);
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&to, sizeof to), 0);
    uint8_t icmp[64];
    size_t n = error_for_sent(t, s, icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_errors"), 1);
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    ck_assert_int_eq(us_poll(t->st, &pfd, 1, 0), 1);
    ck_assert(pfd.revents & POLLERR);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1); /* reported once */
    ck_assert_int_eq(errno, EAGAIN);
    h_expect_none(t); /* and never answered */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(port_unreachable_from_ourselves_reaches_connected_socket)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    struct sockaddr_in to = sin_of(OUR_IP, 9); /* nobody listens */
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&to, sizeof to), 0);
    ck_assert_int_eq(us_send(t->st, s, "self", 4, 0), 4);
    h_step(t, 0); /* the datagram, then the error, through the loopback */
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_errors"), 1);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_uint_eq(ustack_next_deadline(t->st), T0 + USTACK_SEC(30)); /* only the peer's ARP aging */
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(received_errors_map_to_errno)
{
    static const struct {
        uint8_t type, code;
        int err;
    } map[] = {
        {ICMP_DEST_UNREACH, ICMP_UNREACH_NET, ENETUNREACH},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, EHOSTUNREACH},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_PROTO, ENOPROTOOPT},
        {ICMP_DEST_UNREACH, ICMP_UNREACH_NEEDFRAG, EMSGSIZE},
        {ICMP_TIME_EXCEEDED, 0, EHOSTUNREACH},
        {ICMP_PARAM_PROBLEM, 0, EPROTO},
    };
    struct h *t = h_new();
    int s = h_udp(t, 0);
    struct sockaddr_in to = sin_of(PEER_IP, 7777);
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&to, sizeof to), 0);
    uint8_t icmp[64];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = error_for_sent(t, s, icmp, map[i].type, map[i].code);
        inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
        int err = -1;
        socklen_t len = sizeof err;
        ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        ck_assert_msg(err == map[i].err, "type %u code %u gave %d", map[i].type, map[i].code, err);
    }
    /* Source quench and redirect are ignored. */
    size_t n = error_for_sent(t, s, icmp, ICMP_SOURCE_QUENCH, 0);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    n = error_for_sent(t, s, icmp, ICMP_REDIRECT, 1);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    int err = -1;
    socklen_t len = sizeof err;
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(errors_for_unconnected_or_other_sockets_are_ignored)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    uint8_t icmp[64];
    /* Unconnected: Linux reports nothing either. */
    ck_assert_int_eq(h_sendto(t, s, "ping", 4, PEER_IP, 7777), 4);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    size_t n = forge_icmp(icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, p.l3, IPV4_HDR_LEN + 8);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Connected elsewhere: not about this association. */
    struct sockaddr_in to = sin_of(PEER_IP, 8888);
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&to, sizeof to), 0);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* A quote too short to name the ports. */
    n = forge_icmp(icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, p.l3, IPV4_HDR_LEN + 4);
    inject_icmp(t, OUR_IP, OUR_MAC, icmp, n);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx_errors"), 3);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

Suite *suite_icmp(void)
{
    Suite *s = suite_create("icmp");
    TCase *tc = tcase_create("icmp");
    h_tcase(tc);
    tcase_add_test(tc, echo_reply_mirrors_id_seq_and_data);
    tcase_add_test(tc, echo_with_bad_checksum_is_dropped_and_counted);
    tcase_add_test(tc, broadcast_echo_is_ignored);
    tcase_add_test(tc, closed_udp_port_gets_port_unreachable_quoting_header_and_8_bytes);
    tcase_add_test(tc, no_error_about_an_icmp_error);
    tcase_add_test(tc, no_time_exceeded_for_a_fragmented_icmp_error);
    tcase_add_test(tc, no_error_about_a_broadcast);
    tcase_add_test(tc, no_error_about_link_layer_broadcasts_even_in_fragments);
    tcase_add_test(tc, no_error_about_a_non_first_fragment);
    tcase_add_test(tc, error_rate_limit_allows_a_burst_then_refills);
    tcase_add_test(tc, echo_replies_unlimited_by_default);
    tcase_add_test(tc, echo_reply_rate_limit_allows_a_burst_then_refills);
    tcase_add_test(tc, port_unreachable_surfaces_as_econnrefused_on_connected_socket);
    tcase_add_test(tc, port_unreachable_from_ourselves_reaches_connected_socket);
    tcase_add_test(tc, received_errors_map_to_errno);
    tcase_add_test(tc, errors_for_unconnected_or_other_sockets_are_ignored);
    suite_add_tcase(s, tc);
    return s;
}
