/*
 * Scripted tests of the TCP options and of loss recovery (stack/tcp_input.c,
 * tcp_output.c, tcp_recovery.c), on the TCP fixture (tcp_fixture.h) as
 * test_tcp_engine.c: one stack driven through its engine's API with forged
 * segments and a fake clock, "at t inject this, expect that", every test on
 * its own.
 *
 * The fixture's segment builder and parser know the options of RFC 7323 and
 * RFC 2018 as well as the MSS: window scale, SACK-permitted, timestamps
 * (TSval/TSecr) and SACK blocks, both in what is injected and in what the
 * engine sends. Covered: negotiation of the options (active and passive
 * open, features switched off, SYN option alignment), PAWS and the
 * timestamp echo rules, the SACK and D-SACK blocks a receiver sends, the
 * RFC 6675 scoreboard and RTO recovery over it, NewReno (RFC 6582), RACK
 * (RFC 8985 6), TLP (RFC 8985 7), and undo by Eifel (RFC 3522) and by
 * D-SACK (RFC 3708).
 *
 * RTTs are exact: the peer answers 10 ms after a send (fx_advance() then
 * INJECT), so SRTT is 10 ms, RACK's min_rtt 10 ms and the RTO the 200 ms
 * minimum unless a test says otherwise. Congestion control is NewReno.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/ustack.h>
#include "tcp_fixture.h"

#define PEER_ISN 5000u
#define PEER_TS 70000u /* the peer's timestamp clock at its SYN */
#define MSS 1460u      /* both ends announce 1460 */
#define MSS_TS 1448u   /* what a segment carries next to a timestamp option */

/* These tests follow the recovery arithmetic with NewReno's ssthresh
 * (FlightSize / 2) and RFC 5681's slow start (one SMSS per ACK: byte
 * counting off); CUBIC, the default, has its own suite. */
static struct ustack_tcp_config loss_config(unsigned features, ustack_time_t rto_min_us)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.features = features & ~(unsigned)USTACK_TCPF_BYTE_COUNT;
    snprintf(c.congestion, sizeof c.congestion, "newreno");
    if (rto_min_us)
        c.rto_min_us = rto_min_us;
    return c;
}

static void setup(void)
{
    struct ustack_tcp_config c = loss_config(USTACK_TCPF_DEFAULT, 0);
    fx_setup_tcp(&c);
}

/* A new stack with the default config but these features and minimum RTO. */
static void reconfigure(unsigned features, ustack_time_t rto_min_us)
{
    struct ustack_tcp_config c = loss_config(features, rto_min_us);
    fx_restart(&c);
}

/* The SACK blocks of a segment, exactly and in order. */
static void check_sack(const struct outseg *o, const uint32_t (*b)[2], unsigned n, const char *where, int line)
{
    ck_assert_msg(o->nsack == n, "%s:%d: %u SACK blocks, expected %u", where, line, o->nsack, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(o->sack[i][0] == b[i][0] && o->sack[i][1] == b[i][1],
                      "%s:%d: SACK block %u is [%u, %u), expected [%u, %u)", where, line, i, o->sack[i][0],
                      o->sack[i][1], b[i][0], b[i][1]);
}
#define EXPECT_SACK(o, ...)                                                                                    \
    check_sack(&(o), (const uint32_t[][2]){__VA_ARGS__},                                                       \
               (unsigned)(sizeof((const uint32_t[][2]){__VA_ARGS__}) / sizeof(uint32_t[2])), __func__, __LINE__)
#define EXPECT_NO_SACK(o) ck_assert_msg((o).nsack == 0, "%s:%d: %u SACK blocks, expected none", __func__, __LINE__, (o).nsack)


/* Our timestamp clock now (RFC 7323: ms plus the connection's offset). */
static uint32_t our_ts(const struct tcb *tcb) { return (uint32_t)(T.now / 1000u) + tcb->ts_offset; }

/* ----------------------------------------------------- connection helpers */

/* What the peer's SYN-ACK (or SYN) offers besides MSS 1460. */
struct offer {
    bool ws;
    uint8_t shift;
    bool sackok;
    bool ts;
    uint32_t wnd; /* 0: 65535 */
};

/* Active open: SYN out, the SYN-ACK 10 ms later offering `p`, the final ACK
 * taken off the wire. SRTT is then 10 ms and the RTO 200 ms. */
static struct tcb *open_active(uint32_t *iss, struct offer p)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);
    *iss = syn.seq;
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN, .ack = *iss + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460, .wnd = p.wnd,
           .has_ws = p.ws, .ws = p.shift, .sackok = p.sackok, .ts = p.ts, .tsval = PEER_TS, .tsecr = syn.tsval);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    EXPECT(TCP_ACK, *iss + 1, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcb->srtt, USTACK_MS(10));
    return tcb;
}

#define OFFER_NONE ((struct offer){0})
#define OFFER_SACK ((struct offer){.sackok = true})
#define OFFER_ALL ((struct offer){.ws = true, .shift = 2, .sackok = true, .ts = true})

/* Writes n bytes of d and takes the full segments sent off the wire,
 * checking each: `segs` of them from `seq`, `seglen` bytes each (PSH on
 * the one that ends the data written). */
static void send_flight(struct tcb *tcb, const uint8_t *d, size_t n, uint32_t seq, unsigned segs, uint32_t seglen)
{
    ck_assert_int_eq(tcp_write(tcb, d, n), (ssize_t)n);
    for (unsigned i = 0; i < segs; i++) {
        bool last = i + 1 == segs && (size_t)segs * seglen == n;
        struct outseg o = EXPECT(TCP_ACK | (last ? TCP_PSH : 0), seq + i * seglen, PEER_ISN + 1, seglen);
        ck_assert_mem_eq(o.data, d + (size_t)i * seglen, seglen);
    }
    EXPECT_NONE();
}

/* A pure ACK from the peer; more fields (SACKS(...), timestamps) may follow. */
#define ACK(ackno, ...) INJECT(.seq = PEER_ISN + 1, .ack = (ackno), .flags = TCP_ACK, __VA_ARGS__)
#define SACKS(...)                                                                                             \
    .nsack = (unsigned)(sizeof((const uint32_t[][2]){__VA_ARGS__}) / sizeof(uint32_t[2])), .sack = {__VA_ARGS__}

/* The retransmission queue record that starts at seq. */
static const struct tcp_txseg *txseg_at(const struct tcb *tcb, uint32_t seq)
{
    for (unsigned i = 0; i < tcb->txq.len; i++)
        if (tcp_txq_at(&tcb->txq, i)->seq == seq)
            return tcp_txq_at(&tcb->txq, i);
    ck_abort_msg("no record at %u", seq);
    return NULL;
}

/* A segment of peer data at offset off from the peer's ISN + 1. */
#define PEER_DATA(off, n, ...)                                                                                 \
    INJECT(.seq = PEER_ISN + 1 + (off), .ack = iss + 1, .flags = TCP_ACK, .data = d + (off), .len = (n),          \
           __VA_ARGS__)
#define R(a, b) {PEER_ISN + 1 + (a), PEER_ISN + 1 + (b)} /* a range of peer data */

/* ------------------------------------------------------------ negotiation */

START_TEST(active_open_offers_wscale_timestamps_and_sack_by_default)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);
    /* MSS 4 + SACK-permitted 2 + timestamps 10 + NOP and window scale 4. */
    ck_assert_uint_eq(syn.hlen, 40);
    ck_assert_int_eq(syn.mss, 1460);
    ck_assert(syn.sackok);
    ck_assert(syn.ts);
    ck_assert_uint_eq(syn.tsval, our_ts(tcb));
    ck_assert_uint_eq(syn.tsecr, 0);
    /* The shift that lets the window cover the 4 MiB the receive buffer
     * may grow to: 65535 << 7 >= 4 MiB > 65535 << 6. */
    ck_assert_int_eq(syn.ws, 7);
    ck_assert_uint_eq(tcb->rcv_wscale, 7);
    ck_assert_uint_eq(syn.wnd, 65535); /* never scaled in a SYN */
    tcp_abort(tcb);
}
END_TEST

START_TEST(syn_ack_without_options_leaves_them_off)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, (struct offer){.wnd = 1000});
    ck_assert_uint_eq(tcb->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), 0);
    ck_assert_uint_eq(tcb->snd_wscale, 0);
    ck_assert_uint_eq(tcb->rcv_wscale, 0); /* we offered 7; unused as the peer did not answer */
    ck_assert_uint_eq(tcb->mss, MSS);
    ck_assert_uint_eq(tcb->snd_wnd, 1000);
    /* The peer's window is taken as it is. */
    ACK(iss + 1, .wnd = 3000);
    ck_assert_uint_eq(tcb->snd_wnd, 3000);
    /* Data: no timestamp option, our window unscaled (the 256 KiB buffer
     * shows as the largest unscaled window). */
    uint8_t d[1000];
    fx_fill(d, sizeof d, 1);
    ck_assert_int_eq(tcp_write(tcb, d, 1000), 1000);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 1000);
    ck_assert_uint_eq(o.hlen, 20);
    ck_assert(!o.ts);
    ck_assert_uint_eq(o.wnd, 65535);
    /* Data beyond a hole: a duplicate ACK without SACK blocks. */
    INJECT(.seq = PEER_ISN + 1 + 500, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100);
    o = EXPECT(TCP_ACK, iss + 1001, PEER_ISN + 1, 0);
    ck_assert_uint_eq(o.hlen, 20);
    EXPECT_NO_SACK(o);
    tcp_abort(tcb);
}
END_TEST

START_TEST(syn_ack_with_options_turns_them_on)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, (struct offer){.ws = true, .shift = 2, .sackok = true, .ts = true,
                                                       .wnd = 60000});
    ck_assert_uint_eq(tcb->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_WS_OK | TF_TS_OK | TF_SACK_OK);
    ck_assert_uint_eq(tcb->snd_wscale, 2);
    ck_assert_uint_eq(tcb->rcv_wscale, 7);
    ck_assert_uint_eq(tcb->snd_wnd, 60000); /* the SYN-ACK's window is not scaled */
    ck_assert_uint_eq(tcb->mss, MSS_TS);    /* 12 bytes of every segment go to the timestamp */
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS);
    /* Later windows from the peer are scaled by its shift. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = 1000, .ts = true, .tsval = PEER_TS + 1,
           .tsecr = our_ts(tcb));
    ck_assert_uint_eq(tcb->snd_wnd, 4000);
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 1);
    /* Every segment carries a timestamp: our clock, and the peer's latest. */
    uint8_t d[2 * MSS_TS];
    fx_fill(d, sizeof d, 2);
    fx_advance(USTACK_MS(3));
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 2; i++) {
        struct outseg o = EXPECT(TCP_ACK | (i ? TCP_PSH : 0), iss + 1 + i * MSS_TS, PEER_ISN + 1, MSS_TS);
        ck_assert_uint_eq(o.hlen, 32);
        ck_assert(o.ts);
        ck_assert_uint_eq(o.tsval, our_ts(tcb));
        ck_assert_uint_eq(o.tsecr, PEER_TS + 1);
        /* Our window: the 256 KiB buffer, shifted by our 7. */
        ck_assert_uint_eq(o.wnd, (256u * 1024) >> 7);
    }
    /* Data beyond a hole: the duplicate ACK has the timestamp and a SACK block. */
    INJECT(.seq = PEER_ISN + 1 + 1000, .ack = iss + 1, .flags = TCP_ACK, .wnd = 1000, .data = d, .len = 500,
           .ts = true, .tsval = PEER_TS + 2, .tsecr = our_ts(tcb));
    struct outseg o = EXPECT(TCP_ACK, iss + 1 + 2 * MSS_TS, PEER_ISN + 1, 0);
    ck_assert_uint_eq(o.hlen, 20 + 12 + 12);
    ck_assert(o.ts);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 1); /* out of order: TS.Recent does not move (RFC 7323 4.3) */
    EXPECT_SACK(o, {PEER_ISN + 1001, PEER_ISN + 1501});
    ck_assert_uint_eq(o.wnd, (256u * 1024) >> 7); /* from RCV.NXT: the held bytes lie inside it */
    /* The FIN too. */
    ck_assert_int_eq(tcp_shutdown_write(tcb), 0);
    o = EXPECT(TCP_ACK | TCP_FIN, iss + 1 + 2 * MSS_TS, PEER_ISN + 1, 0);
    ck_assert(o.ts);
    ck_assert_uint_eq(o.tsval, our_ts(tcb));
    tcp_abort(tcb);
}
END_TEST

START_TEST(window_scale_above_14_is_taken_as_14)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, (struct offer){.ws = true, .shift = 15});
    ck_assert_uint_eq(tcb->snd_wscale, TCP_MAX_WSCALE); /* RFC 7323 2.3 */
    ACK(iss + 1, .wnd = 3);
    ck_assert_uint_eq(tcb->snd_wnd, 3u << 14);
    tcp_abort(tcb);
}
END_TEST

/* RFC 7323 3.2: a timestamp option on a connection that did not negotiate
 * it is ignored (no PAWS, no echo), the segment processed normally. */
START_TEST(timestamps_not_negotiated_are_ignored)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[2000];
    fx_fill(d, sizeof d, 26);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
    PEER_DATA(0, 1000, .ts = true, .tsval = PEER_TS + 10, .tsecr = 1);
    PEER_DATA(1000, 1000, .ts = true, .tsval = PEER_TS + 1, .tsecr = 1); /* "older": no PAWS here */
    struct outseg o = EXPECT(TCP_ACK, ack_no, s + 2000, 0);
    ck_assert(!o.ts);
    ck_assert_uint_eq(o.hlen, 20);
    ck_assert_uint_eq(CNT(tcp_drop_paws), 0);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 2000);
    tcp_abort(tcb);
}
END_TEST

START_TEST(passive_open_answers_only_the_options_offered)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, NULL, &err);
    ck_assert_ptr_nonnull(l);
    /* A SYN without options: a SYN-ACK without them (MSS only). */
    INJECT(.sport = PPORT, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_uint_eq(o.hlen, 24);
    ck_assert_int_eq(o.mss, 1460);
    ck_assert_int_eq(o.ws, -1);
    ck_assert(!o.sackok);
    ck_assert(!o.ts);
    INJECT(.sport = PPORT, .seq = PEER_ISN + 1, .ack = o.seq + 1, .flags = TCP_ACK, .wnd = 1000);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), 0);
    ck_assert_uint_eq(c->rcv_wscale, 0);
    ck_assert_uint_eq(c->snd_wnd, 1000);
    tcp_abort(c);
    EXPECT(TCP_RST | TCP_ACK, o.seq + 1, PEER_ISN + 1, 0);

    /* A SYN with all three: all three come back, the TSecr echoing it. */
    INJECT(.sport = PPORT + 1, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460, .has_ws = true, .ws = 3,
           .sackok = true, .ts = true, .tsval = PEER_TS, .tsecr = 0);
    o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_uint_eq(o.hlen, 40);
    ck_assert_int_eq(o.mss, 1460);
    ck_assert_int_eq(o.ws, 7);
    ck_assert(o.sackok);
    ck_assert(o.ts);
    ck_assert_uint_eq(o.tsecr, PEER_TS);
    ck_assert_uint_eq(o.wnd, 65535);
    INJECT(.sport = PPORT + 1, .seq = PEER_ISN + 1, .ack = o.seq + 1, .flags = TCP_ACK, .wnd = 1000, .ts = true,
           .tsval = PEER_TS + 1, .tsecr = o.tsval);
    c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_WS_OK | TF_TS_OK | TF_SACK_OK);
    ck_assert_uint_eq(c->snd_wscale, 3);
    ck_assert_uint_eq(c->rcv_wscale, 7);
    ck_assert_uint_eq(c->snd_wnd, 8000); /* the third segment's window is scaled */
    ck_assert_uint_eq(c->mss, MSS_TS);
    tcp_abort(c);
    EXPECT(TCP_RST | TCP_ACK, ANY, PEER_ISN + 1, 0);
    tcp_close(l);
}
END_TEST

START_TEST(a_feature_switched_off_is_not_offered)
{
    /* By the configuration: no timestamps in the SYN. */
    reconfigure(USTACK_TCPF_DEFAULT & ~USTACK_TCPF_TIMESTAMPS, 0);
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert(!o.ts);
    ck_assert(o.sackok);
    ck_assert_int_eq(o.ws, 7);
    /* A SYN-ACK carrying one anyway does not turn it on. */
    INJECT(.seq = PEER_ISN, .ack = o.seq + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460, .sackok = true, .ts = true,
           .tsval = PEER_TS, .tsecr = 1);
    ck_assert_uint_eq(tcb->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_SACK_OK);
    o = EXPECT(TCP_ACK, o.seq + 1, PEER_ISN + 1, 0);
    ck_assert(!o.ts);
    ck_assert_uint_eq(tcb->mss, MSS);
    tcp_abort(tcb);
    fx_drain();

    /* Per connection before connect (USTACK_TCP_FEATURES): no SACK. */
    struct tcp_opts oo;
    tcp_opts_default(T.ts, &oo);
    oo.features = USTACK_TCPF_DEFAULT & ~USTACK_TCPF_SACK;
    tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT + 1, &oo, &err);
    ck_assert_ptr_nonnull(tcb);
    o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert(!o.sackok);
    ck_assert(o.ts);
    ck_assert_int_eq(o.ws, 7);
    tcp_abort(tcb);

    /* On a listener: no window scaling in the SYN-ACK, whatever the SYN says. */
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, NULL, &err);
    ck_assert_ptr_nonnull(l);
    FX_SET_OPT(l, features, USTACK_TCPF_DEFAULT & ~USTACK_TCPF_WSCALE);
    INJECT(.sport = PPORT + 2, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460, .has_ws = true, .ws = 3,
           .sackok = true, .ts = true, .tsval = PEER_TS);
    o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_int_eq(o.ws, -1);
    ck_assert(o.sackok);
    ck_assert(o.ts);
    INJECT(.sport = PPORT + 2, .seq = PEER_ISN + 1, .ack = o.seq + 1, .flags = TCP_ACK, .wnd = 1000, .ts = true,
           .tsval = PEER_TS + 1, .tsecr = o.tsval);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_TS_OK | TF_SACK_OK);
    ck_assert_uint_eq(c->snd_wscale, 0);
    ck_assert_uint_eq(c->rcv_wscale, 0);
    ck_assert_uint_eq(c->snd_wnd, 1000);
    tcp_abort(c);
    tcp_close(l);
}
END_TEST

/* Every combination of the three options (loop index bits: 1 wscale,
 * 2 timestamps, 4 SACK): the SYN we send with those features on and the
 * SYN-ACK we send to a SYN offering those, each a whole number of 32-bit
 * words holding exactly the expected options. */
START_TEST(syn_options_fill_whole_words_for_every_combination)
{
    bool ws = _i & 1, ts = _i & 2, sack = _i & 4;
    unsigned want = 20 + 4 + (ts ? 12 : sack ? 4 : 0) + (ws ? 4 : 0);
    unsigned f = USTACK_TCPF_DEFAULT & ~(USTACK_TCPF_WSCALE | USTACK_TCPF_TIMESTAMPS | USTACK_TCPF_SACK);
    if (ws)
        f |= USTACK_TCPF_WSCALE;
    if (ts)
        f |= USTACK_TCPF_TIMESTAMPS;
    if (sack)
        f |= USTACK_TCPF_SACK;
    reconfigure(f, 0);
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert_msg(o.hlen == want, "SYN ws %d ts %d sack %d: header %u, expected %u", ws, ts, sack, o.hlen, want);
    ck_assert_uint_eq(o.hlen % 4, 0);
    ck_assert_int_eq(o.mss, 1460);
    ck_assert_int_eq(o.ws >= 0, ws);
    ck_assert_int_eq(o.ts, ts);
    ck_assert_int_eq(o.sackok, sack);
    tcp_abort(tcb);

    reconfigure(USTACK_TCPF_DEFAULT, 0);
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, NULL, &err);
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460, .has_ws = ws, .ws = 1, .sackok = sack, .ts = ts,
           .tsval = PEER_TS);
    o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_msg(o.hlen == want, "SYN-ACK ws %d ts %d sack %d: header %u, expected %u", ws, ts, sack, o.hlen,
                  want);
    ck_assert_int_eq(o.ws >= 0, ws);
    ck_assert_int_eq(o.ts, ts);
    ck_assert_int_eq(o.sackok, sack);
    if (ts)
        ck_assert_uint_eq(o.tsecr, PEER_TS);
    tcp_close(l);
}
END_TEST

/* ------------------------------------------------------------------ PAWS */

START_TEST(paws_drops_a_segment_with_an_old_timestamp_and_acks)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    uint32_t s = PEER_ISN + 1;
    uint8_t d[200];
    fx_fill(d, sizeof d, 3);
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100, .ts = true, .tsval = PEER_TS + 10,
           .tsecr = our_ts(tcb));
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 10);
    EXPECT_NONE(); /* delayed ACK */
    /* New data, but TSval older than TS.Recent: an old duplicate. */
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 5, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, s + 100, 0);
    ck_assert(o.ts);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 10);
    EXPECT_NO_SACK(o);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 100);
    ck_assert_uint_eq(tcb->rcv_nxt, s + 100);
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 10);
    /* The same TSval as TS.Recent is not older: accepted. */
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 10, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 200);
    tcp_abort(tcb);
}
END_TEST

START_TEST(paws_lets_an_old_timestamp_in_after_24_days_idle)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    uint32_t s = PEER_ISN + 1;
    uint8_t d[200];
    fx_fill(d, sizeof d, 4);
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100, .ts = true, .tsval = PEER_TS + 10,
           .tsecr = our_ts(tcb));
    fx_advance(USTACK_MS(40));
    EXPECT(TCP_ACK, iss + 1, s + 100, 0);
    /* Just under 24 days idle: still dropped. */
    fx_advance(TCP_PAWS_IDLE_US - USTACK_MS(40));
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 5, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    EXPECT(TCP_ACK, iss + 1, s + 100, 0);
    /* Beyond: TS.Recent is too old to judge by (RFC 7323 5.5). */
    fx_advance(USTACK_SEC(1));
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 5, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_paws_idle_reset), 1);
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 200);
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 5);
    ck_assert_uint_eq(tcb->ts_recent_age, T.now);
    fx_advance(USTACK_MS(40));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, s + 200, 0);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 5);
    uint8_t r[200];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 200);
    ck_assert_mem_eq(r, d, 200);
    tcp_abort(tcb);
}
END_TEST

START_TEST(paws_does_not_apply_to_rst)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .ts = true, .tsval = PEER_TS + 10,
           .tsecr = our_ts(tcb));
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 10);
    INJECT(.seq = PEER_ISN + 1, .flags = TCP_RST, .ts = true, .tsval = PEER_TS + 1);
    ck_assert_uint_eq(CNT(tcp_drop_paws), 0);
    ck_assert_uint_eq(CNT(tcp_conn_reset), 1);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    EXPECT_NONE();
    tcp_close(tcb);
}
END_TEST

/* RFC 7323 4.3: TS.Recent takes the TSval of a segment only if it starts
 * at or before what our last ACK acknowledged: a delayed ACK echoes the
 * earliest of the segments it covers, an ACK for data beyond a hole the
 * last segment that advanced RCV.NXT, the ACK for data filling the hole
 * the segment that filled it. */
START_TEST(timestamp_echo_follows_rfc7323_4_3)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[5000];
    fx_fill(d, sizeof d, 21);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
    PEER_DATA(0, 1000, .ts = true, .tsval = PEER_TS + 1, .tsecr = our_ts(tcb));
    EXPECT_NONE();
    PEER_DATA(1000, 1000, .ts = true, .tsval = PEER_TS + 2, .tsecr = our_ts(tcb));
    struct outseg o = EXPECT(TCP_ACK, ack_no, s + 2000, 0); /* every second segment */
    ck_assert_uint_eq(o.tsecr, PEER_TS + 1);
    PEER_DATA(3000, 1000, .ts = true, .tsval = PEER_TS + 4, .tsecr = our_ts(tcb));
    o = EXPECT(TCP_ACK, ack_no, s + 2000, 0);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 1);
    PEER_DATA(2000, 1000, .ts = true, .tsval = PEER_TS + 3, .tsecr = our_ts(tcb));
    o = EXPECT(TCP_ACK, ack_no, s + 4000, 0);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 3);
    tcp_abort(tcb);
}
END_TEST

/* --------------------------------------------------- SACK blocks we send */

START_TEST(sack_blocks_list_the_latest_first_at_most_three_with_timestamps)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[8000];
    fx_fill(d, sizeof d, 5);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
#define TS_ON .ts = true, .tsval = PEER_TS + 1, .tsecr = our_ts(tcb)
    PEER_DATA(1000, 500, TS_ON);
    struct outseg o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(1000, 1500));
    PEER_DATA(3000, 500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(3000, 3500), R(1000, 1500));
    PEER_DATA(5000, 500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(5000, 5500), R(3000, 3500), R(1000, 1500));
    ck_assert_uint_eq(o.hlen, 60); /* 12 of timestamps + 4 + 3 * 8: full */
    /* A fourth range: still three blocks, the oldest left out. */
    PEER_DATA(7000, 500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(7000, 7500), R(5000, 5500), R(3000, 3500));
    /* Filling between the first two merges them; the merged block is the
     * latest and comes first. */
    PEER_DATA(1500, 1500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(1000, 3500), R(7000, 7500), R(5000, 5500));
    ck_assert_uint_eq(tcb->ooo_len, 3);
    /* Data that extends a range at its end. */
    PEER_DATA(5500, 500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(5000, 6000), R(1000, 3500), R(7000, 7500));
    /* The hole at RCV.NXT fills: the ACK moves, the rest stays SACKed. */
    PEER_DATA(0, 1000, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s + 3500, 0);
    EXPECT_SACK(o, R(5000, 6000), R(7000, 7500));
    PEER_DATA(3500, 1500, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s + 6000, 0);
    EXPECT_SACK(o, R(7000, 7500));
    PEER_DATA(6000, 1000, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s + 7500, 0);
    EXPECT_NO_SACK(o);
    ck_assert_uint_eq(o.hlen, 32);
#undef TS_ON
    uint8_t r[8000];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 7500);
    ck_assert_mem_eq(r, d, 7500);
    tcp_abort(tcb);
}
END_TEST

START_TEST(sack_blocks_are_four_without_timestamps)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[12000];
    fx_fill(d, sizeof d, 6);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
    PEER_DATA(1000, 1000);
    struct outseg o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(1000, 2000));
    PEER_DATA(3000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(3000, 4000), R(1000, 2000));
    PEER_DATA(5000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(5000, 6000), R(3000, 4000), R(1000, 2000));
    PEER_DATA(7000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(7000, 8000), R(5000, 6000), R(3000, 4000), R(1000, 2000));
    /* A fifth range: four blocks, the oldest left out. */
    PEER_DATA(9000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(9000, 10000), R(7000, 8000), R(5000, 6000), R(3000, 4000));
    ck_assert_uint_eq(o.hlen, 20 + 4 + 4 * 8);
    ck_assert(!o.ts);
    /* Adjacent data joins two ranges into one block. */
    PEER_DATA(2000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(1000, 4000), R(9000, 10000), R(7000, 8000), R(5000, 6000));
    tcp_abort(tcb);
}
END_TEST

/* ---------------------------------------------------------------- D-SACK */

START_TEST(dsack_reports_a_duplicate_below_rcv_nxt_once)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[4000];
    fx_fill(d, sizeof d, 7);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
#define TS_ON .ts = true, .tsval = PEER_TS + 1, .tsecr = our_ts(tcb)
    PEER_DATA(0, 1000, TS_ON);
    EXPECT_NONE();
    /* The same segment again: entirely old, answered at once with it as
     * the first (here the only) SACK block (RFC 2883 4.1.1). */
    PEER_DATA(0, 1000, TS_ON);
    struct outseg o = EXPECT(TCP_ACK, ack_no, s + 1000, 0);
    EXPECT_SACK(o, R(0, 1000));
    ck_assert_uint_eq(CNT(tcp_tx_dsack), 1);
    /* Reported once: the next ACK has no block. */
    PEER_DATA(1000, 1000, TS_ON);
    EXPECT_NONE();
    fx_advance(USTACK_MS(40));
    o = EXPECT(TCP_ACK, ack_no, s + 2000, 0);
    EXPECT_NO_SACK(o);
    /* In part old: the old part is reported, the new part taken. */
    PEER_DATA(1500, 1000, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s + 2500, 0);
    EXPECT_SACK(o, R(1500, 2000));
    ck_assert_uint_eq(CNT(tcp_tx_dsack), 2);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 2500);
#undef TS_ON
    tcp_abort(tcb);
}
END_TEST

START_TEST(dsack_reports_a_duplicate_of_data_held_out_of_order)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[6000];
    fx_fill(d, sizeof d, 8);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
    PEER_DATA(2000, 1000);
    struct outseg o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(2000, 3000));
    /* Again: the duplicate first, then the block that holds it (RFC 2883 4.1.2). */
    PEER_DATA(2000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(2000, 3000), R(2000, 3000));
    ck_assert_uint_eq(CNT(tcp_tx_dsack), 1);
    /* Once only. */
    PEER_DATA(4000, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(4000, 5000), R(2000, 3000));
    /* Overlapping held data and extending it. */
    PEER_DATA(2500, 1000);
    o = EXPECT(TCP_ACK, ack_no, s, 0);
    EXPECT_SACK(o, R(2500, 3000), R(2000, 3500), R(4000, 5000));
    ck_assert_uint_eq(CNT(tcp_tx_dsack), 2);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------- RFC 6675 scoreboard (no RACK) */

#define NO_RACK (USTACK_TCPF_DEFAULT & ~(USTACK_TCPF_RACK | USTACK_TCPF_TLP))
#define SEG(k) (iss + 1 + (uint32_t)(k) * MSS) /* start of our k-th segment */

START_TEST(sack_marks_a_hole_lost_once_dupthresh_segments_above_are_sacked)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 9);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS); /* IW10; segment 0 is lost */
    fx_advance(USTACK_MS(10));
    ACK(SEG(0), SACKS({SEG(1), SEG(2)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->sacked_out, MSS);
    ck_assert_uint_eq(tcb->lost_out, 0);
    ck_assert_uint_eq(tcp_pipe(tcb), 9 * MSS);
    ck_assert(txseg_at(tcb, SEG(1))->flags & TCP_TXSEG_SACKED);
    ACK(SEG(0), SACKS({SEG(1), SEG(3)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->sacked_out, 2 * MSS);
    ck_assert_uint_eq(tcb->lost_out, 0);
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    /* The third SACKed segment above it: lost (IsLost), retransmitted. */
    ACK(SEG(0), SACKS({SEG(1), SEG(4)}));
    struct outseg o = EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_sack_marked_lost), 1);
    ck_assert_uint_eq(CNT(tcp_sack_recoveries), 1);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    ck_assert_uint_eq(tcb->recover, SEG(10));
    ck_assert_uint_eq(tcb->sacked_out, 3 * MSS);
    ck_assert_uint_eq(tcb->lost_out, MSS);
    ck_assert_uint_eq(tcb->retrans_out, MSS);
    ck_assert_uint_eq(tcp_pipe(tcb), 10 * MSS - 3 * MSS - MSS + MSS);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS);
    ck_assert_uint_eq(txseg_at(tcb, SEG(0))->flags & (TCP_TXSEG_LOST | TCP_TXSEG_RETRANS),
                      TCP_TXSEG_LOST | TCP_TXSEG_RETRANS);
    /* Everything acknowledged: recovery ends at ssthresh. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(10));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 5 * MSS);
    ck_assert_uint_eq(tcb->sacked_out + tcb->lost_out + tcb->retrans_out, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(sack_retransmits_only_the_hole_with_dupthresh_sacked_above)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[12 * MSS];
    fx_fill(d, sizeof d, 10);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS); /* two more wait for the window */
    fx_advance(USTACK_MS(10));
    /* Segments 2 and 7 lost: 5 SACKed segments above 2, one above 7. */
    ACK(SEG(2), SACKS({SEG(3), SEG(7)}, {SEG(8), SEG(9)}));
    ck_assert_uint_eq(CNT(tcp_sack_marked_lost), 1);
    ck_assert_uint_eq(txseg_at(tcb, SEG(2))->flags & TCP_TXSEG_LOST, TCP_TXSEG_LOST);
    ck_assert_uint_eq(txseg_at(tcb, SEG(7))->flags & (TCP_TXSEG_LOST | TCP_TXSEG_SACKED), 0);
    ck_assert_uint_eq(txseg_at(tcb, SEG(9))->flags & (TCP_TXSEG_LOST | TCP_TXSEG_SACKED), 0);
    /* NextSeg: the lost segment first, exactly its bytes, then new data as
     * PRR allows (ssthresh 4 segments, pipe 2: two may go). */
    struct outseg o = EXPECT(TCP_ACK, SEG(2), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 2 * MSS, MSS);
    o = EXPECT(TCP_ACK, SEG(10), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 10 * MSS, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->ssthresh, 4 * MSS);
    ck_assert_uint_eq(tcb->sacked_out, 5 * MSS);
    ck_assert_uint_eq(tcb->lost_out, MSS);
    ck_assert_uint_eq(tcb->retrans_out, MSS);
    ck_assert_uint_eq(tcp_pipe(tcb), 9 * MSS - 5 * MSS - MSS + MSS);
    ck_assert_uint_eq(tcb->cwnd, 4 * MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(rto_retransmits_what_was_not_sacked)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 22);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    /* 5 and 6 arrive; too few SACKed above 0 to 4 to call them lost. */
    ACK(SEG(0), SACKS({SEG(5), SEG(7)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->lost_out, 0);
    fx_advance(sent + USTACK_MS(210) - T.now); /* RTO = SRTT 10 ms + the 200 ms floor */
    /* The RTO: everything not SACKed is lost; one segment of window. */
    EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    ck_assert_uint_eq(CNT(tcp_rto_marked_lost), 8);
    ck_assert_uint_eq(tcb->lost_out, 8 * MSS);
    ck_assert_uint_eq(tcb->sacked_out, 2 * MSS);
    ck_assert_uint_eq(tcb->cwnd, MSS);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS);
    /* Slow start repairs the rest, passing over what the peer holds. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(5), SEG(7)}));
    EXPECT(TCP_ACK, SEG(1), PEER_ISN + 1, MSS);
    EXPECT(TCP_ACK, SEG(2), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    fx_advance(USTACK_MS(10));
    ACK(SEG(3), SACKS({SEG(5), SEG(7)}));
    EXPECT(TCP_ACK, SEG(3), PEER_ISN + 1, MSS);
    EXPECT(TCP_ACK, SEG(4), PEER_ISN + 1, MSS);
    struct outseg o = EXPECT(TCP_ACK, SEG(7), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 7 * MSS, MSS);
    EXPECT_NONE();
    ck_assert(tcb->tflags & TF_LOSS);
    tcp_abort(tcb);
}
END_TEST

/* A fast retransmission that proves needless (the original was only
 * reordered): the peer's D-SACK for it, which comes after the ACK that
 * covered the original, undoes the reduction (RFC 2883 5, RFC 3708; as
 * Linux's tcp_try_undo_dsack). */
START_TEST(dsack_of_every_retransmission_undoes_the_recovery)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 23);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(0), SACKS({SEG(1), SEG(4)}));
    EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS);
    /* The original arrives: everything acknowledged, recovery over. */
    ACK(SEG(10));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 5 * MSS);
    /* Then the retransmission: a duplicate, D-SACKed. */
    fx_advance(USTACK_MS(5));
    ACK(SEG(10), SACKS({SEG(0), SEG(1)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert_uint_eq(CNT(tcp_undo_dsack), 1);
    ck_assert_uint_eq(tcb->cwnd, 10 * MSS);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    tcp_abort(tcb);
}
END_TEST

/* SACK blocks that cannot be right are dropped one by one (the ACK
 * stands), and none are taken from a peer that did not negotiate SACK. */
START_TEST(bad_or_unnegotiated_sack_blocks_are_ignored)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[4 * MSS];
    fx_fill(d, sizeof d, 27);
    send_flight(tcb, d, sizeof d, SEG(0), 4, MSS);
    fx_advance(USTACK_MS(10));
    /* Beyond SND.MAX, and empty: dropped; the good one is taken. */
    ACK(SEG(1), SACKS({SEG(3), SEG(5)}, {SEG(2), SEG(2)}, {SEG(2), SEG(3)}));
    ck_assert_uint_eq(CNT(tcp_drop_bad_sack), 2);
    ck_assert_uint_eq(CNT(tcp_rx_sack_blocks), 1);
    ck_assert_uint_eq(tcb->snd_una, SEG(1));
    ck_assert_uint_eq(tcb->sacked_out, MSS);
    ck_assert(txseg_at(tcb, SEG(2))->flags & TCP_TXSEG_SACKED);
    tcp_abort(tcb);
    fx_drain();

    /* A peer that did not offer SACK: its blocks mean nothing. */
    tcb = open_active(&iss, OFFER_NONE);
    send_flight(tcb, d, sizeof d, SEG(0), 4, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(2), SEG(3)}));
    ck_assert_uint_eq(CNT(tcp_rx_sack_blocks), 1);
    ck_assert_uint_eq(tcb->sacked_out, 0);
    tcp_abort(tcb);
}
END_TEST

/* ---------------------------------------------------- NewReno (RFC 6582) */

START_TEST(newreno_partial_ack_retransmits_the_next_hole_and_stays_in_recovery)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_NONE); /* the peer does not do SACK */
    static uint8_t d[14 * MSS];
    fx_fill(d, sizeof d, 11);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    /* Segment 0 arrives; 1 and 4 are lost. Slow start: two more go. */
    ACK(SEG(1));
    EXPECT(TCP_ACK, SEG(10), PEER_ISN + 1, MSS);
    EXPECT(TCP_ACK, SEG(11), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->cwnd, 11 * MSS);
    /* RFC 3042: one new segment on each of the first two duplicates. */
    ACK(SEG(1));
    EXPECT(TCP_ACK, SEG(12), PEER_ISN + 1, MSS);
    ACK(SEG(1));
    EXPECT(TCP_ACK | TCP_PSH, SEG(13), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_limited_transmit), 2);
    ck_assert_uint_eq(tcb->cwnd, 11 * MSS);
    /* The third: fast retransmit; ssthresh half the flight, cwnd inflated
     * by the three segments that left (RFC 6582 3.2 step 2). */
    ACK(SEG(1));
    struct outseg o = EXPECT(TCP_ACK, SEG(1), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + MSS, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_fast_retransmit), 1);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    ck_assert_uint_eq(tcb->recover, SEG(14));
    ck_assert_uint_eq(tcb->ssthresh, 13 * MSS / 2);
    ck_assert_uint_eq(tcb->cwnd, 13 * MSS / 2 + 3 * MSS);
    /* A partial ACK (1 to 3 arrived): the next hole goes at once, exactly
     * segment 4; cwnd deflated by the 3 segments acknowledged, plus one
     * (step 5); still in recovery; the RTO restarted. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(4));
    o = EXPECT(TCP_ACK, SEG(4), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 4 * MSS, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_newreno_partial_acks), 1);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    ck_assert_uint_eq(tcb->cwnd, 13 * MSS / 2 + 3 * MSS - 3 * MSS + MSS);
    ck_assert_uint_eq(tcb->t_rexmt.when, T.now + tcb->rto);
    ck_assert_uint_eq(CNT(tcp_retransmit_segs), 2);
    /* A duplicate in recovery inflates cwnd by one segment (step 4). */
    ACK(SEG(4));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->cwnd, 13 * MSS / 2 + 2 * MSS);
    /* The full ACK (>= recover) ends recovery: cwnd = ssthresh (step 3). */
    fx_advance(USTACK_MS(10));
    ACK(SEG(14));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 13 * MSS / 2);
    ck_assert_uint_eq(tcb->ssthresh, 13 * MSS / 2);
    ck_assert_uint_eq(CNT(tcp_recoveries), 1);
    EXPECT_NONE();
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------ RACK (RFC 8985 6) */

#define NO_TLP (USTACK_TCPF_DEFAULT & ~USTACK_TCPF_TLP)

START_TEST(rack_marks_lost_only_once_rtt_plus_reo_wnd_has_passed)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 12);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    /* Segment 1 SACKed after 10 ms: RACK.rtt 10 ms, min_rtt 10 ms, so
     * reo_wnd = min_rtt / 4 = 2.5 ms; segment 0, sent with it, is lost
     * only 12.5 ms after it was sent. */
    ACK(SEG(0), SACKS({SEG(1), SEG(2)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->rack_rtt, USTACK_MS(10));
    ck_assert_uint_eq(tcb->lost_out, 0);
    ck_assert(timer_armed(&tcb->t_rack));
    ck_assert_uint_eq(tcb->t_rack.when, sent + USTACK_MS(10) + 2500);
    fx_advance(2499);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 0);
    fx_advance(1);
    struct outseg o = EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rack_timeouts), 1);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    /* Only segment 0: the others were sent with or after segment 1. */
    ck_assert_uint_eq(tcb->lost_out, MSS);
    tcp_abort(tcb);
}
END_TEST

START_TEST(rack_marks_lost_on_an_ack_that_comes_after_the_deadline)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    FX_SET_OPT(tcb, nodelay, true);
    uint8_t d[2 * MSS];
    fx_fill(d, sizeof d, 13);
    ck_assert_int_eq(tcp_write(tcb, d, MSS), (ssize_t)MSS);
    EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, MSS);
    fx_advance(USTACK_MS(5));
    ck_assert_int_eq(tcp_write(tcb, d + MSS, MSS), (ssize_t)MSS);
    EXPECT(TCP_ACK | TCP_PSH, SEG(1), PEER_ISN + 1, MSS);
    /* Segment 1 SACKed 10 ms after it was sent, 15 ms after segment 0:
     * more than RACK.rtt + reo_wnd (12.5 ms) for segment 0: lost now. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(0), SACKS({SEG(1), SEG(2)}));
    struct outseg o = EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    ck_assert_uint_eq(CNT(tcp_rack_timeouts), 0);
    tcp_abort(tcb);
}
END_TEST

/* A D-SACK shows reordering: reo_wnd grows to 2 * min_rtt / 4. Loop index 0
 * and 1: two ISNs, one in each half of the sequence space, since the first
 * D-SACK must count wherever the connection's sequence numbers are. */
START_TEST(rack_reo_wnd_grows_after_a_dsack)
{
    reconfigure(NO_TLP, 0);
    tcp_set_next_isn(T.ts, _i ? 0x90000000u : 0x10000000u);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    ck_assert_uint_eq(iss, _i ? 0x90000000u : 0x10000000u);
    static uint8_t d[11 * MSS];
    fx_fill(d, sizeof d, 14);
    send_flight(tcb, d, MSS, SEG(0), 1, MSS);
    fx_advance(USTACK_MS(10));
    /* The ACK reports segment 0 twice: a D-SACK below the cumulative ACK. */
    ACK(SEG(1), SACKS({SEG(0), SEG(1)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert(tcb->rack_reordering_seen);
    ck_assert_uint_eq(tcb->rack_reo_wnd_mult, 2);
    ck_assert_uint_eq(tcb->min_rtt, USTACK_MS(10));
    ustack_time_t sent = T.now;
    send_flight(tcb, d + MSS, 10 * MSS, SEG(1), 10, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(2), SEG(3)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->t_rack.when, sent + USTACK_MS(10) + USTACK_MS(5));
    fx_advance(USTACK_MS(5) - 1);
    EXPECT_NONE();
    fx_advance(1);
    EXPECT(TCP_ACK, SEG(1), PEER_ISN + 1, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------- TLP (RFC 8985 7) */

START_TEST(tlp_retransmits_the_last_segment_after_two_srtt)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 15);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    /* All but the last two arrive: PTO = 2 * SRTT = 20 ms from this ACK. */
    ACK(SEG(8));
    EXPECT_NONE();
    ck_assert(tcb->tflags & TF_PTO);
    ck_assert_uint_eq(tcb->t_rexmt.when, T.now + USTACK_MS(20));
    fx_advance(USTACK_MS(20) - 1);
    EXPECT_NONE();
    fx_advance(1);
    /* No new data: the last segment goes again. */
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, SEG(9), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 9 * MSS, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_tlp_probes), 1);
    ck_assert_uint_eq(CNT(tcp_tlp_new_data), 0);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 0);
    ck_assert_uint_lt(T.now, sent + USTACK_MS(10) + tcb->rto); /* the RTO was to come at 210 ms */
    ck_assert(tcb->tflags & TF_TLP_OUT);
    ck_assert_uint_eq(tcb->cwnd, 11 * MSS);
    /* Its SACK shows segment 8 lost (RACK): retransmitted at once. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(8), SACKS({SEG(9), SEG(10)}));
    o = EXPECT(TCP_ACK, SEG(8), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 8 * MSS, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    tcp_abort(tcb);
}
END_TEST

START_TEST(tlp_sends_new_data_when_there_is_some)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS + 100];
    fx_fill(d, sizeof d, 16);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++)
        EXPECT(TCP_ACK, SEG(i), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    fx_advance(USTACK_MS(10));
    ACK(SEG(8));
    EXPECT_NONE(); /* the 100-byte tail waits (Nagle) */
    fx_advance(USTACK_MS(20));
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, SEG(10), PEER_ISN + 1, 100);
    ck_assert_mem_eq(o.data, d + 10 * MSS, 100);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_tlp_probes), 1);
    ck_assert_uint_eq(CNT(tcp_tlp_new_data), 1);
    ck_assert(!(tcb->tflags & TF_TLP_RETRANS));
    ck_assert_uint_eq(tcb->tlp_end_seq, SEG(10) + 100);
    tcp_abort(tcb);
}
END_TEST

START_TEST(tlp_with_one_segment_out_allows_for_a_delayed_ack)
{
    reconfigure(USTACK_TCPF_DEFAULT, USTACK_SEC(1)); /* RTO 1.01 s: the PTO comes first */
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    ck_assert_uint_eq(tcb->rto, USTACK_MS(1010)); /* SRTT 10 ms + the 1 s floor */
    uint8_t d[1000];
    fx_fill(d, sizeof d, 17);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, 1000);
    /* PTO = 2 * SRTT + WCDelAckT = 220 ms. */
    ck_assert(tcb->tflags & TF_PTO);
    fx_advance(USTACK_MS(220) - 1);
    EXPECT_NONE();
    fx_advance(1);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, 1000);
    ck_assert_mem_eq(o.data, d, 1000);
    ck_assert_uint_eq(CNT(tcp_tlp_probes), 1);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 0);
    /* After the probe, the RTO. */
    ck_assert(!(tcb->tflags & TF_PTO));
    ck_assert_uint_eq(tcb->t_rexmt.when, T.now + USTACK_MS(1010));
    tcp_abort(tcb);
}
END_TEST

/* RFC 8985 7.4.2: an ACK that reaches exactly the probe's end may come
 * from the original (only delayed) with the probe's D-SACK still to come:
 * no loss is inferred until an ACK goes beyond it without that D-SACK. */
START_TEST(tlp_episode_at_the_probe_end_waits_for_the_dsack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fx_fill(d, sizeof d, 24);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(8));
    fx_advance(USTACK_MS(20));
    EXPECT(TCP_ACK | TCP_PSH, SEG(9), PEER_ISN + 1, MSS); /* the probe */
    ck_assert(tcb->tflags & TF_TLP_RETRANS);
    uint32_t cwnd = tcb->cwnd;
    /* The originals arrive: everything acknowledged, no D-SACK yet. */
    fx_advance(USTACK_MS(5));
    ACK(SEG(10));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    ck_assert_uint_eq(tcb->cwnd, cwnd);
    ck_assert(tcb->tflags & TF_TLP_OUT);
    /* Then the probe: its D-SACK ends the episode, nothing was lost. */
    fx_advance(USTACK_MS(5));
    ACK(SEG(10), SACKS({SEG(9), SEG(10)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert(!(tcb->tflags & TF_TLP_OUT));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    ck_assert_uint_eq(tcb->cwnd, cwnd);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    tcp_abort(tcb);
}
END_TEST

/* The probe repaired a loss: the ACK that goes beyond its end without a
 * D-SACK for it is a congestion event (RFC 8985 7.4.2). */
START_TEST(tlp_that_repaired_a_loss_is_a_congestion_event)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    FX_SET_OPT(tcb, nodelay, true);
    static uint8_t d[11 * MSS];
    fx_fill(d, sizeof d, 25);
    send_flight(tcb, d, 10 * MSS, SEG(0), 10, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(8));
    fx_advance(USTACK_MS(20));
    EXPECT(TCP_ACK | TCP_PSH, SEG(9), PEER_ISN + 1, MSS); /* the probe */
    /* The original 9 was lost; the probe delivered it. */
    fx_advance(USTACK_MS(10));
    ACK(SEG(10));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    /* More data, acknowledged: beyond the probe, no D-SACK came. */
    send_flight(tcb, d + 10 * MSS, MSS, SEG(10), 1, MSS);
    fx_advance(USTACK_MS(10));
    ACK(SEG(11));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 1);
    ck_assert(!(tcb->tflags & TF_TLP_OUT));
    ck_assert_uint_eq(tcb->ssthresh, 2 * MSS); /* FlightSize is 0 here: the 2-segment floor */
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------- Eifel (RFC 3522) */

START_TEST(eifel_undoes_an_rto_whose_original_was_acked)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[10 * MSS_TS];
    fx_fill(d, sizeof d, 19);
    uint32_t tsval0 = our_ts(tcb);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++) {
        struct outseg o = EXPECT(TCP_ACK | (i == 9 ? TCP_PSH : 0), iss + 1 + i * MSS_TS, PEER_ISN + 1, MSS_TS);
        ck_assert_uint_eq(o.tsval, tsval0);
    }
    fx_advance(USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS_TS);
    ck_assert_uint_eq(o.tsval, tsval0 + 210);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    ck_assert_uint_eq(tcb->cwnd, MSS_TS);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS_TS);
    /* The ACK echoes the original's timestamp: the original arrived, the
     * timeout was spurious; the window of before comes back (and this ACK
     * then grows it by one segment in slow start), and nothing else is
     * retransmitted. */
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + MSS_TS, .flags = TCP_ACK, .ts = true, .tsval = PEER_TS + 1,
           .tsecr = tsval0);
    ck_assert_uint_eq(CNT(tcp_spurious_rto), 1);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    ck_assert_uint_eq(tcb->cwnd, 10 * MSS_TS + MSS_TS);
    ck_assert(!(tcb->tflags & TF_LOSS));
    ck_assert_uint_eq(tcb->lost_out, 0);
    EXPECT_NONE();
    tcp_abort(tcb);
}
END_TEST

START_TEST(eifel_keeps_the_rto_when_the_retransmission_was_acked)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[10 * MSS_TS];
    fx_fill(d, sizeof d, 20);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++)
        EXPECT(TCP_ACK | (i == 9 ? TCP_PSH : 0), iss + 1 + i * MSS_TS, PEER_ISN + 1, MSS_TS);
    fx_advance(USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS_TS);
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + MSS_TS, .flags = TCP_ACK, .ts = true, .tsval = PEER_TS + 1,
           .tsecr = o.tsval);
    ck_assert_uint_eq(CNT(tcp_spurious_rto), 0);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS_TS);
    ck_assert_uint_eq(tcb->cwnd, 2 * MSS_TS); /* slow start from the loss window */
    ck_assert(tcb->tflags & TF_LOSS);
    /* RTO recovery goes on: the next two lost segments. */
    EXPECT(TCP_ACK, iss + 1 + MSS_TS, PEER_ISN + 1, MSS_TS);
    EXPECT(TCP_ACK, iss + 1 + 2 * MSS_TS, PEER_ISN + 1, MSS_TS);
    EXPECT_NONE();
    tcp_abort(tcb);
}
END_TEST


/* ------------------------------------------------------------------ suite */

/* --------------------------------------------------------- ECN (RFC 3168) */

/* An active open with ECN switched on: the SYN asks for it (ECE, CWR); the
 * peer's SYN,ACK carries synack_flags besides SYN and ACK. */
static struct tcb *open_ecn(uint32_t *iss, uint8_t synack_flags)
{
    reconfigure(USTACK_TCPF_DEFAULT | USTACK_TCPF_ECN, 0);
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN | TCP_ECE | TCP_CWR, ANY, 0, 0);
    ck_assert_uint_eq(syn.tos & 3, 0); /* a SYN is never ECN-capable (6.1.1) */
    *iss = syn.seq;
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN, .ack = *iss + 1, .flags = TCP_SYN | TCP_ACK | synack_flags, .mss = 1460);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    EXPECT(TCP_ACK, *iss + 1, PEER_ISN + 1, 0);
    return tcb;
}

START_TEST(ecn_is_asked_for_only_when_switched_on)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_NONE); /* default features: no ECN */
    ck_assert(!(tcb->tflags & TF_ECN_OK));
    ck_assert_int_eq(tcp_write(tcb, "abc", 3), 3);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 3);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(ecn_negotiated_marks_new_data_ect0_but_not_retransmissions)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE);
    ck_assert(tcb->tflags & TF_ECN_OK);
    static uint8_t d[2 * MSS];
    fx_fill(d, sizeof d, 31);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2); /* ECT(0) */
    o = EXPECT(TCP_ACK | TCP_PSH, iss + 1 + MSS, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2);
    /* Pure ACKs are not ECN-capable (6.1.4), nor retransmissions (6.1.5). */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = "x", .len = 1);
    fx_advance(USTACK_MS(40));
    o = EXPECT(TCP_ACK, iss + 1 + 2 * MSS, PEER_ISN + 2, 0);
    ck_assert_uint_eq(o.tos & 3, 0);
    fx_advance(USTACK_MS(200));
    o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 2, MSS);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(a_syn_ack_reflecting_ece_and_cwr_is_not_ecn_setup)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE | TCP_CWR);
    ck_assert(!(tcb->tflags & TF_ECN_OK));
    ck_assert_int_eq(tcp_write(tcb, "abc", 3), 3);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 3);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(passive_open_agrees_to_ecn_with_ece_alone)
{
    reconfigure(USTACK_TCPF_DEFAULT | USTACK_TCPF_ECN, 0);
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    ck_assert_ptr_nonnull(l);
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN | TCP_ECE | TCP_CWR, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK | TCP_ECE, ANY, PEER_ISN + 1, 0);
    /* Without ECE and CWR both, no ECN. */
    INJECT(.sport = PPORT + 1, .seq = PEER_ISN, .flags = TCP_SYN | TCP_ECE, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    tcp_abort(l);
}
END_TEST

START_TEST(a_ce_mark_is_echoed_until_the_peer_says_cwr)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE);
    static const uint8_t d[300] = {1};
    /* CE on a data segment: an immediate ACK with ECE. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100, .tos = 3);
    EXPECT(TCP_ACK | TCP_ECE, iss + 1, PEER_ISN + 101, 0);
    ck_assert_uint_eq(CNT(tcp_ecn_ce_rx), 1);
    /* Unmarked data: ACKs keep saying ECE. */
    INJECT(.seq = PEER_ISN + 101, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100, .tos = 2);
    fx_advance(USTACK_MS(40));
    EXPECT(TCP_ACK | TCP_ECE, iss + 1, PEER_ISN + 201, 0);
    /* The peer reduced its window and says so: no more ECE. */
    INJECT(.seq = PEER_ISN + 201, .ack = iss + 1, .flags = TCP_ACK | TCP_CWR, .data = d, .len = 100, .tos = 2);
    fx_advance(USTACK_MS(40));
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 301, 0);
    ck_assert_uint_eq(CNT(tcp_ecn_ce_rx), 1);
    tcp_abort(tcb);
}
END_TEST

START_TEST(ece_reduces_the_window_once_per_window_and_cwr_follows)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE);
    static uint8_t d[9 * MSS];
    fx_fill(d, sizeof d, 32);
    send_flight(tcb, d, 8 * MSS, iss + 1, 8, MSS);
    uint32_t flight = 8 * MSS;
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + MSS, .flags = TCP_ACK | TCP_ECE);
    ck_assert_uint_eq(CNT(tcp_ecn_reductions), 1);
    ck_assert_uint_eq(tcb->ssthresh, flight / 2); /* NewReno: FlightSize / 2 */
    ck_assert_uint_eq(tcb->cwnd, flight / 2);
    ck_assert_uint_eq(CNT(tcp_retransmit_segs), 0); /* a signal, not a loss */
    /* Another ECE from the same window: no second reduction. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 2 * MSS, .flags = TCP_ACK | TCP_ECE);
    ck_assert_uint_eq(CNT(tcp_ecn_reductions), 1);
    ck_assert_uint_eq(tcb->ssthresh, flight / 2);
    /* Everything acknowledged; the next new segment carries CWR, once. */
    ACK(iss + 1 + 8 * MSS);
    ck_assert_int_eq(tcp_write(tcb, d + 8 * MSS, MSS), (ssize_t)MSS);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH | TCP_CWR, iss + 1 + 8 * MSS, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2);
    ck_assert(!(tcb->tflags & TF_CWR_SEND));
    tcp_abort(tcb);
}
END_TEST

Suite *suite_tcp_loss(void)
{
    Suite *s = suite_create("tcp_loss");
    TCase *tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_add_test(tc, active_open_offers_wscale_timestamps_and_sack_by_default);
    tcase_add_test(tc, syn_ack_without_options_leaves_them_off);
    tcase_add_test(tc, syn_ack_with_options_turns_them_on);
    tcase_add_test(tc, window_scale_above_14_is_taken_as_14);
    tcase_add_test(tc, timestamps_not_negotiated_are_ignored);
    tcase_add_test(tc, passive_open_answers_only_the_options_offered);
    tcase_add_test(tc, a_feature_switched_off_is_not_offered);
    tcase_add_test(tc, ecn_is_asked_for_only_when_switched_on);
    tcase_add_test(tc, ecn_negotiated_marks_new_data_ect0_but_not_retransmissions);
    tcase_add_test(tc, a_syn_ack_reflecting_ece_and_cwr_is_not_ecn_setup);
    tcase_add_test(tc, passive_open_agrees_to_ecn_with_ece_alone);
    tcase_add_test(tc, a_ce_mark_is_echoed_until_the_peer_says_cwr);
    tcase_add_test(tc, ece_reduces_the_window_once_per_window_and_cwr_follows);
    tcase_add_loop_test(tc, syn_options_fill_whole_words_for_every_combination, 0, 8);
    tcase_add_test(tc, paws_drops_a_segment_with_an_old_timestamp_and_acks);
    tcase_add_test(tc, paws_lets_an_old_timestamp_in_after_24_days_idle);
    tcase_add_test(tc, paws_does_not_apply_to_rst);
    tcase_add_test(tc, timestamp_echo_follows_rfc7323_4_3);
    tcase_add_test(tc, sack_blocks_list_the_latest_first_at_most_three_with_timestamps);
    tcase_add_test(tc, sack_blocks_are_four_without_timestamps);
    tcase_add_test(tc, dsack_reports_a_duplicate_below_rcv_nxt_once);
    tcase_add_test(tc, dsack_reports_a_duplicate_of_data_held_out_of_order);
    suite_add_tcase(s, tc);
    TCase *rec = tcase_create("recovery");
    tcase_add_checked_fixture(rec, setup, fx_teardown);
    tcase_add_test(rec, sack_marks_a_hole_lost_once_dupthresh_segments_above_are_sacked);
    tcase_add_test(rec, sack_retransmits_only_the_hole_with_dupthresh_sacked_above);
    tcase_add_test(rec, rto_retransmits_what_was_not_sacked);
    tcase_add_test(rec, dsack_of_every_retransmission_undoes_the_recovery);
    tcase_add_test(rec, bad_or_unnegotiated_sack_blocks_are_ignored);
    tcase_add_test(rec, newreno_partial_ack_retransmits_the_next_hole_and_stays_in_recovery);
    tcase_add_test(rec, rack_marks_lost_only_once_rtt_plus_reo_wnd_has_passed);
    tcase_add_test(rec, rack_marks_lost_on_an_ack_that_comes_after_the_deadline);
    tcase_add_loop_test(rec, rack_reo_wnd_grows_after_a_dsack, 0, 2);
    tcase_add_test(rec, tlp_retransmits_the_last_segment_after_two_srtt);
    tcase_add_test(rec, tlp_sends_new_data_when_there_is_some);
    tcase_add_test(rec, tlp_with_one_segment_out_allows_for_a_delayed_ack);
    tcase_add_test(rec, tlp_episode_at_the_probe_end_waits_for_the_dsack);
    tcase_add_test(rec, tlp_that_repaired_a_loss_is_a_congestion_event);
    tcase_add_test(rec, eifel_undoes_an_rto_whose_original_was_acked);
    tcase_add_test(rec, eifel_keeps_the_rto_when_the_retransmission_was_acked);
    suite_add_tcase(s, rec);
    return s;
}
