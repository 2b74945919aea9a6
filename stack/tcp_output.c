/*
 * TCP output: builds segments (header, MSS option on SYN, checksum over the
 * pseudo-header) and hands them to ipv4_output(); decides what the send and
 * congestion windows allow (sender SWS avoidance and Nagle, RFC 9293
 * 3.8.6.2.1 / RFC 896), what window to advertise (receiver SWS avoidance,
 * 3.8.6.2.2), keeps the retransmission queue, and makes initial sequence
 * numbers (RFC 6528).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tcp.h"

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
    return (uint32_t)(ts->st->now / 4) + (uint32_t)siphash24(ts->isn_key, m, sizeof m);
}

/* ------------------------------------------------------ retransmission queue */

void tcp_txq_clear(struct tcb *tcb)
{
    tcb->txq.head = tcb->txq.len = 0;
}

static struct tcp_txseg *txq_at(struct tcp_txq *q, unsigned i) { return &q->segs[(q->head + i) % q->cap]; }

void tcp_txq_add(struct tcb *tcb, uint32_t seq, uint32_t end, uint8_t flags)
{
    struct tcp_txq *q = &tcb->txq;
    if (q->len == q->cap && q->cap < TCP_TXQ_MAX) {
        unsigned ncap = q->cap ? q->cap * 2 : 64;
        struct tcp_txseg *n = malloc(ncap * sizeof *n);
        if (n) {
            for (unsigned i = 0; i < q->len; i++)
                n[i] = *txq_at(q, i);
            free(q->segs);
            q->segs = n;
            q->cap = ncap;
            q->head = 0;
        }
    }
    if (q->len == q->cap) {
        /* Bound reached (or no memory): fold into the last record, losing only
         * per-segment detail, never correctness. */
        if (q->len) {
            struct tcp_txseg *last = txq_at(q, q->len - 1);
            if (SEQ_GT(end, last->end))
                last->end = end;
            last->flags |= flags;
        }
        return;
    }
    struct tcp_txseg *s = txq_at(q, q->len++);
    s->seq = seq;
    s->end = end;
    s->sent_at = tcb->ts->st->now;
    s->flags = flags;
    s->xmits = 1;
}

/* Removes what `ack` covers; a record acknowledged in part is trimmed. */
void tcp_txq_ack(struct tcb *tcb, uint32_t ack)
{
    struct tcp_txq *q = &tcb->txq;
    while (q->len) {
        struct tcp_txseg *s = txq_at(q, 0);
        if (SEQ_LEQ(s->end, ack)) {
            q->head = (q->head + 1) % q->cap;
            q->len--;
            continue;
        }
        if (SEQ_GT(ack, s->seq))
            s->seq = ack;
        break;
    }
    if (!q->len)
        q->head = 0;
}

/* -------------------------------------------------------- segment building */

/* Builds and sends one segment. Data, if any, is copied from `ring` at
 * `ring_off`. Returns 0 or -errno. */
static int tcp_xmit(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                    uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *opts, size_t optlen,
                    const struct tcp_ring *ring, size_t ring_off, uint32_t len)
{
    struct ustack *st = ts->st;
    size_t hlen = TCP_HDR_LEN + optlen;
    size_t total = hlen + len;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, total);
    if (!pb) {
        TCOUNT(ts, tcp_drop_nomem);
        return -ENOBUFS;
    }
    uint8_t *p = pb->data;
    wr16(p, lport);
    wr16(p + 2, rport);
    wr32(p + 4, seq);
    wr32(p + 8, (flags & TCP_ACK) ? ack : 0);
    p[12] = (uint8_t)((hlen / 4) << 4);
    p[13] = flags;
    wr16(p + 14, wnd);
    wr16(p + 16, 0);
    wr16(p + 18, 0);
    if (optlen)
        memcpy(p + TCP_HDR_LEN, opts, optlen);
    if (len)
        tcp_ring_peek(ring, ring_off, p + hlen, len);
    wr16(p + 16, csum_fold(csum_partial(p, total, csum_pseudo(laddr, raddr, IPPROTO_TCP_, (uint16_t)total))));
    TCOUNT(ts, tcp_tx);
    TCOUNT_ADD(ts, tcp_tx_bytes, len);
    if (flags & TCP_RST)
        TCOUNT(ts, tcp_tx_rst);
    return ipv4_output(st, pb, IPPROTO_TCP_, laddr, raddr, 0, false);
}

uint32_t tcp_rcv_window(struct tcb *tcb)
{
    size_t space = tcb->rcvbuf_cap > tcb->rcvq.len ? tcb->rcvbuf_cap - tcb->rcvq.len : 0;
    if (space > TCP_MAX_WINDOW)
        space = TCP_MAX_WINDOW;
    uint32_t cur = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
    /* The right edge never moves left (RFC 9293 3.8.6.2.2 "shrinking the
     * window" is strongly discouraged): what was offered stays offered. */
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

int tcp_send_segment(struct tcb *tcb, uint32_t seq, uint32_t len, uint8_t flags)
{
    struct tcp_stack *ts = tcb->ts;
    uint8_t opts[4];
    size_t optlen = 0;
    if (tcp_synchronized(tcb->state))
        flags |= TCP_ACK;
    if (flags & TCP_SYN) {
        /* RFC 9293 3.7.1: announce the largest segment we can receive. */
        opts[0] = TCP_OPT_MSS;
        opts[1] = 4;
        wr16(opts + 2, tcb->adv_mss);
        optlen = 4;
    }
    uint32_t wnd = tcp_rcv_window(tcb);
    if (flags & TCP_ACK) {
        if (SEQ_GT(tcb->rcv_nxt + wnd, tcb->rcv_adv))
            tcb->rcv_adv = tcb->rcv_nxt + wnd;
        /* Every ACK we send settles what the delayed ACK was waiting for. */
        tcb->tflags &= ~TF_ACKNOW;
        tcb->delack_bytes = 0;
        timer_cancel(ts->st, &tcb->t_delack);
    }
    size_t off = len ? (size_t)(seq - tcb->snd_buf_seq) : 0;
    if (tcp_traced(tcb))
        tcp_trace_seg(tcb, "seg_out", seq, tcb->rcv_nxt, len, wnd, flags);
    return tcp_xmit(ts, tcb->laddr, tcb->lport, tcb->raddr, tcb->rport, seq, tcb->rcv_nxt, flags,
                    (uint16_t)(wnd >> tcb->rcv_wscale), opts, optlen, &tcb->sndq, off, len);
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
        return;
    default:
        /* SND.MAX, not SND.NXT: after an RTO snd_nxt is back at snd_una,
         * below what the peer may already hold, and an ACK with that sequence
         * number would be unacceptable there and its ACK field ignored (BSD
         * does the same). */
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
    tcp_xmit(ts, laddr, lport, raddr, rport, seq, ack, with_ack ? TCP_RST | TCP_ACK : TCP_RST, 0, NULL, 0, NULL,
             0, 0);
}

void tcp_send_rst_tcb(struct tcb *tcb)
{
    if (!tcp_synchronized(tcb->state))
        return; /* CLOSED, LISTEN, SYN-SENT: the peer knows of no connection */
    if (tcp_traced(tcb))
        tcp_trace_seg(tcb, "seg_out", tcb->snd_max, tcb->rcv_nxt, 0, 0, TCP_RST | TCP_ACK);
    tcp_xmit(tcb->ts, tcb->laddr, tcb->lport, tcb->raddr, tcb->rport, tcb->snd_max, tcb->rcv_nxt,
             TCP_RST | TCP_ACK, 0, NULL, 0, NULL, 0, 0);
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
    bool data_ok = tcp_can_send_data(tcb->state);
    bool force = tcb->tflags & TF_PERSIST;
    tcb->tflags &= ~TF_PERSIST;
    while (data_ok) {
        uint32_t data_end = tcp_fin_seq(tcb);
        uint32_t avail = SEQ_LT(tcb->snd_nxt, data_end) ? data_end - tcb->snd_nxt : 0;
        uint32_t wnd = min32(tcb->snd_wnd, tcb->cwnd);
        uint32_t flight = tcb->snd_nxt - tcb->snd_una;
        uint32_t usable = wnd > flight ? wnd - flight : 0;
        uint32_t len = min32(min32(avail, usable), tcb->mss);
        bool fin = (tcb->tflags & TF_FIN_QUEUED) && tcb->snd_nxt + len == data_end && usable > len;
        if (len == 0 && !fin)
            break;
        /* Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896):
         * send a full segment, or everything that is queued when nothing is
         * in flight (or Nagle is off), or at least half the largest window
         * the peer ever offered; else wait for an ACK or the persist timer. */
        bool send = force || SEQ_LT(tcb->snd_nxt, tcb->snd_max) || len == tcb->mss || fin ||
                    (len == avail && ((tcb->tflags & TF_NODELAY) || flight == 0)) ||
                    (tcb->max_sndwnd && len >= tcb->max_sndwnd / 2);
        if (!send)
            break;
        force = false;
        uint32_t seq = tcb->snd_nxt;
        uint8_t flags = fin ? TCP_FIN : 0;
        if (len && seq + len == data_end)
            flags |= TCP_PSH;
        bool retrans = SEQ_LT(seq, tcb->snd_max);
        /* A local failure (no buffer, no route) is treated as a loss: the
         * retransmission timer recovers from it like from any other. */
        tcp_send_segment(tcb, seq, len, flags);
        uint32_t end = seq + len + (fin ? 1 : 0);
        if (retrans) {
            tcp_note_retransmit(tcb, seq, len + (fin ? 1 : 0), "rto"); /* go-back-N after an RTO */
        } else {
            TCOUNT(tcb->ts, tcp_tx_data_segs);
            if (!(tcb->tflags & TF_RTT_ACTIVE)) {
                /* Time this segment (RFC 6298 with Karn: never a retransmitted one). */
                tcb->tflags |= TF_RTT_ACTIVE;
                tcb->rtt_seq = seq;
                tcb->rtt_start = st->now;
            }
        }
        tcp_txq_add(tcb, seq, end, (uint8_t)((retrans ? TCP_TXSEG_RETRANS : 0) | (fin ? TCP_TXSEG_FIN : 0)));
        tcb->snd_nxt = end;
        if (SEQ_GT(end, tcb->snd_max))
            tcb->snd_max = end;
        timer_cancel(st, &tcb->t_persist);
        if (!timer_armed(&tcb->t_rexmt))
            tcp_rexmt_arm(tcb);
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

void tcp_retransmit_first(struct tcb *tcb, const char *why)
{
    if (tcb->state == TCPS_SYN_SENT || tcb->state == TCPS_SYN_RECEIVED) {
        tcp_send_syn(tcb);
        tcp_note_retransmit(tcb, tcb->iss, 1, why);
        return;
    }
    uint32_t seq = tcb->snd_una;
    uint32_t data_end = tcp_fin_seq(tcb);
    uint32_t avail = SEQ_LT(seq, data_end) ? data_end - seq : 0;
    uint32_t len = min32(min32(avail, tcb->mss), tcb->snd_max - seq);
    bool fin = (tcb->tflags & TF_FIN_QUEUED) && seq + len == data_end && SEQ_GT(tcb->snd_max, data_end);
    if (len == 0 && !fin)
        return;
    tcp_send_segment(tcb, seq, len, fin ? TCP_FIN : 0);
    tcp_note_retransmit(tcb, seq, len + (fin ? 1 : 0), why);
    if (tcb->txq.len) {
        struct tcp_txseg *s = txq_at(&tcb->txq, 0);
        s->flags |= TCP_TXSEG_RETRANS;
        s->sent_at = tcb->ts->st->now;
        if (s->xmits < UINT8_MAX)
            s->xmits++;
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
