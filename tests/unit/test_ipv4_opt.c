/*
 * IPv4 options (ipv4_opt.c): malformed option lists answered with a
 * Parameter Problem pointing at the octet at fault, source routes, Record
 * Route and Timestamp reflected in echo replies byte for byte (the layouts
 * Linux produces, tests/integration/test_ip_options.py compares them with
 * Linux's own), options that are ignored, options across fragmentation; and
 * the two limits next to them: echo replies per second and buffer memory.
 */
#include <errno.h>
#include <string.h>
#include "harness.h"

/* The timestamp the stack writes at stack time `now` (RFC 791: milliseconds
 * of the day, high-order bit set: not UT). */
static uint32_t ts_at(ustack_time_t now) { return (uint32_t)((now / 1000u) % 86400000u) | 0x80000000u; }

/* Sends an echo request with the options opts (optlen a multiple of 4) and
 * takes the reply into *p, asserting it answers the request. */
static void echo_with(struct h *t, const uint8_t *opts, size_t optlen, struct pkt *p)
{
    uint8_t icmp[32];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x42420001, "opts", 4);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .opts = opts, .optlen = optlen}, icmp, n);
    h_expect_ip(t, p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p->dst, PEER_IP);
    ck_assert_uint_eq(p->l4[0], ICMP_ECHO_REPLY);
    ck_assert_uint_eq(rd32(p->l4 + 4), 0x42420001);
    ck_assert_uint_eq(p->l4len, ICMP_HDR_LEN + 4);
    ck_assert_mem_eq(p->l4 + ICMP_HDR_LEN, "opts", 4);
    ck_assert_uint_eq(inet_checksum(p->l4, p->l4len), 0);
    h_expect_none(t);
}

/* The reply's options must be exactly want[0..len). */
static void expect_opts(const struct pkt *p, const uint8_t *want, size_t len)
{
    ck_assert_uint_eq(p->ihl, IPV4_HDR_LEN + len);
    ck_assert_mem_eq(p->l3 + IPV4_HDR_LEN, want, len);
}

/* ------------------------------------------------------------ malformed */

static const struct {
    const char *what;
    uint8_t opts[12];
    size_t len;      /* option bytes, a multiple of 4 */
    uint8_t pointer; /* the octet at fault, from the start of the header */
} malformed[] = {
    {"length 0", {7, 0, 4, 0}, 4, 20},
    {"length 1", {7, 1, 0, 0}, 4, 20},
    {"option running past the header", {7, 40, 4, 0, 0, 0, 0, 0}, 8, 20},
    {"type in the last octet, no length", {1, 1, 1, 7}, 4, 23},
    {"unknown option running past the header", {1, 0x99, 9, 0, 0, 0, 0, 0}, 8, 21},
    {"record route of length 2", {7, 2, 0, 0}, 4, 21},
    {"record route pointer 3", {7, 7, 3, 0, 0, 0, 0, 0}, 8, 22},
    {"record route pointer inside the last slot", {7, 7, 5, 0, 0, 0, 0, 0}, 8, 22},
    {"two record routes", {7, 3, 4, 7, 3, 4, 0, 0}, 8, 23},
    {"timestamp of length 3", {68, 3, 5, 0}, 4, 21},
    {"timestamp pointer 4", {68, 8, 4, 0, 0, 0, 0, 0}, 8, 22},
    {"timestamp with address, no room for both", {68, 8, 5, 1, 0, 0, 0, 0}, 8, 22},
    {"prespecified timestamp cut short", {68, 8, 5, 3, 0, 0, 0, 0}, 8, 22},
    {"full timestamp whose overflow cannot grow", {68, 8, 9, 0xf0, 0, 0, 0, 0}, 8, 23},
    {"two timestamps", {68, 4, 5, 0, 68, 4, 5, 0}, 8, 24},
    {"loose source route pointer 3", {131, 3, 3, 0}, 4, 22},
    {"strict source route of length 2", {137, 2, 0, 0}, 4, 21},
    {"two source routes", {131, 3, 4, 137, 3, 4, 0, 0}, 8, 23},
    {"router alert of length 3", {148, 3, 0, 0}, 4, 21},
};

START_TEST(malformed_options_get_parameter_problem_at_the_octet)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        uint8_t u[UDP_HDR_LEN + 4], ip[80];
        size_t n = forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "data", 4);
        n = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_UDP_, .opts = malformed[i].opts, .optlen = malformed[i].len},
                     u, n);
        size_t hl = IPV4_HDR_LEN + malformed[i].len;
        h_inject_eth(t, OUR_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, n);
        ck_assert_msg(h_cnt(t, "ip_drop_bad_options") == i + 1, "%s: not counted", malformed[i].what);
        struct pkt p;
        h_expect_ip(t, &p, IPPROTO_ICMP_);
        ck_assert_uint_eq(p.dst, PEER_IP);
        ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN);
        ck_assert_uint_eq(p.l4[0], ICMP_PARAM_PROBLEM);
        ck_assert_uint_eq(p.l4[1], 0);
        ck_assert_msg(p.l4[4] == malformed[i].pointer, "%s: pointer %u, want %u", malformed[i].what, p.l4[4],
                      malformed[i].pointer);
        ck_assert_uint_eq(rd16(p.l4 + 5) | p.l4[7], 0); /* the rest of the word is unused */
        /* The quote: the whole header, options included, and 8 bytes. */
        ck_assert_uint_eq(p.l4len, ICMP_HDR_LEN + hl + 8);
        ck_assert_mem_eq(p.l4 + ICMP_HDR_LEN, ip, hl + 8);
        ck_assert_uint_eq(inet_checksum(p.l4, p.l4len), 0);
        h_expect_none(t);
        char buf[8];
        ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1); /* never delivered */
        ck_assert_int_eq(errno, EAGAIN);
    }
    ck_assert_uint_eq(h_cnt(t, "udp_rx"), 0);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_errors"), sizeof malformed / sizeof malformed[0]);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(malformed_options_in_broadcasts_are_dropped_without_error)
{
    struct h *t = h_new();
    const uint8_t opts[4] = {7, 1, 0, 0};
    uint8_t icmp[16], ip[64];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    /* To the subnet broadcast, and to us in a link-layer broadcast frame. */
    size_t il = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_, .dst = SUBNET_BCAST, .opts = opts, .optlen = 4},
                         icmp, n);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, il);
    il = forge_ip(ip, &(struct ipspec){.proto = IPPROTO_ICMP_, .opts = opts, .optlen = 4}, icmp, n);
    h_inject_eth(t, BCAST_MAC, PEER_MAC, ETH_TYPE_IPV4, ip, il);
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_options"), 2);
    ck_assert_uint_eq(h_cnt(t, "icmp_rx"), 0);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    h_done(t);
}
END_TEST

START_TEST(parameter_problems_share_the_error_rate_limit)
{
    struct h *t = h_new(); /* 100 errors per second, burst 50 */
    const uint8_t opts[4] = {7, 1, 0, 0};
    uint8_t icmp[16];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 1, "abcdefgh", 8);
    for (int i = 0; i < 60; i++)
        h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .opts = opts, .optlen = 4}, icmp, n);
    ck_assert_uint_eq(h_drain(t), 50);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_options"), 60);
    ck_assert_uint_eq(h_cnt(t, "icmp_err_rate_limited"), 10);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_echo_replies"), 0);
    h_done(t);
}
END_TEST

/* --------------------------------------------------------- source routes */

/* A UDP datagram PEER:1111 -> us:7 carrying opts; true if the socket got it. */
static bool udp_with_opts_delivered(struct h *t, int s, const uint8_t *opts, size_t optlen)
{
    uint8_t u[UDP_HDR_LEN + 4];
    size_t n = forge_udp(u, PEER_IP, OUR_IP, 1111, 7, "data", 4);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_UDP_, .opts = opts, .optlen = optlen}, u, n);
    char buf[8];
    ssize_t got = us_recv(t->st, s, buf, sizeof buf, 0);
    if (got < 0)
        return false;
    ck_assert_int_eq(got, 4);
    ck_assert_mem_eq(buf, "data", 4);
    return true;
}

/* {type, 7, pointer, hop} then EOL: a source route with one address. */
static void source_route(uint8_t out[8], uint8_t type, uint8_t pointer, uint32_t hop)
{
    memset(out, 0, 8);
    out[0] = type;
    out[1] = 7;
    out[2] = pointer;
    wraddr(out + 3, hop);
}

START_TEST(unfinished_source_route_is_dropped_silently)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t sr[8];
    /* Pointer 4 <= length 7: PEER2 is the next hop, we are not the end. */
    source_route(sr, IPV4_OPT_LSRR, 4, PEER2_IP);
    ck_assert(!udp_with_opts_delivered(t, s, sr, sizeof sr));
    source_route(sr, IPV4_OPT_SSRR, 4, PEER2_IP);
    ck_assert(!udp_with_opts_delivered(t, s, sr, sizeof sr));
    ck_assert_uint_eq(h_cnt(t, "ip_drop_srcroute"), 2);
    ck_assert_uint_eq(h_cnt(t, "udp_rx"), 0);
    h_expect_none(t); /* no ICMP, no forwarding */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(finished_source_route_is_refused_by_default)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t sr[8];
    /* Pointer 8 > length 7: the route ended here. Linux's default
     * (accept_source_route=0) drops it all the same. */
    source_route(sr, IPV4_OPT_LSRR, 8, PEER2_IP);
    ck_assert(!udp_with_opts_delivered(t, s, sr, sizeof sr));
    source_route(sr, IPV4_OPT_SSRR, 8, PEER2_IP);
    ck_assert(!udp_with_opts_delivered(t, s, sr, sizeof sr));
    ck_assert_uint_eq(h_cnt(t, "ip_drop_srcroute_refused"), 2);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_srcroute"), 0);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(finished_source_route_is_accepted_when_configured)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.ip_accept_source_route = true;
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 7);
    uint8_t sr[8];
    source_route(sr, IPV4_OPT_LSRR, 8, PEER2_IP);
    ck_assert(udp_with_opts_delivered(t, s, sr, sizeof sr));
    source_route(sr, IPV4_OPT_SSRR, 8, PEER2_IP);
    ck_assert(udp_with_opts_delivered(t, s, sr, sizeof sr));
    /* An echo request with one is answered directly: the route is not
     * reversed (docs/protocols.md). */
    struct pkt p;
    echo_with(t, sr, sizeof sr, &p);
    ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN);
    /* Unfinished routes are still not ours to forward. */
    source_route(sr, IPV4_OPT_LSRR, 4, PEER2_IP);
    ck_assert(!udp_with_opts_delivered(t, s, sr, sizeof sr));
    ck_assert_uint_eq(h_cnt(t, "ip_drop_srcroute"), 1);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_srcroute_refused"), 0);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

/* ------------------------------------------------ record route, timestamp */

START_TEST(record_route_gets_our_address_on_arrival_and_departure)
{
    struct h *t = h_new();
    struct pkt p;
    /* Room for nine addresses (length 39), then EOL. */
    uint8_t rr[40] = {7, 39, 4};
    echo_with(t, rr, sizeof rr, &p);
    uint8_t want[40] = {7, 39, 12};
    wraddr(want + 3, OUR_IP);
    wraddr(want + 7, OUR_IP);
    expect_opts(&p, want, sizeof want);

    /* A slot already used by the sender stays; ours follow it. */
    uint8_t rr2[12] = {7, 11, 8};
    wraddr(rr2 + 3, PEER_IP);
    echo_with(t, rr2, sizeof rr2, &p);
    uint8_t want2[12] = {7, 11, 12};
    wraddr(want2 + 3, PEER_IP);
    wraddr(want2 + 7, OUR_IP);
    expect_opts(&p, want2, sizeof want2);

    /* One slot: recorded on arrival, full on departure. */
    uint8_t rr1[8] = {7, 7, 4};
    echo_with(t, rr1, sizeof rr1, &p);
    uint8_t want1[8] = {7, 7, 8};
    wraddr(want1 + 3, OUR_IP);
    expect_opts(&p, want1, sizeof want1);

    /* Full: comes back as it was (RR has no overflow count). */
    uint8_t full[8] = {7, 7, 8, 10, 0, 0, 3};
    echo_with(t, full, sizeof full, &p);
    expect_opts(&p, full, sizeof full);
    /* A pointer past the end that is not on a slot boundary is full too. */
    uint8_t odd[8] = {7, 7, 9};
    echo_with(t, odd, sizeof odd, &p);
    expect_opts(&p, odd, sizeof odd);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_options"), 0);
    h_done(t);
}
END_TEST

START_TEST(timestamp_only_gets_two_stamps_and_counts_overflow)
{
    struct h *t = h_new();
    struct pkt p;
    ck_assert_uint_eq(ts_at(t->now), 0x800f4240u); /* T0 = 1000 s: 1000000 ms, not UT */
    /* Room for nine timestamps. */
    uint8_t ts[40] = {68, 40, 5, 0};
    echo_with(t, ts, sizeof ts, &p);
    uint8_t want[40] = {68, 40, 13, 0};
    wr32(want + 4, ts_at(t->now));
    wr32(want + 8, ts_at(t->now));
    expect_opts(&p, want, sizeof want);
    /* One slot: stamped on arrival only. */
    uint8_t ts1[8] = {68, 8, 5, 0};
    echo_with(t, ts1, sizeof ts1, &p);
    uint8_t want1[8] = {68, 8, 9, 0};
    wr32(want1 + 4, ts_at(t->now));
    expect_opts(&p, want1, sizeof want1);
    /* Full: the overflow count (high nibble of octet 4) grows by one, on
     * arrival only, as Linux counts. */
    uint8_t full[8] = {68, 8, 9, 0x20, 0, 0, 0, 1};
    echo_with(t, full, sizeof full, &p);
    full[3] = 0x30;
    expect_opts(&p, full, sizeof full);
    /* The day wraps: 86400 s + 5 ms after midnight of stack time reads 5. */
    h_run_to(t, USTACK_SEC(86400 * 12) + USTACK_MS(5));
    h_learn(t, PEER_IP, PEER_MAC);
    h_drain(t);
    echo_with(t, ts1, sizeof ts1, &p);
    wr32(want1 + 4, 0x80000005u);
    expect_opts(&p, want1, sizeof want1);
    h_done(t);
}
END_TEST

START_TEST(timestamp_with_addresses_and_prespecified)
{
    struct h *t = h_new();
    struct pkt p;
    /* Flag 1: address and timestamp, two pairs. */
    uint8_t ta[20] = {68, 20, 5, 1};
    echo_with(t, ta, sizeof ta, &p);
    uint8_t want[20] = {68, 20, 21, 1};
    wraddr(want + 4, OUR_IP);
    wr32(want + 8, ts_at(t->now));
    wraddr(want + 12, OUR_IP);
    wr32(want + 16, ts_at(t->now));
    expect_opts(&p, want, sizeof want);
    /* Flag 3: the sender names the addresses; ours are stamped, on arrival
     * and departure. */
    uint8_t pre[20] = {68, 20, 5, 3};
    wraddr(pre + 4, OUR_IP);
    wraddr(pre + 12, OUR_IP);
    echo_with(t, pre, sizeof pre, &p);
    memcpy(want, pre, sizeof pre);
    want[2] = 21;
    wr32(want + 8, ts_at(t->now));
    wr32(want + 16, ts_at(t->now));
    expect_opts(&p, want, sizeof want);
    /* The next named address is someone else's: nothing is written. */
    wraddr(pre + 4, PEER2_IP);
    echo_with(t, pre, sizeof pre, &p);
    expect_opts(&p, pre, sizeof pre);
    /* Full prespecified: no overflow count (the sender knows who was asked). */
    uint8_t pfull[12] = {68, 12, 13, 3};
    wraddr(pfull + 4, PEER2_IP);
    echo_with(t, pfull, sizeof pfull, &p);
    expect_opts(&p, pfull, sizeof pfull);
    /* A flag RFC 791 does not define: left alone. */
    uint8_t f2[12] = {68, 12, 5, 2};
    echo_with(t, f2, sizeof f2, &p);
    expect_opts(&p, f2, sizeof f2);
    h_done(t);
}
END_TEST

START_TEST(record_route_comes_back_before_timestamp_and_others_are_dropped)
{
    struct h *t = h_new();
    struct pkt p;
    /* Timestamp first, a NOP, an unknown option, record route; the reply
     * holds record route then timestamp (Linux's order), padded with EOL. */
    uint8_t opts[24] = {68, 8, 5, 0, 0, 0, 0, 0, 1, 0x99, 4, 0xaa, 0xbb, 7, 11, 4};
    echo_with(t, opts, sizeof opts, &p);
    uint8_t want[20] = {7, 11, 12};
    wraddr(want + 3, OUR_IP);
    wraddr(want + 7, OUR_IP);
    want[11] = 68;
    want[12] = 8;
    want[13] = 9;
    wr32(want + 15, ts_at(t->now));
    /* 11 + 8 = 19 bytes, one EOL of padding. */
    expect_opts(&p, want, sizeof want);
    h_done(t);
}
END_TEST

START_TEST(unknown_and_ignored_options_are_skipped_and_delivered)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    /* Unknown type 0x99, security (130, 11 octets), stream identifier (136),
     * NOP, EOL, then junk after the EOL. */
    uint8_t opts[24] = {0x99, 4, 0xde, 0xad, 130, 11, 0xf1, 0x35, 0, 0, 0, 0, 0, 0, 0, 136, 4, 0x12, 0x34, 1, 0,
                        0xff, 0x07, 0x01};
    ck_assert(udp_with_opts_delivered(t, s, opts, sizeof opts));
    struct pkt p;
    echo_with(t, opts, sizeof opts, &p);
    ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN); /* none of them is reflected */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_bad_options"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(fragmented_echo_with_record_route_and_its_fragmented_reply)
{
    struct h *t = h_new();
    static uint8_t d[2000], icmp[2008];
    h_fill(d, sizeof d, 5);
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0x00090001, d, sizeof d);
    /* The request in two pieces; record route (not copied) in the first. */
    uint8_t rr[40] = {7, 39, 4};
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .id = 77, .mf = true, .opts = rr, .optlen = 40}, icmp,
                1440);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_ICMP_, .id = 77, .off = 1440}, icmp + 1440, n - 1440);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 1);
    /* The reply: 60-byte headers, 1440 bytes of data a piece at MTU 1500. */
    uint8_t want[40] = {7, 39, 12};
    wraddr(want + 3, OUR_IP);
    wraddr(want + 7, OUR_IP);
    struct pkt p1, p2;
    h_expect_ip(t, &p1, IPPROTO_ICMP_);
    h_expect_ip(t, &p2, IPPROTO_ICMP_);
    h_expect_none(t);
    ck_assert(p1.mf && p1.off == 0 && p1.tot == 1500);
    expect_opts(&p1, want, sizeof want);
    ck_assert(!p2.mf && p2.off == 1440 && p2.tot == 60 + n - 1440);
    /* Later pieces: the option that is not copied becomes NOPs, same IHL. */
    uint8_t nops[40];
    memset(nops, IPV4_OPT_NOP, 39);
    nops[39] = IPV4_OPT_EOL;
    expect_opts(&p2, nops, sizeof nops);
    ck_assert_uint_eq(p1.id, p2.id);
    uint8_t reply[2008];
    memcpy(reply, p1.l4, 1440);
    memcpy(reply + 1440, p2.l4, n - 1440);
    ck_assert_uint_eq(reply[0], ICMP_ECHO_REPLY);
    ck_assert_uint_eq(inet_checksum(reply, n), 0);
    ck_assert_mem_eq(reply + ICMP_HDR_LEN, d, sizeof d);
    h_done(t);
}
END_TEST

START_TEST(hdrincl_fragments_keep_copied_options_only)
{
    struct h *t = h_new();
    int s = us_socket(t->st, AF_INET, SOCK_RAW, IPPROTO_RAW);
    ck_assert_int_ge(s, 0);
    /* Security (copied, 130), then a record route (not copied), EOL. */
    uint8_t opts[20] = {130, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 7, 7, 4};
    static uint8_t d[1600];
    memset(d, 0x5a, sizeof d);
    size_t n = forge_ip(d, &(struct ipspec){.proto = 253, .src = OUR_IP, .dst = PEER_IP, .opts = opts, .optlen = 20},
                        d + 40, 1560);
    struct sockaddr_in to = sin_of(PEER_IP, 0);
    ck_assert_int_eq(us_sendto(t->st, s, d, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    struct pkt p1, p2;
    h_expect_ip(t, &p1, 253);
    h_expect_ip(t, &p2, 253);
    h_expect_none(t);
    expect_opts(&p1, opts, sizeof opts);
    uint8_t later[20];
    memcpy(later, opts, sizeof later);
    memset(later + 11, IPV4_OPT_NOP, 7);
    expect_opts(&p2, later, sizeof later);
    ck_assert_uint_eq(p1.tot - 40 + p2.tot - 40, 1560);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

Suite *suite_ipv4_opt(void)
{
    Suite *s = suite_create("ipv4_opt");
    TCase *tc = tcase_create("ipv4_opt");
    h_tcase(tc);
    tcase_add_test(tc, malformed_options_get_parameter_problem_at_the_octet);
    tcase_add_test(tc, malformed_options_in_broadcasts_are_dropped_without_error);
    tcase_add_test(tc, parameter_problems_share_the_error_rate_limit);
    tcase_add_test(tc, unfinished_source_route_is_dropped_silently);
    tcase_add_test(tc, finished_source_route_is_refused_by_default);
    tcase_add_test(tc, finished_source_route_is_accepted_when_configured);
    tcase_add_test(tc, record_route_gets_our_address_on_arrival_and_departure);
    tcase_add_test(tc, timestamp_only_gets_two_stamps_and_counts_overflow);
    tcase_add_test(tc, timestamp_with_addresses_and_prespecified);
    tcase_add_test(tc, record_route_comes_back_before_timestamp_and_others_are_dropped);
    tcase_add_test(tc, unknown_and_ignored_options_are_skipped_and_delivered);
    tcase_add_test(tc, fragmented_echo_with_record_route_and_its_fragmented_reply);
    tcase_add_test(tc, hdrincl_fragments_keep_copied_options_only);
    suite_add_tcase(s, tc);
    return s;
}
