/*
 * Scripted tests of the TCP options and of loss recovery (stack/tcp_input.c,
 * tcp_output.c, tcp_recovery.c), in the style of test_tcp_engine.c: one
 * engine driven through its API with forged segments and a fake clock, "at t
 * inject this, expect that", every test on its own.
 *
 * The segment builder and parser here know the options of RFC 7323 and
 * RFC 2018 as well as the MSS: window scale, SACK-permitted, timestamps
 * (TSval/TSecr) and SACK blocks, both in what is injected and in what the
 * engine sends. Covered: negotiation of the options (active and passive
 * open, features switched off, SYN option alignment), PAWS and the
 * timestamp echo rules, the SACK and D-SACK blocks a receiver sends, the
 * RFC 6675 scoreboard and RTO recovery over it, NewReno (RFC 6582), RACK
 * (RFC 8985 6), TLP (RFC 8985 7), and undo by Eifel (RFC 3522) and by
 * D-SACK (RFC 3708).
 *
 * RTTs are exact: the peer answers 10 ms after a send (advance() then
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
#include "internal.h"
#include "tcp.h"

#define LPORT 80
#define PPORT 40000
#define PEER_ISN 5000u
#define PEER_TS 70000u /* the peer's timestamp clock at its SYN */
#define MSS 1460u      /* both ends announce 1460 */
#define MSS_TS 1448u   /* what a segment carries next to a timestamp option */

struct t {
    struct ustack *st;
    struct ustack_link *la, *lb;
    struct tcp_stack *ts;
    ustack_time_t now;
    uint32_t us, peer; /* network order */
};

static struct t T;

/* A segment from the peer. Options are written in this order: MSS,
 * SACK-permitted, timestamps, window scale, SACK blocks (NOP-padded to
 * words, as Linux does). */
struct segspec {
    uint16_t sport, dport; /* 0: PPORT, LPORT */
    uint32_t seq, ack;
    uint8_t flags;
    uint32_t wnd; /* 0: 65535 */
    const void *data;
    size_t len;
    uint16_t mss; /* 0: no MSS option */
    bool has_ws;
    uint8_t ws;
    bool sackok;
    bool ts;
    uint32_t tsval, tsecr;
    unsigned nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
    uint8_t tos; /* the IP header's TOS byte: its low bits are ECN's (3: CE) */
};

/* A segment the engine sent, options parsed. */
struct outseg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    unsigned hlen; /* header length, options included */
    int mss;       /* -1 if absent */
    int ws;        /* -1 if absent */
    bool sackok;
    bool ts;
    uint32_t tsval, tsecr;
    unsigned nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
    uint8_t data[2048];
    size_t len;
    uint8_t tos;
};

static uint32_t ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t x[4] = {a, b, c, d};
    uint32_t r;
    memcpy(&r, x, 4);
    return r;
}

static void drain(struct t *t)
{
    uint8_t buf[USTACK_FRAME_MAX];
    while (ustack_link_recv(t->lb, t->now, buf, sizeof buf) > 0)
        ;
}

static void setup_cfg(const struct tcp_config *tc)
{
    struct t *t = &T;
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(ustack_link_mem_pair(&t->la, &t->lb), 0);
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    t->us = ip(10, 0, 0, 2);
    t->peer = ip(10, 0, 0, 1);
    cfg.addr = t->us;
    cfg.arp_gratuitous = 0;
    /* The PAWS tests idle for 24 days: the peer's MAC must outlive that. */
    cfg.arp_reachable_us = USTACK_SEC(100000000);
    cfg.arp_stale_gc_us = USTACK_SEC(100000000);
    cfg.random_seed = 42;
    t->st = ustack_create(&cfg, t->la);
    ck_assert_ptr_nonnull(t->st);
    t->now = USTACK_SEC(100);
    ustack_poll(t->st, t->now);
    /* Teach the stack the peer's MAC with an ARP request from it. */
    uint8_t f[60] = {0};
    const uint8_t pmac[6] = {0x02, 0x00, 10, 0, 0, 1};
    memset(f, 0xff, 6);
    memcpy(f + 6, pmac, 6);
    wr16(f + 12, ETH_TYPE_ARP);
    uint8_t *a = f + 14;
    wr16(a, 1);
    wr16(a + 2, ETH_TYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    wr16(a + 6, ARP_OP_REQUEST);
    memcpy(a + 8, pmac, 6);
    wraddr(a + 14, t->peer);
    wraddr(a + 24, t->us);
    ustack_input(t->st, f, sizeof f);
    drain(t);
    t->ts = tcp_engine_new(t->st, tc);
    ck_assert_ptr_nonnull(t->ts);
    uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tcp_set_isn_key(t->ts, key);
}

/* These tests follow the recovery arithmetic with NewReno's ssthresh
 * (FlightSize / 2) and RFC 5681's slow start (one SMSS per ACK: byte
 * counting off); CUBIC, the default, has its own suite. */
static void setup(void)
{
    struct tcp_config c;
    tcp_config_default(&c);
    c.cc = &tcp_cc_newreno;
    c.features &= ~(unsigned)USTACK_TCPF_BYTE_COUNT;
    setup_cfg(&c);
}

static void teardown(void)
{
    struct t *t = &T;
    drain(t);
    tcp_engine_free(t->ts);
    ck_assert_uint_eq(t->st->pbufs_live, 0);
    ustack_destroy(t->st);
    ustack_link_close(t->la);
    ustack_link_close(t->lb);
}

/* A new engine with the default config but these features and minimum RTO. */
static void reconfigure(unsigned features, ustack_time_t rto_min_us)
{
    tcp_engine_free(T.ts);
    struct tcp_config c;
    tcp_config_default(&c);
    c.features = features & ~(unsigned)USTACK_TCPF_BYTE_COUNT;
    c.cc = &tcp_cc_newreno;
    if (rto_min_us)
        c.rto_min_us = rto_min_us;
    T.ts = tcp_engine_new(T.st, &c);
    ck_assert_ptr_nonnull(T.ts);
}

static void advance(struct t *t, ustack_time_t dt)
{
    t->now += dt;
    ustack_poll(t->st, t->now);
}

static void inject(struct t *t, struct segspec s)
{
    uint8_t opts[80];
    size_t n = 0;
    if (s.mss) {
        opts[n++] = TCP_OPT_MSS;
        opts[n++] = 4;
        wr16(opts + n, s.mss);
        n += 2;
    }
    if (s.sackok) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_SACK_PERM;
        opts[n++] = 2;
    }
    if (s.ts) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_TIMESTAMP;
        opts[n++] = 10;
        wr32(opts + n, s.tsval);
        wr32(opts + n + 4, s.tsecr);
        n += 8;
    }
    if (s.has_ws) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_WSCALE;
        opts[n++] = 3;
        opts[n++] = s.ws;
    }
    if (s.nsack) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_SACK;
        opts[n++] = (uint8_t)(2 + 8 * s.nsack);
        for (unsigned b = 0; b < s.nsack; b++) {
            wr32(opts + n, s.sack[b][0]);
            wr32(opts + n + 4, s.sack[b][1]);
            n += 8;
        }
    }
    ck_assert_uint_le(n, 40); /* what the data offset can say */
    ck_assert_uint_eq(n % 4, 0);
    size_t hlen = TCP_HDR_LEN + n, total = hlen + s.len;
    struct pbuf *pb = pbuf_alloc(t->st, 0, total);
    ck_assert_ptr_nonnull(pb);
    uint8_t *p = pb->data;
    memset(p, 0, hlen);
    wr16(p, s.sport ? s.sport : PPORT);
    wr16(p + 2, s.dport ? s.dport : LPORT);
    wr32(p + 4, s.seq);
    wr32(p + 8, s.ack);
    p[12] = (uint8_t)((hlen / 4) << 4);
    p[13] = s.flags;
    wr16(p + 14, s.wnd ? (uint16_t)s.wnd : 65535);
    memcpy(p + TCP_HDR_LEN, opts, n);
    if (s.len)
        memcpy(p + hlen, s.data, s.len);
    wr16(p + 16, csum_fold(csum_partial(p, total, csum_pseudo(t->peer, t->us, IPPROTO_TCP_, (uint16_t)total))));
    struct ipv4_hdr_info h = {0};
    h.ihl_bytes = 20;
    h.total_len = (uint16_t)(total + 20);
    h.ttl = 64;
    h.tos = s.tos;
    h.proto = IPPROTO_TCP_;
    h.src = t->peer;
    h.dst = t->us;
    tcp_input(t->ts, pb, &h);
}

#define INJECT(...) inject(&T, (struct segspec){__VA_ARGS__})

/* The next TCP segment the stack sent, checksums verified and options
 * parsed strictly: every option must lie inside the header, padding after
 * an EOL must be zeros. */
static bool next_out(struct t *t, struct outseg *o)
{
    uint8_t buf[USTACK_FRAME_MAX];
    for (;;) {
        int n = ustack_link_recv(t->lb, t->now, buf, sizeof buf);
        if (n <= 0)
            return false;
        if (n < 14 + 20 || rd16(buf + 12) != ETH_TYPE_IPV4)
            continue;
        const uint8_t *iph = buf + 14;
        size_t ihl = (size_t)(iph[0] & 15) * 4;
        size_t tot = rd16(iph + 2);
        ck_assert_uint_eq(inet_checksum(iph, ihl), 0);
        if (iph[9] != IPPROTO_TCP_)
            continue;
        const uint8_t *p = iph + ihl;
        size_t len = tot - ihl;
        ck_assert_uint_ge(len, 20);
        ck_assert_uint_eq(csum_fold(csum_partial(p, len, csum_pseudo(rdaddr(iph + 12), rdaddr(iph + 16),
                                                                     IPPROTO_TCP_, (uint16_t)len))),
                          0);
        memset(o, 0, sizeof *o);
        o->sport = rd16(p);
        o->dport = rd16(p + 2);
        o->seq = rd32(p + 4);
        o->ack = rd32(p + 8);
        o->flags = p[13];
        o->wnd = rd16(p + 14);
        o->tos = iph[1];
        size_t doff = (size_t)(p[12] >> 4) * 4;
        ck_assert_uint_ge(doff, 20);
        ck_assert_uint_le(doff, len);
        o->hlen = (unsigned)doff;
        o->mss = o->ws = -1;
        for (size_t i = 20; i < doff;) {
            if (p[i] == TCP_OPT_EOL) {
                for (size_t j = i; j < doff; j++)
                    ck_assert_msg(p[j] == 0, "non-zero byte after EOL at %zu", j);
                break;
            }
            if (p[i] == TCP_OPT_NOP) {
                i++;
                continue;
            }
            ck_assert_msg(i + 1 < doff, "option kind %u at %zu cut by the header end %zu", p[i], i, doff);
            uint8_t olen = p[i + 1];
            ck_assert_msg(olen >= 2 && i + olen <= doff, "option kind %u length %u at %zu overruns %zu", p[i],
                          olen, i, doff);
            const uint8_t *v = p + i + 2;
            switch (p[i]) {
            case TCP_OPT_MSS:
                ck_assert_uint_eq(olen, 4);
                o->mss = rd16(v);
                break;
            case TCP_OPT_WSCALE:
                ck_assert_uint_eq(olen, 3);
                o->ws = v[0];
                break;
            case TCP_OPT_SACK_PERM:
                ck_assert_uint_eq(olen, 2);
                o->sackok = true;
                break;
            case TCP_OPT_TIMESTAMP:
                ck_assert_uint_eq(olen, 10);
                o->ts = true;
                o->tsval = rd32(v);
                o->tsecr = rd32(v + 4);
                break;
            case TCP_OPT_SACK:
                ck_assert_msg(olen >= 10 && (olen - 2) % 8 == 0, "SACK option length %u", olen);
                o->nsack = (unsigned)(olen - 2) / 8;
                ck_assert_uint_le(o->nsack, TCP_MAX_SACK_BLOCKS);
                for (unsigned b = 0; b < o->nsack; b++) {
                    o->sack[b][0] = rd32(v + 8 * b);
                    o->sack[b][1] = rd32(v + 8 * b + 4);
                }
                break;
            default:
                ck_abort_msg("unexpected option kind %u", p[i]);
            }
            i += olen;
        }
        o->len = len - doff;
        ck_assert_uint_le(o->len, sizeof o->data);
        memcpy(o->data, p + doff, o->len);
        return true;
    }
}

#define ANY (1ull << 32) /* any sequence number */

static struct outseg expect_seg(struct t *t, uint8_t flags, uint64_t seq, uint32_t ack, size_t len,
                                const char *where, int line)
{
    struct outseg o;
    ck_assert_msg(next_out(t, &o), "%s:%d: expected a segment, none sent", where, line);
    ck_assert_msg(o.flags == flags, "%s:%d: flags 0x%02x, expected 0x%02x (seq %u ack %u len %zu)", where, line,
                  o.flags, flags, o.seq, o.ack, o.len);
    if (seq != ANY)
        ck_assert_msg(o.seq == (uint32_t)seq, "%s:%d: seq %u, expected %u (len %zu)", where, line, o.seq,
                      (uint32_t)seq, o.len);
    if (flags & TCP_ACK)
        ck_assert_msg(o.ack == ack, "%s:%d: ack %u, expected %u", where, line, o.ack, ack);
    ck_assert_msg(o.len == len, "%s:%d: len %zu, expected %zu (seq %u)", where, line, o.len, len, o.seq);
    return o;
}
#define EXPECT(flags, seq, ack, len) expect_seg(&T, (flags), (seq), (ack), (len), __func__, __LINE__)

static void expect_none(struct t *t, const char *where, int line)
{
    struct outseg o;
    ck_assert_msg(!next_out(t, &o), "%s:%d: unexpected segment flags 0x%02x seq %u ack %u len %zu", where, line,
                  o.flags, o.seq, o.ack, o.len);
}
#define EXPECT_NONE() expect_none(&T, __func__, __LINE__)

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

#define CNT(name) tcp_counter_get(T.ts, #name)

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + seed);
}

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
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);
    *iss = syn.seq;
    advance(&T, USTACK_MS(10));
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
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, n), (ssize_t)n);
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
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, &err);
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
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 1);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, 1000), 1000);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 1000);
    ck_assert_uint_eq(o.hlen, 20);
    ck_assert(!o.ts);
    ck_assert_uint_eq(o.wnd, 65535);
    /* Data beyond a hole: a duplicate ACK without SACK blocks. */
    INJECT(.seq = PEER_ISN + 1 + 500, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100);
    o = EXPECT(TCP_ACK, iss + 1001, PEER_ISN + 1, 0);
    ck_assert_uint_eq(o.hlen, 20);
    EXPECT_NO_SACK(o);
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 2);
    advance(&T, USTACK_MS(3));
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
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
    ck_assert_int_eq(tcp_shutdown_write(T.ts, tcb), 0);
    o = EXPECT(TCP_ACK | TCP_FIN, iss + 1 + 2 * MSS_TS, PEER_ISN + 1, 0);
    ck_assert(o.ts);
    ck_assert_uint_eq(o.tsval, our_ts(tcb));
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(window_scale_above_14_is_taken_as_14)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, (struct offer){.ws = true, .shift = 15});
    ck_assert_uint_eq(tcb->snd_wscale, TCP_MAX_WSCALE); /* RFC 7323 2.3 */
    ACK(iss + 1, .wnd = 3);
    ck_assert_uint_eq(tcb->snd_wnd, 3u << 14);
    tcp_abort(T.ts, tcb);
}
END_TEST

/* RFC 7323 3.2: a timestamp option on a connection that did not negotiate
 * it is ignored (no PAWS, no echo), the segment processed normally. */
START_TEST(timestamps_not_negotiated_are_ignored)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[2000];
    fill(d, sizeof d, 26);
    uint32_t s = PEER_ISN + 1, ack_no = iss + 1;
    PEER_DATA(0, 1000, .ts = true, .tsval = PEER_TS + 10, .tsecr = 1);
    PEER_DATA(1000, 1000, .ts = true, .tsval = PEER_TS + 1, .tsecr = 1); /* "older": no PAWS here */
    struct outseg o = EXPECT(TCP_ACK, ack_no, s + 2000, 0);
    ck_assert(!o.ts);
    ck_assert_uint_eq(o.hlen, 20);
    ck_assert_uint_eq(CNT(tcp_drop_paws), 0);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 2000);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(passive_open_answers_only_the_options_offered)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, &err);
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
    struct tcb *c = tcp_accept_next(T.ts, l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), 0);
    ck_assert_uint_eq(c->rcv_wscale, 0);
    ck_assert_uint_eq(c->snd_wnd, 1000);
    tcp_abort(T.ts, c);
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
    c = tcp_accept_next(T.ts, l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_WS_OK | TF_TS_OK | TF_SACK_OK);
    ck_assert_uint_eq(c->snd_wscale, 3);
    ck_assert_uint_eq(c->rcv_wscale, 7);
    ck_assert_uint_eq(c->snd_wnd, 8000); /* the third segment's window is scaled */
    ck_assert_uint_eq(c->mss, MSS_TS);
    tcp_abort(T.ts, c);
    EXPECT(TCP_RST | TCP_ACK, ANY, PEER_ISN + 1, 0);
    tcp_close(T.ts, l);
}
END_TEST

START_TEST(a_feature_switched_off_is_not_offered)
{
    /* By the configuration: no timestamps in the SYN. */
    reconfigure(USTACK_TCPF_DEFAULT & ~USTACK_TCPF_TIMESTAMPS, 0);
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, &err);
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
    tcp_abort(T.ts, tcb);
    drain(&T);

    /* Per connection before connect (USTACK_TCP_FEATURES): no SACK. */
    struct tcp_open_opts oo = {.has_features = true, .features = USTACK_TCPF_DEFAULT & ~USTACK_TCPF_SACK};
    tcb = tcp_open_active_opts(T.ts, 0, LPORT, T.peer, PPORT + 1, &oo, &err);
    ck_assert_ptr_nonnull(tcb);
    o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert(!o.sackok);
    ck_assert(o.ts);
    ck_assert_int_eq(o.ws, 7);
    tcp_abort(T.ts, tcb);

    /* On a listener: no window scaling in the SYN-ACK, whatever the SYN says. */
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, &err);
    ck_assert_ptr_nonnull(l);
    tcp_set_features(l, USTACK_TCPF_DEFAULT & ~USTACK_TCPF_WSCALE);
    INJECT(.sport = PPORT + 2, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460, .has_ws = true, .ws = 3,
           .sackok = true, .ts = true, .tsval = PEER_TS);
    o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_int_eq(o.ws, -1);
    ck_assert(o.sackok);
    ck_assert(o.ts);
    INJECT(.sport = PPORT + 2, .seq = PEER_ISN + 1, .ack = o.seq + 1, .flags = TCP_ACK, .wnd = 1000, .ts = true,
           .tsval = PEER_TS + 1, .tsecr = o.tsval);
    struct tcb *c = tcp_accept_next(T.ts, l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_TS_OK | TF_SACK_OK), TF_TS_OK | TF_SACK_OK);
    ck_assert_uint_eq(c->snd_wscale, 0);
    ck_assert_uint_eq(c->rcv_wscale, 0);
    ck_assert_uint_eq(c->snd_wnd, 1000);
    tcp_abort(T.ts, c);
    tcp_close(T.ts, l);
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
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert_msg(o.hlen == want, "SYN ws %d ts %d sack %d: header %u, expected %u", ws, ts, sack, o.hlen, want);
    ck_assert_uint_eq(o.hlen % 4, 0);
    ck_assert_int_eq(o.mss, 1460);
    ck_assert_int_eq(o.ws >= 0, ws);
    ck_assert_int_eq(o.ts, ts);
    ck_assert_int_eq(o.sackok, sack);
    tcp_abort(T.ts, tcb);

    reconfigure(USTACK_TCPF_DEFAULT, 0);
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, &err);
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
    tcp_close(T.ts, l);
}
END_TEST

/* ------------------------------------------------------------------ PAWS */

START_TEST(paws_drops_a_segment_with_an_old_timestamp_and_acks)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    uint32_t s = PEER_ISN + 1;
    uint8_t d[200];
    fill(d, sizeof d, 3);
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
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(paws_lets_an_old_timestamp_in_after_24_days_idle)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    uint32_t s = PEER_ISN + 1;
    uint8_t d[200];
    fill(d, sizeof d, 4);
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100, .ts = true, .tsval = PEER_TS + 10,
           .tsecr = our_ts(tcb));
    advance(&T, USTACK_MS(40));
    EXPECT(TCP_ACK, iss + 1, s + 100, 0);
    /* Just under 24 days idle: still dropped. */
    advance(&T, TCP_PAWS_IDLE_US - USTACK_MS(40));
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 5, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    EXPECT(TCP_ACK, iss + 1, s + 100, 0);
    /* Beyond: TS.Recent is too old to judge by (RFC 7323 5.5). */
    advance(&T, USTACK_SEC(1));
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 100, .ts = true,
           .tsval = PEER_TS + 5, .tsecr = our_ts(tcb));
    ck_assert_uint_eq(CNT(tcp_paws_idle_reset), 1);
    ck_assert_uint_eq(CNT(tcp_drop_paws), 1);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 200);
    ck_assert_uint_eq(tcb->ts_recent, PEER_TS + 5);
    ck_assert_uint_eq(tcb->ts_recent_age, T.now);
    advance(&T, USTACK_MS(40));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, s + 200, 0);
    ck_assert_uint_eq(o.tsecr, PEER_TS + 5);
    uint8_t r[200];
    ck_assert_int_eq(tcp_read(T.ts, tcb, r, sizeof r), 200);
    ck_assert_mem_eq(r, d, 200);
    tcp_abort(T.ts, tcb);
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
    tcp_close(T.ts, tcb);
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
    fill(d, sizeof d, 21);
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
    tcp_abort(T.ts, tcb);
}
END_TEST

/* --------------------------------------------------- SACK blocks we send */

START_TEST(sack_blocks_list_the_latest_first_at_most_three_with_timestamps)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[8000];
    fill(d, sizeof d, 5);
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
    ck_assert_int_eq(tcp_read(T.ts, tcb, r, sizeof r), 7500);
    ck_assert_mem_eq(r, d, 7500);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(sack_blocks_are_four_without_timestamps)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[12000];
    fill(d, sizeof d, 6);
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
    tcp_abort(T.ts, tcb);
}
END_TEST

/* ---------------------------------------------------------------- D-SACK */

START_TEST(dsack_reports_a_duplicate_below_rcv_nxt_once)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[4000];
    fill(d, sizeof d, 7);
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
    advance(&T, USTACK_MS(40));
    o = EXPECT(TCP_ACK, ack_no, s + 2000, 0);
    EXPECT_NO_SACK(o);
    /* In part old: the old part is reported, the new part taken. */
    PEER_DATA(1500, 1000, TS_ON);
    o = EXPECT(TCP_ACK, ack_no, s + 2500, 0);
    EXPECT_SACK(o, R(1500, 2000));
    ck_assert_uint_eq(CNT(tcp_tx_dsack), 2);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 2500);
#undef TS_ON
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(dsack_reports_a_duplicate_of_data_held_out_of_order)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[6000];
    fill(d, sizeof d, 8);
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
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 9);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS); /* IW10; segment 0 is lost */
    advance(&T, USTACK_MS(10));
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
    advance(&T, USTACK_MS(10));
    ACK(SEG(10));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 5 * MSS);
    ck_assert_uint_eq(tcb->sacked_out + tcb->lost_out + tcb->retrans_out, 0);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(sack_retransmits_only_the_hole_with_dupthresh_sacked_above)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[12 * MSS];
    fill(d, sizeof d, 10);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS); /* two more wait for the window */
    advance(&T, USTACK_MS(10));
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
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(rto_retransmits_what_was_not_sacked)
{
    reconfigure(NO_RACK, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fill(d, sizeof d, 22);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    /* 5 and 6 arrive; too few SACKed above 0 to 4 to call them lost. */
    ACK(SEG(0), SACKS({SEG(5), SEG(7)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->lost_out, 0);
    advance(&T, sent + USTACK_MS(210) - T.now); /* RTO = SRTT 10 ms + the 200 ms floor */
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
    advance(&T, USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(5), SEG(7)}));
    EXPECT(TCP_ACK, SEG(1), PEER_ISN + 1, MSS);
    EXPECT(TCP_ACK, SEG(2), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    advance(&T, USTACK_MS(10));
    ACK(SEG(3), SACKS({SEG(5), SEG(7)}));
    EXPECT(TCP_ACK, SEG(3), PEER_ISN + 1, MSS);
    EXPECT(TCP_ACK, SEG(4), PEER_ISN + 1, MSS);
    struct outseg o = EXPECT(TCP_ACK, SEG(7), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 7 * MSS, MSS);
    EXPECT_NONE();
    ck_assert(tcb->tflags & TF_LOSS);
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 23);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(0), SACKS({SEG(1), SEG(4)}));
    EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS);
    /* The original arrives: everything acknowledged, recovery over. */
    ACK(SEG(10));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 5 * MSS);
    /* Then the retransmission: a duplicate, D-SACKed. */
    advance(&T, USTACK_MS(5));
    ACK(SEG(10), SACKS({SEG(0), SEG(1)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert_uint_eq(CNT(tcp_undo_dsack), 1);
    ck_assert_uint_eq(tcb->cwnd, 10 * MSS);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 27);
    send_flight(tcb, d, sizeof d, SEG(0), 4, MSS);
    advance(&T, USTACK_MS(10));
    /* Beyond SND.MAX, and empty: dropped; the good one is taken. */
    ACK(SEG(1), SACKS({SEG(3), SEG(5)}, {SEG(2), SEG(2)}, {SEG(2), SEG(3)}));
    ck_assert_uint_eq(CNT(tcp_drop_bad_sack), 2);
    ck_assert_uint_eq(CNT(tcp_rx_sack_blocks), 1);
    ck_assert_uint_eq(tcb->snd_una, SEG(1));
    ck_assert_uint_eq(tcb->sacked_out, MSS);
    ck_assert(txseg_at(tcb, SEG(2))->flags & TCP_TXSEG_SACKED);
    tcp_abort(T.ts, tcb);
    drain(&T);

    /* A peer that did not offer SACK: its blocks mean nothing. */
    tcb = open_active(&iss, OFFER_NONE);
    send_flight(tcb, d, sizeof d, SEG(0), 4, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(2), SEG(3)}));
    ck_assert_uint_eq(CNT(tcp_rx_sack_blocks), 1);
    ck_assert_uint_eq(tcb->sacked_out, 0);
    tcp_abort(T.ts, tcb);
}
END_TEST

/* ---------------------------------------------------- NewReno (RFC 6582) */

START_TEST(newreno_partial_ack_retransmits_the_next_hole_and_stays_in_recovery)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_NONE); /* the peer does not do SACK */
    static uint8_t d[14 * MSS];
    fill(d, sizeof d, 11);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
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
    advance(&T, USTACK_MS(10));
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
    advance(&T, USTACK_MS(10));
    ACK(SEG(14));
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    ck_assert_uint_eq(tcb->cwnd, 13 * MSS / 2);
    ck_assert_uint_eq(tcb->ssthresh, 13 * MSS / 2);
    ck_assert_uint_eq(CNT(tcp_recoveries), 1);
    EXPECT_NONE();
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 12);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    /* Segment 1 SACKed after 10 ms: RACK.rtt 10 ms, min_rtt 10 ms, so
     * reo_wnd = min_rtt / 4 = 2.5 ms; segment 0, sent with it, is lost
     * only 12.5 ms after it was sent. */
    ACK(SEG(0), SACKS({SEG(1), SEG(2)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->rack_rtt, USTACK_MS(10));
    ck_assert_uint_eq(tcb->lost_out, 0);
    ck_assert(timer_armed(&tcb->t_rack));
    ck_assert_uint_eq(tcb->t_rack.when, sent + USTACK_MS(10) + 2500);
    advance(&T, 2499);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 0);
    advance(&T, 1);
    struct outseg o = EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d, MSS);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rack_timeouts), 1);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    ck_assert(tcb->tflags & TF_IN_RECOVERY);
    /* Only segment 0: the others were sent with or after segment 1. */
    ck_assert_uint_eq(tcb->lost_out, MSS);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(rack_marks_lost_on_an_ack_that_comes_after_the_deadline)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    tcp_set_nodelay(tcb, true);
    uint8_t d[2 * MSS];
    fill(d, sizeof d, 13);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, MSS), (ssize_t)MSS);
    EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, MSS);
    advance(&T, USTACK_MS(5));
    ck_assert_int_eq(tcp_write(T.ts, tcb, d + MSS, MSS), (ssize_t)MSS);
    EXPECT(TCP_ACK | TCP_PSH, SEG(1), PEER_ISN + 1, MSS);
    /* Segment 1 SACKed 10 ms after it was sent, 15 ms after segment 0:
     * more than RACK.rtt + reo_wnd (12.5 ms) for segment 0: lost now. */
    advance(&T, USTACK_MS(10));
    ACK(SEG(0), SACKS({SEG(1), SEG(2)}));
    struct outseg o = EXPECT(TCP_ACK, SEG(0), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    ck_assert_uint_eq(CNT(tcp_rack_timeouts), 0);
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 14);
    send_flight(tcb, d, MSS, SEG(0), 1, MSS);
    advance(&T, USTACK_MS(10));
    /* The ACK reports segment 0 twice: a D-SACK below the cumulative ACK. */
    ACK(SEG(1), SACKS({SEG(0), SEG(1)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert(tcb->rack_reordering_seen);
    ck_assert_uint_eq(tcb->rack_reo_wnd_mult, 2);
    ck_assert_uint_eq(tcb->min_rtt, USTACK_MS(10));
    ustack_time_t sent = T.now;
    send_flight(tcb, d + MSS, 10 * MSS, SEG(1), 10, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(1), SACKS({SEG(2), SEG(3)}));
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->t_rack.when, sent + USTACK_MS(10) + USTACK_MS(5));
    advance(&T, USTACK_MS(5) - 1);
    EXPECT_NONE();
    advance(&T, 1);
    EXPECT(TCP_ACK, SEG(1), PEER_ISN + 1, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    tcp_abort(T.ts, tcb);
}
END_TEST

/* ------------------------------------------------------- TLP (RFC 8985 7) */

START_TEST(tlp_retransmits_the_last_segment_after_two_srtt)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS];
    fill(d, sizeof d, 15);
    ustack_time_t sent = T.now;
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    /* All but the last two arrive: PTO = 2 * SRTT = 20 ms from this ACK. */
    ACK(SEG(8));
    EXPECT_NONE();
    ck_assert(tcb->tflags & TF_PTO);
    ck_assert_uint_eq(tcb->t_rexmt.when, T.now + USTACK_MS(20));
    advance(&T, USTACK_MS(20) - 1);
    EXPECT_NONE();
    advance(&T, 1);
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
    advance(&T, USTACK_MS(10));
    ACK(SEG(8), SACKS({SEG(9), SEG(10)}));
    o = EXPECT(TCP_ACK, SEG(8), PEER_ISN + 1, MSS);
    ck_assert_mem_eq(o.data, d + 8 * MSS, MSS);
    ck_assert_uint_eq(CNT(tcp_rack_marked_lost), 1);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(tlp_sends_new_data_when_there_is_some)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    static uint8_t d[10 * MSS + 100];
    fill(d, sizeof d, 16);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++)
        EXPECT(TCP_ACK, SEG(i), PEER_ISN + 1, MSS);
    EXPECT_NONE();
    advance(&T, USTACK_MS(10));
    ACK(SEG(8));
    EXPECT_NONE(); /* the 100-byte tail waits (Nagle) */
    advance(&T, USTACK_MS(20));
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, SEG(10), PEER_ISN + 1, 100);
    ck_assert_mem_eq(o.data, d + 10 * MSS, 100);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_tlp_probes), 1);
    ck_assert_uint_eq(CNT(tcp_tlp_new_data), 1);
    ck_assert(!(tcb->tflags & TF_TLP_RETRANS));
    ck_assert_uint_eq(tcb->tlp_end_seq, SEG(10) + 100);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(tlp_with_one_segment_out_allows_for_a_delayed_ack)
{
    reconfigure(USTACK_TCPF_DEFAULT, USTACK_SEC(1)); /* RTO 1.01 s: the PTO comes first */
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    ck_assert_uint_eq(tcb->rto, USTACK_MS(1010)); /* SRTT 10 ms + the 1 s floor */
    uint8_t d[1000];
    fill(d, sizeof d, 17);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
    EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, 1000);
    /* PTO = 2 * SRTT + WCDelAckT = 220 ms. */
    ck_assert(tcb->tflags & TF_PTO);
    advance(&T, USTACK_MS(220) - 1);
    EXPECT_NONE();
    advance(&T, 1);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, SEG(0), PEER_ISN + 1, 1000);
    ck_assert_mem_eq(o.data, d, 1000);
    ck_assert_uint_eq(CNT(tcp_tlp_probes), 1);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 0);
    /* After the probe, the RTO. */
    ck_assert(!(tcb->tflags & TF_PTO));
    ck_assert_uint_eq(tcb->t_rexmt.when, T.now + USTACK_MS(1010));
    tcp_abort(T.ts, tcb);
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
    fill(d, sizeof d, 24);
    send_flight(tcb, d, sizeof d, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(8));
    advance(&T, USTACK_MS(20));
    EXPECT(TCP_ACK | TCP_PSH, SEG(9), PEER_ISN + 1, MSS); /* the probe */
    ck_assert(tcb->tflags & TF_TLP_RETRANS);
    uint32_t cwnd = tcb->cwnd;
    /* The originals arrive: everything acknowledged, no D-SACK yet. */
    advance(&T, USTACK_MS(5));
    ACK(SEG(10));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    ck_assert_uint_eq(tcb->cwnd, cwnd);
    ck_assert(tcb->tflags & TF_TLP_OUT);
    /* Then the probe: its D-SACK ends the episode, nothing was lost. */
    advance(&T, USTACK_MS(5));
    ACK(SEG(10), SACKS({SEG(9), SEG(10)}));
    ck_assert_uint_eq(CNT(tcp_rx_dsack), 1);
    ck_assert(!(tcb->tflags & TF_TLP_OUT));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    ck_assert_uint_eq(tcb->cwnd, cwnd);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    tcp_abort(T.ts, tcb);
}
END_TEST

/* The probe repaired a loss: the ACK that goes beyond its end without a
 * D-SACK for it is a congestion event (RFC 8985 7.4.2). */
START_TEST(tlp_that_repaired_a_loss_is_a_congestion_event)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_SACK);
    tcp_set_nodelay(tcb, true);
    static uint8_t d[11 * MSS];
    fill(d, sizeof d, 25);
    send_flight(tcb, d, 10 * MSS, SEG(0), 10, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(8));
    advance(&T, USTACK_MS(20));
    EXPECT(TCP_ACK | TCP_PSH, SEG(9), PEER_ISN + 1, MSS); /* the probe */
    /* The original 9 was lost; the probe delivered it. */
    advance(&T, USTACK_MS(10));
    ACK(SEG(10));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 0);
    /* More data, acknowledged: beyond the probe, no D-SACK came. */
    send_flight(tcb, d + 10 * MSS, MSS, SEG(10), 1, MSS);
    advance(&T, USTACK_MS(10));
    ACK(SEG(11));
    ck_assert_uint_eq(CNT(tcp_tlp_recoveries), 1);
    ck_assert(!(tcb->tflags & TF_TLP_OUT));
    ck_assert_uint_eq(tcb->ssthresh, 2 * MSS); /* FlightSize is 0 here: the 2-segment floor */
    tcp_abort(T.ts, tcb);
}
END_TEST

/* ------------------------------------------------------- Eifel (RFC 3522) */

START_TEST(eifel_undoes_an_rto_whose_original_was_acked)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[10 * MSS_TS];
    fill(d, sizeof d, 19);
    uint32_t tsval0 = our_ts(tcb);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++) {
        struct outseg o = EXPECT(TCP_ACK | (i == 9 ? TCP_PSH : 0), iss + 1 + i * MSS_TS, PEER_ISN + 1, MSS_TS);
        ck_assert_uint_eq(o.tsval, tsval0);
    }
    advance(&T, USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS_TS);
    ck_assert_uint_eq(o.tsval, tsval0 + 210);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    ck_assert_uint_eq(tcb->cwnd, MSS_TS);
    ck_assert_uint_eq(tcb->ssthresh, 5 * MSS_TS);
    /* The ACK echoes the original's timestamp: the original arrived, the
     * timeout was spurious; the window of before comes back (and this ACK
     * then grows it by one segment in slow start), and nothing else is
     * retransmitted. */
    advance(&T, USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + MSS_TS, .flags = TCP_ACK, .ts = true, .tsval = PEER_TS + 1,
           .tsecr = tsval0);
    ck_assert_uint_eq(CNT(tcp_spurious_rto), 1);
    ck_assert_uint_eq(tcb->ssthresh, UINT32_MAX);
    ck_assert_uint_eq(tcb->cwnd, 10 * MSS_TS + MSS_TS);
    ck_assert(!(tcb->tflags & TF_LOSS));
    ck_assert_uint_eq(tcb->lost_out, 0);
    EXPECT_NONE();
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(eifel_keeps_the_rto_when_the_retransmission_was_acked)
{
    reconfigure(NO_TLP, 0);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, OFFER_ALL);
    static uint8_t d[10 * MSS_TS];
    fill(d, sizeof d, 20);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
    for (unsigned i = 0; i < 10; i++)
        EXPECT(TCP_ACK | (i == 9 ? TCP_PSH : 0), iss + 1 + i * MSS_TS, PEER_ISN + 1, MSS_TS);
    advance(&T, USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS_TS);
    advance(&T, USTACK_MS(10));
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
    tcp_abort(T.ts, tcb);
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
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, &err);
    ck_assert_ptr_nonnull(tcb);
    struct outseg syn = EXPECT(TCP_SYN | TCP_ECE | TCP_CWR, ANY, 0, 0);
    ck_assert_uint_eq(syn.tos & 3, 0); /* a SYN is never ECN-capable (6.1.1) */
    *iss = syn.seq;
    advance(&T, USTACK_MS(10));
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
    ck_assert_int_eq(tcp_write(T.ts, tcb, "abc", 3), 3);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 3);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(ecn_negotiated_marks_new_data_ect0_but_not_retransmissions)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE);
    ck_assert(tcb->tflags & TF_ECN_OK);
    static uint8_t d[2 * MSS];
    fill(d, sizeof d, 31);
    ck_assert_int_eq(tcp_write(T.ts, tcb, d, sizeof d), (ssize_t)sizeof d);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2); /* ECT(0) */
    o = EXPECT(TCP_ACK | TCP_PSH, iss + 1 + MSS, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2);
    /* Pure ACKs are not ECN-capable (6.1.4), nor retransmissions (6.1.5). */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = "x", .len = 1);
    advance(&T, USTACK_MS(40));
    o = EXPECT(TCP_ACK, iss + 1 + 2 * MSS, PEER_ISN + 2, 0);
    ck_assert_uint_eq(o.tos & 3, 0);
    advance(&T, USTACK_MS(200));
    o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 2, MSS);
    ck_assert_uint_eq(CNT(tcp_rto_expired), 1);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(a_syn_ack_reflecting_ece_and_cwr_is_not_ecn_setup)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE | TCP_CWR);
    ck_assert(!(tcb->tflags & TF_ECN_OK));
    ck_assert_int_eq(tcp_write(T.ts, tcb, "abc", 3), 3);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 3);
    ck_assert_uint_eq(o.tos & 3, 0);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(passive_open_agrees_to_ecn_with_ece_alone)
{
    reconfigure(USTACK_TCPF_DEFAULT | USTACK_TCPF_ECN, 0);
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, &err);
    ck_assert_ptr_nonnull(l);
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN | TCP_ECE | TCP_CWR, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK | TCP_ECE, ANY, PEER_ISN + 1, 0);
    /* Without ECE and CWR both, no ECN. */
    INJECT(.sport = PPORT + 1, .seq = PEER_ISN, .flags = TCP_SYN | TCP_ECE, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    tcp_abort(T.ts, l);
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
    advance(&T, USTACK_MS(40));
    EXPECT(TCP_ACK | TCP_ECE, iss + 1, PEER_ISN + 201, 0);
    /* The peer reduced its window and says so: no more ECE. */
    INJECT(.seq = PEER_ISN + 201, .ack = iss + 1, .flags = TCP_ACK | TCP_CWR, .data = d, .len = 100, .tos = 2);
    advance(&T, USTACK_MS(40));
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 301, 0);
    ck_assert_uint_eq(CNT(tcp_ecn_ce_rx), 1);
    tcp_abort(T.ts, tcb);
}
END_TEST

START_TEST(ece_reduces_the_window_once_per_window_and_cwr_follows)
{
    uint32_t iss;
    struct tcb *tcb = open_ecn(&iss, TCP_ECE);
    static uint8_t d[9 * MSS];
    fill(d, sizeof d, 32);
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
    ck_assert_int_eq(tcp_write(T.ts, tcb, d + 8 * MSS, MSS), (ssize_t)MSS);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH | TCP_CWR, iss + 1 + 8 * MSS, PEER_ISN + 1, MSS);
    ck_assert_uint_eq(o.tos & 3, 2);
    ck_assert(!(tcb->tflags & TF_CWR_SEND));
    tcp_abort(T.ts, tcb);
}
END_TEST

Suite *suite_tcp_loss(void)
{
    Suite *s = suite_create("tcp_loss");
    TCase *tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
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
    tcase_add_checked_fixture(rec, setup, teardown);
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
