/*
 * UDP (RFC 768) and its sockets: binding and the ephemeral range, the header
 * and checksum on output, checksum and length checks on input, the receive
 * buffer limit, MSG_PEEK / MSG_TRUNC, source addresses, non-blocking calls,
 * demultiplexing.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"
#include "sock.h"

/* A UDP datagram from PEER:sport with a checksum of our choosing. */
static void inject_udp_raw(struct h *t, const uint8_t *u, size_t ulen_ip)
{
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_UDP_}, u, ulen_ip);
}

START_TEST(bind_to_explicit_port_shows_in_getsockname)
{
    struct h *t = h_new();
    int s = h_udp(t, 5353);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    ck_assert_int_eq(us_getsockname(t->st, s, (struct sockaddr *)&sin, &len), 0);
    ck_assert_int_eq(len, sizeof sin);
    ck_assert_int_eq(sin.sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin.sin_port), 5353);
    ck_assert_uint_eq(sin.sin_addr.s_addr, 0);
    /* Bound once only; only to our own address. */
    struct sockaddr_in other = sin_of(0, 5354);
    ck_assert_int_eq(us_bind(t->st, s, (struct sockaddr *)&other, sizeof other), -1);
    ck_assert_int_eq(errno, EINVAL);
    int s2 = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    other = sin_of(PEER_IP, 5355);
    ck_assert_int_eq(us_bind(t->st, s2, (struct sockaddr *)&other, sizeof other), -1);
    ck_assert_int_eq(errno, EADDRNOTAVAIL);
    us_close(t->st, s);
    us_close(t->st, s2);
    h_done(t);
}
END_TEST

START_TEST(ephemeral_ports_are_distinct_and_in_49152_65535)
{
    struct h *t = h_new();
    static int socks[600];
    static bool seen[65536];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 600; i++) {
        socks[i] = h_udp(t, 0);
        struct sockaddr_in any = sin_of(0, 0);
        if (i % 2)
            ck_assert_int_eq(us_bind(t->st, socks[i], (struct sockaddr *)&any, sizeof any), 0);
        else /* bound by the first send */
            ck_assert_int_eq(h_sendto(t, socks[i], "x", 1, PEER_IP, 9), 1);
        uint16_t port = h_local_port(t, socks[i]);
        ck_assert_uint_ge(port, 49152);
        ck_assert_uint_le(port, 65535);
        ck_assert_msg(!seen[port], "port %u given twice", port);
        seen[port] = true;
    }
    ck_assert_uint_eq(h_drain(t), 300);
    for (int i = 0; i < 600; i++)
        us_close(t->st, socks[i]);
    h_done(t);
}
END_TEST

START_TEST(second_bind_to_same_port_fails_with_eaddrinuse)
{
    struct h *t = h_new();
    int a = h_udp(t, 6000);
    int b = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sin_of(0, 6000);
    ck_assert_int_eq(us_bind(t->st, b, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    sin = sin_of(OUR_IP, 6000); /* a specific address overlaps the wildcard */
    ck_assert_int_eq(us_bind(t->st, b, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    /* Free again once the owner is closed. */
    us_close(t->st, a);
    ck_assert_int_eq(us_bind(t->st, b, (struct sockaddr *)&sin, sizeof sin), 0);
    us_close(t->st, b);
    /* SO_REUSEADDR on both lets them share. */
    int on = 1;
    a = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    b = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_eq(us_setsockopt(t->st, a, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    ck_assert_int_eq(us_setsockopt(t->st, b, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    sin = sin_of(0, 6001);
    ck_assert_int_eq(us_bind(t->st, a, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_bind(t->st, b, (struct sockaddr *)&sin, sizeof sin), 0);
    us_close(t->st, a);
    us_close(t->st, b);
    h_done(t);
}
END_TEST

START_TEST(sendto_builds_header_and_checksum)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    uint8_t d[333];
    h_fill(d, sizeof d, 1);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 53), (ssize_t)sizeof d);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    ck_assert_uint_eq(p.src, OUR_IP);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_uint_eq(p.l4len, UDP_HDR_LEN + sizeof d);
    ck_assert_uint_eq(rd16(p.l4), 5000);
    ck_assert_uint_eq(rd16(p.l4 + 2), 53);
    ck_assert_uint_eq(rd16(p.l4 + 4), UDP_HDR_LEN + sizeof d);
    ck_assert_uint_ne(rd16(p.l4 + 6), 0);
    ck_assert(udp_csum_ok(OUR_IP, PEER_IP, p.l4, p.l4len));
    /* Byte-exact against an independent construction. */
    uint8_t want[UDP_HDR_LEN + sizeof d];
    forge_udp(want, OUR_IP, PEER_IP, 5000, 53, d, sizeof d);
    ck_assert_mem_eq(p.l4, want, sizeof want);
    ck_assert_uint_eq(h_cnt(t, "udp_tx"), 1);
    /* An empty datagram is a datagram. */
    ck_assert_int_eq(h_sendto(t, s, NULL, 0, PEER_IP, 53), 0);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(rd16(p.l4 + 4), UDP_HDR_LEN);
    ck_assert(udp_csum_ok(OUR_IP, PEER_IP, p.l4, p.l4len));
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(checksum_computing_to_zero_is_sent_as_ffff)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    /* Pick two data bytes that make the sum come out as 0xffff. */
    uint8_t d[2] = {0, 0}, u[UDP_HDR_LEN + 2];
    forge_udp(u, OUR_IP, PEER_IP, 5000, 53, d, 2);
    uint16_t c = rd16(u + 6); /* with d = 0 */
    wr16(d, c);               /* adding c makes the folded sum 0xffff: checksum 0 */
    forge_udp(u, OUR_IP, PEER_IP, 5000, 53, d, 2);
    ck_assert_uint_eq(rd16(u + 6), 0xffff);
    ck_assert_int_eq(h_sendto(t, s, d, 2, PEER_IP, 53), 2);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(rd16(p.l4 + 6), 0xffff);
    ck_assert(udp_csum_ok(OUR_IP, PEER_IP, p.l4, p.l4len));
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(zero_checksum_is_accepted_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t u[UDP_HDR_LEN + 4];
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "zero", 4);
    wr16(u + 6, 0);
    inject_udp_raw(t, u, sizeof u);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 4);
    ck_assert_mem_eq(buf, "zero", 4);
    ck_assert_uint_eq(h_cnt(t, "udp_rx_zero_checksum"), 1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(bad_checksum_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t u[UDP_HDR_LEN + 4];
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "oops", 4);
    u[UDP_HDR_LEN] ^= 0x20;
    inject_udp_raw(t, u, sizeof u);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_bad_checksum"), 1);
    h_expect_none(t); /* no ICMP for a corrupt datagram */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(bad_length_is_dropped_and_counted)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t u[UDP_HDR_LEN + 8];
    char buf[16];
    /* Longer than the IP payload. */
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "12345678", 8);
    wr16(u + 4, UDP_HDR_LEN + 9);
    inject_udp_raw(t, u, sizeof u);
    /* Shorter than its own header. */
    wr16(u + 4, 7);
    inject_udp_raw(t, u, sizeof u);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_bad_len"), 2);
    /* IP payload shorter than a UDP header. */
    inject_udp_raw(t, u, 7);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_short"), 1);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Shorter than the IP payload: what follows is not UDP's and is cut. */
    forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "1234", 4);
    memcpy(u + 12, "JUNK", 4);
    inject_udp_raw(t, u, sizeof u);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 4);
    ck_assert_mem_eq(buf, "1234", 4);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(receive_buffer_limit_drops_and_counts)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    int v = 1024;
    ck_assert_int_eq(us_setsockopt(t->st, s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
    socklen_t len = sizeof v;
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
    ck_assert_int_eq(v, 2048); /* doubled, as on Linux */
    /* Each 100-byte datagram is charged 100 + 256: five fit in 2048. */
    uint8_t d[100];
    for (uint8_t i = 0; i < 7; i++) {
        memset(d, i, sizeof d);
        h_inject_udp(t, 1111, 7, d, sizeof d);
    }
    ck_assert_uint_eq(h_cnt(t, "udp_drop_rcvbuf"), 2);
    ck_assert_uint_eq(h_usage(t).pbufs, 5);
    uint8_t buf[128];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 100);
    ck_assert_uint_eq(buf[0], 0);
    memset(d, 9, sizeof d);
    h_inject_udp(t, 1111, 7, d, sizeof d); /* room for one again */
    ck_assert_uint_eq(h_cnt(t, "udp_drop_rcvbuf"), 2);
    h_inject_udp(t, 1111, 7, d, sizeof d);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_rcvbuf"), 3);
    static const uint8_t expect[] = {1, 2, 3, 4, 9};
    for (size_t i = 0; i < sizeof expect; i++) {
        ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 100);
        ck_assert_uint_eq(buf[99], expect[i]);
    }
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(msg_peek_and_msg_trunc)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    h_inject_udp(t, 1111, 7, "0123456789", 10);
    h_inject_udp(t, 1111, 7, "second", 6);
    char buf[16];
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, MSG_PEEK), 10);
    ck_assert_mem_eq(buf, "0123456789", 10);
    ck_assert_int_eq(us_recv(t->st, s, buf, 4, MSG_PEEK), 4);
    ck_assert_int_eq(us_recv(t->st, s, buf, 4, MSG_PEEK | MSG_TRUNC), 10);
    /* A short read returns what fits and discards the rest. */
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(us_recv(t->st, s, buf, 4, 0), 4);
    ck_assert_mem_eq(buf, "0123\0", 5);
    ck_assert_int_eq(us_recv(t->st, s, buf, 3, MSG_TRUNC), 6); /* the real length */
    ck_assert_mem_eq(buf, "sec", 3);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(h_usage(t).pbufs, 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(recvfrom_returns_the_source_address)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    h_inject_udp(t, 40000, 7, "who", 3);
    char buf[8];
    struct sockaddr_in from;
    memset(&from, 0xee, sizeof from);
    socklen_t fl = sizeof from;
    ck_assert_int_eq(us_recvfrom(t->st, s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 3);
    ck_assert_int_eq(fl, sizeof from);
    ck_assert_int_eq(from.sin_family, AF_INET);
    ck_assert_uint_eq(from.sin_addr.s_addr, PEER_IP);
    ck_assert_uint_eq(ntohs(from.sin_port), 40000);
    static const uint8_t zero[8];
    ck_assert_mem_eq(from.sin_zero, zero, sizeof from.sin_zero);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(empty_socket_returns_eagain_without_a_runtime)
{
    struct h *t = h_new();
    int s = h_udp(t, 7); /* blocking by default, but there is no runtime */
    char buf[8];
    errno = 0;
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(us_set_nonblocking(t->st, s, 1), 0);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    struct pollfd pfd = {.fd = s, .events = POLLIN | POLLOUT};
    ck_assert_int_eq(us_poll(t->st, &pfd, 1, 1000), 1); /* writable, returns at once */
    ck_assert_int_eq(pfd.revents, POLLOUT);
    us_close(t->st, s);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    h_done(t);
}
END_TEST

START_TEST(datagram_goes_to_the_best_matching_socket)
{
    struct h *t = h_new();
    int on = 1;
    int any = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    int conn = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_eq(us_setsockopt(t->st, any, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    ck_assert_int_eq(us_setsockopt(t->st, conn, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    struct sockaddr_in sin = sin_of(0, 7);
    ck_assert_int_eq(us_bind(t->st, any, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_bind(t->st, conn, (struct sockaddr *)&sin, sizeof sin), 0);
    sin = sin_of(PEER_IP, 1111);
    ck_assert_int_eq(us_connect(t->st, conn, (struct sockaddr *)&sin, sizeof sin), 0);
    h_inject_udp(t, 1111, 7, "conn", 4);
    h_inject_udp(t, 2222, 7, "any", 3);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, conn, buf, sizeof buf, 0), 4);
    ck_assert_mem_eq(buf, "conn", 4);
    ck_assert_int_eq(us_recv(t->st, conn, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(us_recv(t->st, any, buf, sizeof buf, 0), 3);
    ck_assert_mem_eq(buf, "any", 3);
    ck_assert_int_eq(us_recv(t->st, any, buf, sizeof buf, 0), -1);
    us_close(t->st, any);
    /* Only the connected one left: others get port unreachable. */
    h_inject_udp(t, 2222, 7, "any", 3);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_no_port"), 1);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.l4[1], ICMP_UNREACH_PORT);
    us_close(t->st, conn);
    h_done(t);
}
END_TEST

START_TEST(send_needs_a_destination_and_a_port)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    ck_assert_int_eq(us_send(t->st, s, "x", 1, 0), -1);
    ck_assert_int_eq(errno, EDESTADDRREQ);
    ck_assert_int_eq(h_sendto(t, s, "x", 1, PEER_IP, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(shutdown_read_drops_new_datagrams)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    struct sockaddr_in sin = sin_of(PEER_IP, 1111);
    ck_assert_int_eq(us_connect(t->st, s, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_shutdown(t->st, s, SHUT_RD), 0);
    h_inject_udp(t, 1111, 7, "late", 4);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_rcvbuf"), 1);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), 0);
    ck_assert_uint_eq(h_usage(t).pbufs, 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

/* The socket table grows by chunks (sock.h SOCK_CHUNK) up to max_sockets:
 * numbers stay the lowest free ones, a socket does not move when the table
 * grows, a datagram finds a socket in a later chunk, and one more than
 * max_sockets is EMFILE. */
START_TEST(socket_table_grows_to_max_sockets_then_emfile)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.max_sockets = 2 * SOCK_CHUNK + 6;
    struct h *t = h_new_cfg(&cfg, 0);
    int first = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_eq(first, 0);
    struct sock *s0 = sock_get(t->st, first);
    for (int i = 1; i < (int)cfg.max_sockets; i++)
        ck_assert_int_eq(us_socket(t->st, AF_INET, i % 3 == 1 ? SOCK_STREAM : SOCK_DGRAM, 0), i);
    ck_assert_ptr_eq(sock_get(t->st, first), s0);
    errno = 0;
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), -1);
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_eq(ustack_counter_get(t->st, "sock_table_full"), 1);
    /* A freed number in the middle is the next one given. */
    us_close(t->st, SOCK_CHUNK + 1);
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), SOCK_CHUNK + 1);
    /* The last socket (third chunk) receives. */
    int last = (int)cfg.max_sockets - 1;
    struct sockaddr_in sin = sin_of(0, 7);
    ck_assert_int_eq(us_bind(t->st, last, (struct sockaddr *)&sin, sizeof sin), 0);
    h_inject_udp(t, 1234, 7, "hi", 2);
    char buf[8];
    ck_assert_int_eq(us_recv(t->st, last, buf, sizeof buf, 0), 2);
    ck_assert_int_eq(ustack_counter_get(t->st, "udp_drop_no_port"), 0);
    for (int i = 0; i < (int)cfg.max_sockets; i++)
        ck_assert_int_eq(us_close(t->st, i), 0);
    h_done(t);
}
END_TEST

Suite *suite_udp(void)
{
    Suite *s = suite_create("udp");
    TCase *tc = tcase_create("udp");
    h_tcase(tc);
    tcase_add_test(tc, bind_to_explicit_port_shows_in_getsockname);
    tcase_add_test(tc, ephemeral_ports_are_distinct_and_in_49152_65535);
    tcase_add_test(tc, second_bind_to_same_port_fails_with_eaddrinuse);
    tcase_add_test(tc, sendto_builds_header_and_checksum);
    tcase_add_test(tc, checksum_computing_to_zero_is_sent_as_ffff);
    tcase_add_test(tc, zero_checksum_is_accepted_and_counted);
    tcase_add_test(tc, bad_checksum_is_dropped_and_counted);
    tcase_add_test(tc, bad_length_is_dropped_and_counted);
    tcase_add_test(tc, receive_buffer_limit_drops_and_counts);
    tcase_add_test(tc, msg_peek_and_msg_trunc);
    tcase_add_test(tc, recvfrom_returns_the_source_address);
    tcase_add_test(tc, empty_socket_returns_eagain_without_a_runtime);
    tcase_add_test(tc, datagram_goes_to_the_best_matching_socket);
    tcase_add_test(tc, send_needs_a_destination_and_a_port);
    tcase_add_test(tc, shutdown_read_drops_new_datagrams);
    tcase_add_test(tc, socket_table_grows_to_max_sockets_then_emfile);
    suite_add_tcase(s, tc);
    return s;
}
