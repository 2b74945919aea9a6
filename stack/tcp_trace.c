/*
 * TCP's events for the public trace (ustack/trace.h, docs/trace.md): segments
 * in and out, retransmissions and why, RTT samples, RTO expiries, duplicate
 * ACKs, windows, state changes, cwnd/ssthresh and why, probes, challenge ACKs
 * and drops. Only called when tcp_traced() (or, for drops, tracing) is on.
 */
#include "tcp_var.h"

static void tcp_trace_begin(const struct tcb *tcb, struct ustack_trace_event *ev, const char *name)
{
    trace_begin(tcb->ts->st, ev, name);
    ev->laddr = tcb->laddr;
    ev->lport = tcb->lport;
    ev->raddr = tcb->raddr;
    ev->rport = tcb->rport;
}

static const char *flags_str(uint8_t flags, char buf[9])
{
    static const char names[] = "FSRPAUEC"; /* FIN SYN RST PSH ACK URG ECE CWR, bit 0 first */
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            buf[n++] = names[i];
    buf[n] = 0;
    return buf;
}

void tcp_trace_seg(struct tcb *tcb, const char *name, uint32_t seq, uint32_t ack, uint32_t len, uint32_t wnd,
                   uint8_t flags)
{
    struct ustack_trace_event ev;
    char f[9];
    tcp_trace_begin(tcb, &ev, name);
    trace_str(&ev, "flags", flags_str(flags, f));
    trace_int(&ev, "seq", seq);
    trace_int(&ev, "ack", (flags & TCP_ACK) ? ack : 0);
    trace_int(&ev, "len", len);
    trace_int(&ev, "win", wnd);
    trace_emit(tcb->ts->st, &ev);
}

void tcp_trace_cwnd(struct tcb *tcb, const char *why)
{
    struct ustack_trace_event ev;
    tcp_trace_begin(tcb, &ev, "cwnd");
    trace_str(&ev, "why", why);
    trace_int(&ev, "cwnd", tcb->cwnd);
    trace_int(&ev, "ssthresh", tcb->ssthresh == UINT32_MAX ? -1 : (int64_t)tcb->ssthresh);
    trace_int(&ev, "flight", tcp_flight_size(tcb));
    trace_emit(tcb->ts->st, &ev);
}

void tcp_trace_event(struct tcb *tcb, const char *name, const char *k1, int64_t v1, const char *k2, int64_t v2)
{
    struct ustack_trace_event ev;
    tcp_trace_begin(tcb, &ev, name);
    if (k1)
        trace_int(&ev, k1, v1);
    if (k2)
        trace_int(&ev, k2, v2);
    trace_emit(tcb->ts->st, &ev);
}

void tcp_trace_mark_lost(struct tcb *tcb, uint32_t seq, uint32_t len, const char *why)
{
    struct ustack_trace_event ev;
    tcp_trace_begin(tcb, &ev, "mark_lost");
    trace_str(&ev, "why", why);
    trace_int(&ev, "seq", seq);
    trace_int(&ev, "len", len);
    trace_emit(tcb->ts->st, &ev);
}

void tcp_note_retransmit(struct tcb *tcb, uint32_t seq, uint32_t len, const char *why)
{
    TCOUNT(tcb->ts, tcp_retransmit_segs);
    tcb->retrans++;
    if (!tcp_traced(tcb))
        return;
    struct ustack_trace_event ev;
    tcp_trace_begin(tcb, &ev, "retransmit");
    trace_str(&ev, "why", why);
    trace_int(&ev, "seq", seq);
    trace_int(&ev, "len", len);
    trace_int(&ev, "rto", (int64_t)tcp_rto_current(tcb));
    trace_emit(tcb->ts->st, &ev);
}

void tcp_trace_decision(struct tcb *tcb, const char *name, uint32_t a, uint32_t b)
{
    struct ustack_trace_event ev;
    tcp_trace_begin(tcb, &ev, name);
    if (!strcmp(name, "state")) {
        trace_str(&ev, "from", tcp_state_name((enum tcp_state)a));
        trace_str(&ev, "to", tcp_state_name((enum tcp_state)b));
    } else if (!strcmp(name, "rtt")) {
        trace_int(&ev, "sample", a);
        trace_int(&ev, "srtt", (int64_t)tcb->srtt);
        trace_int(&ev, "rttvar", (int64_t)tcb->rttvar);
        trace_int(&ev, "rto", b);
    } else if (!strcmp(name, "rto")) {
        ev.name = "rto_fired";
        trace_int(&ev, "snd_una", a);
        trace_int(&ev, "backoff", tcb->rto_backoff);
        trace_int(&ev, "rto", b);
    } else if (!strcmp(name, "fast_rexmit") || !strcmp(name, "recovery_end")) {
        /* Shown as the cwnd change they cause (the retransmission has its own event). */
        tcp_trace_cwnd(tcb, name[0] == 'f' ? "fast_retransmit" : "recovery_end");
        return;
    } else if (!strcmp(name, "persist_probe")) {
        trace_int(&ev, "probes", a);
        trace_int(&ev, "snd_wnd", b);
        trace_int(&ev, "backoff", tcb->persist_backoff);
    } else if (!strcmp(name, "keepalive")) {
        trace_int(&ev, "probes", a);
    } else if (!strcmp(name, "challenge_ack")) {
        trace_int(&ev, "rcv_nxt", a);
        trace_int(&ev, "snd_max", b);
    } else {
        trace_int(&ev, "a", a);
        trace_int(&ev, "b", b);
    }
    trace_emit(tcb->ts->st, &ev);
}

void tcp_trace_listen_event(const struct tcb *l, const struct tcp_seg *seg, const char *name, const char *k1,
                            int64_t v1, const char *k2, int64_t v2)
{
    struct ustack *st = l->ts->st;
    if (!st->trace_fn || !(st->trace_all || l->opt.debug))
        return;
    struct ustack_trace_event ev;
    trace_begin(st, &ev, name);
    ev.laddr = seg->daddr;
    ev.lport = seg->dport;
    ev.raddr = seg->saddr;
    ev.rport = seg->sport;
    if (k1)
        trace_int(&ev, k1, v1);
    if (k2)
        trace_int(&ev, k2, v2);
    trace_emit(st, &ev);
}

void tcp_trace_drop(struct tcp_stack *ts, const char *reason)
{
    struct ustack *st = ts->st;
    const struct tcp_seg *seg = ts->cur_seg;
    if (seg ? !ts->cur_traced : !st->trace_all)
        return;
    struct ustack_trace_event ev;
    trace_begin(st, &ev, "drop");
    if (seg) {
        ev.laddr = seg->daddr;
        ev.lport = seg->dport;
        ev.raddr = seg->saddr;
        ev.rport = seg->sport;
    }
    trace_str(&ev, "reason", reason);
    if (seg) {
        trace_int(&ev, "seq", seg->wire_seq);
        trace_int(&ev, "len", seg->wire_len);
    }
    trace_emit(st, &ev);
}
