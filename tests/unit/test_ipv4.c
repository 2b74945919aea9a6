/*
 * IPv4 input validation (every drop with its own counter), options skipped
 * on the way to the transport (test_ipv4_opt.c tests them), Ethernet
 * padding, protocol unreachable, the header built on output (TTL 64, ids),
 * DF, and datagrams to our own address.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

static uint8_t fr[USTACK_FRAME_MAX];

/* A frame holding a valid UDP datagram PEER:1111 -> us:7 with 4 data bytes;
 * returns the frame length; the IP header is at fr + 14. */
static size_t good_frame(void)
{
    uint8_t u[UDP_HDR_LEN + 4];
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "data", 4);
    size_t n = forge_ip(fr + ETH_HDR_LEN, &(struct ipspec){.proto = IPPROTO_UDP_}, u, sizeof u);
    memcpy(fr, OUR_MAC, 6);
    memcpy(fr + 6, PEER_MAC, 6);
    wr16(fr + 12, ETH_TYPE_IPV4);
    return ETH_HDR_LEN + n;
}

/* Injects fr after `mutate` changed its IP header, and checks that the socket
 * bound to port 7 got nothing and exactly `counter` went up by one. */
static void expect_dropped(struct h *t, int s, size_t len, const char *counter)
{
    uint64_t before = h_cnt(t, counter);
    uint64_t udp_before = h_cnt(t, "udp_rx");
    h_inject(t, fr, len);
    ck_assert_msg(h_cnt(t, counter) == before + 1, "%s not counted", counter);
    ck_assert_uint_eq(h_cnt(t, "udp_rx"), udp_before);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    h_expect_none(t);
}

START_TEST(valid_datagram_is_delivered)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    h_inject(t, fr, good_frame());
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 4);
    ck_assert_mem_eq(buf, "data", 4);
    ck_assert_uint_eq(h_cnt(t, "ip_rx"), 1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(bad_version_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame();
    fr[ETH_HDR_LEN] = 0x65;
    fix_ip_csum(fr + ETH_HDR_LEN);
    expect_dropped(t, s, n, "ip_drop_bad_version");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(ihl_below_five_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame();
    fr[ETH_HDR_LEN] = 0x44;
    expect_dropped(t, s, n, "ip_drop_bad_ihl");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(ihl_beyond_frame_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame(); /* 32 bytes of IP: an IHL of 15 says 60 */
    fr[ETH_HDR_LEN] = 0x4f;
    expect_dropped(t, s, n, "ip_drop_bad_ihl");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(total_length_beyond_frame_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame();
    wr16(fr + ETH_HDR_LEN + 2, (uint16_t)(n - ETH_HDR_LEN + 1));
    fix_ip_csum(fr + ETH_HDR_LEN);
    expect_dropped(t, s, n, "ip_drop_bad_len");
    /* ... and one shorter than its own header. */
    wr16(fr + ETH_HDR_LEN + 2, 19);
    fix_ip_csum(fr + ETH_HDR_LEN);
    expect_dropped(t, s, n, "ip_drop_bad_len");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(bad_header_checksum_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame();
    fr[ETH_HDR_LEN + 10] ^= 0x01;
    expect_dropped(t, s, n, "ip_drop_bad_checksum");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(header_shorter_than_twenty_bytes_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    good_frame();
    expect_dropped(t, s, ETH_HDR_LEN + 19, "ip_drop_short");
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(datagram_not_for_us_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t n = good_frame();
    wraddr(fr + ETH_HDR_LEN + 16, PEER2_IP);
    fix_ip_csum(fr + ETH_HDR_LEN);
    expect_dropped(t, s, n, "ip_drop_not_for_us"); /* and never forwarded */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(impossible_sources_are_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    const uint32_t bad[] = {ip4(127, 0, 0, 1), ip4(224, 0, 0, 5), ip4(239, 1, 2, 3), ALL_ONES, SUBNET_BCAST,
                            OUR_IP};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = good_frame();
        wraddr(fr + ETH_HDR_LEN + 12, bad[i]);
        fix_ip_csum(fr + ETH_HDR_LEN);
        expect_dropped(t, s, n, "ip_drop_bad_src");
    }
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_src"), 6);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(datagram_with_options_is_delivered_after_them)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    /* NOP, NOP, then a Record Route option with room for one address, EOL. */
    const uint8_t opts[12] = {1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0};
    uint8_t u[UDP_HDR_LEN + 5];
    size_t ul = forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "hello", 5);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_UDP_, .opts = opts, .optlen = sizeof opts}, u, ul);
    char buf[16];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ck_assert_int_eq(us_recvfrom(t->st, s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_uint_eq(ntohs(from.sin_port), 1111);

    /* An echo request with them is answered, its Record Route option
     * reflected with our address in its one slot (test_ipv4_opt.c has the
     * rest). */
    uint8_t icmp[64];
    size_t il = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x12340001, "ping", 4);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .opts = opts, .optlen = sizeof opts}, icmp, il);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN + 8);
    uint8_t rr[8] = {7, 7, 8, 0, 0, 0, 0, 0};
    wraddr(rr + 3, OUR_IP);
    ck_assert_mem_eq(p.l3 + IPV4_HDR_LEN, rr, sizeof rr);
    ck_assert_uint_eq(p.l4[0], ICMP_ECHO_REPLY);
    ck_assert_mem_eq(p.l4 + 8, "ping", 4);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(ethernet_padding_is_trimmed)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    /* 14 + 20 + 8 + 3 = 45 bytes, padded to 60 with non-zero junk; the odd
     * length puts a padding byte right where the checksum pads with zero. */
    uint8_t u[UDP_HDR_LEN + 3];
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "odd", 3);
    size_t n = ETH_HDR_LEN + forge_ip(fr + ETH_HDR_LEN, &(struct ipspec){.proto = IPPROTO_UDP_}, u, sizeof u);
    memcpy(fr, OUR_MAC, 6);
    memcpy(fr + 6, PEER_MAC, 6);
    wr16(fr + 12, ETH_TYPE_IPV4);
    memset(fr + n, 0xaa, ETH_MIN_FRAME - n);
    h_inject(t, fr, ETH_MIN_FRAME);
    char buf[32];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 3);
    ck_assert_mem_eq(buf, "odd", 3);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_bad_checksum"), 0);

    /* ICMP has no length of its own: its checksum only holds if the padding
     * is gone, and the reply must not echo the padding back. */
    uint8_t icmp[16];
    size_t il = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x00070001, "abcd", 4);
    n = ETH_HDR_LEN + forge_ip(fr + ETH_HDR_LEN, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, il);
    memset(fr + n, 0xaa, ETH_MIN_FRAME - n);
    h_inject(t, fr, ETH_MIN_FRAME);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.tot, IPV4_HDR_LEN + ICMP_HDR_LEN + 4);
    ck_assert_uint_eq(h_cnt(t, "icmp_drop_bad_checksum"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(unknown_protocol_gets_protocol_unreachable)
{
    struct h *t = h_new();
    uint8_t payload[40];
    h_fill(payload, sizeof payload, 9);
    uint8_t ip[80];
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253, .id = 0x4242}, payload, sizeof payload);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_unknown_proto"), 1);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_uint_eq(p.l4len, ICMP_HDR_LEN + IPV4_HDR_LEN + 8);
    ck_assert_uint_eq(p.l4[0], ICMP_DEST_UNREACH);
    ck_assert_uint_eq(p.l4[1], ICMP_UNREACH_PROTO);
    ck_assert_uint_eq(rd32(p.l4 + 4), 0);
    ck_assert_uint_eq(inet_checksum(p.l4, p.l4len), 0);
    ck_assert_mem_eq(p.l4 + ICMP_HDR_LEN, ip, IPV4_HDR_LEN + 8);
    h_expect_none(t);
    /* Not about a broadcast. */
    n = forge_ip(ip, &(struct ipspec){.proto = 253, .dst = SUBNET_BCAST}, payload, sizeof payload);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_unknown_proto"), 2);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(output_header_has_ttl_64_and_fresh_ids)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    struct pkt p1, p2;
    ck_assert_int_eq(h_sendto(t, s, "a", 1, PEER_IP, 7), 1);
    h_expect_ip(t, &p1, IPPROTO_UDP_);
    ck_assert_uint_eq(p1.l3[0], 0x45);
    ck_assert_uint_eq(p1.tos, 0);
    ck_assert_uint_eq(p1.tot, IPV4_HDR_LEN + UDP_HDR_LEN + 1);
    ck_assert_uint_eq(p1.ttl, 64);
    ck_assert(!p1.df && !p1.mf);
    ck_assert_uint_eq(p1.off, 0);
    ck_assert_uint_eq(p1.src, OUR_IP);
    ck_assert_uint_eq(p1.dst, PEER_IP);
    ck_assert_mem_eq(p1.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(h_cnt(t, "ip_tx"), 1);
    ck_assert_int_eq(h_sendto(t, s, "b", 1, PEER_IP, 7), 1);
    h_expect_ip(t, &p2, IPPROTO_UDP_);
    ck_assert_uint_eq(p2.id, (uint16_t)(p1.id + 1));
    /* IP_TTL changes it for that socket. */
    int ttl = 5;
    ck_assert_int_eq(us_setsockopt(t->st, s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl), 0);
    ck_assert_int_eq(h_sendto(t, s, "c", 1, PEER_IP, 7), 1);
    h_expect_ip(t, &p2, IPPROTO_UDP_);
    ck_assert_uint_eq(p2.ttl, 5);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

/* A raw IP_HDRINCL datagram of `total` bytes to PEER with DF as given. */
static ssize_t send_hdrincl(struct h *t, int s, size_t total, bool df)
{
    static uint8_t d[2000];
    memset(d, 0x5a, sizeof d);
    forge_ip(d, &(struct ipspec){.proto = 253, .src = OUR_IP, .dst = PEER_IP, .df = df, .id = 77},
             d + IPV4_HDR_LEN, total - IPV4_HDR_LEN);
    struct sockaddr_in to = sin_of(PEER_IP, 0);
    return us_sendto(t->st, s, d, total, 0, (struct sockaddr *)&to, sizeof to);
}

START_TEST(df_send_larger_than_mtu_fails_with_emsgsize)
{
    struct h *t = h_new();
    int s = us_socket(t->st, AF_INET, SOCK_RAW, IPPROTO_RAW);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(send_hdrincl(t, s, 1501, true), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_df_too_big"), 1);
    h_expect_none(t);
    /* Exactly the MTU goes out whole, DF kept. */
    ck_assert_int_eq(send_hdrincl(t, s, 1500, true), 1500);
    struct pkt p;
    h_expect_ip(t, &p, 253);
    ck_assert(p.df && !p.mf);
    ck_assert_uint_eq(p.tot, 1500);
    /* Without DF the same 1501 bytes are fragmented. */
    ck_assert_int_eq(send_hdrincl(t, s, 1501, false), 1501);
    h_expect_ip(t, &p, 253);
    ck_assert(p.mf);
    h_expect_ip(t, &p, 253);
    ck_assert(!p.mf);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(datagram_to_own_address_is_looped_back_on_poll)
{
    struct h *t = h_new();
    int rx = h_udp(t, 7);
    int tx = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, tx, "self", 4, OUR_IP, 7), 4);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, rx, buf, sizeof buf, 0), -1); /* not before a poll */
    ck_assert_uint_eq(ustack_next_deadline(t->st), t->now);
    h_step(t, 0);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ck_assert_int_eq(us_recvfrom(t->st, rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 4);
    ck_assert_mem_eq(buf, "self", 4);
    ck_assert_uint_eq(from.sin_addr.s_addr, OUR_IP);
    ck_assert_uint_eq(ntohs(from.sin_port), h_local_port(t, tx));
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_src"), 0);
    h_expect_none(t); /* nothing on the wire */
    us_close(t->st, rx);
    us_close(t->st, tx);
    h_done(t);
}
END_TEST

START_TEST(zero_destination_is_unroutable)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, s, "x", 1, 0, 9), -1);
    ck_assert_int_eq(errno, ENETUNREACH);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_no_route"), 1);
    struct sockaddr_in to = sin_of(0, 9);
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, ENETUNREACH);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(datagram_to_subnet_broadcast_is_delivered)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t u[UDP_HDR_LEN + 3];
    size_t n = forge_udp(u, PEER_IP, SUBNET_BCAST, 1111, 7, "all", 3);
    uint8_t ip[64];
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .dst = SUBNET_BCAST}, u, n);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 3);
    ck_assert_mem_eq(buf, "all", 3);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

Suite *suite_ipv4(void)
{
    Suite *s = suite_create("ipv4");
    TCase *tc = tcase_create("ipv4");
    h_tcase(tc);
    tcase_add_test(tc, valid_datagram_is_delivered);
    tcase_add_test(tc, bad_version_is_dropped_and_counted);
    tcase_add_test(tc, ihl_below_five_is_dropped_and_counted);
    tcase_add_test(tc, ihl_beyond_frame_is_dropped_and_counted);
    tcase_add_test(tc, total_length_beyond_frame_is_dropped_and_counted);
    tcase_add_test(tc, bad_header_checksum_is_dropped_and_counted);
    tcase_add_test(tc, header_shorter_than_twenty_bytes_is_dropped_and_counted);
    tcase_add_test(tc, datagram_not_for_us_is_dropped_and_counted);
    tcase_add_test(tc, impossible_sources_are_dropped_and_counted);
    tcase_add_test(tc, datagram_with_options_is_delivered_after_them);
    tcase_add_test(tc, ethernet_padding_is_trimmed);
    tcase_add_test(tc, unknown_protocol_gets_protocol_unreachable);
    tcase_add_test(tc, output_header_has_ttl_64_and_fresh_ids);
    tcase_add_test(tc, df_send_larger_than_mtu_fails_with_emsgsize);
    tcase_add_test(tc, datagram_to_own_address_is_looped_back_on_poll);
    tcase_add_test(tc, zero_destination_is_unroutable);
    tcase_add_test(tc, datagram_to_subnet_broadcast_is_delivered);
    suite_add_tcase(s, tc);
    return s;
}
