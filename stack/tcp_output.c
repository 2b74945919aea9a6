/*
 * TCP output: builds segments (header; options: MSS, SACK-permitted,
 * timestamps and window scale on SYNs, timestamps and SACK blocks after;
 * checksum over the pseudo-header) and hands them to ipv4_output(); decides
 * what the send and congestion windows allow (sender SWS avoidance and
 * Nagle, RFC 9293 3.8.6.2.1 / RFC 896), what window to advertise (receiver
 * SWS avoidance, 3.8.6.2.2), keeps the retransmission queue, and makes
 * initial sequence numbers (RFC 6528).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tcp_var.h"

/* ------------------------------------------------------------ ISN (RFC 6528) */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                   \
    do {                                                                           \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);             \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                   \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                   \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);             \
    } while (0)

static uint64_t rd64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* SipHash-2-4: a keyed pseudo-random function, the F() of RFC 6528. */
static uint64_t siphash24(const uint8_t key[16], const uint8_t *m, size_t len)
{
    uint64_t k0 = rd64le(key), k1 = rd64le(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = rd64le(m + i);
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)m[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t tcp_keyed_hash(const struct tcp_stack *ts, const uint8_t *m, size_t len)
{
    return siphash24(ts->isn_key, m, len);
}

/* RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a timer ticking every 4 microseconds (the stack's time, never the OS
 * clock), F a keyed hash, so ISNs of one 4-tuple increase with time while
 * those of other 4-tuples cannot be guessed from ours. */
uint32_t tcp_isn(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
    if (ts->isn_override) {
        ts->isn_override = false;
        return ts->isn_next;
    }
    uint8_t m[12];
    wraddr(m, laddr);
    wr16(m + 4, lport);
    wraddr(m + 6, raddr);
    wr16(m + 10, rport);
    return (uint32_t)(ts->st->now / 4) + (uint32_t)tcp_keyed_hash(ts, m, sizeof m);
}

/* ------------------------------------------------------ retransmission queue */

void tcp_txq_clear(struct tcb *tcb)
{
    tcb->txq.head = tcb->txq.len = tcb->txq.hint = 0;
    tcb->sacked_out = tcb->lost_out = tcb->retrans_out = 0;
}

/* Room for one more record (growing the ring up to TCP_TXQ_MAX). */
static bool txq_room(struct tcb *tcb)
{
    struct tcp_txq *q = &tcb->txq;
    if (q->len < q->cap)
        return true;
    if (q->cap >= TCP_TXQ_MAX)
        return false;
    unsigned ncap = q->cap ? q->cap * 2 : TCP_TXQ_INITIAL;
    struct tcp_txseg *n = malloc(ncap * sizeof *n);
    if (!n)
        return false;
    for (unsigned i = 0; i < q->len; i++)
        n[i] = *tcp_txq_at(q, i);
    free(q->segs);
    q->segs = n;
    q->cap = ncap;
    q->head = 0;
    return true;
}

void tcp_txq_add(struct tcb *tcb, uint32_t seq, uint32_t end, uint8_t flags)
{
    struct tcp_txq *q = &tcb->txq;
    if (!txq_room(tcb))
        return; /* tcp_output checked; never reached */
    struct tcp_txseg *s = tcp_txq_at(q, q->len++);
    s->seq = seq;
    s->end = end;
    s->sent_at = tcb->ts->st->now;
    s->tsval = tcp_ts_now(tcb);
    s->flags = flags;
    s->xmits = 1;
}

void tcp_txq_retransmit(struct tcb *tcb, unsigned i, const char *why)
{
    struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
    bool fin = s->flags & TCP_TXSEG_FIN;
    uint32_t len = tcp_txseg_len(s) - (fin ? 1 : 0);
    /* One segment; more only for a record longer than the MSS (sent before
     * the MSS dropped and not cut by tcp_txq_split()), FIN and PSH on the
     * last piece. */
    uint32_t off = 0;
    do {
        uint32_t n = len - off < tcb->mss ? len - off : tcb->mss;
        bool last = off + n == len;
        tcp_send_segment(tcb, s->seq + off, n,
                         (uint8_t)(last ? (fin ? TCP_FIN : 0) | (s->seq + len == tcp_fin_seq(tcb) && len ? TCP_PSH : 0)
                                        : 0));
        off += n;
    } while (off < len);
    tcp_note_retransmit(tcb, s->seq, tcp_txseg_len(s), why);
    s->sent_at = tcb->ts->st->now;
    s->tsval = tcp_ts_now(tcb);
    if (s->xmits < UINT8_MAX)
        s->xmits++;
    if (!(s->flags & TCP_TXSEG_RETRANS) && !(s->flags & TCP_TXSEG_SACKED)) {
        s->flags |= TCP_TXSEG_RETRANS;
        tcb->retrans_out += tcp_txseg_len(s);
    }
    s->flags |= TCP_TXSEG_EVER_RETRANS;
    /* The first unacknowledged segment sent again: its ACK is a round trip
     * away, so the RTO counts from now (as Linux), not from the last ACK. */
    if (i == 0)
        tcp_rexmt_arm(tcb);
    if (tcb->tflags & TF_IN_RECOVERY)
        tcb->prr_out += tcp_txseg_len(s);
    tcb->episode_rexmits++;
    tcb->undo_retrans++;
}

/* Payload bytes of a record (its sequence space less a SYN and a FIN). */
static uint32_t txseg_data(const struct tcp_txseg *s)
{
    return tcp_txseg_len(s) - !!(s->flags & TCP_TXSEG_FIN) - !!(s->flags & TCP_TXSEG_SYN);
}

/* Records of at most mss payload bytes that s makes. */
static unsigned txseg_pieces(const struct tcp_txseg *s, uint32_t mss)
{
    uint32_t data = txseg_data(s);
    if ((s->flags & TCP_TXSEG_SYN) || data <= mss)
        return 1;
    return (data + mss - 1) / mss;
}

int tcp_txq_split(struct tcb *tcb)
{
    struct tcp_txq *q = &tcb->txq;
    uint32_t mss = tcb->mss;
    unsigned need = 0;
    for (unsigned i = 0; i < q->len; i++)
        need += txseg_pieces(tcp_txq_at(q, i), mss);
    if (need == q->len)
        return 0;
    /* The ring may grow past TCP_TXQ_MAX here: the bytes in flight are the
     * same, in smaller records; txq_room() holds new data back until ACKs
     * bring the queue under it again. */
    unsigned ncap = q->cap;
    while (ncap < need)
        ncap *= 2;
    struct tcp_txseg *n = malloc(ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    unsigned k = 0, hint = need;
    for (unsigned i = 0; i < q->len; i++) {
        const struct tcp_txseg *s = tcp_txq_at(q, i);
        if (i == q->hint)
            hint = k;
        if (txseg_pieces(s, mss) == 1) {
            n[k++] = *s;
            continue;
        }
        /* Each piece keeps the record's marks, send time and timestamp,
         * so the scoreboard's byte counts stay what they were; the FIN
         * goes with the last. */
        bool fin = s->flags & TCP_TXSEG_FIN;
        uint32_t data = txseg_data(s);
        for (uint32_t off = 0; off < data; off += mss) {
            struct tcp_txseg *p = &n[k++];
            uint32_t len = data - off < mss ? data - off : mss;
            *p = *s;
            p->seq = s->seq + off;
            p->end = p->seq + len;
            if (off + len < data)
                p->flags &= (uint8_t)~TCP_TXSEG_FIN;
            else if (fin)
                p->end++;
        }
    }
    free(q->segs);
    q->segs = n;
    q->cap = ncap;
    q->head = 0;
    q->len = need;
    q->hint = hint;
    return 0;
}

/* -------------------------------------------------------- segment building */

size_t tcp_options_write(const struct tcp_out *o, uint8_t *p)
{
    uint8_t scratch[TCP_OPT_SPACE];
    if (!p)
        p = scratch;
    size_t n = 0;
    if (o->has_mss) {
        p[n++] = TCP_OPT_MSS;
        p[n++] = TCP_OPTLEN_MSS;
        wr16(p + n, o->mss);
        n += 2;
    }
    /* SACK-permitted takes the place of the timestamps' two NOPs when both
     * go (Linux's layout); alone it is NOP-padded to a word. */
    if (o->sack_permitted) {
        if (!o->has_ts) {
            p[n++] = TCP_OPT_NOP;
            p[n++] = TCP_OPT_NOP;
        }
        p[n++] = TCP_OPT_SACK_PERM;
        p[n++] = TCP_OPTLEN_SACK_PERM;
    }
    if (o->has_ts) {
        if (!o->sack_permitted) {
            p[n++] = TCP_OPT_NOP;
            p[n++] = TCP_OPT_NOP;
        }
        p[n++] = TCP_OPT_TIMESTAMP;
        p[n++] = TCP_OPTLEN_TIMESTAMP;
        wr32(p + n, o->ts_val);
        wr32(p + n + 4, o->ts_ecr);
        n += 8;
    }
    if (o->has_wscale) {
        p[n++] = TCP_OPT_NOP;
        p[n++] = TCP_OPT_WSCALE;
        p[n++] = TCP_OPTLEN_WSCALE;
        p[n++] = o->wscale;
    }
    if (o->nsack) {
        p[n++] = TCP_OPT_NOP;
        p[n++] = TCP_OPT_NOP;
        p[n++] = TCP_OPT_SACK;
        p[n++] = (uint8_t)(TCP_OPTLEN_SACK_BASE + TCP_SACK_BLOCK_LEN * o->nsack);
        for (unsigned b = 0; b < o->nsack; b++) {
            wr32(p + n, o->sack[b][0]);
            wr32(p + n + 4, o->sack[b][1]);
            n += TCP_SACK_BLOCK_LEN;
        }
    }
    while (n % 4) /* the header is whole 32-bit words */
        p[n++] = TCP_OPT_EOL;
    return n;
}

/* Builds the segment o describes (header, options, payload from the send
 * ring, checksum over the pseudo-header) and hands it to IPv4. */
int tcp_xmit(struct tcp_stack *ts, const struct tcp_out *o)
{
    struct ustack *st = ts->st;
    uint8_t opts[TCP_OPT_SPACE];
    size_t optlen = tcp_options_write(o, opts);
    size_t hlen = TCP_HDR_LEN + optlen;
    size_t total = hlen + o->len;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, total);
    if (!pb) {
        TCOUNT(ts, tcp_drop_nomem);
        return -ENOBUFS;
    }
    uint8_t *p = pb->data;
    wr16(p, o->lport);
    wr16(p + 2, o->rport);
    wr32(p + 4, o->seq);
    wr32(p + 8, (o->flags & TCP_ACK) ? o->ack : 0);
    p[12] = (uint8_t)((hlen / 4) << 4);
    p[13] = o->flags;
    wr16(p + 14, o->wnd);
    wr16(p + 16, 0);
    wr16(p + 18, 0);
    memcpy(p + TCP_HDR_LEN, opts, optlen);
    if (o->len)
        tcp_ring_peek(o->data, o->data_off, p + hlen, o->len);
    wr16(p + 16, csum_fold(csum_partial(p, total, csum_pseudo(o->laddr, o->raddr, IPPROTO_TCP_, (uint16_t)total))));
    TCOUNT(ts, tcp_tx);
    TCOUNT_ADD(ts, tcp_tx_bytes, o->len);
    if (o->flags & TCP_RST)
        TCOUNT(ts, tcp_tx_rst);
    /* DF on every segment (RFC 1191 path MTU discovery, as Linux, RSTs
     * included), unless the path is known to be narrower than we go. */
    return ipv4_output_tos(st, pb, IPPROTO_TCP_, o->laddr, o->raddr, 0, !o->no_df, o->tos);
}

/* A segment of the connection: its 4-tuple, RCV.NXT as the ACK. */
static struct tcp_out tcp_out_of(const struct tcb *tcb, uint32_t seq, uint8_t flags)
{
    struct tcp_out o = {0};
    o.laddr = tcb->laddr;
    o.lport = tcb->lport;
    o.raddr = tcb->raddr;
    o.rport = tcb->rport;
    o.seq = seq;
    o.ack = tcb->rcv_nxt;
    o.flags = flags;
    o.no_df = tcb->pmtu_no_df;
    return o;
}

uint32_t tcp_rcv_window(struct tcb *tcb)
{
    size_t space = tcb->rcvbuf_cap > tcb->rcvq.len ? tcb->rcvbuf_cap - tcb->rcvq.len : 0;
    if (space > (size_t)TCP_MAX_WINDOW << tcb->rcv_wscale)
        space = (size_t)TCP_MAX_WINDOW << tcb->rcv_wscale;
    /* What the scaled field can say: a multiple of 2^rcv_wscale, rounded
     * down so the offer never exceeds the buffer. */
    size_t raw = space;
    space = space >> tcb->rcv_wscale << tcb->rcv_wscale;
    uint32_t cur = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
    /* The right edge never moves left (RFC 9293 3.8.6.2.2 "shrinking the
     * window" is strongly discouraged): what was offered stays offered. As
     * RCV.NXT moves, the rest of an offer is seldom a multiple of the
     * scale; the field would round it down and the edge the peer sees
     * would step back (RFC 7323 2.4, appendix F). It is rounded up instead
     * (as Linux) whenever the buffer has that much room. */
    uint32_t unit = (uint32_t)1 << tcb->rcv_wscale;
    uint32_t cur_up = (cur + unit - 1) & ~(unit - 1);
    if (cur_up <= raw)
        cur = cur_up;
    if (space <= cur)
        return cur;
    /* Receiver SWS avoidance: open the window only by at least
     * min(buffer / 2, MSS) at a time. */
    size_t thresh = tcb->rcvbuf_cap / 2 < tcb->adv_mss ? tcb->rcvbuf_cap / 2 : tcb->adv_mss;
    if (space - cur >= thresh)
        return (uint32_t)space;
    return cur;
}

static bool tcp_synchronized(enum tcp_state s)
{
    return s != TCPS_CLOSED && s != TCPS_LISTEN && s != TCPS_SYN_SENT;
}

/* The shift that lets a window cover `buf` bytes (RFC 7323 2.3). */
static uint8_t tcp_wscale_for(size_t buf)
{
    uint8_t s = 0;
    while (s < TCP_MAX_WSCALE && ((size_t)TCP_MAX_WINDOW << s) < buf)
        s++;
    return s;
}

/* Options of a SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323, RFC 2018), in
 * Linux's order: MSS, SACK-permitted, timestamps, window scale. A SYN-ACK
 * carries only what the SYN offered. */
static void tcp_syn_options(struct tcb *tcb, struct tcp_out *o)
{
    bool active = tcb->state == TCPS_SYN_SENT;
    bool ws = active ? tcp_feature(tcb, USTACK_TCPF_WSCALE) : (tcb->tflags & TF_WS_OK);
    bool ts = active ? tcp_feature(tcb, USTACK_TCPF_TIMESTAMPS) : (tcb->tflags & TF_TS_OK);
    o->has_mss = true;
    o->mss = tcb->adv_mss;
    o->sack_permitted = active ? tcp_feature(tcb, USTACK_TCPF_SACK) : (tcb->tflags & TF_SACK_OK);
    if (ts) {
        o->has_ts = true;
        o->ts_val = tcp_ts_now(tcb);
        o->ts_ecr = active ? 0 : tcb->ts_recent;
    }
    if (ws) {
        if (active) /* our shift, from the largest buffer this connection may grow to */
            tcp_choose_rcv_wscale(tcb);
        o->has_wscale = true;
        o->wscale = tcb->rcv_wscale;
    }
}

uint8_t tcp_rcv_wscale_of(const struct tcb *tcb)
{
    bool grows = tcp_feature(tcb, USTACK_TCPF_AUTOTUNE) && !(tcb->tflags & TF_RCVBUF_LOCK);
    return tcp_wscale_for(grows && tcb->rcvbuf_max > tcb->rcvbuf_cap ? tcb->rcvbuf_max : tcb->rcvbuf_cap);
}

void tcp_choose_rcv_wscale(struct tcb *tcb) { tcb->rcv_wscale = tcp_rcv_wscale_of(tcb); }

/* What tcp_rcv_window() gives a connection that has received nothing yet,
 * as its SYN-ACK says it. */
uint32_t tcp_synack_window(size_t rcvbuf_cap, uint8_t rcv_wscale)
{
    size_t space = rcvbuf_cap;
    if (space > (size_t)TCP_MAX_WINDOW << rcv_wscale)
        space = (size_t)TCP_MAX_WINDOW << rcv_wscale;
    space = space >> rcv_wscale << rcv_wscale;
    return space > TCP_MAX_WINDOW ? TCP_MAX_WINDOW : (uint32_t)space;
}

int tcp_send_segment(struct tcb *tcb, uint32_t seq, uint32_t len, uint8_t flags)
{
    struct tcp_stack *ts = tcb->ts;
    if (tcp_synchronized(tcb->state))
        flags |= TCP_ACK;
    struct tcp_out o = tcp_out_of(tcb, seq, flags);
    if (flags & TCP_SYN) {
        tcp_syn_options(tcb, &o);
        /* RFC 3168 6.1.1: ECN-setup SYN (ECE, CWR) and SYN,ACK (ECE). */
        if (tcb->state == TCPS_SYN_SENT && tcp_feature(tcb, USTACK_TCPF_ECN))
            o.flags |= TCP_ECE | TCP_CWR;
        else if (!(tcb->state == TCPS_SYN_SENT) && (tcb->tflags & TF_ECN_OK))
            o.flags |= TCP_ECE;
    } else {
        if (tcb->tflags & TF_ECN_OK) {
            if ((tcb->tflags & TF_ECE_SEND) && tcp_synchronized(tcb->state))
                o.flags |= TCP_ECE;
            /* New data is ECN-capable (ECT(0)); retransmissions, probes and
             * pure ACKs are not (RFC 3168 6.1.4, 6.1.5). CWR goes on the
             * first new segment after a reduction. */
            if (len && SEQ_GEQ(seq, tcb->snd_max)) {
                o.tos = IP_ECN_ECT0;
                if (tcb->tflags & TF_CWR_SEND) {
                    o.flags |= TCP_CWR;
                    tcb->tflags &= ~TF_CWR_SEND;
                }
            }
        }
        if (tcb->tflags & TF_TS_OK) {
            /* RFC 7323 3.2: on every segment once negotiated. */
            o.has_ts = true;
            o.ts_val = tcp_ts_now(tcb);
            o.ts_ecr = tcb->ts_recent;
        }
        if ((tcb->tflags & TF_SACK_OK) && (o.flags & TCP_ACK) &&
            (tcb->ooo_len || tcb->dsack_start != tcb->dsack_end)) {
            /* RFC 2018 3: as many blocks as fit in the options, and the
             * datagram must still fit the MTU. */
            size_t optlen = tcp_options_write(&o, NULL);
            size_t room = TCP_OPT_SPACE - optlen;
            size_t used = IPV4_HDR_LEN + TCP_HDR_LEN + optlen + len;
            size_t mtu_room = tcb->pmtu > used ? tcb->pmtu - used : 0;
            if (mtu_room < room)
                room = mtu_room;
            unsigned max = room >= TCP_OPTLEN_SACK_BASE + 2 + TCP_SACK_BLOCK_LEN
                               ? (unsigned)((room - TCP_OPTLEN_SACK_BASE - 2) / TCP_SACK_BLOCK_LEN)
                               : 0;
            if (max > TCP_MAX_SACK_BLOCKS)
                max = TCP_MAX_SACK_BLOCKS;
            o.nsack = (uint8_t)tcp_sack_blocks(tcb, o.sack, max);
            TCOUNT_ADD(ts, tcp_tx_sack_blocks, o.nsack);
        }
    }
    uint32_t wnd = tcp_rcv_window(tcb);
    if (o.flags & TCP_SYN) {
        /* RFC 7323 2.2: the window in a SYN is never scaled. */
        if (wnd > TCP_MAX_WINDOW)
            wnd = TCP_MAX_WINDOW;
        o.wnd = (uint16_t)wnd;
    } else {
        o.wnd = (uint16_t)(wnd >> tcb->rcv_wscale);
    }
    if (o.flags & TCP_ACK) {
        if (SEQ_GT(tcb->rcv_nxt + wnd, tcb->rcv_adv))
            tcb->rcv_adv = tcb->rcv_nxt + wnd;
        /* Every ACK we send settles what the delayed ACK was waiting for. */
        tcb->tflags &= ~TF_ACKNOW;
        tcb->delack_bytes = 0;
        tcb->last_ack_sent = tcb->rcv_nxt;
        timer_cancel(ts->st, &tcb->t_delack);
    }
    o.data = &tcb->sndq;
    o.data_off = len ? (size_t)(seq - tcb->snd_buf_seq) : 0;
    o.len = len;
    if (tcp_traced(tcb))
        tcp_trace_seg(tcb, "seg_out", seq, tcb->rcv_nxt, len, wnd, o.flags);
    return tcp_xmit(ts, &o);
}

void tcp_send_syn(struct tcb *tcb)
{
    uint8_t flags = tcb->state == TCPS_SYN_RECEIVED ? TCP_SYN | TCP_ACK : TCP_SYN;
    tcp_send_segment(tcb, tcb->iss, 0, flags);
}

void tcp_send_ack(struct tcb *tcb)
{
    switch (tcb->state) {
    case TCPS_CLOSED:
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
        return;
    case TCPS_SYN_RECEIVED:
        /* Our SYN is not acknowledged yet: every ACK we owe repeats it (the
         * peer sent its SYN again, so ours was probably lost): a
         * retransmission, counted and traced as one. */
        tcp_send_syn(tcb);
        tcp_note_retransmit(tcb, tcb->iss, 1, "dup_syn");
        tcb->tflags &= ~TF_RTT_ACTIVE; /* Karn: the handshake's sample is ambiguous now */
        return;
    default:
        /* SND.MAX, as BSD does. snd_nxt equals it now that an RTO no longer
         * moves snd_nxt back; were snd_nxt below what the peer may already
         * hold, an ACK with that sequence number would be unacceptable there
         * and its ACK field ignored. */
        TCOUNT(tcb->ts, tcp_tx_acks);
        tcp_send_segment(tcb, tcb->snd_max, 0, TCP_ACK);
    }
}

void tcp_send_probe(struct tcb *tcb)
{
    /* An already-acknowledged sequence number with no data: the peer finds it
     * unacceptable and answers with an ACK carrying its current window
     * (RFC 9293 3.10.7.4 first check). Used by Linux for zero-window probes
     * and keepalives; it consumes no sequence space. */
    tcp_send_segment(tcb, tcb->snd_una - 1, 0, TCP_ACK);
}

void tcp_send_rst(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                  uint32_t seq, uint32_t ack, bool with_ack)
{
    struct tcp_out o = {.laddr = laddr, .lport = lport, .raddr = raddr, .rport = rport, .seq = seq, .ack = ack,
                        .flags = with_ack ? TCP_RST | TCP_ACK : TCP_RST};
    tcp_xmit(ts, &o);
}

void tcp_send_rst_tcb(struct tcb *tcb)
{
    if (!tcp_synchronized(tcb->state))
        return; /* CLOSED, LISTEN, SYN-SENT: the peer knows of no connection */
    if (tcp_traced(tcb))
        tcp_trace_seg(tcb, "seg_out", tcb->snd_max, tcb->rcv_nxt, 0, 0, TCP_RST | TCP_ACK);
    struct tcp_out o = tcp_out_of(tcb, tcb->snd_max, TCP_RST | TCP_ACK);
    tcp_xmit(tcb->ts, &o);
}

/* ------------------------------------------------------------ what to send */

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static bool tcp_can_send_data(enum tcp_state s)
{
    return s == TCPS_ESTABLISHED || s == TCPS_CLOSE_WAIT || s == TCPS_FIN_WAIT_1 || s == TCPS_CLOSING ||
           s == TCPS_LAST_ACK;
}

void tcp_output(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    bool sent = false;
    switch (tcb->state) {
    case TCPS_CLOSED:
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
        return;
    case TCPS_SYN_RECEIVED:
        if (tcb->tflags & TF_ACKNOW)
            tcp_send_syn(tcb);
        tcb->tflags &= ~TF_ACKNOW;
        return;
    default:
        break;
    }
    tcp_pmtu_check(tcb); /* a learnt path MTU lapsed: the MSS grows back */
    bool data_ok = tcp_can_send_data(tcb->state);
    bool force = tcb->tflags & TF_PERSIST;
    tcb->tflags &= ~TF_PERSIST;
    while (data_ok) {
        uint32_t cw = tcp_send_cwnd(tcb);
        uint32_t used = tcp_cwnd_used(tcb);
        uint32_t room = cw > used ? cw - used : 0;
        /* RFC 6675 NextSeg rule 1 (and RTO recovery): what is marked lost
         * goes first, oldest first, as the window allows. */
        int lost = tcp_next_lost(tcb);
        if (lost >= 0) {
            struct tcp_txseg *s = tcp_txq_at(&tcb->txq, (unsigned)lost);
            /* NewReno retransmits the segment it marked (the third
             * duplicate, a partial ACK) whatever the window says. */
            bool newreno = (tcb->tflags & TF_IN_RECOVERY) && !tcp_sack_on(tcb);
            /* (A record longer than a segment, left whole by
             * tcp_txq_split() for want of memory, needs only a segment's
             * room to start.) */
            uint32_t need = tcp_txseg_len(s);
            if (need > tcb->mss + 1u)
                need = tcb->mss;
            if (room < need && !force && !newreno)
                break;
            force = false;
            tcp_txq_retransmit(tcb, (unsigned)lost, (tcb->tflags & TF_PMTU_LOSS) ? "pmtu"
                                                    : (tcb->tflags & TF_LOSS)     ? "rto"
                                                    : tcp_sack_on(tcb)            ? "sack"
                                                                                  : "fast_retransmit");
            if (!timer_armed(&tcb->t_rexmt))
                tcp_rexmt_arm(tcb);
            sent = true;
            continue;
        }
        /* Rule 2: new data, within the peer's window. */
        uint32_t data_end = tcp_fin_seq(tcb);
        uint32_t avail = SEQ_LT(tcb->snd_nxt, data_end) ? data_end - tcb->snd_nxt : 0;
        uint32_t flight = tcp_flight_size(tcb);
        uint32_t rwnd_room = tcb->snd_wnd > flight ? tcb->snd_wnd - flight : 0;
        uint32_t usable = min32(rwnd_room, room);
        uint32_t len = min32(min32(avail, usable), tcb->mss);
        bool fin = (tcb->tflags & TF_FIN_QUEUED) && tcb->snd_nxt + len == data_end && usable > len;
        if (len == 0 && !fin)
            break;
        /* A record for it (allocated only when something goes out). */
        if (!txq_room(tcb))
            break; /* TCP_TXQ_MAX segments in flight: wait for ACKs */
        /* Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896):
         * send a full segment, or everything that is queued when nothing is
         * in flight (or Nagle is off), or at least half the largest window
         * the peer ever offered; else wait for an ACK or the persist timer. */
        bool send = force || len == tcb->mss || fin ||
                    (len == avail && (tcb->opt.nodelay || flight == 0)) ||
                    (tcb->max_sndwnd && len >= tcb->max_sndwnd / 2);
        if (!send)
            break;
        force = false;
        uint32_t seq = tcb->snd_nxt;
        uint8_t flags = fin ? TCP_FIN : 0;
        if (len && seq + len == data_end)
            flags |= TCP_PSH;
        /* A local failure (no buffer, no route) is treated as a loss: the
         * retransmission timer recovers from it like from any other. */
        tcp_send_segment(tcb, seq, len, flags);
        uint32_t end = seq + len + (fin ? 1 : 0);
        TCOUNT(tcb->ts, tcp_tx_data_segs);
        if (tcb->tflags & TF_IN_RECOVERY)
            tcb->prr_out += end - seq;
        /* Each record keeps its send time: RTT samples (RFC 6298, Karn)
         * and RACK come from the records the ACKs cover. */
        tcp_txq_add(tcb, seq, end, fin ? TCP_TXSEG_FIN : 0);
        tcb->snd_nxt = end;
        if (SEQ_GT(end, tcb->snd_max))
            tcb->snd_max = end;
        timer_cancel(st, &tcb->t_persist);
        /* RFC 6298 5.1 (or the TLP's probe timeout, RFC 8985 7.2). */
        if (!timer_armed(&tcb->t_rexmt) || (tcb->tflags & TF_PTO))
            tcp_rexmt_schedule(tcb);
        sent = true;
    }
    if (!sent && (tcb->tflags & TF_ACKNOW))
        tcp_send_ack(tcb);
    /* Data (or a FIN) waits but nothing is in flight to bring an ACK: the
     * persist timer probes a zero window and overrides SWS avoidance. */
    if (data_ok && !timer_armed(&tcb->t_rexmt) && tcb->snd_nxt == tcb->snd_una) {
        uint32_t data_end = tcp_fin_seq(tcb);
        bool pending = SEQ_LT(tcb->snd_nxt, data_end) ||
                       ((tcb->tflags & TF_FIN_QUEUED) && tcb->snd_nxt == data_end);
        if (pending)
            tcp_persist_arm(tcb);
    }
}


void tcp_window_update(struct tcb *tcb)
{
    if (tcb->state != TCPS_ESTABLISHED && tcb->state != TCPS_FIN_WAIT_1 && tcb->state != TCPS_FIN_WAIT_2)
        return; /* after the peer's FIN no more data comes: no window to offer */
    uint32_t cur = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
    uint32_t now = tcp_rcv_window(tcb);
    if (now <= cur)
        return;
    uint32_t grow = now - cur;
    /* As soon as the application has read enough that the offer grows by two
     * segments or half the buffer (or the window was closed): tell the peer. */
    if (cur < tcb->adv_mss || grow >= 2u * tcb->adv_mss || grow >= tcb->rcvbuf_cap / 2) {
        TCOUNT(tcb->ts, tcp_window_updates);
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "window_update", "win", now, "old", cur);
        tcp_send_ack(tcb);
    }
}
