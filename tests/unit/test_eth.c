/*
 * Ethernet: which frames are accepted (our MAC, broadcast), which dropped and
 * counted (multicast, other MAC, unknown ethertype, short), and the padding of
 * short output frames to the 60-byte minimum.
 */
#include <string.h>
#include "harness.h"

/* An ARP request for our address: anything accepted gets a reply. */
static size_t who_has_us(uint8_t *frame, const uint8_t eth_dst[6])
{
    uint8_t a[ARP_LEN];
    forge_arp(a, ARP_OP_REQUEST, PEER2_MAC, PEER2_IP, ZERO_MAC, OUR_IP);
    return forge_eth(frame, eth_dst, PEER2_MAC, ETH_TYPE_ARP, a, sizeof a);
}

START_TEST(frame_to_own_mac_is_accepted)
{
    struct h *t = h_new();
    uint8_t f[64];
    size_t n = who_has_us(f, OUR_MAC);
    h_wire_inject(t, f, n); /* through the link, as a driver would */
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    ck_assert_mem_eq(p.eth_dst, PEER2_MAC, 6);
    ck_assert_uint_eq(h_cnt(t, "eth_rx_frames"), 2); /* h_new's ARP reply and this */
    ck_assert_uint_eq(h_cnt(t, "eth_rx_bytes"), 2 * n);
    ck_assert_uint_eq(h_cnt(t, "arp_rx"), 2);
    h_done(t);
}
END_TEST

START_TEST(broadcast_frame_is_accepted)
{
    struct h *t = h_new();
    uint8_t f[64];
    h_inject(t, f, who_has_us(f, BCAST_MAC));
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY);
    ck_assert_uint_eq(h_cnt(t, "arp_rx"), 2);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_multicast"), 0);
    h_done(t);
}
END_TEST

START_TEST(multicast_frame_is_dropped_and_counted)
{
    struct h *t = h_new();
    const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    uint8_t f[64];
    h_inject(t, f, who_has_us(f, mcast));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_multicast"), 1);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_other_mac"), 0);
    ck_assert_uint_eq(h_cnt(t, "arp_rx"), 1); /* h_new's only */
    h_done(t);
}
END_TEST

START_TEST(frame_to_other_mac_is_dropped_and_counted)
{
    struct h *t = h_new();
    uint8_t f[64];
    h_inject(t, f, who_has_us(f, PEER_MAC));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_other_mac"), 1);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_multicast"), 0);
    ck_assert_uint_eq(h_cnt(t, "arp_rx"), 1);
    h_done(t);
}
END_TEST

START_TEST(unknown_ethertype_is_counted)
{
    struct h *t = h_new();
    uint8_t payload[46] = {0x60};
    h_inject_eth(t, OUR_MAC, PEER_MAC, 0x86dd, payload, sizeof payload); /* IPv6 */
    h_inject_eth(t, BCAST_MAC, PEER_MAC, 0x88cc, payload, sizeof payload); /* LLDP */
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_ethertype"), 2);
    ck_assert_uint_eq(h_cnt(t, "ip_rx"), 0);
    h_done(t);
}
END_TEST

START_TEST(frames_shorter_than_header_are_counted)
{
    struct h *t = h_new();
    uint8_t f[ETH_HDR_LEN];
    memcpy(f, OUR_MAC, 6);
    memcpy(f + 6, PEER_MAC, 6);
    wr16(f + 12, ETH_TYPE_IPV4);
    h_inject(t, f, 0);
    h_inject(t, f, 1);
    h_inject(t, f, ETH_HDR_LEN - 1);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_short"), 3);
    ck_assert_uint_eq(h_cnt(t, "eth_rx_frames"), 4);
    /* A bare header is long enough for Ethernet; IPv4 finds it short. */
    h_inject(t, f, ETH_HDR_LEN);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_short"), 3);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_short"), 1);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(oversized_frames_are_counted)
{
    struct h *t = h_new();
    static uint8_t f[USTACK_FRAME_MAX + 1];
    memcpy(f, OUR_MAC, 6);
    memcpy(f + 6, PEER_MAC, 6);
    wr16(f + 12, ETH_TYPE_IPV4);
    h_inject(t, f, sizeof f);
    ck_assert_uint_eq(h_cnt(t, "eth_drop_oversize"), 1);
    ck_assert_uint_eq(h_cnt(t, "ip_rx"), 0);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(short_output_is_padded_to_60_bytes_with_zeros)
{
    struct h *t = h_new();
    uint8_t f[64];
    h_inject(t, f, who_has_us(f, BCAST_MAC));
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REPLY); /* asserts 60 bytes */
    static const uint8_t zeros[ETH_MIN_FRAME];
    ck_assert_mem_eq(p.b + ETH_HDR_LEN + ARP_LEN, zeros, ETH_MIN_FRAME - ETH_HDR_LEN - ARP_LEN);
    ck_assert_uint_eq(h_cnt(t, "eth_tx_bytes"), 2 * ETH_MIN_FRAME); /* with the gratuitous ARP */
    ck_assert_uint_eq(h_cnt(t, "eth_tx_frames"), 2);

    /* A 1-byte UDP datagram: 14 + 20 + 8 + 1 = 43 bytes, padded too. */
    int s = h_udp(t, 0);
    ck_assert_int_eq(h_sendto(t, s, "x", 1, PEER_IP, 9), 1);
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(p.len, ETH_MIN_FRAME);
    ck_assert_uint_eq(p.tot, 29);
    ck_assert_mem_eq(p.b + 43, zeros, ETH_MIN_FRAME - 43);
    ck_assert_mem_eq(p.eth_dst, PEER_MAC, 6);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(long_output_is_not_padded)
{
    struct h *t = h_new();
    int s = h_udp(t, 0);
    uint8_t d[100];
    h_fill(d, sizeof d, 3);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 9), (ssize_t)sizeof d);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(p.len, ETH_HDR_LEN + IPV4_HDR_LEN + UDP_HDR_LEN + sizeof d);
    ck_assert_uint_eq(rd16(p.b + 12), ETH_TYPE_IPV4);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

Suite *suite_eth(void)
{
    Suite *s = suite_create("eth");
    TCase *tc = tcase_create("eth");
    h_tcase(tc);
    tcase_add_test(tc, frame_to_own_mac_is_accepted);
    tcase_add_test(tc, broadcast_frame_is_accepted);
    tcase_add_test(tc, multicast_frame_is_dropped_and_counted);
    tcase_add_test(tc, frame_to_other_mac_is_dropped_and_counted);
    tcase_add_test(tc, unknown_ethertype_is_counted);
    tcase_add_test(tc, frames_shorter_than_header_are_counted);
    tcase_add_test(tc, oversized_frames_are_counted);
    tcase_add_test(tc, short_output_is_padded_to_60_bytes_with_zeros);
    tcase_add_test(tc, long_output_is_not_padded);
    suite_add_tcase(s, tc);
    return s;
}
