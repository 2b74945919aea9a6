/*
 * SYN cookies (RFC 4987 3.6), made as Linux makes them. When a listener
 * has no room for a half-open child (or with tcp.syncookies 2, always),
 * tcp_input_listen() answers the SYN through tcp_syncookie_send(): a
 * SYN-ACK whose ISN encodes what the child would have remembered, and no
 * state. The ACK that returns the cookie is checked by
 * tcp_syncookie_check(), and tcp_input.c makes the connection from it.
 *
 * The ISN, from a keyed hash H of the 4-tuple (tcp_keyed_hash(): RFC 6528's
 * F() under the stack's key, with a tag byte apart from the ISN's input):
 *
 *   cookie = H(tuple, 0) + SEG.SEQ + (count << 24) + ((H(tuple, count) + mss_index) mod 2^24)
 *
 * count is the stack's time in 64 s periods, and the cookie carries its low
 * 8 bits; mss_index (0-3) picks the peer's MSS from a table, rounded down.
 * A returning cookie is valid if its count is the current one or the one
 * before (it lives 64 to 128 s, Linux's MAX_SYNCOOKIE_AGE of 2) and what
 * is left of its low 24 bits is a valid index: a forger must hit 4 values
 * in 2^24 for a 4-tuple and sequence number of its choosing.
 *
 * Nothing else fits in the ISN, so the other options the SYN offered live
 * in our TSval, when the SYN had timestamps (Linux's cookie_init_timestamp):
 * its low 6 bits say the peer's window shift (4 bits, 15 for none),
 * SACK-permitted and ECN, and the peer echoes them in the TSecr of its ACK.
 * The rest of the TSval is our clock as any connection's, its offset a
 * keyed hash of the 4-tuple (the connection made later uses the same), and
 * the TSval goes back by at most 63 ms so that it never runs ahead of the
 * connection's later ones. Without timestamps the connection has neither
 * window scaling, SACK nor ECN.
 */
#include <string.h>
#include "tcp_var.h"

/* Linux's IPv4 table: the MSS a cookie can remember, rounded down to. */
static const uint16_t tcp_syncookie_mss[] = {536, 1300, 1440, 1460};
#define TCP_SYNCOOKIE_NMSS (sizeof tcp_syncookie_mss / sizeof tcp_syncookie_mss[0])

#define COOKIE_BITS 24
#define COOKIE_MASK ((1u << COOKIE_BITS) - 1)
#define COOKIE_COUNT_MASK 0xffu

/* The options in the low bits of the TSval. */
#define TS_OPT_BITS 6
#define TS_OPT_MASK ((1u << TS_OPT_BITS) - 1)
#define TS_OPT_WSCALE_MASK 0x0fu /* the peer's shift; all ones: no scaling */
#define TS_OPT_SACK 0x10u
#define TS_OPT_ECN 0x20u

enum { HASH_COOKIE_BASE = 0, HASH_COOKIE_COUNT = 1, HASH_TS_OFFSET = 2 };

static uint32_t cookie_hash(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr,
                            uint16_t rport, uint8_t tag, uint32_t count)
{
    uint8_t m[17];
    wraddr(m, laddr);
    wr16(m + 4, lport);
    wraddr(m + 6, raddr);
    wr16(m + 10, rport);
    m[12] = tag;
    wr32(m + 13, count);
    return (uint32_t)tcp_keyed_hash(ts, m, sizeof m);
}

static uint32_t cookie_count(const struct tcp_stack *ts)
{
    return (uint32_t)(ts->st->now / TCP_SYNCOOKIE_PERIOD_US);
}

uint32_t tcp_syncookie_ts_offset(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                 uint16_t rport)
{
    return cookie_hash(ts, laddr, lport, raddr, rport, HASH_TS_OFFSET, 0);
}

/* The table entry at or below mss; the smallest if mss is below them all
 * (536 is what every IPv4 host takes, RFC 1122 3.3.3). */
static unsigned mss_index(uint32_t mss)
{
    unsigned i = TCP_SYNCOOKIE_NMSS - 1;
    while (i > 0 && mss < tcp_syncookie_mss[i])
        i--;
    return i;
}

void tcp_syncookie_send(struct tcb *l, const struct tcp_seg *syn)
{
    struct tcp_stack *ts = l->ts;
    struct ustack *st = ts->st;
    unsigned features = l->opt.features;
    uint16_t adv_mss = tcp_adv_mss(ts);
    uint32_t peer_mss = syn->has_mss ? syn->mss : TCP_DEFAULT_MSS;
    unsigned idx = mss_index(peer_mss < adv_mss ? peer_mss : adv_mss);
    uint32_t count = cookie_count(ts);
    struct tcp_out o = {.laddr = syn->daddr, .lport = syn->dport, .raddr = syn->saddr, .rport = syn->sport,
                        .ack = syn->seq + 1, .flags = TCP_SYN | TCP_ACK};
    o.seq = cookie_hash(ts, o.laddr, o.lport, o.raddr, o.rport, HASH_COOKIE_BASE, 0) + syn->seq +
            (count << COOKIE_BITS) +
            ((cookie_hash(ts, o.laddr, o.lport, o.raddr, o.rport, HASH_COOKIE_COUNT, count) + idx) & COOKIE_MASK);
    /* The options of the SYN-ACK the child would send (tcp_syn_options()),
     * those beyond the MSS only with timestamps to carry them. */
    o.has_mss = true;
    o.mss = adv_mss;
    uint8_t wscale = 0;
    if (syn->has_ts && (features & USTACK_TCPF_TIMESTAMPS)) {
        bool ws = syn->has_wscale && (features & USTACK_TCPF_WSCALE);
        bool sack = syn->sack_permitted && (features & USTACK_TCPF_SACK);
        bool ecn = (features & USTACK_TCPF_ECN) && (syn->flags & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR);
        uint32_t bits = (ws ? (syn->wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : syn->wscale) : TS_OPT_WSCALE_MASK) |
                        (sack ? TS_OPT_SACK : 0) | (ecn ? TS_OPT_ECN : 0);
        uint32_t now_ts = (uint32_t)(st->now / 1000u) + tcp_syncookie_ts_offset(ts, o.laddr, o.lport, o.raddr, o.rport);
        uint32_t tsval = (now_ts & ~TS_OPT_MASK) | bits;
        if ((now_ts & TS_OPT_MASK) < bits)
            tsval -= 1u << TS_OPT_BITS;
        o.has_ts = true;
        o.ts_val = tsval;
        o.ts_ecr = syn->ts_val;
        o.sack_permitted = sack;
        if (ws) {
            wscale = tcp_rcv_wscale_of(l);
            o.has_wscale = true;
            o.wscale = wscale;
        }
        if (ecn)
            o.flags |= TCP_ECE; /* RFC 3168 6.1.1 */
    }
    o.wnd = (uint16_t)tcp_synack_window(l->rcvbuf_cap, wscale);
    l->cookie_until = st->now + TCP_SYNCOOKIE_VALID_US;
    TCOUNT(ts, tcp_syncookies_sent);
    tcp_trace_listen_event(l, syn, "syncookie_sent", "isn", o.seq, "mss", tcp_syncookie_mss[idx]);
    tcp_xmit(ts, &o);
}

/* The cookie failed: counted and traced; the caller sends the RST. */
static bool cookie_failed(struct tcb *l, const struct tcp_seg *ack, const char *why)
{
    TCOUNT(l->ts, tcp_syncookies_failed);
    if (l->ts->st->trace_fn) {
        /* Traced with the reason as the name of a field set to 1. */
        tcp_trace_listen_event(l, ack, "syncookie_failed", why, 1, "ack", ack->ack);
    }
    return false;
}

bool tcp_syncookie_check(struct tcb *l, const struct tcp_seg *ack, struct tcp_seg *syn, uint32_t *iss)
{
    struct tcp_stack *ts = l->ts;
    unsigned features = l->opt.features;
    uint32_t laddr = ack->daddr, raddr = ack->saddr;
    uint16_t lport = ack->dport, rport = ack->sport;
    uint32_t cookie = ack->ack - 1, sseq = ack->seq - 1;
    uint32_t c = cookie - cookie_hash(ts, laddr, lport, raddr, rport, HASH_COOKIE_BASE, 0) - sseq;
    uint32_t now = cookie_count(ts);
    uint32_t age = (now - (c >> COOKIE_BITS)) & COOKIE_COUNT_MASK;
    if (age >= TCP_SYNCOOKIE_MAX_AGE)
        return cookie_failed(l, ack, "stale");
    uint32_t idx = (c - cookie_hash(ts, laddr, lport, raddr, rport, HASH_COOKIE_COUNT, now - age)) & COOKIE_MASK;
    if (idx >= TCP_SYNCOOKIE_NMSS)
        return cookie_failed(l, ack, "bad");
    /* The SYN as far as the cookie remembers it. */
    memset(syn, 0, sizeof *syn);
    syn->saddr = raddr;
    syn->daddr = laddr;
    syn->sport = rport;
    syn->dport = lport;
    syn->seq = sseq;
    syn->flags = TCP_SYN;
    syn->wnd = ack->wnd;
    syn->has_mss = true;
    syn->mss = tcp_syncookie_mss[idx];
    if (ack->has_ts) {
        /* Our TSval came back in TSecr with the options: those our SYN-ACK
         * could not have offered make the cookie a forgery. */
        uint32_t bits = ack->ts_ecr & TS_OPT_MASK;
        if (!(features & USTACK_TCPF_TIMESTAMPS))
            return cookie_failed(l, ack, "options");
        syn->has_ts = true;
        syn->ts_val = ack->ts_val;
        if (bits & TS_OPT_SACK) {
            if (!(features & USTACK_TCPF_SACK))
                return cookie_failed(l, ack, "options");
            syn->sack_permitted = true;
        }
        if ((bits & TS_OPT_WSCALE_MASK) != TS_OPT_WSCALE_MASK) {
            if (!(features & USTACK_TCPF_WSCALE))
                return cookie_failed(l, ack, "options");
            syn->has_wscale = true;
            syn->wscale = (uint8_t)(bits & TS_OPT_WSCALE_MASK);
        }
        if ((bits & TS_OPT_ECN) && (features & USTACK_TCPF_ECN))
            syn->flags |= TCP_ECE | TCP_CWR;
    }
    *iss = cookie;
    TCOUNT(ts, tcp_syncookies_recv);
    return true;
}
