/*
 * TCP timers. Each connection embeds six `struct timer`s in its TCB; the
 * stack's timer heap runs them from ustack_poll(), so time is always st->now.
 *
 *  t_rexmt    Retransmission (RFC 6298). Runs while data, SYN or FIN is
 *             unacknowledged; restarted when an ACK acknowledges new data and
 *             stopped when everything is acknowledged. Where a tail loss probe
 *             may go it is armed with the probe timeout instead (TF_PTO,
 *             tcp_rexmt_schedule() in tcp_recovery.c). On an RTO: every
 *             segment not SACKed is marked lost and resent from the
 *             retransmission queue, oldest first, as the window allows
 *             (snd_nxt does not move back; congestion control restarts from
 *             one segment, RFC 5681 3.1), the RTO doubles (exponential
 *             backoff, bounded by tcp.rto_max_us), and after tcp.syn_retries (SYN),
 *             tcp.synack_retries (SYN-ACK of a listener's child) or
 *             tcp.data_retries consecutive expirations the connection is
 *             dropped with ETIMEDOUT (or the last ICMP soft error).
 *  t_persist  Persist (RFC 9293 3.8.6.1). Runs when data or a FIN waits but
 *             nothing is in flight, so no ACK will come to open the window.
 *             On a zero window it sends a probe (an old sequence number, which
 *             the peer must answer with its window) with exponential backoff;
 *             after tcp.persist_max_probes probes without the window opening
 *             the connection times out. On a small non-zero window it is the
 *             SWS-avoidance override: one segment is sent regardless.
 *  t_delack   Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2). Armed when
 *             in-order data arrives and no ACK is sent at once; fires after
 *             tcp.delack_us and sends the ACK. Any segment we send carries the
 *             ACK and cancels it.
 *  t_keep     Keepalive (RFC 1122 4.2.3.6), only with SO_KEEPALIVE. After
 *             keepidle without hearing from the peer, a probe every keepintvl;
 *             after keepcnt unanswered probes: ETIMEDOUT.
 *  t_2msl     TIME-WAIT (RFC 9293 3.6): 2 * MSL, then the TCB is deleted. It
 *             doubles as the FIN-WAIT-2 limit for connections the user has
 *             closed (tcp.fin_wait2_us, as Linux's tcp_fin_timeout), so an
 *             orphan whose peer never closes cannot live forever.
 *  t_rack     RACK reordering timer (RFC 8985 6.3), in tcp_recovery.c:
 *             armed when a segment sent before one the peer delivered is not
 *             yet overdue; on expiry what is now overdue is marked lost and
 *             recovery may start.
 *
 * tcp.NAME is the field of ustack_config.tcp that sets a value.
 */
#include <errno.h>
#include <stddef.h>
#include "tcp_var.h"

#define TCP_CLOCK_GRANULARITY_US 1000 /* G of RFC 6298 */
#define TCP_MAX_BACKOFF 16
#define TCP_RTO_AFTER_SYN_LOSS_US USTACK_SEC(3) /* RFC 6298 5.7 */

#define TCB_OF(t, member) ((struct tcb *)((char *)(t) - offsetof(struct tcb, member)))

ustack_time_t tcp_rto_current(const struct tcb *tcb)
{
    const struct ustack_tcp_config *c = tcb->ts->cfg;
    ustack_time_t rto = tcb->rto << (tcb->rto_backoff < TCP_MAX_BACKOFF ? tcb->rto_backoff : TCP_MAX_BACKOFF);
    return rto > c->rto_max_us ? c->rto_max_us : rto;
}

void tcp_rexmt_arm(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    timer_arm(st, &tcb->t_rexmt, st->now + tcp_rto_current(tcb));
}

void tcp_rexmt_stop(struct tcb *tcb)
{
    timer_cancel(tcb->ts->st, &tcb->t_rexmt);
}

void tcp_persist_arm(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    const struct ustack_tcp_config *c = tcb->ts->cfg;
    if (timer_armed(&tcb->t_persist))
        return;
    unsigned b = tcb->persist_backoff < TCP_MAX_BACKOFF ? tcb->persist_backoff : TCP_MAX_BACKOFF;
    ustack_time_t d = tcb->rto << b;
    if (d < c->rto_min_us)
        d = c->rto_min_us;
    if (d > c->rto_max_us)
        d = c->rto_max_us;
    timer_arm(st, &tcb->t_persist, st->now + d);
}

void tcp_delack_arm(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    if (!timer_armed(&tcb->t_delack))
        timer_arm(st, &tcb->t_delack, st->now + tcb->ts->cfg->delack_us);
}

static bool tcp_keepalive_state(enum tcp_state s)
{
    return s == TCPS_ESTABLISHED || s == TCPS_CLOSE_WAIT || s == TCPS_FIN_WAIT_1 || s == TCPS_FIN_WAIT_2;
}

void tcp_keepalive_reset(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    if (!tcb->opt.keepalive || !tcp_keepalive_state(tcb->state)) {
        timer_cancel(st, &tcb->t_keep);
        return;
    }
    tcb->keep_probes = 0;
    timer_arm(st, &tcb->t_keep, tcb->last_rcv + tcb->opt.keepidle_us);
}

/* RFC 6298 2.2 and 2.3, in microseconds. */
void tcp_rtt_sample(struct tcb *tcb, ustack_time_t r)
{
    const struct ustack_tcp_config *c = tcb->ts->cfg;
    if (r == 0)
        r = 1;
    TCOUNT(tcb->ts, tcp_rtt_samples);
    if (tcb->srtt == 0) {
        tcb->srtt = r;
        tcb->rttvar = r / 2;
    } else {
        ustack_time_t delta = tcb->srtt > r ? tcb->srtt - r : r - tcb->srtt;
        tcb->rttvar = (3 * tcb->rttvar + delta) / 4; /* beta = 1/4 */
        tcb->srtt = (7 * tcb->srtt + r) / 8;         /* alpha = 1/8 */
    }
    /* RTO = SRTT + max(G, K*RTTVAR) (2.3), with rto_min as the floor of the
     * variance term, as Linux does, rather than of the whole RTO (2.4):
     * with an RTT sample from every ACK, RTTVAR on a steady path shrinks to
     * almost nothing, and an RTO of SRTT + a little fires during every fast
     * recovery before the retransmission's ACK can return (seen on a 200 ms
     * path: RTO 204 ms). */
    ustack_time_t k = 4 * tcb->rttvar;
    if (k < TCP_CLOCK_GRANULARITY_US)
        k = TCP_CLOCK_GRANULARITY_US;
    if (k < c->rto_min_us)
        k = c->rto_min_us;
    ustack_time_t rto = tcb->srtt + k;
    if (rto > c->rto_max_us) /* 2.5 */
        rto = c->rto_max_us;
    tcb->rto = rto;
    TCP_TRACE(tcb, "rtt", r, rto);
}

void tcp_enter_time_wait(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    tcp_set_state(tcb, TCPS_TIME_WAIT);
    timer_cancel(st, &tcb->t_rexmt);
    timer_cancel(st, &tcb->t_persist);
    timer_cancel(st, &tcb->t_keep);
    tcp_txq_clear(tcb);
    /* Nothing will be sent again: TIME-WAIT holds no send memory, and an
     * orphan none at all, so that many closed connections stay cheap. */
    tcp_ring_free(&tcb->sndq);
    if (!(tcb->tflags & TF_USER))
        tcp_ring_free(&tcb->rcvq);
    timer_arm(st, &tcb->t_2msl, st->now + 2 * tcb->ts->cfg->msl_us);
}

/* ----------------------------------------------------------- expirations */

static void tcp_rexmt_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_rexmt);
    struct tcp_stack *ts = tcb->ts;
    const struct ustack_tcp_config *c = ts->cfg;
    (void)st;
    if (tcb->tflags & TF_PTO) {
        tcp_tlp_fire(tcb); /* the probe timeout, not the RTO */
        return;
    }
    TCOUNT(ts, tcp_rto_expired);
    tcb->rexmit_count++;
    unsigned limit = c->data_retries;
    if (tcb->state == TCPS_SYN_SENT)
        limit = c->syn_retries;
    else if (tcb->state == TCPS_SYN_RECEIVED)
        limit = (tcb->tflags & TF_LISTEN_CHILD) ? c->synack_retries : c->syn_retries;
    if (tcb->rexmit_count > limit) {
        TCOUNT(ts, tcp_timeout);
        if (tcb->state != TCPS_SYN_SENT && tcb->state != TCPS_SYN_RECEIVED)
            tcp_send_rst_tcb(tcb); /* as Linux: tell a peer that may still be there */
        tcp_drop(tcb, tcb->soft_err ? tcb->soft_err : ETIMEDOUT);
        return;
    }
    if (tcb->rto_backoff < TCP_MAX_BACKOFF)
        tcb->rto_backoff++;
    TCP_TRACE(tcb, "rto", tcb->snd_una, tcp_rto_current(tcb));
    tcb->tflags &= ~TF_RTT_ACTIVE; /* Karn: no sample from a retransmitted segment */
    if (tcb->state == TCPS_SYN_SENT || tcb->state == TCPS_SYN_RECEIVED) {
        tcb->tflags |= TF_SYN_REXMIT;
        tcp_send_syn(tcb);
        tcp_note_retransmit(tcb, tcb->iss, 1, "rto");
        tcp_rexmt_arm(tcb);
        return;
    }
    /* RFC 5681 3.1 eq. 4: ssthresh from FlightSize (held if this data timed
     * out before), cwnd to one segment; fast recovery ends. */
    bool was_recovering = tcb->tflags & TF_IN_RECOVERY;
    tcp_recovery_on_rto(tcb); /* first: it saves the window for an undo */
    if (tcb->rexmit_count == 1) {
        /* ssthresh is held when the same data times out again; a recovery
         * under way already lowered it for this loss (as Linux). */
        if (!was_recovering || tcb->ssthresh == UINT32_MAX)
            tcb->ssthresh = tcb->opt.cc->ssthresh(tcb);
    }
    tcb->cwnd = tcb->mss;                       /* loss window (RFC 5681 3.1) */
    if (tcb->opt.cc->on_rto)
        tcb->opt.cc->on_rto(tcb);
    if (tcp_traced(tcb))
        tcp_trace_cwnd(tcb, "rto");
    /* Everything not SACKed is marked lost: it goes again, oldest first, as
     * the window allows (for a peer without SACK that is every unacknowledged
     * segment, less what cumulative ACKs cover meanwhile). */
    tcp_output(tcb);
    if (!timer_armed(&tcb->t_rexmt) && tcb->snd_una != tcb->snd_max && !timer_armed(&tcb->t_persist))
        tcp_rexmt_arm(tcb);
}

static void tcp_persist_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_persist);
    struct tcp_stack *ts = tcb->ts;
    (void)st;
    if (tcb->snd_wnd == 0) {
        if (tcb->persist_probes >= ts->cfg->persist_max_probes) {
            TCOUNT(ts, tcp_timeout);
            tcp_send_rst_tcb(tcb);
            tcp_drop(tcb, ETIMEDOUT);
            return;
        }
        TCOUNT(ts, tcp_persist_probes);
        tcb->persist_probes++;
        TCP_TRACE(tcb, "persist_probe", tcb->persist_probes, tcb->snd_wnd);
        tcp_send_probe(tcb);
        if (tcb->persist_backoff < TCP_MAX_BACKOFF)
            tcb->persist_backoff++;
        tcp_persist_arm(tcb);
        return;
    }
    /* The window is open but too small for SWS avoidance to send: send one
     * segment anyway (RFC 9293 3.8.6.2.1 override timeout). */
    tcb->tflags |= TF_PERSIST;
    tcp_output(tcb);
}

static void tcp_delack_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_delack);
    (void)st;
    TCOUNT(tcb->ts, tcp_delack_timeouts);
    tcp_send_ack(tcb);
}

static void tcp_keep_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_keep);
    struct tcp_stack *ts = tcb->ts;
    if (!tcb->opt.keepalive || !tcp_keepalive_state(tcb->state))
        return;
    if (tcb->snd_una != tcb->snd_max || timer_armed(&tcb->t_persist)) {
        /* The retransmission or persist timer is already asking the peer. */
        timer_arm(st, t, st->now + tcb->opt.keepidle_us);
        return;
    }
    if (st->now - tcb->last_rcv < tcb->opt.keepidle_us) {
        timer_arm(st, t, tcb->last_rcv + tcb->opt.keepidle_us);
        return;
    }
    if (tcb->keep_probes >= tcb->opt.keepcnt) {
        TCOUNT(ts, tcp_timeout);
        tcp_send_rst_tcb(tcb);
        tcp_drop(tcb, ETIMEDOUT);
        return;
    }
    TCOUNT(ts, tcp_keepalive_probes);
    tcb->keep_probes++;
    TCP_TRACE(tcb, "keepalive", tcb->keep_probes, 0);
    tcp_send_probe(tcb);
    timer_arm(st, t, st->now + tcb->opt.keepintvl_us);
}

static void tcp_2msl_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_2msl);
    (void)st;
    if (tcb->state == TCPS_TIME_WAIT) {
        TCOUNT(tcb->ts, tcp_timewait_expired);
        tcp_drop(tcb, 0);
    } else if (tcb->state == TCPS_FIN_WAIT_2 && !(tcb->tflags & TF_USER)) {
        TCOUNT(tcb->ts, tcp_fin_wait2_timeout);
        tcp_send_rst_tcb(tcb);
        tcp_drop(tcb, 0);
    }
}

static void tcp_rack_fired(struct ustack *st, struct timer *t)
{
    struct tcb *tcb = TCB_OF(t, t_rack);
    (void)st;
    tcp_rack_timer_fired(tcb);
}

void tcp_timers_init(struct tcb *tcb)
{
    timer_init(&tcb->t_rexmt, tcp_rexmt_fired);
    timer_init(&tcb->t_persist, tcp_persist_fired);
    timer_init(&tcb->t_delack, tcp_delack_fired);
    timer_init(&tcb->t_keep, tcp_keep_fired);
    timer_init(&tcb->t_2msl, tcp_2msl_fired);
    timer_init(&tcb->t_rack, tcp_rack_fired);
}

void tcp_timers_cancel(struct tcb *tcb)
{
    struct ustack *st = tcb->ts->st;
    timer_cancel(st, &tcb->t_rexmt);
    timer_cancel(st, &tcb->t_persist);
    timer_cancel(st, &tcb->t_delack);
    timer_cancel(st, &tcb->t_keep);
    timer_cancel(st, &tcb->t_2msl);
    timer_cancel(st, &tcb->t_rack);
}

void tcp_rto_after_handshake(struct tcb *tcb)
{
    if ((tcb->tflags & TF_SYN_REXMIT) && tcb->srtt == 0 && tcb->rto < TCP_RTO_AFTER_SYN_LOSS_US)
        tcb->rto = TCP_RTO_AFTER_SYN_LOSS_US;
}
