/*
 * Loss detection and recovery, on the retransmission queue (one record per
 * segment sent, oldest first; see tcp.h) used as a scoreboard:
 *
 *  - SACK (RFC 2018): blocks from the peer mark records SACKED; D-SACK
 *    (RFC 2883) blocks report duplicates, which reveal reordering and
 *    needless retransmissions.
 *  - Loss marking: RACK (RFC 8985 6) by time when SACK is in use and RACK is
 *    on; otherwise RFC 6675 IsLost (DupThresh segments SACKed above); without
 *    SACK, NewReno (RFC 6582): the third duplicate ACK and every partial ACK
 *    mark the first unacknowledged segment. An RTO marks everything not
 *    SACKed (RTO recovery; for a peer without SACK, everything unacknowledged).
 *  - Recovery: entered when something is marked lost. With SACK the window
 *    follows PRR (RFC 6937) towards ssthresh and what is sent is RFC 6675's
 *    NextSeg: lost records first, then new data. Without SACK, RFC 6582's
 *    inflated window. Recovery ends when the cumulative ACK passes the
 *    RecoveryPoint (`recover`).
 *  - Limited transmit (RFC 3042): the first two duplicate ACKs each let one
 *    new segment out.
 *  - TLP (RFC 8985 7): when the last segments of a flight may be lost and no
 *    ACK would come, a probe after 2 SRTT elicits SACKs so RACK can act,
 *    instead of waiting for the RTO.
 *  - Undo: an RTO or a fast retransmit proven spurious by the timestamp echo
 *    (Eifel, RFC 3522; the response is Linux's undo, not RFC 4015's), or a
 *    fast recovery whose every retransmission came back D-SACKed (possibly
 *    after it ended), restores cwnd and ssthresh.
 *
 * Every decision is counted and traced (docs/trace.md).
 */
#include <string.h>
#include "tcp_var.h"

#define TCP_TLP_WCDELACK_US USTACK_MS(200) /* RFC 8985 7.2 WCDelAckT */
#define TCP_REO_WND_PERSIST 16             /* RFC 8985 6.2 step 4 */

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max32(uint32_t a, uint32_t b) { return a > b ? a : b; }

uint32_t tcp_pipe(const struct tcb *tcb)
{
    uint32_t flight = tcp_flight_size(tcb);
    uint32_t left = tcb->sacked_out + tcb->lost_out;
    return (flight > left ? flight - left : 0) + tcb->retrans_out;
}

static bool tcp_in_recovery(const struct tcb *tcb) { return tcb->tflags & (TF_IN_RECOVERY | TF_LOSS); }

uint32_t tcp_cwnd_used(const struct tcb *tcb)
{
    /* NewReno's fast recovery counts FlightSize against its inflated
     * window (RFC 6582); SACK recovery and RTO recovery count pipe. */
    if ((tcb->tflags & TF_IN_RECOVERY) && !tcp_sack_on(tcb))
        return tcp_flight_size(tcb);
    if (tcp_in_recovery(tcb) || (tcp_sack_on(tcb) && tcb->lost_out))
        return tcp_pipe(tcb);
    return tcp_flight_size(tcb);
}

uint32_t tcp_send_cwnd(const struct tcb *tcb)
{
    uint32_t cw = tcb->cwnd;
    /* RFC 3042: on the first and second duplicate ACK, one new segment each,
     * cwnd itself unchanged. With SACK, the same: each ACK that brought SACK
     * information counts (the SACKed bytes are not subtracted outside
     * recovery, so this is what lets new data out). */
    if (!tcp_in_recovery(tcb) && tcb->dupacks && tcp_feature(tcb, USTACK_TCPF_LIMITED_TX))
        cw += min32(tcb->dupacks, 2) * tcb->mss;
    return cw;
}

/* ------------------------------------------------------------ scoreboard */

static void sb_unmark(struct tcb *tcb, struct tcp_txseg *s)
{
    uint32_t len = tcp_txseg_len(s);
    if (s->flags & TCP_TXSEG_SACKED)
        tcb->sacked_out -= len;
    if (s->flags & TCP_TXSEG_LOST)
        tcb->lost_out -= len;
    if (s->flags & TCP_TXSEG_RETRANS)
        tcb->retrans_out -= len;
    s->flags &= (uint8_t)~(TCP_TXSEG_SACKED | TCP_TXSEG_LOST | TCP_TXSEG_RETRANS);
}

static void sb_mark_sacked(struct tcb *tcb, struct tcp_txseg *s)
{
    sb_unmark(tcb, s);
    s->flags |= TCP_TXSEG_SACKED;
    tcb->sacked_out += tcp_txseg_len(s);
}

/* Marks record i lost (again, if its retransmission was lost too). Returns
 * whether anything changed. */
static bool sb_mark_lost(struct tcb *tcb, unsigned i, const char *why)
{
    struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
    uint32_t len = tcp_txseg_len(s);
    if (s->flags & TCP_TXSEG_SACKED)
        return false;
    if ((s->flags & TCP_TXSEG_LOST) && !(s->flags & TCP_TXSEG_RETRANS))
        return false;
    if (s->flags & TCP_TXSEG_RETRANS) {
        s->flags &= (uint8_t)~TCP_TXSEG_RETRANS;
        tcb->retrans_out -= len;
    }
    if (!(s->flags & TCP_TXSEG_LOST)) {
        s->flags |= TCP_TXSEG_LOST;
        tcb->lost_out += len;
    }
    if (i < tcb->txq.hint)
        tcb->txq.hint = i;
    if (tcp_traced(tcb))
        tcp_trace_mark_lost(tcb, s->seq, len, why);
    return true;
}

int tcp_next_lost(struct tcb *tcb)
{
    struct tcp_txq *q = &tcb->txq;
    if (!tcb->lost_out)
        return -1;
    for (unsigned i = q->hint; i < q->len; i++) {
        const struct tcp_txseg *s = tcp_txq_at(q, i);
        if ((s->flags & (TCP_TXSEG_LOST | TCP_TXSEG_RETRANS | TCP_TXSEG_SACKED)) == TCP_TXSEG_LOST) {
            q->hint = i;
            return (int)i;
        }
    }
    q->hint = q->len;
    return -1;
}

/* First record whose end is beyond seq (records are in sequence order). */
static unsigned txq_lower_bound(const struct tcb *tcb, uint32_t seq)
{
    unsigned lo = 0, hi = tcb->txq.len;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (SEQ_LEQ(tcp_txq_at(&tcb->txq, mid)->end, seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* --------------------------------------------------------------- RACK */

static void rack_update_min_rtt(struct tcb *tcb, ustack_time_t rtt)
{
    if (rtt && (!tcb->min_rtt || rtt < tcb->min_rtt))
        tcb->min_rtt = rtt;
}

/* RFC 8985 6.2 step 2: a record newly delivered (cumulatively or SACKed).
 * Returns the RTT it gives, 0 if ambiguous. */
static ustack_time_t rack_on_delivered(struct tcb *tcb, const struct tcp_txseg *s, const struct tcp_seg *seg,
                                      bool sacked)
{
    ustack_time_t now = tcb->ts->st->now;
    ustack_time_t rtt = now - s->sent_at;
    if (s->flags & TCP_TXSEG_EVER_RETRANS) {
        /* Which transmission was delivered? The timestamp echo says, for a
         * cumulative ACK; or an RTT below the minimum shows it was an
         * earlier one. A SACKed segment lies beyond a hole, and the echo
         * then belongs to the segment at the hole's edge (RFC 7323 4.3),
         * not to this one: it says nothing, and a SACKed tail loss probe
         * must still move RACK on. */
        if (!sacked && (tcb->tflags & TF_TS_OK) && seg && seg->has_ts && SEQ_LT(seg->ts_ecr, s->tsval))
            return 0;
        if (rtt < tcb->min_rtt)
            return 0;
    }
    if (s->sent_at > tcb->rack_xmit_ts ||
        (s->sent_at == tcb->rack_xmit_ts && SEQ_GT(s->end, tcb->rack_end_seq))) {
        tcb->rack_xmit_ts = s->sent_at;
        tcb->rack_end_seq = s->end;
        tcb->rack_rtt = rtt;
    }
    return rtt;
}

/* RFC 8985 6.2 step 4. */
static ustack_time_t rack_reo_wnd(const struct tcb *tcb)
{
    if (!tcb->rack_reordering_seen) {
        if (tcp_in_recovery(tcb) || tcb->sacked_out >= tcb->ts->cfg->dupthresh * tcb->mss)
            return 0;
    }
    ustack_time_t w = tcb->min_rtt / 4 * (tcb->rack_reo_wnd_mult ? tcb->rack_reo_wnd_mult : 1);
    return tcb->srtt && w > tcb->srtt ? tcb->srtt : w;
}

/* RFC 8985 6.2 step 5: every record sent before the latest delivered one
 * and outstanding for longer than RACK.rtt + reo_wnd is lost; for the
 * others, the reordering timer waits for the earliest. */
static unsigned rack_detect_loss(struct tcb *tcb)
{
    struct tcp_txq *q = &tcb->txq;
    ustack_time_t now = tcb->ts->st->now, reo = rack_reo_wnd(tcb), timeout = 0;
    unsigned marked = 0;
    if (!tcb->rack_xmit_ts)
        return 0;
    for (unsigned i = 0; i < q->len; i++) {
        struct tcp_txseg *s = tcp_txq_at(q, i);
        if (s->flags & TCP_TXSEG_SACKED)
            continue;
        if ((s->flags & TCP_TXSEG_LOST) && !(s->flags & TCP_TXSEG_RETRANS))
            continue; /* already waiting for its retransmission */
        /* Sent before it; a tie in time is broken by sequence, except for a
         * retransmission, which went after whatever shares its time stamp. */
        bool before = s->sent_at < tcb->rack_xmit_ts ||
                      (s->sent_at == tcb->rack_xmit_ts && SEQ_LT(s->end, tcb->rack_end_seq) &&
                       !(s->flags & TCP_TXSEG_EVER_RETRANS));
        if (!before) {
            /* Records beyond the latest delivered one that were never
             * retransmitted were all sent after it: none can qualify. */
            if (SEQ_GEQ(s->seq, tcb->rack_end_seq) && !(s->flags & TCP_TXSEG_EVER_RETRANS))
                break;
            continue;
        }
        ustack_time_t due = s->sent_at + tcb->rack_rtt + reo;
        if (due <= now) {
            if (sb_mark_lost(tcb, i, "rack")) {
                marked++;
                TCOUNT(tcb->ts, tcp_rack_marked_lost);
            }
        } else if (!timeout || due - now < timeout) {
            timeout = due - now;
        }
    }
    if (timeout) {
        timer_arm(tcb->ts->st, &tcb->t_rack, now + timeout);
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "rack_timer", "timeout_us", (int64_t)timeout, "reo_wnd_us", (int64_t)reo);
    } else {
        timer_cancel(tcb->ts->st, &tcb->t_rack);
    }
    if (marked && tcp_traced(tcb))
        tcp_trace_event(tcb, "rack_lost", "segs", marked, "reo_wnd_us", (int64_t)reo);
    return marked;
}

/* RFC 6675 IsLost() for every record: lost when DupThresh SACKed segments,
 * or more than (DupThresh - 1) * SMSS SACKed bytes, lie above it. */
static unsigned sack_mark_lost(struct tcb *tcb)
{
    struct tcp_txq *q = &tcb->txq;
    unsigned dupthresh = tcb->ts->cfg->dupthresh, sacked_segs = 0, marked = 0;
    uint32_t sacked_bytes = 0;
    for (unsigned i = q->len; i-- > 0;) {
        struct tcp_txseg *s = tcp_txq_at(q, i);
        if (s->flags & TCP_TXSEG_SACKED) {
            sacked_segs++;
            sacked_bytes += tcp_txseg_len(s);
            continue;
        }
        if (sacked_segs >= dupthresh || sacked_bytes > (dupthresh - 1) * tcb->mss) {
            if ((s->flags & TCP_TXSEG_LOST))
                break; /* marked before, and so is everything below it */
            if (sb_mark_lost(tcb, i, "sack")) {
                marked++;
                TCOUNT(tcb->ts, tcp_sack_marked_lost);
            }
        }
    }
    if (marked && tcp_traced(tcb))
        tcp_trace_event(tcb, "sack_lost", "segs", marked, "sacked", tcb->sacked_out);
    return marked;
}

/* ------------------------------------------------------------ undo */

/* Restores the window of before the episode (RFC 4015 3.2, and Linux's
 * undo): cwnd and ssthresh, the algorithm's own state, and unmarks the
 * records that were only presumed lost. */
static void tcp_undo(struct tcb *tcb, const char *why)
{
    if (!(tcb->tflags & TF_UNDO_OK))
        return;
    tcb->cwnd = max32(tcb->cwnd, tcb->prior_cwnd);
    tcb->ssthresh = max32(tcb->ssthresh, tcb->prior_ssthresh);
    if (tcb->opt.cc->undo)
        tcb->opt.cc->undo(tcb);
    for (unsigned i = 0; i < tcb->txq.len; i++) {
        struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
        if ((s->flags & (TCP_TXSEG_LOST | TCP_TXSEG_RETRANS)) == TCP_TXSEG_LOST) {
            s->flags &= (uint8_t)~TCP_TXSEG_LOST;
            tcb->lost_out -= tcp_txseg_len(s);
        }
    }
    tcb->tflags &= ~(TF_IN_RECOVERY | TF_LOSS | TF_PMTU_LOSS | TF_UNDO_OK | TF_EIFEL);
    tcb->dupacks = 0;
    /* The path reorders (or delays) rather than drops: RACK waits longer. */
    tcb->rack_reordering_seen = true;
    if (tcp_traced(tcb)) {
        tcp_trace_event(tcb, "undo", why, 1, "cwnd", tcb->cwnd);
        tcp_trace_cwnd(tcb, "undo");
    }
}

/* --------------------------------------------------------- cumulative */

ustack_time_t tcp_sack_cum_ack(struct tcb *tcb, const struct tcp_seg *seg)
{
    struct tcp_txq *q = &tcb->txq;
    struct ustack *st = tcb->ts->st;
    uint32_t ack = tcb->snd_una;
    ustack_time_t rto_rtt = 0;
    bool sample_taken = false, newest_tsval_set = false, retrans_acked = false;
    uint32_t newest_tsval = 0;
    tcb->cum_delivered = 0;
    unsigned removed = 0;
    while (q->len) {
        struct tcp_txseg *s = tcp_txq_at(q, 0);
        if (SEQ_LEQ(s->end, ack)) {
            if (!(s->flags & TCP_TXSEG_SACKED)) {
                tcb->cum_delivered += tcp_txseg_len(s);
                if (SEQ_LT(s->end, tcb->high_sacked) && !(s->flags & TCP_TXSEG_EVER_RETRANS))
                    tcb->rack_reordering_seen = true; /* delivered below what was SACKed: reordered */
                ustack_time_t r = rack_on_delivered(tcb, s, seg, false);
                rack_update_min_rtt(tcb, r);
                /* RFC 6298 with Karn: the oldest newly acknowledged segment
                 * that was sent once (as Linux: conservative for the RTO). */
                if (!sample_taken && !(s->flags & TCP_TXSEG_EVER_RETRANS)) {
                    rto_rtt = st->now - s->sent_at;
                    sample_taken = true;
                }
                /* An ACK that covers a retransmission may have waited for
                 * it: the segments sent once before it then look as old as
                 * the timeout (Karn's rule, for the whole ACK, as Linux). */
                if (s->flags & TCP_TXSEG_EVER_RETRANS)
                    retrans_acked = true;
                if (!newest_tsval_set || SEQ_GT(s->tsval, newest_tsval))
                    newest_tsval = s->tsval;
                newest_tsval_set = true;
            }
            sb_unmark(tcb, s);
            q->head = (q->head + 1) % q->cap;
            q->len--;
            removed++;
            continue;
        }
        if (SEQ_GT(ack, s->seq)) {
            /* Acknowledged in part: trim, keeping the counters right. */
            uint32_t cut = ack - s->seq;
            if (s->flags & TCP_TXSEG_SACKED)
                tcb->sacked_out -= cut;
            else
                tcb->cum_delivered += cut;
            if (s->flags & TCP_TXSEG_LOST)
                tcb->lost_out -= cut;
            if (s->flags & TCP_TXSEG_RETRANS)
                tcb->retrans_out -= cut;
            s->seq = ack;
        }
        break;
    }
    if (retrans_acked)
        sample_taken = false, rto_rtt = 0;
    if (!q->len)
        q->head = 0;
    q->hint = q->hint > removed ? q->hint - removed : 0;
    if (SEQ_GT(ack, tcb->high_sacked))
        tcb->high_sacked = ack;
    /* RFC 7323 4.1: the timestamp echo gives a sample from every ACK, even
     * one for retransmitted data (RTTM): used when the records gave none,
     * and only if it echoes the latest transmission of what it acknowledges.
     * An older echo comes from a receiver answering a duplicate with its
     * stale TS.Recent: now - TSecr would count the whole timeout, inflate
     * the RTO, and with it the next timeout (a spiral seen at 20% loss). */
    if (!sample_taken && (tcb->tflags & TF_TS_OK) && seg && seg->has_ts && seg->ts_ecr && newest_tsval_set &&
        SEQ_GEQ(seg->ts_ecr, newest_tsval)) {
        uint32_t ms = tcp_ts_now(tcb) - seg->ts_ecr;
        if (ms < TCP_TS_RTT_MAX_MS) {
            rto_rtt = USTACK_MS(ms ? ms : 1) - (ms ? 0 : 999); /* under 1 ms: say 1 us */
            TCOUNT(tcb->ts, tcp_rtt_ts_samples);
        }
    }
    return rto_rtt;
}

/* --------------------------------------------------------------- SACK */

/* RFC 2883 4: the first block is a D-SACK if it lies below the cumulative
 * ACK or inside the second block. */
static void sack_process(struct tcb *tcb, const struct tcp_seg *seg, uint64_t *delivered)
{
    struct tcp_stack *ts = tcb->ts;
    for (unsigned b = 0; b < seg->nsack; b++) {
        uint32_t start = seg->sack[b][0], end = seg->sack[b][1];
        bool dsack = b == 0 && (SEQ_LEQ(end, seg->ack) ||
                                (seg->nsack > 1 && SEQ_GEQ(start, seg->sack[1][0]) &&
                                 SEQ_LEQ(end, seg->sack[1][1])));
        if (!SEQ_LT(start, end) || SEQ_GT(end, tcb->snd_max) ||
            (!dsack && SEQ_LT(start, tcb->snd_una - tcb->max_sndwnd))) {
            TCOUNT(ts, tcp_drop_bad_sack); /* the block only: the ACK stands */
            continue;
        }
        if (dsack) {
            TCOUNT(ts, tcp_rx_dsack);
            if (tcp_traced(tcb))
                tcp_trace_event(tcb, "dsack", "start", start, "end", end);
            /* RFC 8985 6.2 step 4: a D-SACK means reordering (or a needless
             * retransmission): widen the window, at most once a round trip.
             * The round is over once SND.UNA reaches it; a round beyond
             * SND.MAX was never started (it is 0 until the first D-SACK,
             * which lies in either half of the sequence space) or is 2^31
             * bytes old: over too. */
            tcb->rack_reordering_seen = true;
            if (SEQ_GEQ(tcb->snd_una, tcb->rack_dsack_round) || SEQ_GT(tcb->rack_dsack_round, tcb->snd_max)) {
                if (tcb->rack_reo_wnd_mult < TCP_RACK_REO_MULT_MAX)
                    tcb->rack_reo_wnd_mult++;
                tcb->rack_dsack_round = tcb->snd_max;
            }
            tcb->rack_reo_wnd_persist = TCP_REO_WND_PERSIST;
            /* A retransmission of this episode came back twice. The last
             * of these usually comes after the ACK that ended the recovery
             * (the original arrived first): the undo is then done here. */
            if ((tcb->tflags & TF_UNDO_OK) && tcb->undo_retrans > 0 && tcp_feature(tcb, USTACK_TCPF_DSACK) &&
                SEQ_GEQ(start, tcb->undo_marker) && /* about this episode */
                --tcb->undo_retrans == 0 && !tcp_in_recovery(tcb) && tcb->episode_rexmits) {
                TCOUNT(ts, tcp_undo_dsack);
                tcp_undo(tcb, "dsack");
            }
            /* The probe was a duplicate: the tail was not lost (RFC 8985 7.4.2). */
            if ((tcb->tflags & TF_TLP_OUT) && (tcb->tflags & TF_TLP_RETRANS) && SEQ_GEQ(end, tcb->tlp_end_seq) &&
                SEQ_LT(start, tcb->tlp_end_seq))
                tcb->tflags &= ~TF_TLP_OUT;
            continue;
        }
        TCOUNT(ts, tcp_rx_sack_blocks);
        if (SEQ_LT(start, tcb->snd_una))
            start = tcb->snd_una;
        for (unsigned i = txq_lower_bound(tcb, start); i < tcb->txq.len; i++) {
            struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
            if (SEQ_GEQ(s->seq, end))
                break;
            /* A FIN takes sequence space but is not data: SACK blocks may
             * end before it (ours do; Linux's include it). */
            uint32_t data_end = s->end - ((s->flags & TCP_TXSEG_FIN) && s->end - s->seq > 1 ? 1 : 0);
            if ((s->flags & TCP_TXSEG_SACKED) || SEQ_LT(s->seq, start) || SEQ_GT(data_end, end))
                continue; /* held, or covered only in part */
            if (SEQ_LT(s->end, tcb->high_sacked) && !(s->flags & TCP_TXSEG_EVER_RETRANS))
                tcb->rack_reordering_seen = true;
            rack_update_min_rtt(tcb, rack_on_delivered(tcb, s, seg, true));
            sb_mark_sacked(tcb, s);
            *delivered += tcp_txseg_len(s);
            if (SEQ_GT(s->end, tcb->high_sacked))
                tcb->high_sacked = s->end;
        }
    }
}

/* ------------------------------------------------------------ recovery */

static void tcp_enter_recovery(struct tcb *tcb, uint32_t prior_flight)
{
    struct tcp_stack *ts = tcb->ts;
    TCOUNT(ts, tcp_recoveries);
    TCOUNT(ts, tcp_fast_retransmit);
    if (tcp_sack_on(tcb))
        TCOUNT(ts, tcp_sack_recoveries);
    tcb->recover = tcb->snd_max;
    tcb->prior_cwnd = tcb->cwnd;
    tcb->prior_ssthresh = tcb->ssthresh;
    tcb->undo_retrans = 0;
    tcb->episode_rexmits = 0;
    tcb->undo_marker = tcb->snd_una;
    tcb->tflags |= TF_IN_RECOVERY | TF_UNDO_OK;
    tcb->tflags &= ~TF_TLP_OUT;
    tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    if (tcp_sack_on(tcb)) {
        /* PRR (RFC 6937): from here cwnd follows the deliveries. */
        tcb->prr_delivered = tcb->prr_out = 0;
        tcb->recover_fs = prior_flight ? prior_flight : 1;
    } else {
        /* RFC 6582 / RFC 5681 3.2 step 3: inflated by the segments that left. */
        tcb->cwnd = tcb->ssthresh + tcb->ts->cfg->dupthresh * tcb->mss;
    }
    /* Eifel for the fast retransmit (RFC 3522, as Linux's
     * tcp_packet_delayed): it goes now, with this timestamp; an ACK that
     * advances SND.UNA echoing an older one was sent for the original. */
    if ((tcb->tflags & TF_TS_OK) && tcp_feature(tcb, USTACK_TCPF_EIFEL)) {
        tcb->tflags |= TF_EIFEL;
        tcb->tflags &= ~TF_EIFEL_RTO;
        tcb->rto_tsval = tcp_ts_now(tcb);
    }
    TCP_TRACE(tcb, "fast_rexmit", tcb->snd_una, tcb->ssthresh);
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "recovery_start", "recover", tcb->recover, "ssthresh", tcb->ssthresh);
}

static void tcp_exit_recovery(struct tcb *tcb)
{
    unsigned keep = 0;
    if (tcb->tflags & TF_IN_RECOVERY) {
        /* RFC 6937: the reduction is complete; RFC 6582 3.2 step 3 (the
         * second option, as Linux): deflate to ssthresh. */
        tcb->cwnd = tcb->ssthresh;
        if (tcb->episode_rexmits && (tcb->tflags & TF_UNDO_OK) && tcp_feature(tcb, USTACK_TCPF_DSACK) &&
            tcp_sack_on(tcb)) {
            if (tcb->undo_retrans == 0) {
                /* Every retransmission came back D-SACKed: nothing was lost. */
                TCOUNT(tcb->ts, tcp_undo_dsack);
                tcp_undo(tcb, "dsack");
            } else {
                keep = TF_UNDO_OK; /* their D-SACKs may yet come (sack_process) */
            }
        }
    }
    tcb->tflags &= ~(TF_IN_RECOVERY | TF_LOSS | TF_PMTU_LOSS | TF_UNDO_OK | TF_EIFEL);
    tcb->tflags |= keep;
    tcb->dupacks = 0;
    if (tcb->rack_reo_wnd_persist && --tcb->rack_reo_wnd_persist == 0)
        tcb->rack_reo_wnd_mult = 1;
    TCP_TRACE(tcb, "recovery_end", tcb->snd_una, tcb->cwnd);
}

/* PRR (RFC 6937 3.1) with slow-start reduction bound (SSRB). */
static void tcp_prr(struct tcb *tcb, uint32_t delivered, bool entering)
{
    tcb->prr_delivered += delivered;
    uint32_t pipe = tcp_pipe(tcb);
    int64_t sndcnt;
    if (pipe > tcb->ssthresh) {
        uint64_t want = ((uint64_t)tcb->prr_delivered * tcb->ssthresh + tcb->recover_fs - 1) / tcb->recover_fs;
        sndcnt = (int64_t)want - (int64_t)tcb->prr_out;
    } else {
        int64_t limit = (int64_t)tcb->prr_delivered - (int64_t)tcb->prr_out;
        if (limit < (int64_t)delivered)
            limit = delivered;
        limit += tcb->mss;
        sndcnt = (int64_t)tcb->ssthresh - (int64_t)pipe;
        if (sndcnt > limit)
            sndcnt = limit;
    }
    if (sndcnt < 0)
        sndcnt = 0;
    /* In whole segments, as Linux counts: a byte-exact allowance smaller
     * than a segment would send nothing, and with nothing new in flight no
     * ACK could reveal a lost retransmission before the RTO. */
    sndcnt = (sndcnt + tcb->mss - 1) / tcb->mss * tcb->mss;
    if (entering && sndcnt < tcb->mss)
        sndcnt = tcb->mss; /* the fast retransmit itself always goes */
    uint32_t before = tcb->cwnd;
    tcb->cwnd = pipe + (uint32_t)sndcnt;
    if (!entering && tcb->cwnd != before && tcp_traced(tcb))
        tcp_trace_cwnd(tcb, "prr");
}

void tcp_recovery_on_ack(struct tcb *tcb, const struct tcp_seg *seg, uint32_t prior_una, bool dup,
                         uint32_t prior_flight)
{
    struct tcp_stack *ts = tcb->ts;
    uint32_t acked = tcb->snd_una - prior_una;
    /* Delivered now (RFC 6937 DeliveredData): cumulatively acknowledged
     * bytes not SACKed before, plus newly SACKed ones. */
    uint64_t delivered = acked ? tcb->cum_delivered : 0;

    if (seg->nsack && tcp_sack_on(tcb))
        sack_process(tcb, seg, &delivered);

    /* Eifel (RFC 3522): the first ACK for new data after an RTO echoes the
     * timestamp of the original transmission, not of the retransmission:
     * the original arrived, the RTO was spurious. */
    if ((tcb->tflags & TF_EIFEL) && acked) {
        tcb->tflags &= ~TF_EIFEL;
        if (seg->has_ts && SEQ_LT(seg->ts_ecr, tcb->rto_tsval)) {
            bool rto = tcb->tflags & TF_EIFEL_RTO;
            if (rto)
                TCOUNT(ts, tcp_spurious_rto);
            else
                TCOUNT(ts, tcp_spurious_fast_rexmit);
            if (tcp_traced(tcb))
                tcp_trace_event(tcb, rto ? "spurious_rto" : "spurious_fast_retransmit", "tsecr", seg->ts_ecr,
                                "rexmit_tsval", tcb->rto_tsval);
            tcp_undo(tcb, "eifel");
        }
    }

    /* TLP episode (RFC 8985 7.4.2): the ACK reaches the probe's end. A
     * probe of new data, or one D-SACKed (sack_process), repaired nothing,
     * and a bare duplicate ACK says both copies arrived. A retransmitted
     * probe repaired a loss when an ACK goes beyond its end without that
     * D-SACK; an ACK just at its end may be the original's, with the probe's
     * D-SACK still to come: the episode stays open until one of these. */
    if ((tcb->tflags & TF_TLP_OUT) && SEQ_GEQ(tcb->snd_una, tcb->tlp_end_seq) &&
        (!(tcb->tflags & TF_TLP_RETRANS) || (dup && !seg->nsack) || SEQ_GT(tcb->snd_una, tcb->tlp_end_seq))) {
        tcb->tflags &= ~TF_TLP_OUT;
        if ((tcb->tflags & TF_TLP_RETRANS) && SEQ_GT(tcb->snd_una, tcb->tlp_end_seq) && !tcp_in_recovery(tcb)) {
            /* The retransmitted probe repaired a loss of the tail (no D-SACK
             * came for it): that was a congestion event. */
            TCOUNT(ts, tcp_tlp_recoveries);
            tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
            tcb->cwnd = tcb->ssthresh;
            if (tcp_traced(tcb)) {
                tcp_trace_event(tcb, "tlp_recovery", "ack", tcb->snd_una, "cwnd", tcb->cwnd);
                tcp_trace_cwnd(tcb, "tlp_recovery");
            }
        }
    }

    /* Duplicate ACKs: counted for NewReno and limited transmit; with SACK,
     * an ACK that SACKs new data counts as one too (RFC 6675 2). */
    bool sack_dup = tcp_sack_on(tcb) && !acked && delivered;
    if (acked)
        tcb->dupacks = 0;
    else if (dup || sack_dup) {
        if (dup)
            TCOUNT(ts, tcp_rx_dup_ack);
        tcb->dupacks++;
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "dupack", "ack", seg->ack, "count", tcb->dupacks);
        if (tcb->dupacks < ts->cfg->dupthresh && !tcp_in_recovery(tcb) &&
            tcp_feature(tcb, USTACK_TCPF_LIMITED_TX)) {
            TCOUNT(ts, tcp_limited_transmit);
            if (tcp_traced(tcb))
                tcp_trace_event(tcb, "limited_transmit", "dupacks", tcb->dupacks, "cwnd", tcb->cwnd);
        }
    }

    /* Loss marking. */
    if (tcp_sack_on(tcb)) {
        if (tcp_feature(tcb, USTACK_TCPF_RACK)) {
            rack_detect_loss(tcb);
        } else {
            sack_mark_lost(tcb);
            if (tcb->dupacks >= ts->cfg->dupthresh && !tcp_in_recovery(tcb) && tcb->txq.len &&
                sb_mark_lost(tcb, 0, "dupthresh"))
                TCOUNT(ts, tcp_dupack_marked_lost); /* RFC 6675 5 (a): DupAcks >= DupThresh */
        }
    } else if (!tcp_in_recovery(tcb) && tcb->dupacks == ts->cfg->dupthresh && SEQ_GT(tcb->snd_una, tcb->recover) &&
               tcb->txq.len) {
        /* RFC 6582 3.2 step 2: three duplicates, and the ACK covers more
         * than `recover` (so not a leftover of the last episode). */
        if (sb_mark_lost(tcb, 0, "dupthresh"))
            TCOUNT(ts, tcp_dupack_marked_lost);
    }

    if (!tcp_in_recovery(tcb)) {
        if (tcb->lost_out) {
            tcp_enter_recovery(tcb, prior_flight);
            if (tcp_sack_on(tcb))
                tcp_prr(tcb, (uint32_t)delivered, true);
            if (tcp_traced(tcb))
                tcp_trace_cwnd(tcb, "recovery");
        }
        return;
    }

    /* In recovery (fast or RTO). */
    if (SEQ_GEQ(tcb->snd_una, tcb->recover)) {
        tcp_exit_recovery(tcb); /* traced there, as the "recovery_end" decision */
        return;
    }
    if (tcb->tflags & TF_LOSS)
        return; /* RTO recovery: slow start does the rest */
    if (tcp_sack_on(tcb)) {
        tcp_prr(tcb, (uint32_t)delivered, false);
        return;
    }
    /* NewReno (RFC 6582 3.2). */
    if (acked) {
        /* Partial ACK: the next hole is lost too; deflate by what was
         * acknowledged, add back one segment if that was at least one. */
        TCOUNT(ts, tcp_newreno_partial_acks);
        if (tcb->txq.len)
            sb_mark_lost(tcb, 0, "partial_ack");
        tcb->cwnd = tcb->cwnd > acked ? tcb->cwnd - acked : tcb->mss;
        if (acked >= tcb->mss)
            tcb->cwnd += tcb->mss;
        if (tcp_traced(tcb)) {
            tcp_trace_event(tcb, "partial_ack", "ack", tcb->snd_una, "recover", tcb->recover);
            tcp_trace_cwnd(tcb, "partial_ack");
        }
    } else if (dup) {
        tcb->cwnd += tcb->mss; /* step 4: inflate */
        if (tcp_traced(tcb))
            tcp_trace_cwnd(tcb, "dupack_inflate");
    }
}

void tcp_recovery_on_rto(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    bool first = !(tcb->tflags & TF_LOSS) || tcb->rexmit_count == 1;
    if (tcb->rexmit_count == 1) {
        /* Remember the window for Eifel's undo (unless a recovery under
         * way already saved it, in which case that older window is the one
         * to restore; a finished one may have left TF_UNDO_OK waiting for
         * its D-SACKs). */
        if (!(tcb->tflags & TF_UNDO_OK) || !(tcb->tflags & TF_IN_RECOVERY)) {
            tcb->prior_cwnd = tcb->cwnd;
            tcb->prior_ssthresh = tcb->ssthresh;
            tcb->undo_marker = tcb->snd_una;
            tcb->undo_retrans = 0;
            tcb->episode_rexmits = 0;
        }
        tcb->tflags |= TF_UNDO_OK;
    }
    if (tcb->rexmit_count > 1) {
        /* Again: the receiver may have dropped what it SACKed (reneging,
         * RFC 2018 8): forget the SACKs so everything can go again. */
        if (tcb->sacked_out)
            TCOUNT(ts, tcp_sack_reneging);
        tcb->tflags &= ~(TF_EIFEL | TF_UNDO_OK);
        for (unsigned i = 0; i < tcb->txq.len; i++) {
            struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
            if (s->flags & TCP_TXSEG_SACKED) {
                s->flags &= (uint8_t)~TCP_TXSEG_SACKED;
                tcb->sacked_out -= tcp_txseg_len(s);
            }
        }
    }
    unsigned marked = 0;
    for (unsigned i = 0; i < tcb->txq.len; i++)
        marked += sb_mark_lost(tcb, i, "rto");
    TCOUNT_ADD(ts, tcp_rto_marked_lost, marked);
    tcb->tflags &= ~(TF_IN_RECOVERY | TF_TLP_OUT | TF_PTO | TF_PMTU_LOSS);
    tcb->tflags |= TF_LOSS;
    tcb->recover = tcb->snd_max;
    tcb->dupacks = 0;
    timer_cancel(ts->st, &tcb->t_rack);
    /* Eifel: the retransmission goes now, with this timestamp. */
    if (first && tcb->rexmit_count == 1 && (tcb->tflags & TF_TS_OK) && tcp_feature(tcb, USTACK_TCPF_EIFEL)) {
        tcb->tflags |= TF_EIFEL | TF_EIFEL_RTO;
        tcb->rto_tsval = tcp_ts_now(tcb);
    }
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "rto_lost", "segs", marked, "recover", tcb->recover);
}

void tcp_recovery_on_pmtu(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    unsigned marked = 0;
    for (unsigned i = 0; i < tcb->txq.len; i++) {
        const struct tcp_txseg *s = tcp_txq_at(&tcb->txq, i);
        uint32_t data = tcp_txseg_len(s) - !!(s->flags & TCP_TXSEG_FIN);
        if (data > tcb->mss && sb_mark_lost(tcb, i, "pmtu"))
            marked++;
    }
    tcp_txq_split(tcb); /* the pieces keep the marks; on no memory, retransmitted in pieces */
    TCOUNT_ADD(ts, tcp_pmtu_marked_lost, marked);
    if (!marked || tcp_in_recovery(tcb))
        return; /* a recovery under way resends what is marked */
    /* As Linux's tcp_simple_retransmit: what is lost goes first, counted
     * against cwnd by pipe, up to everything sent so far; no undo (nothing
     * to undo), no tail loss probe meanwhile. */
    tcb->tflags |= TF_LOSS | TF_PMTU_LOSS;
    tcb->tflags &= ~(TF_TLP_OUT | TF_PTO | TF_UNDO_OK | TF_EIFEL);
    tcb->recover = tcb->snd_max;
    tcb->dupacks = 0;
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "pmtu_lost", "segs", marked, "recover", tcb->recover);
}

void tcp_rack_timer_fired(struct tcb *tcb)
{
    TCOUNT(tcb->ts, tcp_rack_timeouts);
    uint32_t prior_flight = tcp_flight_size(tcb);
    if (rack_detect_loss(tcb) && !tcp_in_recovery(tcb)) {
        tcp_enter_recovery(tcb, prior_flight);
        if (tcp_sack_on(tcb))
            tcp_prr(tcb, 0, true);
        if (tcp_traced(tcb))
            tcp_trace_cwnd(tcb, "recovery");
    }
    tcp_output(tcb);
}

/* ------------------------------------------------------------------ ECN */

void tcp_ecn_echo(struct tcb *tcb)
{
    /* RFC 3168 6.1.2: a congestion signal without a loss, answered at most
     * once per window of data: ssthresh as for a loss, cwnd down to it,
     * and CWR on the next new segment. A recovery under way has already
     * reduced the window for this round. */
    if (SEQ_LT(tcb->snd_una, tcb->ecn_recover) && tcb->ecn_recover)
        return;
    tcb->ecn_recover = tcb->snd_max ? tcb->snd_max : 1;
    tcb->tflags |= TF_CWR_SEND;
    if (tcp_in_recovery(tcb))
        return;
    TCOUNT(tcb->ts, tcp_ecn_reductions);
    tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    tcb->cwnd = max32(tcb->ssthresh, tcb->mss);
    tcb->cc_bytes_acked = 0;
    if (tcp_traced(tcb))
        tcp_trace_cwnd(tcb, "ecn");
}

/* ------------------------------------------------------------------ TLP */

static bool tlp_allowed(const struct tcb *tcb)
{
    return tcp_feature(tcb, USTACK_TCPF_TLP) && tcp_sack_on(tcb) && !tcp_in_recovery(tcb) &&
           !(tcb->tflags & TF_TLP_OUT) && tcb->snd_max != tcb->snd_una &&
           (tcb->state == TCPS_ESTABLISHED || tcb->state == TCPS_CLOSE_WAIT || tcb->state == TCPS_FIN_WAIT_1 ||
            tcb->state == TCPS_CLOSING || tcb->state == TCPS_LAST_ACK); /* data or our FIN in flight */
}

void tcp_rexmt_schedule(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    if (!tlp_allowed(tcb)) {
        tcb->tflags &= ~TF_PTO;
        tcp_rexmt_arm(tcb);
        return;
    }
    /* RFC 8985 7.2: PTO = 2 SRTT, plus the peer's worst delayed ACK when a
     * single segment is out. A PTO not before the RTO is not capped at it
     * (as 7.2 would): only the RTO is armed, and no probe goes. */
    ustack_time_t pto = tcb->srtt ? 2 * tcb->srtt : USTACK_SEC(1);
    if (tcp_flight_size(tcb) <= tcb->mss)
        pto += TCP_TLP_WCDELACK_US;
    if (pto < USTACK_MS(2))
        pto = USTACK_MS(2);
    ustack_time_t rto = tcp_rto_current(tcb);
    if (pto >= rto) {
        tcb->tflags &= ~TF_PTO;
        tcp_rexmt_arm(tcb);
        return;
    }
    tcb->tflags |= TF_PTO;
    timer_arm(st, &tcb->t_rexmt, st->now + pto);
}

void tcp_tlp_fire(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    tcb->tflags &= ~TF_PTO;
    if (!tlp_allowed(tcb) || !tcb->txq.len) {
        tcp_rexmt_arm(tcb);
        return;
    }
    TCOUNT(ts, tcp_tlp_probes);
    /* RFC 8985 7.3: new data if the windows allow, else the last segment. */
    uint32_t data_end = tcp_fin_seq(tcb);
    uint64_t before = ts->st->counters[CNT_tcp_tx_data_segs];
    if (SEQ_LT(tcb->snd_nxt, data_end) && SEQ_LT(tcb->snd_nxt, tcb->snd_una + tcb->snd_wnd)) {
        uint32_t saved = tcb->cwnd;
        tcb->cwnd = tcp_cwnd_used(tcb) + tcb->mss; /* exactly one segment */
        tcb->tflags |= TF_PERSIST;                /* past Nagle and SWS avoidance */
        tcp_output(tcb);
        tcb->cwnd = saved;
    }
    if (ts->st->counters[CNT_tcp_tx_data_segs] != before) {
        TCOUNT(ts, tcp_tlp_new_data);
        tcb->tflags &= ~TF_TLP_RETRANS;
    } else {
        tcp_txq_retransmit(tcb, tcb->txq.len - 1, "tlp");
        tcb->tflags |= TF_TLP_RETRANS;
    }
    tcb->tflags |= TF_TLP_OUT;
    tcb->tlp_end_seq = tcb->snd_max;
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "tlp", "end_seq", tcb->tlp_end_seq, "retrans", !!(tcb->tflags & TF_TLP_RETRANS));
    tcb->tflags &= ~TF_PTO;
    tcp_rexmt_arm(tcb);
}

/* ------------------------------------------------------- SACK blocks out */

unsigned tcp_sack_blocks(struct tcb *tcb, uint32_t blocks[][2], unsigned max)
{
    unsigned n = 0;
    if (!max)
        return 0;
    if (tcb->dsack_start != tcb->dsack_end && tcp_feature(tcb, USTACK_TCPF_DSACK)) {
        blocks[n][0] = tcb->dsack_start;
        blocks[n][1] = tcb->dsack_end;
        n++;
        TCOUNT(tcb->ts, tcp_tx_dsack);
    }
    tcb->dsack_start = tcb->dsack_end = 0; /* reported once (RFC 2883 4) */
    /* RFC 2018 4: the block holding the latest segment first, then the
     * others, most recently changed first. */
    uint64_t last = UINT64_MAX;
    while (n < max) {
        int best = -1;
        for (unsigned i = 0; i < tcb->ooo_len; i++)
            if (tcb->ooo[i].seen < last && (best < 0 || tcb->ooo[i].seen > tcb->ooo[best].seen))
                best = (int)i;
        if (best < 0)
            break;
        last = tcb->ooo[best].seen;
        blocks[n][0] = tcb->ooo[best].start;
        blocks[n][1] = tcb->ooo[best].end;
        n++;
    }
    return n;
}
