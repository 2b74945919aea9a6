/*
 * Raw IP sockets (raw(7)): copies of matching datagrams with their IP header,
 * sending with a header built by the stack or the caller's own (IP_HDRINCL),
 * completed and checked.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

static int raw(struct h *t, int proto)
{
    int s = us_socket(t->st, AF_INET, SOCK_RAW, proto);
    ck_assert_int_ge(s, 0);
    return s;
}

START_TEST(proto_253_socket_receives_copy_with_ip_header)
{
    struct h *t = h_new();
    int s = raw(t, 253);
    uint8_t d[40], ip[64];
    h_fill(d, sizeof d, 1);
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253, .id = 0x1111, .ttl = 9}, d, sizeof d);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    uint8_t buf[128];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ck_assert_int_eq(us_recvfrom(t->st, s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), (ssize_t)n);
    ck_assert_mem_eq(buf, ip, n);
    ck_assert_uint_eq(from.sin_addr.s_addr, PEER_IP);
    ck_assert_uint_eq(from.sin_port, 0);
    ck_assert_uint_eq(h_cnt(t, "raw_rx"), 1);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_unknown_proto"), 0);
    h_expect_none(t); /* a listener exists: no protocol unreachable */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(every_matching_socket_gets_its_own_copy)
{
    struct h *t = h_new();
    int a = raw(t, 253), b = raw(t, 253), other = raw(t, 254);
    int conn = raw(t, 253);
    struct sockaddr_in sin = sin_of(PEER2_IP, 0);
    ck_assert_int_eq(us_connect(t->st, conn, (struct sockaddr *)&sin, sizeof sin), 0);
    uint8_t ip[64];
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253}, "payload!", 8);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    uint8_t buf[64];
    ck_assert_int_eq(us_recv(t->st, a, buf, sizeof buf, 0), (ssize_t)n);
    ck_assert_int_eq(us_recv(t->st, b, buf, sizeof buf, 0), (ssize_t)n);
    ck_assert_mem_eq(buf, ip, n);
    ck_assert_int_eq(us_recv(t->st, other, buf, sizeof buf, 0), -1); /* other protocol */
    ck_assert_int_eq(us_recv(t->st, conn, buf, sizeof buf, 0), -1);  /* other peer */
    ck_assert_uint_eq(h_cnt(t, "raw_rx"), 2);
    us_close(t->st, a);
    us_close(t->st, b);
    us_close(t->st, other);
    us_close(t->st, conn);
    h_done(t);
}
END_TEST

START_TEST(raw_icmp_socket_sees_echo_request_and_stack_still_replies)
{
    struct h *t = h_new();
    int s = raw(t, IPPROTO_ICMP);
    uint8_t icmp[16], ip[64];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x00010002, "abcdefgh", 8);
    n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_}, icmp, n);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    uint8_t buf[64];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), (ssize_t)n);
    ck_assert_mem_eq(buf, ip, n);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.l4[0], ICMP_ECHO_REPLY);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(full_raw_receive_buffer_drops_and_counts)
{
    struct h *t = h_new();
    int s = raw(t, 253);
    int v = 0;
    ck_assert_int_eq(us_setsockopt(t->st, s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0); /* 2048 */
    uint8_t d[1000], ip[1100];
    memset(d, 1, sizeof d);
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 253}, d, sizeof d);
    for (int i = 0; i < 3; i++)
        h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_uint_eq(h_cnt(t, "raw_rx"), 1);
    ck_assert_uint_eq(h_cnt(t, "raw_drop_rcvbuf"), 2);
    /* Not taken: as with no listener, the sender hears protocol unreachable. */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_unknown_proto"), 2);
    ck_assert_uint_eq(h_drain(t), 2);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(send_without_hdrincl_builds_header_with_socket_protocol)
{
    struct h *t = h_new();
    int s = raw(t, 253);
    uint8_t d[64];
    h_fill(d, sizeof d, 2);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), (ssize_t)sizeof d);
    struct pkt p;
    h_expect_ip(t, &p, 253);
    ck_assert_uint_eq(p.tot, IPV4_HDR_LEN + sizeof d);
    ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN);
    ck_assert_uint_eq(p.ttl, 64);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_mem_eq(p.l4, d, sizeof d);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(h_cnt(t, "raw_tx"), 1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(hdrincl_send_fills_length_id_checksum_and_source)
{
    struct h *t = h_new();
    int s = raw(t, 253);
    int on = 1;
    ck_assert_int_eq(us_setsockopt(t->st, s, IPPROTO_IP, IP_HDRINCL, &on, sizeof on), 0);
    uint8_t d[IPV4_HDR_LEN + 32];
    memset(d, 0, IPV4_HDR_LEN);
    h_fill(d + IPV4_HDR_LEN, 32, 3);
    d[0] = 0x45;
    d[1] = 0x10;                   /* TOS kept */
    wr16(d + 2, 9999);             /* wrong length: replaced */
    wr16(d + 10, 0xdead);          /* wrong checksum: replaced */
    d[8] = 17;                     /* TTL kept */
    d[9] = 200;                    /* protocol kept (not the socket's) */
    wraddr(d + 16, PEER_IP);       /* id and source left zero */
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), (ssize_t)sizeof d);
    struct pkt p;
    h_expect_ip(t, &p, 200); /* checks the header checksum */
    ck_assert_uint_eq(p.tot, sizeof d);
    ck_assert_uint_eq(p.tos, 0x10);
    ck_assert_uint_eq(p.ttl, 17);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_mem_eq(p.l4, d + IPV4_HDR_LEN, 32);
    /* The id came from the stack's sequence: the next datagram follows it. */
    uint16_t id = p.id;
    int u = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, u, "x", 1, PEER_IP, 9), 1);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(p.id, (uint16_t)(id + 1));
    /* Id and source given by the caller are kept. */
    wr16(d + 4, 0x4321);
    wraddr(d + 12, ip4(10, 0, 0, 66));
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), (ssize_t)sizeof d);
    h_expect_ip(t, &p, 200);
    ck_assert_uint_eq(p.id, 0x4321);
    ck_assert_uint_eq(p.src, ip4(10, 0, 0, 66));
    us_close(t->st, u);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(hdrincl_rejects_bad_header_with_einval)
{
    struct h *t = h_new();
    int s = raw(t, IPPROTO_RAW); /* IP_HDRINCL implied */
    int v = 0;
    socklen_t len = sizeof v;
    ck_assert_int_eq(us_getsockopt(t->st, s, IPPROTO_IP, IP_HDRINCL, &v, &len), 0);
    ck_assert_int_eq(v, 1);
    uint8_t good[IPV4_HDR_LEN + 8];
    forge_ip(good, &(struct ipspec){.proto = 253, .src = OUR_IP, .dst = PEER_IP}, "12345678", 8);
    uint8_t d[sizeof good];
    /* Shorter than a header. */
    ck_assert_int_eq(h_sendto(t, s, good, IPV4_HDR_LEN - 1, PEER_IP, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Not version 4. */
    memcpy(d, good, sizeof d);
    d[0] = 0x65;
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* IHL below 5. */
    d[0] = 0x44;
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* IHL beyond the buffer (40 bytes of header in 28). */
    d[0] = 0x4a;
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(h_cnt(t, "raw_drop_bad_hdrincl"), 4);
    ck_assert_uint_eq(h_cnt(t, "raw_tx"), 0);
    h_expect_none(t);
    /* The good one goes. */
    ck_assert_int_eq(h_sendto(t, s, good, sizeof good, PEER_IP, 0), (ssize_t)sizeof good);
    struct pkt p;
    h_expect_ip(t, &p, 253);
    /* IPPROTO_RAW sockets send only: a protocol-255 datagram is not theirs. */
    uint8_t ip[64];
    size_t n = forge_ip(ip, &(struct ipspec){.proto = 255}, "12345678", 8);
    h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
    ck_assert_int_eq(us_recv(t->st, s, ip, sizeof ip, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    h_drain(t); /* its protocol unreachable */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(hdrincl_option_is_only_for_raw_sockets)
{
    struct h *t = h_new();
    int u = h_udp(t, 0);
    int on = 1;
    ck_assert_int_eq(us_setsockopt(t->st, u, IPPROTO_IP, IP_HDRINCL, &on, sizeof on), -1);
    ck_assert_int_eq(errno, ENOPROTOOPT);
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_RAW, 0), -1);
    ck_assert_int_eq(errno, EPROTONOSUPPORT);
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_RAW, 256), -1);
    ck_assert_int_eq(errno, EPROTONOSUPPORT);
    us_close(t->st, u);
    h_done(t);
}
END_TEST

Suite *suite_raw(void)
{
    Suite *s = suite_create("raw");
    TCase *tc = tcase_create("raw");
    h_tcase(tc);
    tcase_add_test(tc, proto_253_socket_receives_copy_with_ip_header);
    tcase_add_test(tc, every_matching_socket_gets_its_own_copy);
    tcase_add_test(tc, raw_icmp_socket_sees_echo_request_and_stack_still_replies);
    tcase_add_test(tc, full_raw_receive_buffer_drops_and_counts);
    tcase_add_test(tc, send_without_hdrincl_builds_header_with_socket_protocol);
    tcase_add_test(tc, hdrincl_send_fills_length_id_checksum_and_source);
    tcase_add_test(tc, hdrincl_rejects_bad_header_with_einval);
    tcase_add_test(tc, hdrincl_option_is_only_for_raw_sockets);
    suite_add_tcase(s, tc);
    return s;
}
