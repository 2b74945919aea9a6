/*
 * Live connection statistics (ustack/stat.h): a read-only walk over every TCB
 * that copies what `ss -tin` would show. It changes nothing, reads no clock
 * and makes no system call; the caller holds the stack.
 */
#include <string.h>
#include <ustack/stat.h>
#include "tcp.h"

static void conn_info(const struct tcb *tcb, struct ustack_conn_info *ci)
{
    memset(ci, 0, sizeof *ci);
    const char *name = tcp_state_name(tcb->state);
    size_t len = strlen(name);
    memcpy(ci->state, name, len < sizeof ci->state ? len : sizeof ci->state - 1);
    ci->laddr = tcb->laddr;
    ci->raddr = tcb->raddr;
    ci->lport = tcb->lport;
    ci->rport = tcb->rport;
    ci->iss = tcb->iss;
    ci->irs = tcb->irs;
    ci->snd_una = tcb->snd_una;
    ci->snd_nxt = tcb->snd_nxt;
    ci->snd_max = tcb->snd_max;
    ci->rcv_nxt = tcb->rcv_nxt;
    ci->inflight = tcp_flight_size(tcb);
    ci->cwnd = tcb->cwnd;
    ci->ssthresh = tcb->ssthresh;
    ci->srtt_us = tcb->srtt;
    ci->rttvar_us = tcb->rttvar;
    ci->rto_us = tcp_rto_current(tcb);
    ci->rto_backoff = tcb->rto_backoff;
    ci->retrans = tcb->retrans;
    ci->sendq = tcb->sndq.len;
    ci->recvq = tcb->rcvq.len;
    ci->snd_wnd = tcb->snd_wnd;
    ci->rcv_wnd = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
    ci->mss = tcb->mss;
}

size_t ustack_conn_list(struct ustack *st, struct ustack_conn_info *out, size_t max)
{
    size_t n = 0;
    if (!st || !st->tcp)
        return 0;
    for (const struct tcb *tcb = st->tcp->all; tcb; tcb = tcb->all_next, n++)
        if (n < max)
            conn_info(tcb, &out[n]);
    return n;
}
