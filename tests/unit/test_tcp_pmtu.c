/*
 * Path MTU discovery and the MSS rules (stack/ipv4_pmtu.c, stack/tcp_pmtu.c,
 * tcp_icmp_error() in tcp_input.c): scripted on the TCP fixture
 * (tcp_fixture.h), "at t inject this, expect that".
 *
 * Covered: DF on TCP segments (not on UDP); the MSS we announce (link MTU -
 * 40) and the one we send with (the peer's, 536 without one, capped by the
 * path MTU less 40, less 12 with timestamps); an ICMP fragmentation needed
 * quoting a segment in flight lowers the path MTU of the destination, every
 * connection to it takes the new MSS and resends at once, cut to it, what
 * was too big (not what the peer SACKed), cwnd and ssthresh untouched;
 * RFC 5927: a message quoting no connection or a sequence number not in
 * flight changes nothing and is counted; a Next-Hop MTU not below the
 * current one is ignored, 0 takes RFC 1191's plateau below the quoted
 * length, below 576 is raised to 576 and DF is dropped; a learnt path MTU
 * ages back to the link MTU after 10 minutes of virtual time and new
 * connections start with the cached one. The cache itself (size, eviction,
 * expiry, plateaus) is tested on the unit harness directly.
 *
 * The peer answers 10 ms after our SYN, so the RTO is the 200 ms minimum;
 * Nagle is off, so a short last segment goes at once.
 */
#include <check.h>
#include <string.h>

#include <ustack/socket.h>
#include <ustack/ustack.h>
#include "harness.h"
#include "tcp_fixture.h"

#define PEER_ISN 5000u
#define PEER_TS 70000u
#define MSS 1460u        /* the link MTU (1500) less 40 */
#define MTU_1000_MSS 960u /* what a 1000-byte path MTU leaves */

/* What the peer's SYN-ACK offers. */
struct offer {
    uint16_t mss;  /* 0: no MSS option */
    bool sackok;
    bool ts;
};
#define OFFER_SACK ((struct offer){.mss = 1460, .sackok = true})
#define OFFER_PLAIN ((struct offer){.mss = 1460})
#define OFFER_TS ((struct offer){.mss = 1460, .sackok = true, .ts = true})

/* Active open from lport to the peer's PPORT: SYN (MSS option asserted), the
 * SYN-ACK 10 ms later, our ACK taken off the wire. */
static struct tcb *open_conn(uint16_t lport, uint32_t *iss, struct offer p)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, lport, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert_int_eq(syn.mss, MSS); /* RFC 6691: link MTU - 40, whatever the path MTU */
    ck_assert(syn.df);
    *iss = syn.seq;
    fx_advance(USTACK_MS(10));
    INJECT(.dport = lport, .seq = PEER_ISN, .ack = *iss + 1, .flags = TCP_SYN | TCP_ACK, .mss = p.mss,
           .sackok = p.sackok, .ts = p.ts, .tsval = PEER_TS, .tsecr = syn.tsval);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    EXPECT(TCP_ACK, *iss + 1, PEER_ISN + 1, 0);
    FX_SET_OPT(tcb, nodelay, true); /* a short last segment goes at once */
    return tcb;
}

/* Writes n bytes and takes the segments sent off the wire: `segs` of them,
 * seglen bytes each (the last may be shorter), IP length and DF checked. */
static void send_data(struct tcb *tcb, uint32_t seq, const uint8_t *d, size_t n, unsigned segs, uint32_t seglen)
{
    ck_assert_int_eq(tcp_write(tcb, d, n), (ssize_t)n);
    size_t off = 0;
    for (unsigned i = 0; i < segs; i++) {
        size_t len = n - off < seglen ? n - off : seglen;
        struct outseg o = EXPECT(TCP_ACK | (off + len == n ? TCP_PSH : 0), seq + off, PEER_ISN + 1, len);
        ck_assert_mem_eq(o.data, d + off, len);
        ck_assert(o.df);
        ck_assert_uint_le(o.ip_len, tcb->pmtu);
        off += len;
    }
    ck_assert_uint_eq(off, n);
    EXPECT_NONE();
}

/* The peer acknowledges everything up to ack (no options). */
#define ACK_TO(lport, ackno) INJECT(.dport = (lport), .seq = PEER_ISN + 1, .ack = (ackno), .flags = TCP_ACK)

/* ------------------------------------------------------------------ DF */

START_TEST(tcp_segments_carry_df_udp_datagrams_do_not)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[3000];
    fx_fill(d, sizeof d, 1);
    send_data(tcb, iss + 1, d, sizeof d, 3, MSS); /* DF asserted there */
    ACK_TO(LPORT, iss + 1 + 3000);
    /* A pure ACK (for peer data) and the RST of an abort carry it too, as
     * Linux's. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 3001, .flags = TCP_ACK | TCP_PSH, .data = d, .len = 10);
    fx_advance(USTACK_MS(100));
    struct outseg o = EXPECT(TCP_ACK, iss + 3001, PEER_ISN + 11, 0);
    ck_assert(o.df);
    tcp_abort(tcb);
    o = EXPECT(TCP_RST | TCP_ACK, iss + 3001, PEER_ISN + 11, 0);
    ck_assert(o.df);
    /* UDP keeps fragmenting on the way: no DF. */
    int s = h_udp(T.h, 0);
    ck_assert_int_eq(h_sendto(T.h, s, "hello", 5, T.peer, 9), 5);
    struct pkt p;
    h_expect_ip(T.h, &p, IPPROTO_UDP_);
    ck_assert(!p.df);
    us_close(T.st, s);
}
END_TEST

/* ---------------------------------------------------------------- MSS */

START_TEST(peer_without_mss_option_gets_536_byte_segments)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, (struct offer){.mss = 0});
    ck_assert_uint_eq(tcb->mss, TCP_DEFAULT_MSS);
    ck_assert_uint_eq(tcp_mss(tcb), 536);
    uint8_t d[2000];
    fx_fill(d, sizeof d, 2);
    send_data(tcb, iss + 1, d, sizeof d, 4, 536);
    ACK_TO(LPORT, iss + 1 + 2000);
    tcp_abort(tcb);
}
END_TEST

START_TEST(passive_peer_without_mss_option_gets_536_and_we_announce_1460)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, NULL, &err);
    ck_assert_ptr_nonnull(l);
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN);
    struct outseg sa = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_int_eq(sa.mss, MSS);
    ck_assert(sa.df);
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->mss, 536);
    FX_SET_OPT(c, nodelay, true);
    uint8_t d[1000];
    fx_fill(d, sizeof d, 3);
    send_data(c, sa.seq + 1, d, sizeof d, 2, 536);
    ACK_TO(LPORT, sa.seq + 1 + 1000);
    tcp_abort(c);
    tcp_close(l);
    fx_drain();
}
END_TEST

START_TEST(send_mss_is_the_smaller_of_the_peers_and_the_path_less_options)
{
    uint32_t iss;
    /* A peer announcing 9000 bytes: capped by the path (1500 - 40). */
    struct tcb *a = open_conn(LPORT, &iss, (struct offer){.mss = 9000, .sackok = true});
    ck_assert_uint_eq(a->mss, MSS);
    ck_assert_uint_eq(a->peer_mss, 9000);
    tcp_abort(a);
    fx_drain();
    /* With timestamps, each segment carries 12 bytes less. */
    struct tcb *b = open_conn(LPORT + 1, &iss, (struct offer){.mss = 9000, .sackok = true, .ts = true});
    ck_assert_uint_eq(b->mss, MSS - TCP_TS_OPT_LEN);
    tcp_abort(b);
    fx_drain();
    /* A smaller peer MSS is taken as it is. */
    struct tcb *c = open_conn(LPORT + 2, &iss, (struct offer){.mss = 1000});
    ck_assert_uint_eq(c->mss, 1000);
    tcp_abort(c);
    fx_drain();
}
END_TEST

/* -------------------------------------------------- fragmentation needed */

START_TEST(frag_needed_in_window_resends_at_once_cut_to_the_path_mtu)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[5 * MSS + 3000];
    fx_fill(d, sizeof d, 4);
    send_data(tcb, iss + 1, d, 5 * MSS, 5, MSS);
    uint32_t cwnd = tcb->cwnd, ssthresh = tcb->ssthresh;
    uint64_t rexmits = CNT(tcp_retransmit_segs);
    /* A router on the way has a 1000-byte link: it quotes our second
     * segment (1500 bytes, DF). Nothing else happens in between. */
    fx_advance(USTACK_MS(2));
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1 + MSS);
    ck_assert_uint_eq(CNT(icmp_rx_frag_needed), 1);
    ck_assert_uint_eq(CNT(tcp_icmp_errors), 1);
    ck_assert_uint_eq(CNT(ip_pmtu_updates), 1);
    ck_assert_uint_eq(CNT(tcp_pmtu_updates), 1);
    ck_assert_uint_eq(tcb->pmtu, 1000);
    ck_assert_uint_eq(tcb->mss, MTU_1000_MSS);
    ck_assert_uint_eq(tcp_mss(tcb), MTU_1000_MSS);
    /* Every segment was too big, so all go again at once, each cut in two
     * (960 + 500), oldest first, every datagram within 1000 bytes. */
    for (unsigned i = 0; i < 5; i++) {
        uint32_t seq = iss + 1 + i * MSS;
        struct outseg a = EXPECT(TCP_ACK, seq, PEER_ISN + 1, MTU_1000_MSS);
        ck_assert_mem_eq(a.data, d + i * MSS, MTU_1000_MSS);
        ck_assert(a.df);
        ck_assert_uint_le(a.ip_len, 1000);
        struct outseg b = EXPECT(TCP_ACK | (i == 4 ? TCP_PSH : 0), seq + MTU_1000_MSS, PEER_ISN + 1,
                                 MSS - MTU_1000_MSS);
        ck_assert_mem_eq(b.data, d + i * MSS + MTU_1000_MSS, MSS - MTU_1000_MSS);
        ck_assert(b.df);
    }
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_pmtu_marked_lost), 5);
    ck_assert_uint_eq(CNT(tcp_retransmit_segs) - rexmits, 10);
    ck_assert_uint_eq(tcb->txq.len, 10); /* the records were cut too */
    /* Not a congestion signal (RFC 1191): the window stays. */
    ck_assert_uint_eq(tcb->cwnd, cwnd);
    ck_assert_uint_eq(tcb->ssthresh, ssthresh);
    ck_assert_uint_eq(CNT(tcp_recoveries), 0);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 0);
    /* The peer gets it all; the episode ends; new data is cut to the MSS. */
    fx_advance(USTACK_MS(10));
    ACK_TO(LPORT, iss + 1 + 5 * MSS);
    ck_assert_uint_eq(tcb->tflags & (TF_LOSS | TF_PMTU_LOSS), 0);
    send_data(tcb, iss + 1 + 5 * MSS, d + 5 * MSS, 3000, 4, MTU_1000_MSS);
    ACK_TO(LPORT, iss + 1 + 5 * MSS + 3000);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_with_timestamps_keeps_their_deduction)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_TS);
    ck_assert_uint_eq(tcb->mss, MSS - 12);
    uint8_t d[2 * (MSS - 12)];
    fx_fill(d, sizeof d, 5);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS - 12);
    ck_assert_uint_eq(o.ip_len, 1500);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1 + MSS - 12, PEER_ISN + 1, MSS - 12);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    ck_assert_uint_eq(tcb->mss, 1000 - 40 - 12);
    for (unsigned i = 0; i < 2; i++) {
        uint32_t seq = iss + 1 + i * (MSS - 12);
        o = EXPECT(TCP_ACK, seq, PEER_ISN + 1, 948);
        ck_assert(o.ts);
        ck_assert_uint_eq(o.ip_len, 1000);
        o = EXPECT(TCP_ACK | (i ? TCP_PSH : 0), seq + 948, PEER_ISN + 1, MSS - 12 - 948);
    }
    EXPECT_NONE();
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_does_not_resend_what_the_peer_sacked)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[3 * MSS];
    fx_fill(d, sizeof d, 6);
    send_data(tcb, iss + 1, d, sizeof d, 3, MSS);
    /* The third got through before the route changed: SACKed. */
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .nsack = 1,
           .sack = {{iss + 1 + 2 * MSS, iss + 1 + 3 * MSS}});
    EXPECT_NONE();
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    for (unsigned i = 0; i < 2; i++) {
        EXPECT(TCP_ACK, iss + 1 + i * MSS, PEER_ISN + 1, MTU_1000_MSS);
        EXPECT(TCP_ACK, iss + 1 + i * MSS + MTU_1000_MSS, PEER_ISN + 1, MSS - MTU_1000_MSS);
    }
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_pmtu_marked_lost), 2);
    fx_advance(USTACK_MS(10));
    ACK_TO(LPORT, iss + 1 + 3 * MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_cuts_a_record_with_our_fin_and_the_fin_goes_last)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    /* The peer's window shut: data and FIN wait, then go as one segment. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = ZERO_WND);
    uint8_t d[MSS];
    fx_fill(d, sizeof d, 7);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    ck_assert_int_eq(tcp_shutdown_write(tcb), 0);
    EXPECT_NONE();
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK);
    EXPECT(TCP_ACK | TCP_PSH | TCP_FIN, iss + 1, PEER_ISN + 1, MSS);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MTU_1000_MSS);
    EXPECT(TCP_ACK | TCP_PSH | TCP_FIN, iss + 1 + MTU_1000_MSS, PEER_ISN + 1, MSS - MTU_1000_MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->txq.len, 2);
    ACK_TO(LPORT, iss + 2 + MSS);
    ck_assert_int_eq(tcb->state, TCPS_FIN_WAIT_2);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_out_of_window_or_for_no_connection_changes_nothing)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[2 * MSS];
    fx_fill(d, sizeof d, 8);
    send_data(tcb, iss + 1, d, sizeof d, 2, MSS);
    /* RFC 5927 4.1: beyond SND.NXT, below SND.UNA, another port. */
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1 + 2 * MSS);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1 - 100000);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT + 1, iss + 1);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(icmp_rx_frag_needed), 4);
    ck_assert_uint_eq(CNT(tcp_icmp_oow), 3);
    ck_assert_uint_eq(CNT(tcp_icmp_no_conn), 1);
    ck_assert_uint_eq(CNT(tcp_icmp_errors), 0);
    ck_assert_uint_eq(CNT(ip_pmtu_updates), 0);
    ck_assert_uint_eq(tcb->mss, MSS);
    ck_assert_uint_eq(tcb->pmtu, 1500);
    struct ustack_usage u;
    ustack_get_usage(T.st, &u);
    ck_assert_uint_eq(u.pmtu_entries, 0);
    /* New data still goes at full size. */
    ACK_TO(LPORT, iss + 1 + 2 * MSS);
    send_data(tcb, iss + 1 + 2 * MSS, d, MSS, 1, MSS);
    ACK_TO(LPORT, iss + 1 + 3 * MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_not_below_the_path_mtu_is_ignored)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[2 * MSS];
    fx_fill(d, sizeof d, 9);
    send_data(tcb, iss + 1, d, sizeof d, 2, MSS);
    fx_inject_frag_needed(1500, 1500, LPORT, PPORT, iss + 1);
    fx_inject_frag_needed(9000, 1500, LPORT, PPORT, iss + 1);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(ip_pmtu_drop_not_lower), 2);
    ck_assert_uint_eq(tcb->mss, MSS);
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    fx_drain(); /* the resent pieces */
    /* The same again (one per dropped datagram, from the router), or more. */
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    fx_inject_frag_needed(1200, 1500, LPORT, PPORT, iss + 1);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(ip_pmtu_drop_not_lower), 4);
    ck_assert_uint_eq(CNT(ip_pmtu_updates), 1);
    ck_assert_uint_eq(CNT(tcp_pmtu_updates), 1);
    ck_assert_uint_eq(tcb->mss, MTU_1000_MSS);
    ACK_TO(LPORT, iss + 1 + 2 * MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_without_mtu_takes_the_plateau_below_the_datagram)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[MSS];
    fx_fill(d, sizeof d, 10);
    send_data(tcb, iss + 1, d, sizeof d, 1, MSS);
    /* An old router (RFC 1191 5): no Next-Hop MTU. The plateau below 1500. */
    fx_inject_frag_needed(0, 1500, LPORT, PPORT, iss + 1);
    ck_assert_uint_eq(tcb->pmtu, 1492);
    ck_assert_uint_eq(tcb->mss, 1452);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 1452);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1 + 1452, PEER_ISN + 1, 8);
    /* Still too big: the next plateau. */
    fx_inject_frag_needed(0, 1492, LPORT, PPORT, iss + 1);
    ck_assert_uint_eq(tcb->pmtu, 1006);
    ck_assert_uint_eq(tcb->mss, 966);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 966);
    EXPECT(TCP_ACK, iss + 1 + 966, PEER_ISN + 1, 486);
    EXPECT_NONE(); /* the 8-byte piece fitted */
    ck_assert_uint_eq(CNT(ip_pmtu_plateau), 2);
    ck_assert_uint_eq(CNT(ip_pmtu_updates), 2);
    ACK_TO(LPORT, iss + 1 + MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(frag_needed_below_576_is_raised_to_576_and_drops_df)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[2000];
    fx_fill(d, sizeof d, 11);
    send_data(tcb, iss + 1, d, MSS, 1, MSS);
    fx_inject_frag_needed(296, 1500, LPORT, PPORT, iss + 1);
    ck_assert_uint_eq(CNT(ip_pmtu_clamped), 1);
    ck_assert_uint_eq(tcb->pmtu, IPV4_PMTU_MIN);
    ck_assert_uint_eq(tcb->mss, 536);
    ck_assert(tcb->pmtu_no_df);
    /* 576 is more than the path takes: without DF a router fragments. */
    for (unsigned off = 0; off < MSS; off += 536) {
        uint32_t len = MSS - off < 536 ? MSS - off : 536;
        struct outseg o = EXPECT(TCP_ACK | (off + len == MSS ? TCP_PSH : 0), iss + 1 + off, PEER_ISN + 1, len);
        ck_assert(!o.df);
        ck_assert_uint_le(o.ip_len, 576);
    }
    EXPECT_NONE();
    /* Smaller claims change nothing more: 576 is the floor. */
    fx_inject_frag_needed(68, 576, LPORT, PPORT, iss + 1);
    fx_inject_frag_needed(20, 576, LPORT, PPORT, iss + 1);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(ip_pmtu_drop_not_lower), 2);
    ACK_TO(LPORT, iss + 1 + MSS);
    tcp_abort(tcb);
    struct outseg o = EXPECT(TCP_RST | TCP_ACK, iss + 1 + MSS, PEER_ISN + 1, 0);
    ck_assert(!o.df);
}
END_TEST

START_TEST(frag_needed_during_the_handshake_sizes_the_connection)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);
    fx_inject_frag_needed(1000, 60, LPORT, PPORT, syn.seq);
    ck_assert_uint_eq(CNT(ip_pmtu_updates), 1);
    EXPECT_NONE(); /* the SYN was small enough; it is not sent again */
    INJECT(.seq = PEER_ISN, .ack = syn.seq + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460);
    EXPECT(TCP_ACK, syn.seq + 1, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcb->mss, MTU_1000_MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(every_connection_to_the_destination_learns_and_new_ones_start_with_it)
{
    uint32_t ia, ib, ic;
    struct tcb *a = open_conn(LPORT, &ia, OFFER_SACK);
    struct tcb *b = open_conn(LPORT + 1, &ib, OFFER_SACK);
    uint8_t d[3 * MSS];
    fx_fill(d, sizeof d, 12);
    send_data(b, ib + 1, d, 2 * MSS, 2, MSS);
    send_data(a, ia + 1, d, MSS, 1, MSS);
    /* The message quotes a's segment; b's in flight were as big. */
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, ia + 1);
    ck_assert_uint_eq(CNT(tcp_pmtu_updates), 2);
    ck_assert_uint_eq(a->mss, MTU_1000_MSS);
    ck_assert_uint_eq(b->mss, MTU_1000_MSS);
    unsigned segs = 0;
    struct outseg o;
    while (fx_next_out(&o)) {
        ck_assert_uint_le(o.ip_len, 1000);
        segs++;
    }
    ck_assert_uint_eq(segs, 6); /* a's one segment and b's two, in two pieces each */
    ACK_TO(LPORT, ia + 1 + MSS);
    ACK_TO(LPORT + 1, ib + 1 + 2 * MSS);
    /* A new connection: announces 1460 (open_conn asserts it) but sends
     * for the path MTU it found in the cache. */
    struct tcb *c = open_conn(LPORT + 2, &ic, OFFER_SACK);
    ck_assert_uint_eq(c->pmtu, 1000);
    ck_assert_uint_eq(c->mss, MTU_1000_MSS);
    send_data(c, ic + 1, d, 2000, 3, MTU_1000_MSS);
    ACK_TO(LPORT + 2, ic + 1 + 2000);
    tcp_abort(a);
    tcp_abort(b);
    tcp_abort(c);
    fx_drain();
}
END_TEST

START_TEST(path_mtu_ages_back_to_the_link_mtu_after_10_minutes)
{
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_SACK);
    uint8_t d[4 * MSS];
    fx_fill(d, sizeof d, 13);
    send_data(tcb, iss + 1, d, MSS, 1, MSS);
    ustack_time_t learnt = T.now;
    fx_inject_frag_needed(1000, 1500, LPORT, PPORT, iss + 1);
    fx_drain();
    ACK_TO(LPORT, iss + 1 + MSS);
    uint32_t seq = iss + 1 + MSS;
    /* A second before the 10 minutes: still 1000. */
    fx_advance(learnt + USTACK_SEC(599) - T.now);
    send_data(tcb, seq, d, MSS, 2, MTU_1000_MSS);
    seq += MSS;
    ACK_TO(LPORT, seq);
    ck_assert_uint_eq(CNT(ip_pmtu_expired), 0);
    /* Then back to the link MTU (RFC 1191 6.3): full-size segments again,
     * for this connection and new ones. */
    fx_advance(USTACK_SEC(1));
    send_data(tcb, seq, d, 2 * MSS, 2, MSS);
    seq += 2 * MSS;
    ACK_TO(LPORT, seq);
    ck_assert_uint_eq(tcb->pmtu, 1500);
    ck_assert_uint_eq(tcb->mss, MSS);
    ck_assert_uint_eq(CNT(tcp_pmtu_raised), 1);
    ck_assert_uint_eq(CNT(ip_pmtu_expired), 1);
    struct ustack_usage u;
    ustack_get_usage(T.st, &u);
    ck_assert_uint_eq(u.pmtu_entries, 0);
    uint32_t ib;
    struct tcb *b = open_conn(LPORT + 1, &ib, OFFER_SACK);
    ck_assert_uint_eq(b->mss, MSS);
    tcp_abort(tcb);
    tcp_abort(b);
    fx_drain();
}
END_TEST

START_TEST(a_record_longer_than_the_mss_is_retransmitted_in_pieces)
{
    /* What a failed tcp_txq_split() leaves (no memory): records sent at the
     * old MSS. An RTO then sends each as segments of the new one. */
    uint32_t iss;
    struct tcb *tcb = open_conn(LPORT, &iss, OFFER_PLAIN);
    uint8_t d[2 * MSS];
    fx_fill(d, sizeof d, 14);
    send_data(tcb, iss + 1, d, sizeof d, 2, MSS);
    tcb->mss = 500;
    fx_advance(USTACK_MS(250));
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 500);
    ck_assert_mem_eq(o.data, d, 500);
    EXPECT(TCP_ACK, iss + 501, PEER_ISN + 1, 500);
    o = EXPECT(TCP_ACK, iss + 1001, PEER_ISN + 1, MSS - 1000);
    ck_assert_mem_eq(o.data, d + 1000, MSS - 1000);
    EXPECT_NONE(); /* cwnd is one segment: the second record waits */
    ACK_TO(LPORT, iss + 1 + MSS);
    EXPECT(TCP_ACK, iss + 1 + MSS, PEER_ISN + 1, 500);
    fx_drain();
    ACK_TO(LPORT, iss + 1 + 2 * MSS);
    tcp_abort(tcb);
}
END_TEST

/* --------------------------------------------------------------- the cache */

static struct h *cache_stack(unsigned size)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.pmtu_cache_size = size;
    return h_new_cfg(&cfg, 0);
}

START_TEST(cache_holds_a_path_mtu_until_it_expires)
{
    struct h *t = cache_stack(4);
    struct ipv4_pmtu p;
    ipv4_pmtu_lookup(t->st, PEER_IP, &p);
    ck_assert_uint_eq(p.mtu, 1500);
    ck_assert_uint_eq(p.expires, 0);
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, PEER_IP, 1000, 1500, &p), 0);
    ck_assert_uint_eq(p.mtu, 1000);
    ck_assert_uint_eq(p.expires, t->now + USTACK_SEC(600));
    ipv4_pmtu_lookup(t->st, PEER2_IP, &p);
    ck_assert_uint_eq(p.mtu, 1500); /* per destination */
    h_step(t, USTACK_SEC(600) - 1);
    ipv4_pmtu_lookup(t->st, PEER_IP, &p);
    ck_assert_uint_eq(p.mtu, 1000);
    h_step(t, 1);
    ipv4_pmtu_lookup(t->st, PEER_IP, &p);
    ck_assert_uint_eq(p.mtu, 1500);
    ck_assert_uint_eq(h_cnt(t, "ip_pmtu_expired"), 1);
    ck_assert_uint_eq(t->st->pmtu.count, 0);
    h_done(t);
}
END_TEST

START_TEST(cache_full_evicts_the_oldest_entry)
{
    struct h *t = cache_stack(2);
    struct ipv4_pmtu p;
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, PEER_IP, 1000, 1500, &p), 0);
    h_step(t, USTACK_SEC(1));
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, PEER2_IP, 1100, 1500, &p), 0);
    h_step(t, USTACK_SEC(1));
    /* Lowered again: PEER_IP's entry is now the newer one. */
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, PEER_IP, 900, 1500, &p), 0);
    h_step(t, USTACK_SEC(1));
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, FAR_IP, 1200, 1500, &p), 0);
    ck_assert_uint_eq(h_cnt(t, "ip_pmtu_evictions"), 1);
    ipv4_pmtu_lookup(t->st, PEER2_IP, &p);
    ck_assert_uint_eq(p.mtu, 1500);
    ipv4_pmtu_lookup(t->st, PEER_IP, &p);
    ck_assert_uint_eq(p.mtu, 900);
    ipv4_pmtu_lookup(t->st, FAR_IP, &p);
    ck_assert_uint_eq(p.mtu, 1200);
    struct ustack_usage u = h_usage(t);
    ck_assert_uint_eq(u.pmtu_entries, 2);
    h_done(t);
}
END_TEST

START_TEST(cache_plateaus_and_floor)
{
    static const struct {
        unsigned nh_mtu, quoted, want;
        bool no_df;
    } cases[] = {
        {0, 1500, 1492, false}, {0, 1492, 1006, false}, {0, 1006, 576, true}, /* 508, raised */
        {0, 9000, 1492, false},  /* a quoted length above our estimate: below the estimate */
        {0, 0, 1492, false},     /* none at all: likewise */
        {0, 40, 576, true},      {575, 1500, 576, true}, {576, 1500, 576, false},
        {577, 1500, 577, false}, {1, 1500, 576, true},   {1499, 1500, 1499, false},
    };
    struct h *t = cache_stack(64);
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t dst = ip4(10, 0, 1, (uint8_t)(i + 1));
        struct ipv4_pmtu p;
        ck_assert_msg(ipv4_pmtu_learn(t->st, dst, cases[i].nh_mtu, cases[i].quoted, &p) == 0, "case %u", i);
        ck_assert_msg(p.mtu == cases[i].want && p.no_df == cases[i].no_df, "case %u: mtu %u no_df %d", i, p.mtu,
                      p.no_df);
    }
    struct ipv4_pmtu p;
    uint32_t dst = ip4(10, 0, 1, 1); /* at 1492 now */
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, dst, 1492, 1500, &p), CNT_ip_pmtu_drop_not_lower);
    ck_assert_int_eq(ipv4_pmtu_learn(t->st, dst, 0, 1300, &p), 0); /* the plateau below 1300 */
    ck_assert_uint_eq(p.mtu, 1006);
    h_done(t);
}
END_TEST

START_TEST(config_rejects_an_empty_cache_or_no_lifetime)
{
    struct ustack_config cfg;
    h_config(&cfg);
    ck_assert_uint_eq(cfg.pmtu_cache_size, 64);
    ck_assert_uint_eq(cfg.pmtu_expire_us, USTACK_SEC(600));
    struct ustack_link *a, *b;
    ck_assert_int_eq(ustack_link_mem_pair(&a, &b), 0);
    cfg.pmtu_cache_size = 0;
    ck_assert_ptr_null(ustack_create(&cfg, a));
    h_config(&cfg);
    cfg.pmtu_expire_us = 0;
    ck_assert_ptr_null(ustack_create(&cfg, a));
    ustack_link_close(a);
    ustack_link_close(b);
}
END_TEST

Suite *suite_tcp_pmtu(void)
{
    Suite *s = suite_create("tcp_pmtu");
    TCase *tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, tcp_segments_carry_df_udp_datagrams_do_not);
    tcase_add_test(tc, peer_without_mss_option_gets_536_byte_segments);
    tcase_add_test(tc, passive_peer_without_mss_option_gets_536_and_we_announce_1460);
    tcase_add_test(tc, send_mss_is_the_smaller_of_the_peers_and_the_path_less_options);
    tcase_add_test(tc, frag_needed_in_window_resends_at_once_cut_to_the_path_mtu);
    tcase_add_test(tc, frag_needed_with_timestamps_keeps_their_deduction);
    tcase_add_test(tc, frag_needed_does_not_resend_what_the_peer_sacked);
    tcase_add_test(tc, frag_needed_cuts_a_record_with_our_fin_and_the_fin_goes_last);
    tcase_add_test(tc, frag_needed_out_of_window_or_for_no_connection_changes_nothing);
    tcase_add_test(tc, frag_needed_not_below_the_path_mtu_is_ignored);
    tcase_add_test(tc, frag_needed_without_mtu_takes_the_plateau_below_the_datagram);
    tcase_add_test(tc, frag_needed_below_576_is_raised_to_576_and_drops_df);
    tcase_add_test(tc, frag_needed_during_the_handshake_sizes_the_connection);
    tcase_add_test(tc, every_connection_to_the_destination_learns_and_new_ones_start_with_it);
    tcase_add_test(tc, path_mtu_ages_back_to_the_link_mtu_after_10_minutes);
    tcase_add_test(tc, a_record_longer_than_the_mss_is_retransmitted_in_pieces);
    suite_add_tcase(s, tc);
    TCase *cache = tcase_create("cache");
    h_tcase(cache);
    tcase_add_test(cache, cache_holds_a_path_mtu_until_it_expires);
    tcase_add_test(cache, cache_full_evicts_the_oldest_entry);
    tcase_add_test(cache, cache_plateaus_and_floor);
    tcase_add_test(cache, config_rejects_an_empty_cache_or_no_lifetime);
    suite_add_tcase(s, cache);
    return s;
}
