/*
 * The send MSS and path MTU discovery, TCP's half (RFC 1191, RFC 5927; the IP
 * half, the per-destination cache, is ipv4_pmtu.c). Every segment goes with
 * DF; a router that cannot forward one answers with an ICMP "fragmentation
 * needed" quoting it. tcp_icmp_error() (tcp_input.c) checks that the quoted
 * segment belongs to a connection and is in flight (RFC 5927 4.1: a blind
 * attacker does not know the sequence numbers), then tcp_pmtu_icmp() lowers
 * the destination's path MTU and every connection to it shrinks its MSS and
 * resends at once, cut to the new size, what was too big. That is not a
 * congestion signal (RFC 1191 6.4): cwnd and ssthresh stay. The learnt value
 * lapses after cfg.pmtu_expire_us; the connections then grow their MSS back
 * when they next send (tcp_pmtu_check() in tcp_output()), and a path still
 * narrow answers with a new ICMP.
 */
#include "tcp_var.h"

void tcp_mss_update(struct tcb *tcb)
{
    struct ipv4_pmtu p;
    ipv4_pmtu_lookup(tcb->ts->st, tcb->raddr, &p);
    tcb->pmtu = p.mtu;
    tcb->pmtu_no_df = p.no_df;
    tcb->pmtu_expires = p.expires;
    uint32_t path = p.mtu > IPV4_HDR_LEN + TCP_HDR_LEN ? p.mtu - (IPV4_HDR_LEN + TCP_HDR_LEN) : 0;
    uint32_t m = tcb->peer_mss < path ? tcb->peer_mss : path;
    /* RFC 6691: the MSS counts no options; the timestamp option goes on
     * every segment once negotiated, so each carries 12 bytes less data. */
    if (tcb->tflags & TF_TS_OK)
        m = m > TCP_TS_OPT_LEN ? m - TCP_TS_OPT_LEN : 0;
    tcb->mss = (uint16_t)(m < TCP_MIN_MSS ? TCP_MIN_MSS : m);
}

static bool tcp_pmtu_state(enum tcp_state s)
{
    return s != TCPS_CLOSED && s != TCPS_LISTEN && s != TCPS_TIME_WAIT;
}

/* The path MTU to tcb's peer was lowered: the new MSS, and what was sent too
 * big goes again. */
static void tcp_pmtu_reduce(struct tcb *tcb)
{
    uint16_t old_pmtu = tcb->pmtu, old_mss = tcb->mss;
    tcp_mss_update(tcb);
    if (tcb->pmtu >= old_pmtu)
        return; /* it already sent for this path MTU */
    TCOUNT(tcb->ts, tcp_pmtu_updates);
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "pmtu", "mtu", tcb->pmtu, "mss", tcb->mss);
    if (tcb->mss >= old_mss || !tcb->txq.len)
        return; /* the peer's MSS was the smaller anyway, or nothing is in flight */
    tcp_recovery_on_pmtu(tcb);
    tcp_output(tcb);
}

void tcp_pmtu_icmp(struct tcb *tcb, const struct ipv4_hdr_info *inner, unsigned nh_mtu)
{
    struct tcp_stack *ts = tcb->ts;
    struct ustack *st = ts->st;
    uint32_t dst = tcb->raddr;
    struct ipv4_pmtu p;
    int why = ipv4_pmtu_learn(st, dst, nh_mtu, inner->total_len, &p);
    if (why) {
        st->counters[why]++;
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "pmtu_ignored", "mtu", nh_mtu, "pmtu", tcb->pmtu);
        return;
    }
    /* The path MTU is the destination's: every connection to it learns. */
    for (struct tcb *t = ts->all, *next; t; t = next) {
        next = t->all_next;
        if (t->raddr == dst && tcp_pmtu_state(t->state))
            tcp_pmtu_reduce(t);
    }
}

void tcp_pmtu_expired(struct tcb *tcb)
{
    uint16_t old_pmtu = tcb->pmtu;
    tcp_mss_update(tcb);
    if (tcb->pmtu > old_pmtu) {
        TCOUNT(tcb->ts, tcp_pmtu_raised);
        if (tcp_traced(tcb))
            tcp_trace_event(tcb, "pmtu", "mtu", tcb->pmtu, "mss", tcb->mss);
    }
}
