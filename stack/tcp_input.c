/*
 * TCP input: tcp_input() parses and validates a segment (lengths, data
 * offset, checksum over the pseudo-header, options) into a struct tcp_seg,
 * finds its connection and runs the SEGMENT ARRIVES procedure of RFC 9293
 * 3.10.7, hardened as RFC 5961 says (exact-sequence RSTs, challenge ACKs,
 * ACK range check). Data goes into the receive ring in order, or is held in
 * place beyond a hole; what must be sent in answer is left to tcp_output().
 * Every dropped segment increments a named counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tcp_var.h"

/* ------------------------------------------------------------------ parsing */

int tcp_parse(struct tcp_stack *ts, const uint8_t *p, size_t len, const struct ipv4_hdr_info *h,
              struct tcp_seg *seg)
{
    if (len < TCP_HDR_LEN) {
        TCOUNT(ts, tcp_drop_short);
        return -1;
    }
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < TCP_HDR_LEN || doff > len) {
        TCOUNT(ts, tcp_drop_bad_offset);
        return -1;
    }
    if (len > IPV4_MAX_LEN ||
        csum_fold(csum_partial(p, len, csum_pseudo(h->src, h->dst, IPPROTO_TCP_, (uint16_t)len))) != 0) {
        TCOUNT(ts, tcp_drop_bad_checksum);
        return -1;
    }
    memset(seg, 0, sizeof *seg);
    seg->saddr = h->src;
    seg->daddr = h->dst;
    seg->sport = rd16(p);
    seg->dport = rd16(p + 2);
    seg->seq = rd32(p + 4);
    seg->ack = rd32(p + 8);
    seg->flags = p[13];
    seg->wnd = rd16(p + 14);
    seg->urg = rd16(p + 18);
    /* Options (RFC 9293 3.2): kinds we do not know are skipped by length; a
     * length that cannot be right drops the segment. */
    for (size_t i = TCP_HDR_LEN; i < doff;) {
        uint8_t kind = p[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= doff || p[i + 1] < 2 || i + p[i + 1] > doff) {
            TCOUNT(ts, tcp_drop_bad_options);
            return -1;
        }
        uint8_t olen = p[i + 1];
        const uint8_t *o = p + i + 2;
        switch (kind) {
        case TCP_OPT_MSS:
            if (olen == TCP_OPTLEN_MSS) {
                seg->has_mss = true;
                seg->mss = rd16(o);
            }
            break;
        case TCP_OPT_WSCALE:
            if (olen == TCP_OPTLEN_WSCALE) {
                seg->has_wscale = true;
                seg->wscale = o[0];
            }
            break;
        case TCP_OPT_SACK_PERM:
            if (olen == TCP_OPTLEN_SACK_PERM)
                seg->sack_permitted = true;
            break;
        case TCP_OPT_SACK:
            /* RFC 2018 3: 2 + 8n bytes; blocks beyond what fits are ignored. */
            if (olen >= TCP_OPTLEN_SACK_BASE + TCP_SACK_BLOCK_LEN && (olen - TCP_OPTLEN_SACK_BASE) % TCP_SACK_BLOCK_LEN == 0) {
                unsigned nb = (unsigned)(olen - TCP_OPTLEN_SACK_BASE) / TCP_SACK_BLOCK_LEN;
                for (unsigned b = 0; b < nb && seg->nsack < TCP_MAX_SACK_BLOCKS; b++) {
                    seg->sack[seg->nsack][0] = rd32(o + TCP_SACK_BLOCK_LEN * b);
                    seg->sack[seg->nsack][1] = rd32(o + TCP_SACK_BLOCK_LEN * b + 4);
                    seg->nsack++;
                }
            }
            break;
        case TCP_OPT_TIMESTAMP:
            if (olen == TCP_OPTLEN_TIMESTAMP) {
                seg->has_ts = true;
                seg->ts_val = rd32(o);
                seg->ts_ecr = rd32(o + 4);
            }
            break;
        default:
            break;
        }
        i += olen;
    }
    seg->data = p + doff;
    seg->len = seg->wire_len = (uint32_t)(len - doff);
    seg->wire_seq = seg->seq;
    return 0;
}

/* ------------------------------------------------------------------ helpers */

/* MSS to send with: the peer's (536 when absent, RFC 9293 3.7.1), never
 * above what the path MTU to it allows (tcp_mss_update), never absurdly
 * small. */
static void tcp_set_peer_mss(struct tcb *tcb, const struct tcp_seg *seg)
{
    uint32_t m = seg->has_mss ? seg->mss : TCP_DEFAULT_MSS;
    tcb->peer_mss = (uint16_t)(m < TCP_MIN_MSS ? TCP_MIN_MSS : m);
    tcp_mss_update(tcb);
    tcb->rcv_mss = tcb->mss < TCP_DEFAULT_MSS ? tcb->mss : TCP_DEFAULT_MSS;
}

/* RFC 7323 and RFC 2018 on the peer's SYN (passive) or SYN-ACK (active):
 * an option is in use only if both SYNs carry it (ours carried what our
 * features allow). Call after tcp_set_peer_mss(). */
static void tcp_negotiate(struct tcb *tcb, const struct tcp_seg *seg, bool passive)
{
    tcb->tflags &= ~(TF_WS_OK | TF_TS_OK | TF_SACK_OK);
    if (seg->has_wscale && tcp_feature(tcb, USTACK_TCPF_WSCALE)) {
        tcb->tflags |= TF_WS_OK;
        /* RFC 7323 2.3: a shift above 14 is taken as 14. */
        tcb->snd_wscale = seg->wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : seg->wscale;
        if (passive)
            tcp_choose_rcv_wscale(tcb);
    } else {
        tcb->snd_wscale = tcb->rcv_wscale = 0;
    }
    if (seg->has_ts && tcp_feature(tcb, USTACK_TCPF_TIMESTAMPS)) {
        tcb->tflags |= TF_TS_OK;
        tcb->ts_recent = seg->ts_val;
        tcb->ts_recent_age = tcb->ts->st->now;
        /* Every segment carries 12 bytes of timestamp option: less data. */
        tcp_mss_update(tcb);
    }
    if (seg->sack_permitted && tcp_feature(tcb, USTACK_TCPF_SACK))
        tcb->tflags |= TF_SACK_OK;
    /* RFC 3168 6.1.1: an ECN-setup SYN has ECE and CWR; the SYN,ACK that
     * agrees has ECE without CWR (both set would be a middlebox reflecting
     * the SYN's flags). */
    tcb->tflags &= ~TF_ECN_OK;
    uint8_t ecn_flags = seg->flags & (TCP_ECE | TCP_CWR);
    if (tcp_feature(tcb, USTACK_TCPF_ECN) && ecn_flags == (passive ? (TCP_ECE | TCP_CWR) : TCP_ECE))
        tcb->tflags |= TF_ECN_OK;
}

/* Records [start, end) as a duplicate to report in a D-SACK block (RFC 2883). */
static void tcp_note_dsack(struct tcb *tcb, uint32_t start, uint32_t end)
{
    if (!(tcb->tflags & TF_SACK_OK) || !tcp_feature(tcb, USTACK_TCPF_DSACK) || !SEQ_LT(start, end))
        return;
    tcb->dsack_start = start;
    tcb->dsack_end = end;
    tcb->tflags |= TF_ACKNOW;
}

/* "send an acknowledgment ... and drop" for an unacceptable segment. Two
 * ends that each find the other's pure ACKs unacceptable would answer each
 * other for ever: at most one such answer per interval (Linux's
 * tcp_invalid_ratelimit). Segments with data are always answered, and so are
 * probes (zero-window and keepalive, at RCV.NXT - 1): the answer to one is
 * never taken for a probe, so they cannot loop, and the prober is waiting. */
static void tcp_answer_unacceptable(struct tcb *tcb, const struct tcp_seg *seg)
{
    struct tcp_stack *ts = tcb->ts;
    if (seg->wire_len == 0 && seg->wire_seq != tcb->rcv_nxt - 1 && tcb->last_oow_ack &&
        ts->st->now - tcb->last_oow_ack < TCP_OOW_ACK_INTERVAL_US) {
        TCOUNT(ts, tcp_oow_ack_limited);
        return;
    }
    tcb->last_oow_ack = ts->st->now;
    tcp_send_ack(tcb);
}

/* The receiver's RTT (for buffer autotuning): our timestamp came back on
 * data, one round trip after we sent it. */
static void tcp_rcv_rtt_sample(struct tcb *tcb, uint32_t ts_ecr)
{
    uint32_t ms = tcp_ts_now(tcb) - ts_ecr;
    if (ms >= TCP_TS_RTT_MAX_MS)
        return;
    ustack_time_t r = USTACK_MS(ms ? ms : 1);
    if (!tcb->rcv_rtt_us || r < tcb->rcv_rtt_us)
        tcb->rcv_rtt_us = r;
    else
        tcb->rcv_rtt_us += (r - tcb->rcv_rtt_us) / 8;
}

/* The handshake is complete (SYN-SENT or SYN-RECEIVED -> ESTABLISHED). */
/* Whether cwnd was what limited the sender when this ACK's data was sent
 * (RFC 7661's idea, as Linux's tcp_is_cwnd_limited): in slow start, flight
 * over half of cwnd; in congestion avoidance, flight within a segment of it.
 * A sender held back by the peer's window or by the application does not
 * grow cwnd, so cwnd keeps meaning "what the path took". */
static bool tcp_cwnd_limited(const struct tcb *tcb, uint32_t prior_flight)
{
    if (tcb->cwnd < tcb->ssthresh)
        return 2u * prior_flight >= tcb->cwnd;
    return prior_flight + tcb->mss > tcb->cwnd;
}

static void tcp_established(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    tcp_rexmt_stop(tcb);
    tcb->rexmit_count = 0;
    tcb->rto_backoff = 0;
    tcp_rto_after_handshake(tcb);
    tcp_set_state(tcb, (tcb->tflags & TF_FIN_QUEUED) ? TCPS_FIN_WAIT_1 : TCPS_ESTABLISHED);
    tcb->opt.cc->init(tcb);
    if (tcp_traced(tcb))
        tcp_trace_cwnd(tcb, "init");
    tcb->last_rcv = ts->st->now;
    tcp_keepalive_reset(tcb);
    TCOUNT(ts, tcp_established);
    tcp_notify(tcb, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
}

/* RFC 9293 3.10.7.4 first check: is any of the segment inside the window? */
static bool tcp_seq_acceptable(const struct tcb *tcb, uint32_t seq, uint32_t seqlen, uint32_t wnd)
{
    uint32_t rn = tcb->rcv_nxt;
    if (seqlen == 0)
        return wnd == 0 ? seq == rn : SEQ_IN(seq, rn, rn + wnd);
    if (wnd == 0)
        return false;
    return SEQ_IN(seq, rn, rn + wnd) || SEQ_IN(seq + seqlen - 1, rn, rn + wnd);
}

/* Records [start, end) as held out of order. Returns false when the table
 * is full and the range touches none already held. */
static bool tcp_ooo_insert(struct tcb *tcb, uint32_t start, uint32_t end)
{
    unsigned cap = tcb->ooo_cap;
    struct tcp_ooo_range *r = tcb->ooo;
    if (!r)
        return false;
    if (tcb->ooo_len >= cap && cap < tcb->ts->cfg->ooo_max_ranges) {
        /* The table grows as holes come, up to the configured bound. */
        unsigned ncap = 2 * cap < tcb->ts->cfg->ooo_max_ranges ? 2 * cap : tcb->ts->cfg->ooo_max_ranges;
        struct tcp_ooo_range *n = realloc(r, ncap * sizeof *r);
        if (n) {
            tcb->ooo = r = n;
            tcb->ooo_cap = cap = ncap;
        }
    }
    unsigned i = 0;
    while (i < tcb->ooo_len && SEQ_LT(r[i].end, start))
        i++;
    unsigned j = i;
    while (j < tcb->ooo_len && SEQ_LEQ(r[j].start, end)) {
        start = SEQ_MIN(start, r[j].start);
        end = SEQ_MAX(end, r[j].end);
        j++;
    }
    if (i == j) {
        if (tcb->ooo_len >= cap)
            return false;
        memmove(r + i + 1, r + i, (tcb->ooo_len - i) * sizeof *r);
        tcb->ooo_len++;
    } else if (j - i > 1) {
        memmove(r + i + 1, r + j, (tcb->ooo_len - j) * sizeof *r);
        tcb->ooo_len -= j - i - 1;
    }
    r[i].start = start;
    r[i].end = end;
    r[i].seen = ++tcb->ooo_stamp;
    return true;
}

/* RFC 9293 3.10.7.4 eighth step: the peer's FIN, in order. */
static void tcp_rcv_fin(struct tcb *tcb)
{
    tcb->rcv_nxt++;
    tcb->tflags |= TF_FIN_RCVD | TF_ACKNOW;
    tcb->tflags &= ~TF_OOO_FIN;
    switch (tcb->state) {
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
        tcp_set_state(tcb, TCPS_CLOSE_WAIT);
        break;
    case TCPS_FIN_WAIT_1:
        /* Our FIN is not acknowledged (or we would be in FIN-WAIT-2):
         * simultaneous close. */
        tcp_set_state(tcb, TCPS_CLOSING);
        break;
    case TCPS_FIN_WAIT_2:
        tcp_enter_time_wait(tcb);
        break;
    case TCPS_TIME_WAIT:
        tcp_enter_time_wait(tcb); /* restarts the 2 MSL timeout */
        break;
    default:
        break; /* CLOSE-WAIT, CLOSING, LAST-ACK: remain */
    }
    tcp_notify(tcb, TCP_EV_READABLE);
}

/* RFC 9293 3.10.7.4 seventh step: segment text, already trimmed to the
 * window (seq >= rcv_nxt): appended in order (pulling in what waited beyond
 * a hole), or held in place out of order. Decides the delayed ACK. */
static void tcp_rcv_data(struct tcb *tcb, uint32_t seq, const uint8_t *data, uint32_t len)
{
    struct tcp_stack *ts = tcb->ts;
    if (!(tcb->tflags & TF_BUFS) || tcb->rcvq.len + (seq - tcb->rcv_nxt) + len > tcb->rcvbuf_cap ||
        tcp_ring_alloc(&tcb->rcvq, tcb->rcvbuf_cap) < 0) {
        /* Cannot happen with the window we offer (but for memory); never
         * write past the ring. */
        TCOUNT(ts, tcp_drop_rcvbuf);
        return;
    }
    if (len > tcb->rcv_mss)
        tcb->rcv_mss = (uint16_t)(len < tcb->adv_mss ? len : tcb->adv_mss);
    if (seq != tcb->rcv_nxt) {
        /* Beyond a hole: held in place, and an immediate (duplicate) ACK
         * tells the sender (RFC 5681 4.2) so fast retransmit can start. */
        TCOUNT(ts, tcp_rx_ooo);
        tcb->tflags |= TF_ACKNOW;
        for (unsigned i = 0; i < tcb->ooo_len; i++) {
            uint32_t s = SEQ_MAX(seq, tcb->ooo[i].start), e = SEQ_MIN(seq + len, tcb->ooo[i].end);
            if (SEQ_LT(s, e)) {
                tcp_note_dsack(tcb, s, e); /* held already: a duplicate */
                break;
            }
        }
        if (!tcp_ooo_insert(tcb, seq, seq + len)) {
            TCOUNT(ts, tcp_drop_ooo_full);
            return;
        }
        tcp_ring_write_at(&tcb->rcvq, tcb->rcvq.len + (seq - tcb->rcv_nxt), data, len);
        return;
    }
    bool had_hole = tcb->ooo_len > 0 || (tcb->tflags & TF_OOO_FIN);
    tcp_ring_write_at(&tcb->rcvq, tcb->rcvq.len, data, len);
    tcb->rcvq.len += len;
    tcb->rcv_nxt += len;
    /* In-order delivery: whatever was held beyond the hole now follows. */
    while (tcb->ooo_len && SEQ_LEQ(tcb->ooo[0].start, tcb->rcv_nxt)) {
        if (SEQ_GT(tcb->ooo[0].end, tcb->rcv_nxt)) {
            tcb->rcvq.len += tcb->ooo[0].end - tcb->rcv_nxt;
            tcb->rcv_nxt = tcb->ooo[0].end;
        }
        memmove(tcb->ooo, tcb->ooo + 1, (tcb->ooo_len - 1) * sizeof *tcb->ooo);
        tcb->ooo_len--;
    }
    if (had_hole) {
        tcb->tflags |= TF_ACKNOW; /* a gap (partly) filled: ACK at once (RFC 5681 4.2) */
    } else {
        /* Delayed ACK (RFC 1122 4.2.3.2): at least every second full-sized
         * segment, otherwise within tcp.delack_us. */
        tcb->delack_bytes += len;
        if (tcb->delack_bytes >= 2u * tcb->rcv_mss)
            tcb->tflags |= TF_ACKNOW;
        else
            tcp_delack_arm(tcb);
    }
    tcp_notify(tcb, TCP_EV_READABLE);
}

/* RFC 9293 3.10.7.4 fifth step for ESTABLISHED and later: a segment whose
 * ACK field lies in [SND.UNA - MAX.SND.WND, SND.MAX] (RFC 5961 5.2).
 * Returns false if the TCB is gone. */
static bool tcp_ack_process(struct tcb *tcb, const struct tcp_seg *seg)
{
    struct tcp_stack *ts = tcb->ts;
    struct ustack *st = ts->st;
    uint32_t ack = seg->ack;
    uint32_t wnd = (uint32_t)seg->wnd << tcb->snd_wscale;

    /* A duplicate ACK as RFC 5681 2 defines it: nothing new acknowledged, no
     * data, no SYN/FIN, same window, and data outstanding. */
    bool dup = ack == tcb->snd_una && seg->wire_len == 0 && !(seg->flags & (TCP_SYN | TCP_FIN)) &&
               wnd == tcb->snd_wnd && tcb->snd_max != tcb->snd_una;

    /* Send window update (3.10.7.4): "If SND.UNA =< SEG.ACK =< SND.NXT",
     * and only from a segment newer than the one that last set it (SND.WL1,
     * SND.WL2), so an old reordered segment cannot shrink the window. An ACK
     * that moves SND.UNA also updates it (as Linux's tcp_may_update_window):
     * a retransmitted segment can carry an old SEG.SEQ with the newest ACK,
     * and keeping the old window while SND.UNA moves would slide the right
     * edge past what the peer offered. */
    if (SEQ_LEQ(tcb->snd_una, ack) &&
        (SEQ_GT(ack, tcb->snd_una) || SEQ_LT(tcb->snd_wl1, seg->seq) ||
         (tcb->snd_wl1 == seg->seq && SEQ_LEQ(tcb->snd_wl2, ack)))) {
        if (wnd != tcb->snd_wnd && tcp_traced(tcb))
            tcp_trace_event(tcb, "peer_window", "wnd", wnd, "old", tcb->snd_wnd);
        tcb->snd_wnd = wnd;
        tcb->snd_wl1 = seg->seq;
        tcb->snd_wl2 = ack;
        if (wnd > tcb->max_sndwnd)
            tcb->max_sndwnd = wnd;
        if (wnd > 0) {
            timer_cancel(st, &tcb->t_persist);
            tcb->persist_backoff = 0;
            tcb->persist_probes = 0;
        } else {
            /* The peer answered with the window still shut: it is alive, and
             * a live receiver is waited for however long it takes (RFC 9293
             * 3.8.6.1, RFC 1122 4.2.2.17; Linux likewise). Only probes that go
             * unanswered count towards giving up. */
            tcb->persist_probes = 0;
        }
    }

    if ((tcb->tflags & TF_ECN_OK) && (seg->flags & TCP_ECE))
        tcp_ecn_echo(tcb);

    if (SEQ_GT(ack, tcb->snd_una)) {
        bool syn_was_acked = tcp_syn_acked(tcb);
        bool in_fast_recovery = tcb->tflags & TF_IN_RECOVERY;
        uint32_t prior_flight = tcp_flight_size(tcb);
        uint32_t prior_una = tcb->snd_una;
        uint32_t acked = ack - tcb->snd_una;
        if (!syn_was_acked)
            acked--;
        ustack_time_t rtt = 0;
        if ((tcb->tflags & TF_RTT_ACTIVE) && SEQ_GT(ack, tcb->rtt_seq)) {
            /* The handshake's sample (the SYN is not in the txq). */
            rtt = st->now - tcb->rtt_start;
            tcb->tflags &= ~TF_RTT_ACTIVE;
            tcp_rtt_sample(tcb, rtt);
        }
        if (SEQ_GT(ack, tcb->snd_buf_seq) && tcb->sndq.len) {
            uint32_t n = ack - tcb->snd_buf_seq;
            if (n > tcb->sndq.len)
                n = (uint32_t)tcb->sndq.len;
            tcp_ring_consume(&tcb->sndq, n);
            tcb->snd_buf_seq += n;
            tcp_notify(tcb, TCP_EV_WRITABLE);
        }
        tcb->snd_una = ack;
        if (SEQ_LT(tcb->snd_nxt, ack))
            tcb->snd_nxt = ack;
        ustack_time_t r = tcp_sack_cum_ack(tcb, seg);
        if (r) {
            rtt = r;
            tcp_rtt_sample(tcb, r);
        }
        tcb->rexmit_count = 0;
        tcb->rto_backoff = 0;
        tcp_recovery_on_ack(tcb, seg, prior_una, false, prior_flight);
        /* Growth only outside fast recovery (and not on the ACK that ends
         * it), and only when cwnd was what limited the sender. */
        if (!in_fast_recovery && !(tcb->tflags & TF_IN_RECOVERY) && acked &&
            tcp_cwnd_limited(tcb, prior_flight)) {
            uint32_t before = tcb->cwnd;
            tcb->opt.cc->cong_avoid(tcb, acked, rtt);
            if (tcb->cwnd != before && tcp_traced(tcb))
                tcp_trace_cwnd(tcb, before < tcb->ssthresh ? "slow_start" : "congestion_avoidance");
        }
        tcp_sndbuf_autotune(tcb);
        /* RFC 6298 5.2 / 5.3: stop when all is acknowledged, else restart
         * (as the probe timeout when a tail loss probe may go, RFC 8985 7.2). */
        if (tcb->snd_una == tcb->snd_max) {
            tcp_rexmt_stop(tcb);
            timer_cancel(st, &tcb->t_rack);
            tcb->tflags &= ~TF_PTO; /* a TLP episode may stay open (RFC 8985 7.4.2) */
        } else {
            tcp_rexmt_schedule(tcb);
        }
    } else if (dup || (seg->nsack && tcp_sack_on(tcb))) {
        tcp_recovery_on_ack(tcb, seg, tcb->snd_una, dup, tcp_flight_size(tcb));
    }

    /* Our FIN acknowledged? Then the state moves on (3.10.7.4 fifth step). */
    bool fin_acked = (tcb->tflags & TF_FIN_QUEUED) && SEQ_GT(tcb->snd_una, tcp_fin_seq(tcb));
    switch (tcb->state) {
    case TCPS_FIN_WAIT_1:
        if (fin_acked) {
            tcp_set_state(tcb, TCPS_FIN_WAIT_2);
            if (!(tcb->tflags & TF_USER))
                timer_arm(st, &tcb->t_2msl, st->now + ts->cfg->fin_wait2_us);
        }
        break;
    case TCPS_CLOSING:
        if (fin_acked)
            tcp_enter_time_wait(tcb);
        break;
    case TCPS_LAST_ACK:
        if (fin_acked) {
            tcp_drop(tcb, 0);
            return false;
        }
        break;
    default:
        break;
    }
    tcp_buffers_trim(tcb);
    return true;
}

/* ---------------------------------------------- 3.10.7.1: CLOSED (no TCB) */

static void tcp_input_closed(struct tcp_stack *ts, const struct tcp_seg *seg)
{
    TCOUNT(ts, tcp_rx_closed_port);
    /* "An incoming segment containing a RST is discarded." */
    if (seg->flags & TCP_RST) {
        TCOUNT(ts, tcp_drop_rst_closed);
        return;
    }
    /* "If the ACK bit is off, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>;
     * if the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>." */
    if (seg->flags & TCP_ACK)
        tcp_send_rst(ts, seg->daddr, seg->dport, seg->saddr, seg->sport, seg->ack, 0, false);
    else
        tcp_send_rst(ts, seg->daddr, seg->dport, seg->saddr, seg->sport, 0, seg->seq + tcp_seg_seqlen(seg), true);
}

/* ----------------------------------------------------- 3.10.7.2: LISTEN */

static void tcp_input_sync(struct tcb *tcb, struct tcp_seg *seg);

/* A child of listener l for the SYN: "Set RCV.NXT to SEG.SEQ+1, IRS is set
 * to SEG.SEQ ... ISS should be selected", in SYN-RECEIVED, hashed, on l's
 * SYN queue. Nothing is sent. NULL (counted) on no memory. */
static struct tcb *tcp_child_new(struct tcb *l, const struct tcp_seg *syn, bool use_iss, uint32_t iss)
{
    struct tcp_stack *ts = l->ts;
    struct tcb *c = tcp_tcb_new(ts);
    if (!c) {
        TCOUNT(ts, tcp_drop_nomem);
        return NULL;
    }
    c->laddr = syn->daddr;
    c->lport = syn->dport;
    c->raddr = syn->saddr;
    c->rport = syn->sport;
    c->tflags = TF_LISTEN_CHILD;
    /* The listener's options are its connections' (as Linux's clone of the
     * listening socket): nodelay, keepalive, buffers, features, trace. */
    tcp_opts_take(c, &l->opt);
    c->irs = syn->seq;
    c->rcv_nxt = c->rcv_adv = syn->seq + 1;
    c->iss = use_iss ? iss : tcp_isn(ts, c->laddr, c->lport, c->raddr, c->rport);
    c->snd_una = c->iss;
    c->snd_nxt = c->snd_max = c->iss + 1;
    c->snd_buf_seq = c->iss + 1;
    c->recover = c->iss;
    c->snd_wnd = syn->wnd; /* a SYN's window is never scaled */
    c->max_sndwnd = c->snd_wnd;
    c->snd_wl1 = syn->seq;
    c->snd_wl2 = c->iss;
    c->ts_offset = (uint32_t)ustack_random(ts->st);
    tcp_set_peer_mss(c, syn);
    tcp_negotiate(c, syn, true);
    tcp_set_state(c, TCPS_SYN_RECEIVED);
    tcp_hash_insert(c);
    c->parent = l;
    c->q_next = l->synq;
    l->synq = c;
    l->synq_len++;
    ts->nhalf_open++;
    TCOUNT(ts, tcp_passive_opens);
    return c;
}

/* An ACK to a listener that returns one of our SYN cookies (RFC 4987 3.6):
 * the child its SYN would have made is made now from what the cookie
 * remembers, and the ACK completes its handshake as in SYN-RECEIVED, data
 * and FIN included. Returns false if the ACK is no such thing (the caller
 * answers it with an RST); true if it was taken or dropped. */
static bool tcp_syncookie_ack(struct tcb *l, struct tcp_seg *seg)
{
    struct tcp_stack *ts = l->ts;
    struct tcp_seg syn;
    uint32_t iss;
    if (!tcp_syncookie_check(l, seg, &syn, &iss))
        return false;
    if (l->acceptq_len >= l->backlog) {
        /* As Linux: dropped, whatever tcp.abort_on_overflow says; the
         * peer's next segment (its data, or a retransmission) brings the
         * cookie again while it is fresh. */
        TCOUNT(ts, tcp_drop_accept_queue_full);
        return true;
    }
    if (tcp_conn_count(ts) >= ts->cfg->max_connections) {
        TCOUNT(ts, tcp_drop_max_connections);
        return true;
    }
    struct tcb *c = tcp_child_new(l, &syn, true, iss);
    if (!c)
        return true;
    /* What our SYN-ACK said, which nothing kept: the timestamp clock it
     * ran on, the window it offered, the RCV.NXT it acknowledged. */
    c->ts_offset = tcp_syncookie_ts_offset(ts, c->laddr, c->lport, c->raddr, c->rport);
    c->rcv_adv = c->rcv_nxt + tcp_synack_window(c->rcvbuf_cap, c->rcv_wscale);
    c->last_ack_sent = c->rcv_nxt;
    if (tcp_traced(c))
        tcp_trace_event(c, "syncookie_recv", "mss", syn.mss,
                        "wscale", (c->tflags & TF_WS_OK) ? (int64_t)c->snd_wscale : -1);
    /* Should the ACK not complete the handshake, the child lives as any
     * other in SYN-RECEIVED: its SYN-ACK retransmitted, then forgotten. */
    tcp_rexmt_arm(c);
    tcp_input_sync(c, seg);
    return true;
}

static void tcp_input_listen(struct tcb *l, struct tcp_seg *seg, bool use_iss, uint32_t iss)
{
    struct tcp_stack *ts = l->ts;
    const struct ustack_tcp_config *cfg = ts->cfg;
    /* first check for an RST: ignore it */
    if (seg->flags & TCP_RST) {
        TCOUNT(ts, tcp_drop_listen_rst);
        return;
    }
    /* second check for an ACK: <SEQ=SEG.ACK><CTL=RST>, unless it returns
     * a SYN cookie this listener sent lately */
    if (seg->flags & TCP_ACK) {
        if (!(seg->flags & TCP_SYN) && l->opt.syncookies && ts->st->now < l->cookie_until &&
            tcp_syncookie_ack(l, seg))
            return;
        TCOUNT(ts, tcp_listen_ack_rst);
        tcp_send_rst(ts, seg->daddr, seg->dport, seg->saddr, seg->sport, seg->ack, 0, false);
        return;
    }
    /* third check for a SYN */
    if (!(seg->flags & TCP_SYN)) {
        /* fourth, other text or control: drop */
        TCOUNT(ts, tcp_drop_listen_no_syn);
        return;
    }
    /* No room for a half-open child: a SYN cookie where allowed (never
     * for a TIME-WAIT reopen, whose ISS must follow the old connection's),
     * else the SYN is dropped. */
    bool synq_full = l->synq_len >= cfg->syn_backlog || l->synq_len >= l->backlog;
    bool half_open_full = ts->nhalf_open >= cfg->max_half_open;
    bool cookie = !use_iss && (l->opt.syncookies == 2 || (l->opt.syncookies == 1 && (synq_full || half_open_full)));
    if (!cookie && synq_full) {
        TCOUNT(ts, tcp_drop_syn_queue_full);
        return;
    }
    if (!cookie && half_open_full) {
        TCOUNT(ts, tcp_drop_max_half_open);
        return;
    }
    if (l->acceptq_len >= l->backlog) {
        TCOUNT(ts, tcp_drop_accept_queue_full);
        return;
    }
    if (tcp_conn_count(ts) >= cfg->max_connections) {
        TCOUNT(ts, tcp_drop_max_connections);
        return;
    }
    if (cookie) {
        tcp_syncookie_send(l, seg);
        return;
    }
    /* "... and a SYN segment sent of the form <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>." */
    struct tcb *c = tcp_child_new(l, seg, use_iss, iss);
    if (!c)
        return;
    /* Data in a SYN is not kept (no TFO): the peer sends it again once the
     * handshake is complete. */
    c->tflags |= TF_RTT_ACTIVE;
    c->rtt_seq = c->iss;
    c->rtt_start = ts->st->now;
    tcp_send_syn(c);
    tcp_rexmt_arm(c);
}

/* -------------------------------------------------- 3.10.7.3: SYN-SENT */

/* Returns false if the TCB is gone. */
static bool tcp_input_text_fin(struct tcb *tcb, struct tcp_seg *seg);

static void tcp_input_syn_sent(struct tcb *tcb, struct tcp_seg *seg)
{
    struct tcp_stack *ts = tcb->ts;
    bool ack_ok = false;
    /* first check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT,
     * send a reset (unless the RST bit is set) and discard." */
    if (seg->flags & TCP_ACK) {
        if (SEQ_LEQ(seg->ack, tcb->iss) || SEQ_GT(seg->ack, tcb->snd_max)) {
            TCOUNT(ts, tcp_drop_syn_sent_bad_ack);
            if (!(seg->flags & TCP_RST))
                tcp_send_rst(ts, tcb->laddr, tcb->lport, tcb->raddr, tcb->rport, seg->ack, 0, false);
            return;
        }
        ack_ok = true;
    }
    /* second check the RST bit: reset only if it acknowledges our SYN
     * (RFC 5961 3: no blind reset in SYN-SENT). */
    if (seg->flags & TCP_RST) {
        if (ack_ok) {
            TCOUNT(ts, tcp_conn_refused);
            tcp_drop(tcb, ECONNREFUSED);
        } else {
            TCOUNT(ts, tcp_drop_syn_sent_rst);
        }
        return;
    }
    /* fourth check the SYN bit */
    if (!(seg->flags & TCP_SYN)) {
        /* fifth: neither SYN nor RST: drop */
        TCOUNT(ts, tcp_drop_syn_sent_no_syn);
        return;
    }
    tcb->irs = seg->seq;
    tcb->rcv_nxt = tcb->rcv_adv = seg->seq + 1;
    tcp_set_peer_mss(tcb, seg);
    tcp_negotiate(tcb, seg, false);
    tcb->last_rcv = ts->st->now;
    if (ack_ok) {
        if ((tcb->tflags & TF_RTT_ACTIVE) && SEQ_GT(seg->ack, tcb->rtt_seq)) {
            tcb->tflags &= ~TF_RTT_ACTIVE;
            tcp_rtt_sample(tcb, ts->st->now - tcb->rtt_start);
        }
        tcb->snd_una = seg->ack;
    }
    if (tcp_syn_acked(tcb)) {
        /* "If SND.UNA > ISS (our SYN has been ACKed), change the connection
         * state to ESTABLISHED, form an ACK segment <SEQ=SND.NXT>
         * <ACK=RCV.NXT><CTL=ACK> and send it." */
        tcb->snd_wnd = (uint32_t)seg->wnd; /* SYN: unscaled */
        tcb->max_sndwnd = tcb->snd_wnd;
        tcb->snd_wl1 = seg->seq;
        tcb->snd_wl2 = seg->ack;
        tcp_established(tcb);
        tcb->tflags |= TF_ACKNOW;
        /* "Data or controls that were queued for transmission may be
         * included. ... continue processing at the sixth step": the SYN is
         * consumed, any text and FIN remain. */
        seg->seq++;
        seg->flags &= (uint8_t)~TCP_SYN;
        /* Our SYN offered a window from RCV.NXT: text beyond it is cut. */
        uint32_t wnd = tcp_rcv_window(tcb);
        tcb->rcv_adv = tcb->rcv_nxt + wnd;
        if (seg->len > wnd) {
            seg->len = wnd;
            seg->flags &= (uint8_t)~TCP_FIN;
        }
        if (tcp_input_text_fin(tcb, seg))
            tcp_output(tcb);
        return;
    }
    /* "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
     * <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it": simultaneous open.
     * Text in the SYN is not kept; the peer sends it again. */
    tcb->snd_wnd = (uint32_t)seg->wnd;
    tcb->max_sndwnd = tcb->snd_wnd;
    tcb->snd_wl1 = seg->seq;
    tcb->snd_wl2 = tcb->iss;
    tcp_set_state(tcb, TCPS_SYN_RECEIVED);
    tcp_send_syn(tcb);
    tcp_rexmt_arm(tcb);
}

/* ---------------------------------- 3.10.7.4: sixth to eighth steps */

static bool tcp_input_text_fin(struct tcb *tcb, struct tcp_seg *seg)
{
    struct tcp_stack *ts = tcb->ts;
    uint32_t fin_at = seg->seq + seg->len;
    /* sixth, check the URG bit: the pointer is remembered, the data is
     * delivered inline (SO_OOBINLINE behaviour; RFC 6093 advises against
     * new uses of urgent data). */
    if ((seg->flags & TCP_URG) && seg->urg &&
        (tcb->state == TCPS_ESTABLISHED || tcb->state == TCPS_FIN_WAIT_1 || tcb->state == TCPS_FIN_WAIT_2)) {
        uint32_t up = seg->seq + seg->urg;
        if (SEQ_GT(up, tcb->rcv_up))
            tcb->rcv_up = up;
    }
    /* seventh, process the segment text */
    if (seg->len) {
        switch (tcb->state) {
        case TCPS_ESTABLISHED:
        case TCPS_FIN_WAIT_1:
        case TCPS_FIN_WAIT_2:
            if (!(tcb->tflags & TF_USER) && !tcb->parent) {
                /* The user closed: nobody will read this. Reset, as Linux
                 * does, so the peer does not believe it was delivered. */
                TCOUNT(ts, tcp_rx_data_after_close);
                tcp_send_rst_tcb(tcb);
                tcp_drop(tcb, 0);
                return false;
            }
            tcp_rcv_data(tcb, seg->seq, seg->data, seg->len);
            break;
        default:
            /* CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not
             * occur since a FIN has been received from the remote side.
             * Ignore the segment text." */
            TCOUNT(ts, tcp_rx_after_fin);
            break;
        }
    }
    /* eighth, check the FIN bit */
    if (seg->flags & TCP_FIN) {
        if (fin_at == tcb->rcv_nxt) {
            tcp_rcv_fin(tcb);
        } else if (SEQ_GT(fin_at, tcb->rcv_nxt) && !(tcb->tflags & TF_FIN_RCVD)) {
            /* Beyond a hole: taken when the hole fills. */
            tcb->tflags |= TF_OOO_FIN | TF_ACKNOW;
            tcb->ooo_fin_seq = fin_at;
        }
    }
    if ((tcb->tflags & TF_OOO_FIN) && tcb->ooo_fin_seq == tcb->rcv_nxt && !(tcb->tflags & TF_FIN_RCVD))
        tcp_rcv_fin(tcb);
    return true;
}

/* --------------------------------- 3.10.7.4: synchronized states */

static void tcp_input_sync(struct tcb *tcb, struct tcp_seg *seg)
{
    struct tcp_stack *ts = tcb->ts;
    struct ustack *st = ts->st;
    uint32_t wnd = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
    tcb->rcv_wnd = wnd;

    /* A SYN,ACK repeating the peer's SYN (simultaneous open, RFC 9293
     * figure 8): the SYN is a duplicate and is stripped before the
     * acceptability test, as BSD and Linux do, so its ACK completes the
     * handshake. */
    if (tcb->state == TCPS_SYN_RECEIVED && (seg->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
        seg->seq == tcb->irs) {
        seg->flags &= (uint8_t)~TCP_SYN;
        seg->seq++;
    }

    /* RFC 7323 5.3 R1, PAWS: a segment whose timestamp is older than
     * TS.Recent is an old duplicate (a wrapped sequence number cannot fool
     * us), unless the connection was idle so long (24 days) that TS.Recent
     * itself is stale. RSTs are exempt. */
    if ((tcb->tflags & TF_TS_OK) && seg->has_ts && !(seg->flags & TCP_RST) && tcb->ts_recent_age &&
        SEQ_LT(seg->ts_val, tcb->ts_recent)) {
        if (st->now - tcb->ts_recent_age > TCP_PAWS_IDLE_US) {
            TCOUNT(ts, tcp_paws_idle_reset);
            tcb->ts_recent_age = 0; /* invalid: the next segment sets it */
        } else {
            TCOUNT(ts, tcp_drop_paws);
            if (seg->wire_len && SEQ_LEQ(seg->wire_seq + seg->wire_len, tcb->rcv_nxt))
                tcp_note_dsack(tcb, seg->wire_seq, seg->wire_seq + seg->wire_len);
            tcp_answer_unacceptable(tcb, seg);
            return;
        }
    }

    /* first check sequence number (the four cases of the acceptability test) */
    bool ok = tcp_seq_acceptable(tcb, seg->seq, tcp_seg_seqlen(seg), wnd);
    if (!ok && wnd == 0 && seg->seq == tcb->rcv_nxt && !(seg->flags & TCP_SYN)) {
        /* "If the RCV.WND is zero, no segments will be acceptable, but
         * special allowance should be made to accept valid ACKs, URGs, and
         * RSTs": the text is trimmed below; a bare FIN is kept (it needs no
         * buffer), as Linux does. */
        ok = true;
    }
    if (!ok) {
        if (seg->flags & TCP_RST) {
            /* out-of-window RST: silently dropped (RFC 5961 3.2) */
            TCOUNT(ts, tcp_drop_rst_unacceptable);
            return;
        }
        TCOUNT(ts, tcp_drop_unacceptable);
        if (tcb->state == TCPS_TIME_WAIT && (seg->flags & TCP_FIN))
            tcp_enter_time_wait(tcb); /* a retransmitted FIN: restart 2 MSL */
        if (seg->flags & TCP_SYN) {
            tcp_challenge_ack(tcb); /* RFC 5961 4.2 */
            return;
        }
        if (seg->wire_len && SEQ_LEQ(seg->wire_seq + seg->wire_len, tcb->rcv_nxt))
            tcp_note_dsack(tcb, seg->wire_seq, seg->wire_seq + seg->wire_len); /* all old: a duplicate */
        tcp_answer_unacceptable(tcb, seg);
        return;
    }
    /* Trim to the window: old bytes at the front (including a SYN already
     * seen), bytes beyond the right edge at the back. */
    if (SEQ_LT(seg->seq, tcb->rcv_nxt)) {
        uint32_t dup = tcb->rcv_nxt - seg->seq;
        if (seg->flags & TCP_SYN) {
            seg->flags &= (uint8_t)~TCP_SYN;
            seg->seq++;
            dup--;
        }
        if (dup > seg->len) {
            seg->flags &= (uint8_t)~TCP_FIN; /* the FIN too was seen */
            dup = seg->len;
        }
        if (dup) {
            if (dup == seg->len)
                TCOUNT(ts, tcp_rx_dup_data);
            else
                TCOUNT(ts, tcp_rx_trimmed);
            tcp_note_dsack(tcb, seg->seq, seg->seq + dup);
            seg->data += dup;
            seg->len -= dup;
            seg->seq += dup;
            seg->urg = seg->urg > dup ? (uint16_t)(seg->urg - dup) : 0;
            tcb->tflags |= TF_ACKNOW;
        }
    }
    if (SEQ_GT(seg->seq + seg->len, tcb->rcv_nxt + wnd)) {
        uint32_t excess = seg->seq + seg->len - (tcb->rcv_nxt + wnd);
        if (excess > seg->len)
            excess = seg->len;
        seg->len -= excess;
        seg->flags &= (uint8_t)~TCP_FIN;
        TCOUNT(ts, tcp_rx_trimmed);
        tcb->tflags |= TF_ACKNOW;
    }

    /* second check the RST bit (RFC 5961 3.2): only an exact match of
     * RCV.NXT resets; anything else in the window gets a challenge ACK. */
    if (seg->flags & TCP_RST) {
        if (seg->wire_seq != tcb->rcv_nxt) { /* as received, not as trimmed */
            tcp_challenge_ack(tcb);
            return;
        }
        TCOUNT(ts, tcp_rx_rst);
        switch (tcb->state) {
        case TCPS_SYN_RECEIVED:
            if (tcb->tflags & TF_LISTEN_CHILD) {
                /* "If this connection was initiated with a passive OPEN,
                 * then return this connection to the LISTEN state": the
                 * listener stays; the child is forgotten. */
                tcp_drop(tcb, 0);
            } else {
                TCOUNT(ts, tcp_conn_refused);
                tcp_drop(tcb, ECONNREFUSED);
            }
            return;
        case TCPS_ESTABLISHED:
        case TCPS_FIN_WAIT_1:
        case TCPS_FIN_WAIT_2:
        case TCPS_CLOSE_WAIT:
            TCOUNT(ts, tcp_conn_reset);
            tcp_drop(tcb, ECONNRESET);
            return;
        default: /* CLOSING, LAST-ACK, TIME-WAIT */
            tcp_drop(tcb, 0);
            return;
        }
    }

    /* third check security: not implemented (no IP security options). */

    /* fourth, check the SYN bit: in a synchronized state a SYN gets a
     * challenge ACK (RFC 5961 4.2), except that a passive child returns to
     * LISTEN (the listener keeps listening, the child is forgotten). */
    if (seg->flags & TCP_SYN) {
        if (tcb->state == TCPS_SYN_RECEIVED && (tcb->tflags & TF_LISTEN_CHILD)) {
            tcp_drop(tcb, 0);
            return;
        }
        tcp_challenge_ack(tcb);
        return;
    }

    /* fifth check the ACK field */
    if (!(seg->flags & TCP_ACK)) {
        TCOUNT(ts, tcp_drop_no_ack);
        return;
    }
    tcb->last_rcv = st->now;
    tcb->keep_probes = 0;
    /* RFC 7323 4.3: TS.Recent follows the segment that the ACK we last sent
     * asked for (so delayed ACKs echo the earliest, and RTTM stays right). */
    if ((tcb->tflags & TF_TS_OK) && seg->has_ts && SEQ_LEQ(seg->wire_seq, tcb->last_ack_sent) &&
        (!tcb->ts_recent_age || SEQ_GEQ(seg->ts_val, tcb->ts_recent))) {
        tcb->ts_recent = seg->ts_val;
        tcb->ts_recent_age = st->now;
    }
    if ((tcb->tflags & TF_TS_OK) && seg->has_ts && seg->ts_ecr && seg->wire_len)
        tcp_rcv_rtt_sample(tcb, seg->ts_ecr);
    if (tcb->tflags & TF_ECN_OK) {
        /* RFC 3168 6.1.3: ECE on every ACK from a CE mark until a segment
         * with CWR says the sender reduced its window. */
        if (seg->flags & TCP_CWR)
            tcb->tflags &= ~TF_ECE_SEND;
        if (seg->ecn == IP_ECN_CE) {
            TCOUNT(ts, tcp_ecn_ce_rx);
            if (!(tcb->tflags & TF_ECE_SEND) && tcp_traced(tcb))
                tcp_trace_event(tcb, "ecn_ce", "seq", seg->wire_seq, "len", seg->wire_len);
            tcb->tflags |= TF_ECE_SEND | TF_ACKNOW; /* and at once, as Linux */
        }
    }
    if (tcb->state == TCPS_SYN_RECEIVED) {
        /* "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state
         * ... If the segment acknowledgment is not acceptable, form a reset
         * segment <SEQ=SEG.ACK><CTL=RST> and send it." */
        if (!(SEQ_LT(tcb->snd_una, seg->ack) && SEQ_LEQ(seg->ack, tcb->snd_max))) {
            TCOUNT(ts, tcp_drop_synrcvd_bad_ack);
            tcp_send_rst(ts, tcb->laddr, tcb->lport, tcb->raddr, tcb->rport, seg->ack, 0, false);
            return;
        }
        struct tcb *l = tcb->parent;
        if (l && l->acceptq_len >= l->backlog) {
            /* No room to hand it over: ignore the ACK, as Linux; our SYN-ACK
             * retransmission will prompt another one. With
             * tcp.abort_on_overflow the peer is told at once instead
             * (<SEQ=SEG.ACK><CTL=RST>) and the child forgotten. */
            TCOUNT(ts, tcp_drop_accept_queue_full);
            if (ts->cfg->abort_on_overflow) {
                TCOUNT(ts, tcp_abort_on_overflow);
                tcp_send_rst(ts, tcb->laddr, tcb->lport, tcb->raddr, tcb->rport, seg->ack, 0, false);
                tcp_drop(tcb, 0);
            }
            return;
        }
        if (tcp_tcb_alloc_buffers(tcb) < 0) {
            TCOUNT(ts, tcp_drop_nomem);
            tcp_send_rst_tcb(tcb);
            tcp_drop(tcb, ENOMEM);
            return;
        }
        tcb->snd_wnd = (uint32_t)seg->wnd << tcb->snd_wscale;
        tcb->max_sndwnd = SEQ_MAX(tcb->max_sndwnd, tcb->snd_wnd);
        tcb->snd_wl1 = seg->seq;
        tcb->snd_wl2 = seg->ack;
        tcp_established(tcb);
        if (l) {
            /* From the SYN queue to the accept queue. */
            for (struct tcb **pp = &l->synq; *pp; pp = &(*pp)->q_next) {
                if (*pp == tcb) {
                    *pp = tcb->q_next;
                    l->synq_len--;
                    ts->nhalf_open--;
                    break;
                }
            }
            tcb->q_next = NULL;
            if (l->acceptq_tail)
                l->acceptq_tail->q_next = tcb;
            else
                l->acceptq = tcb;
            l->acceptq_tail = tcb;
            l->acceptq_len++;
            tcp_notify(l, TCP_EV_ACCEPT | TCP_EV_READABLE);
        }
    }
    /* ESTABLISHED and later: RFC 5961 5.2 acceptable ACK range. */
    if (SEQ_GT(seg->ack, tcb->snd_max)) {
        /* "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then
         * send an ACK, drop the segment, and return." */
        TCOUNT(ts, tcp_drop_ack_too_new);
        tcp_challenge_ack(tcb);
        return;
    }
    if (SEQ_LT(seg->ack, tcb->snd_una - tcb->max_sndwnd)) {
        TCOUNT(ts, tcp_drop_ack_too_old);
        tcp_challenge_ack(tcb);
        return;
    }
    if (!tcp_ack_process(tcb, seg))
        return; /* LAST-ACK: closed */

    /* sixth, seventh, eighth */
    if (tcp_input_text_fin(tcb, seg))
        tcp_output(tcb);
}

/* ------------------------------------------------------------ entry point */

void tcp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h)
{
    struct tcp_stack *ts = st->tcp;
    struct tcp_seg seg;
    TCOUNT(ts, tcp_rx);
    if (h->to_broadcast) {
        /* RFC 9293 3.9.1: TCP is unicast only; never answer a broadcast. */
        TCOUNT(ts, tcp_drop_broadcast);
        goto drop;
    }
    ts->cur_seg = NULL;
    if (tcp_parse(ts, pb->data, pb->len, h, &seg) < 0)
        goto drop;
    seg.ecn = h->tos & IP_ECN_MASK;
    if (seg.sport == 0 || seg.dport == 0) {
        TCOUNT(ts, tcp_drop_bad_port);
        goto drop;
    }
    TCOUNT_ADD(ts, tcp_rx_bytes, seg.len);

    struct tcb *tcb = tcp_lookup(ts, seg.daddr, seg.dport, seg.saddr, seg.sport);
    if (ts->st->trace_fn) {
        /* Drops while this segment is handled are traced with it; the
         * connection may be freed on the way, so decide now. */
        ts->cur_seg = &seg;
        ts->cur_traced = tcb ? tcp_traced(tcb) : ts->st->trace_all;
        if (tcb && ts->cur_traced)
            tcp_trace_seg(tcb, "seg_in", seg.wire_seq, seg.ack, seg.wire_len, (uint32_t)seg.wnd << tcb->snd_wscale,
                          seg.flags);
    }
    if (tcb && tcb->state == TCPS_TIME_WAIT && (seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
        SEQ_GT(seg.seq, tcb->rcv_nxt)) {
        /* A new SYN for a TIME-WAIT 4-tuple with a higher sequence number
         * may reopen it (RFC 9293 3.6.1 / RFC 1122 4.2.2.13, as Linux): the
         * new ISS starts above anything the old connection sent. */
        struct tcb *l = tcp_listen_lookup(ts, seg.daddr, seg.dport);
        if (l) {
            uint32_t iss = tcb->snd_max + TCP_MAX_WINDOW + 2u;
            TCOUNT(ts, tcp_timewait_reopen);
            tcp_drop(tcb, 0);
            tcp_input_listen(l, &seg, true, iss);
            goto drop;
        }
    }
    if (!tcb || tcb->state == TCPS_CLOSED) {
        struct tcb *l = tcp_listen_lookup(ts, seg.daddr, seg.dport);
        if (l)
            tcp_input_listen(l, &seg, false, 0);
        else
            tcp_input_closed(ts, &seg);
        goto drop;
    }
    if (tcb->state == TCPS_SYN_SENT)
        tcp_input_syn_sent(tcb, &seg);
    else
        tcp_input_sync(tcb, &seg);
drop:
    ts->cur_seg = NULL;
    pbuf_free(ts->st, pb);
}

/* ----------------------------------------------------------- ICMP errors */

void tcp_icmp_error(struct ustack *st, const struct ipv4_hdr_info *inner, const uint8_t *l4, size_t l4len,
                    int err, unsigned nh_mtu)
{
    struct tcp_stack *ts = st->tcp;
    if (l4len < 8)
        return;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    uint32_t seq = rd32(l4 + 4);
    struct tcb *tcb = tcp_lookup(ts, inner->src, sport, inner->dst, dport);
    if (!tcb) {
        TCOUNT(ts, tcp_icmp_no_conn); /* the quoted header matches no connection */
        return;
    }
    /* RFC 5927 4.1: only for a sequence number we have in flight, so a blind
     * attacker cannot use ICMP to disturb a connection. */
    if (!SEQ_IN(seq, tcb->snd_una, tcb->snd_max) && !(tcb->state == TCPS_SYN_SENT && seq == tcb->iss)) {
        TCOUNT(ts, tcp_icmp_oow);
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "icmp_oow", "seq", seq, "snd_una", tcb->snd_una);
        return;
    }
    TCOUNT(ts, tcp_icmp_errors);
    if (err == EMSGSIZE) {
        /* Path MTU discovery (RFC 1191, tcp_pmtu.c): not an error. */
        tcp_pmtu_icmp(tcb, inner, nh_mtu);
        return;
    }
    if (tcb->state == TCPS_SYN_SENT && (err == ECONNREFUSED || err == ENOPROTOOPT)) {
        /* RFC 1122 4.2.3.9: port and protocol unreachable are hard errors. */
        tcp_drop(tcb, err);
        return;
    }
    /* Everything else is soft (RFC 1122 4.2.3.9, RFC 5461): kept and
     * reported only if the connection then times out. */
    tcb->soft_err = err;
}
