/*
 * TCP engine: the per-stack state (connection table by 4-tuple, listeners by
 * port, the RFC 6528 key), TCB life cycle, the byte rings, and the calls the
 * socket layer makes (open, listen, accept, write, read, shutdown, close,
 * abort). Segment processing is in tcp_input.c, sending in tcp_output.c,
 * timers in tcp_timer.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/stat.h>
#include "tcp_var.h"

void tcp_config_default(struct ustack_tcp_config *c)
{
    memset(c, 0, sizeof *c);
    c->rto_min_us = USTACK_MS(200);
    c->rto_initial_us = USTACK_SEC(1);
    c->rto_max_us = USTACK_SEC(60);
    c->syn_retries = 6;
    c->synack_retries = 5;
    c->data_retries = 15;
    c->persist_max_probes = 15;
    c->delack_us = USTACK_MS(40); /* Linux's TCP_DELACK_MIN; well under the 200 ms minimum RTO */
    c->msl_us = USTACK_SEC(30);
    c->fin_wait2_us = USTACK_SEC(60);
    c->sndbuf = 256u * 1024;
    c->rcvbuf = 256u * 1024;
    c->ooo_max_ranges = 1024;
    c->syn_backlog = 128;
    c->max_backlog = 4096;
    c->syncookies = 1;
    c->abort_on_overflow = false;
    c->max_half_open = 1024;
    c->max_connections = 16384;
    c->challenge_ack_per_sec = 1000;
    c->initial_window_segs = 10;
    c->nodelay = false;
    c->keepalive = false;
    c->keepidle_us = USTACK_SEC(7200);
    c->keepintvl_us = USTACK_SEC(75);
    c->keepcnt = 9;
    snprintf(c->congestion, sizeof c->congestion, "%s", tcp_cc_cubic.name);
    c->features = USTACK_TCPF_DEFAULT;
    c->rcvbuf_max = 4u << 20;
    c->sndbuf_max = 4u << 20;
    c->dupthresh = 3;
}

/* The congestion control named by a config field (not necessarily
 * NUL-terminated), or the default when it is empty; NULL if unknown. */
static const struct tcp_cc_ops *tcp_cc_of_config(const struct ustack_tcp_config *c)
{
    char name[sizeof c->congestion + 1];
    snprintf(name, sizeof name, "%.*s", (int)sizeof c->congestion, c->congestion);
    return name[0] ? tcp_cc_find(name) : &tcp_cc_cubic;
}

int tcp_config_check(struct ustack_tcp_config *c)
{
    const struct tcp_cc_ops *cc = tcp_cc_of_config(c);
    if (!cc)
        return -EINVAL;
    snprintf(c->congestion, sizeof c->congestion, "%s", cc->name);
    if (c->syncookies > 2 || c->max_half_open == 0 || c->max_connections == 0)
        return -EINVAL;
    if (c->sndbuf < TCP_MIN_BUF)
        c->sndbuf = TCP_MIN_BUF;
    if (c->rcvbuf < TCP_MIN_BUF)
        c->rcvbuf = TCP_MIN_BUF;
    return 0;
}

static const char *const tcp_feature_names[] = {
    "wscale", "timestamps", "sack", "dsack", "limited-transmit", "rack", "tlp", "eifel", "hystart", "autotune", "ecn", "byte-counting",
};

const char *ustack_tcp_feature_name(unsigned bit)
{
    for (unsigned i = 0; i < sizeof tcp_feature_names / sizeof tcp_feature_names[0]; i++)
        if (bit == 1u << i)
            return tcp_feature_names[i];
    return NULL;
}

int ustack_tcp_features_parse(const char *spec, unsigned *features)
{
    unsigned all = (1u << (sizeof tcp_feature_names / sizeof tcp_feature_names[0])) - 1;
    unsigned f = *features;
    while (*spec) {
        size_t n = strcspn(spec, ",");
        const char *w = spec;
        bool clear = false;
        if (*w == '-' || *w == '+') {
            clear = *w == '-';
            w++;
            n--;
        }
        unsigned bits = 0;
        if (n == 3 && strncmp(w, "all", 3) == 0)
            bits = all;
        else if (n == 4 && strncmp(w, "none", 4) == 0)
            bits = all, clear = !clear;
        else if (n == 7 && strncmp(w, "default", 7) == 0)
            f = USTACK_TCPF_DEFAULT;
        else {
            for (unsigned i = 0; i < sizeof tcp_feature_names / sizeof tcp_feature_names[0]; i++)
                if (strlen(tcp_feature_names[i]) == n && strncmp(tcp_feature_names[i], w, n) == 0)
                    bits = 1u << i;
            if (!bits)
                return -1;
        }
        f = clear ? f & ~bits : f | bits;
        spec = w + n;
        if (*spec == ',')
            spec++;
    }
    *features = f;
    return 0;
}

const char *tcp_state_name(enum tcp_state s)
{
    static const char *const names[] = {
        "CLOSED",     "LISTEN",     "SYN-SENT",   "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
        "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",    "LAST-ACK",     "TIME-WAIT",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ------------------------------------------------------------------ rings */

int tcp_ring_alloc(struct tcp_ring *r, size_t cap)
{
    if (r->buf)
        return 0;
    r->buf = malloc(cap ? cap : 1);
    if (!r->buf)
        return -ENOMEM;
    r->cap = cap;
    r->head = r->len = 0;
    return 0;
}

void tcp_ring_free(struct tcp_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

void tcp_buffers_trim(struct tcb *tcb)
{
    if (tcb->sndq.buf && tcb->sndq.len == 0 && tcb->txq.len == 0) {
        tcp_ring_free(&tcb->sndq);
        free(tcb->txq.segs);
        tcb->txq = (struct tcp_txq){0};
    }
    if (tcb->rcvq.buf && tcb->rcvq.len == 0 && tcb->ooo_len == 0)
        tcp_ring_free(&tcb->rcvq);
}

size_t tcp_ring_write_at(struct tcp_ring *r, size_t off, const uint8_t *src, size_t n)
{
    if (!r->buf || off >= r->cap)
        return 0;
    if (n > r->cap - off)
        n = r->cap - off;
    size_t pos = (r->head + off) % r->cap;
    size_t first = n < r->cap - pos ? n : r->cap - pos;
    memcpy(r->buf + pos, src, first);
    memcpy(r->buf, src + first, n - first);
    return n;
}

void tcp_ring_peek(const struct tcp_ring *r, size_t off, uint8_t *dst, size_t n)
{
    if (!n)
        return;
    size_t pos = (r->head + off) % r->cap;
    size_t first = n < r->cap - pos ? n : r->cap - pos;
    memcpy(dst, r->buf + pos, first);
    memcpy(dst + first, r->buf, n - first);
}

int tcp_ring_grow(struct tcp_ring *r, size_t cap, size_t keep)
{
    if (!r->buf || cap <= r->cap)
        return 0;
    uint8_t *n = malloc(cap);
    if (!n)
        return -ENOMEM;
    if (keep > r->cap)
        keep = r->cap;
    tcp_ring_peek(r, 0, n, keep);
    free(r->buf);
    r->buf = n;
    r->cap = cap;
    r->head = 0;
    return 0;
}

void tcp_ring_consume(struct tcp_ring *r, size_t n)
{
    if (n > r->len)
        n = r->len;
    /* head moves even when the ring empties: out-of-order bytes may be held
     * beyond len at offsets from head. */
    r->len -= n;
    if (r->cap)
        r->head = (r->head + n) % r->cap;
}

/* --------------------------------------------------------- stack and TCBs */

static size_t conn_bucket(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr,
                          uint16_t rport)
{
    uint64_t k = ((uint64_t)laddr << 32 | raddr) ^ ((uint64_t)lport << 16 | rport) * 0x9e3779b97f4a7c15ULL;
    k ^= k >> 29;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 32;
    return (size_t)k & (ts->conn_buckets - 1);
}

static struct tcb **conn_chain(struct tcp_stack *ts, const struct tcb *t)
{
    return &ts->conn_hash[conn_bucket(ts, t->laddr, t->lport, t->raddr, t->rport)];
}

/* Doubles the connection table when it holds more than one TCB per chain,
 * so that a lookup stays O(1) however many connections there are. If the
 * memory is not there the table stays as it is: slower, still right. */
static void conn_hash_grow(struct tcp_stack *ts)
{
    if (ts->conn_hashed <= ts->conn_buckets)
        return;
    size_t old_n = ts->conn_buckets;
    struct tcb **old = ts->conn_hash;
    struct tcb **nt = calloc(old_n * 2, sizeof *nt);
    if (!nt)
        return;
    ts->conn_hash = nt;
    ts->conn_buckets = old_n * 2;
    for (size_t i = 0; i < old_n; i++) {
        for (struct tcb *t = old[i], *next; t; t = next) {
            next = t->hash_next;
            struct tcb **head = conn_chain(ts, t);
            t->hash_next = *head;
            *head = t;
        }
    }
    free(old);
    TCOUNT(ts, tcp_hash_grown);
}

static unsigned listen_bucket(uint16_t lport) { return lport % TCP_LISTEN_BUCKETS; }

struct tcp_stack *tcp_engine_new(struct ustack *st)
{
    struct tcp_stack *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->st = st;
    ts->cfg = &st->cfg.tcp;
    ts->cc = tcp_cc_of_config(ts->cfg);
    ts->conn_buckets = TCP_HASH_MIN_BUCKETS;
    ts->conn_hash = calloc(ts->conn_buckets, sizeof *ts->conn_hash);
    if (!ts->cc || !ts->conn_hash) {
        free(ts->conn_hash);
        free(ts);
        return NULL;
    }
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = ustack_random(st);
        memcpy(ts->isn_key + i, &r, 8);
    }
    return ts;
}

static void tcb_free(struct tcb *tcb);

void tcp_engine_free(struct tcp_stack *ts)
{
    if (!ts)
        return;
    while (ts->all)
        tcb_free(ts->all);
    free(ts->conn_hash);
    free(ts);
}

size_t tcp_tcb_count(const struct tcp_stack *ts) { return ts->ntcbs; }

size_t tcp_mem_bytes(const struct tcp_stack *ts)
{
    size_t n = ts->conn_buckets * sizeof *ts->conn_hash;
    for (const struct tcb *t = ts->all; t; t = t->all_next)
        n += sizeof *t + t->sndq.cap + t->rcvq.cap + t->ooo_cap * sizeof *t->ooo + t->txq.cap * sizeof *t->txq.segs;
    return n;
}

size_t tcp_busy_count(const struct tcp_stack *ts)
{
    size_t n = 0;
    for (const struct tcb *t = ts->all; t; t = t->all_next) {
        switch (t->state) {
        case TCPS_CLOSED:
        case TCPS_LISTEN:
        case TCPS_TIME_WAIT:
            break;
        case TCPS_FIN_WAIT_2:
        case TCPS_CLOSE_WAIT:
            /* Our side is done (or waits for the application): busy only
             * while data we sent is unacknowledged. */
            n += t->snd_una != t->snd_max || t->sndq.len > (size_t)(t->snd_max - t->snd_una);
            break;
        default:
            n++;
        }
    }
    return n;
}

void tcp_set_isn_key(struct tcp_stack *ts, const uint8_t key[16]) { memcpy(ts->isn_key, key, 16); }

void tcp_set_next_isn(struct tcp_stack *ts, uint32_t isn)
{
    ts->isn_override = true;
    ts->isn_next = isn;
}

uint16_t tcp_adv_mss(const struct tcp_stack *ts)
{
    uint16_t mtu = ts->st->cfg.mtu;
    return mtu > IPV4_HDR_LEN + TCP_HDR_LEN ? (uint16_t)(mtu - (IPV4_HDR_LEN + TCP_HDR_LEN)) : TCP_DEFAULT_MSS;
}

struct tcb *tcp_tcb_new(struct tcp_stack *ts)
{
    struct tcb *tcb = calloc(1, sizeof *tcb);
    if (!tcb)
        return NULL;
    const struct ustack_tcp_config *c = ts->cfg;
    tcb->ts = ts;
    tcb->state = TCPS_CLOSED;
    tcb->rto = c->rto_initial_us;
    tcp_opts_default(ts, &tcb->opt);
    tcb->sndbuf_cap = c->sndbuf;
    tcb->rcvbuf_cap = c->rcvbuf;
    tcb->sndbuf_max = c->sndbuf_max > c->sndbuf ? c->sndbuf_max : c->sndbuf;
    tcb->rcvbuf_max = c->rcvbuf_max > c->rcvbuf ? c->rcvbuf_max : c->rcvbuf;
    tcb->ts_offset = (uint32_t)ustack_random(ts->st);
    tcb->rack_reo_wnd_mult = 1;
    uint16_t mtu_mss = tcp_adv_mss(ts);
    tcb->adv_mss = mtu_mss;
    tcb->mss = TCP_DEFAULT_MSS < mtu_mss ? TCP_DEFAULT_MSS : (uint16_t)mtu_mss;
    tcb->rcv_mss = tcb->mss;
    tcb->peer_mss = TCP_DEFAULT_MSS; /* until the peer's SYN says (tcp_mss_update) */
    tcb->pmtu = ts->st->cfg.mtu;
    tcp_timers_init(tcb);
    tcb->all_next = ts->all;
    if (ts->all)
        ts->all->all_prev = tcb;
    ts->all = tcb;
    ts->ntcbs++;
    return tcb;
}

/* A connection gets its buffer sizes once it can carry data, so that SYN
 * floods and TIME-WAIT cost no buffer memory; the rings themselves come
 * with the first bytes (tcp_write, tcp_rcv_data) and go when they are
 * empty again (tcp_buffers_trim): an idle connection holds none. */
int tcp_tcb_alloc_buffers(struct tcb *tcb)
{
    tcb->tflags |= TF_BUFS;
    if (!tcb->ooo && tcb->ts->cfg->ooo_max_ranges) {
        /* Small at first; tcp_ooo_insert() grows it up to ooo_max_ranges. */
        unsigned cap = tcb->ts->cfg->ooo_max_ranges < TCP_OOO_INITIAL_RANGES ? tcb->ts->cfg->ooo_max_ranges
                                                                             : TCP_OOO_INITIAL_RANGES;
        tcb->ooo = calloc(cap, sizeof *tcb->ooo);
        if (!tcb->ooo)
            return -ENOMEM;
        tcb->ooo_cap = cap;
    }
    return 0;
}

void tcp_hash_insert(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    if (tcb->state != TCPS_LISTEN) {
        ts->conn_hashed++;
        conn_hash_grow(ts);
    }
    struct tcb **head = tcb->state == TCPS_LISTEN ? &ts->listen_hash[listen_bucket(tcb->lport)] : conn_chain(ts, tcb);
    tcb->hash_next = *head;
    *head = tcb;
    tcb->tflags |= TF_HASHED;
}

static void tcp_hash_remove(struct tcb *tcb)
{
    if (!(tcb->tflags & TF_HASHED))
        return;
    struct tcp_stack *ts = tcb->ts;
    bool listener = tcb->state == TCPS_LISTEN;
    struct tcb **pp = listener ? &ts->listen_hash[listen_bucket(tcb->lport)] : conn_chain(ts, tcb);
    for (; *pp; pp = &(*pp)->hash_next) {
        if (*pp == tcb) {
            *pp = tcb->hash_next;
            if (!listener)
                ts->conn_hashed--;
            break;
        }
    }
    tcb->hash_next = NULL;
    tcb->tflags &= ~TF_HASHED;
}

struct tcb *tcp_lookup(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
    for (struct tcb *t = ts->conn_hash[conn_bucket(ts, laddr, lport, raddr, rport)]; t; t = t->hash_next)
        if (t->lport == lport && t->rport == rport && t->laddr == laddr && t->raddr == raddr)
            return t;
    return NULL;
}

struct tcb *tcp_listen_lookup(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport)
{
    struct tcb *any = NULL;
    for (struct tcb *t = ts->listen_hash[listen_bucket(lport)]; t; t = t->hash_next) {
        if (t->lport != lport)
            continue;
        if (t->laddr == laddr)
            return t;
        if (t->laddr == 0)
            any = t;
    }
    return any;
}

/* Takes a child out of its listener's SYN or accept queue. */
static void tcp_unqueue_child(struct tcb *child)
{
    struct tcb *l = child->parent;
    if (!l)
        return;
    for (struct tcb **pp = &l->synq; *pp; pp = &(*pp)->q_next) {
        if (*pp == child) {
            *pp = child->q_next;
            l->synq_len--;
            child->ts->nhalf_open--;
            goto done;
        }
    }
    struct tcb *prev = NULL;
    for (struct tcb *c = l->acceptq; c; prev = c, c = c->q_next) {
        if (c == child) {
            if (prev)
                prev->q_next = c->q_next;
            else
                l->acceptq = c->q_next;
            if (l->acceptq_tail == c)
                l->acceptq_tail = prev;
            l->acceptq_len--;
            break;
        }
    }
done:
    child->q_next = NULL;
    child->parent = NULL;
}

static void tcb_free(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    tcp_timers_cancel(tcb);
    tcp_hash_remove(tcb);
    tcp_unqueue_child(tcb);
    /* A listener's children go with it. */
    while (tcb->synq) {
        struct tcb *c = tcb->synq;
        tcp_unqueue_child(c);
        tcb_free(c);
    }
    while (tcb->acceptq) {
        struct tcb *c = tcb->acceptq;
        tcp_unqueue_child(c);
        tcb_free(c);
    }
    if (tcb->all_prev)
        tcb->all_prev->all_next = tcb->all_next;
    else
        ts->all = tcb->all_next;
    if (tcb->all_next)
        tcb->all_next->all_prev = tcb->all_prev;
    tcp_ring_free(&tcb->sndq);
    tcp_ring_free(&tcb->rcvq);
    free(tcb->ooo);
    free(tcb->txq.segs);
    ts->ntcbs--;
    free(tcb);
}

void tcp_set_state(struct tcb *tcb, enum tcp_state s)
{
    if (tcb->state == s)
        return;
    TCP_TRACE(tcb, "state", tcb->state, s);
    /* Listeners are counted apart: tcp.max_connections is about the rest. */
    if (tcb->state == TCPS_LISTEN)
        tcb->ts->nlisten--;
    if (s == TCPS_LISTEN)
        tcb->ts->nlisten++;
    tcb->state = s;
}

void tcp_set_trace(struct tcp_stack *ts, tcp_trace_fn fn, void *ctx)
{
    ts->trace = fn;
    ts->trace_ctx = ctx;
}

void tcp_notify(struct tcb *tcb, unsigned events)
{
    if (tcb->event_fn)
        tcb->event_fn(tcb, events, tcb->event_arg);
}

void tcp_drop(struct tcb *tcb, int err)
{
    unsigned ev = TCP_EV_CLOSED | TCP_EV_READABLE | TCP_EV_WRITABLE;
    if (err) {
        tcb->err = err;
        ev |= TCP_EV_ERROR;
    }
    tcp_timers_cancel(tcb);
    tcp_hash_remove(tcb);
    tcp_unqueue_child(tcb);
    tcp_set_state(tcb, TCPS_CLOSED);
    tcp_txq_clear(tcb);
    if (!(tcb->tflags & TF_USER)) {
        tcb_free(tcb);
        return;
    }
    tcp_notify(tcb, ev);
}

void tcp_challenge_ack(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    ustack_time_t now = ts->st->now;
    if (now - ts->challenge_window_start >= USTACK_SEC(1) || now < ts->challenge_window_start) {
        ts->challenge_window_start = now;
        ts->challenge_count = 0;
    }
    if (ts->challenge_count >= ts->cfg->challenge_ack_per_sec) {
        TCOUNT(ts, tcp_challenge_ack_limited);
        return;
    }
    ts->challenge_count++;
    TCOUNT(ts, tcp_challenge_ack);
    TCP_TRACE(tcb, "challenge_ack", tcb->rcv_nxt, tcb->snd_max);
    tcp_send_ack(tcb);
}

/* ---------------------------------------------------------------- user API */

static bool tcp_tuple_free(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
    return !tcp_lookup(ts, laddr, lport, raddr, rport) && !tcp_listen_lookup(ts, laddr, lport);
}

#define TCP_EPHEMERAL_LO 49152u
#define TCP_EPHEMERAL_HI 65535u

struct tcb *tcp_open_active(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                            const struct tcp_opts *o, int *err)
{
    struct ustack *st = ts->st;
    int dummy;
    if (!err)
        err = &dummy;
    if (raddr == 0 || rport == 0 || ipv4_is_broadcast(st, raddr)) {
        *err = -EINVAL;
        return NULL;
    }
    if (laddr == 0)
        laddr = st->cfg.addr;
    else if (!ipv4_is_local(st, laddr)) {
        *err = -EADDRNOTAVAIL;
        return NULL;
    }
    if (lport == 0) {
        /* A random start, then a walk: ports are hard to guess (RFC 6056)
         * and unique for this 4-tuple. */
        unsigned range = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1;
        unsigned start = (unsigned)(ustack_random(st) % range);
        for (unsigned i = 0; i < range; i++) {
            uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (start + i) % range);
            if (tcp_tuple_free(ts, laddr, p, raddr, rport)) {
                lport = p;
                break;
            }
        }
        if (lport == 0) {
            *err = -EADDRNOTAVAIL;
            return NULL;
        }
    } else if (tcp_lookup(ts, laddr, lport, raddr, rport)) {
        *err = -EADDRINUSE;
        return NULL;
    }
    if (tcp_conn_count(ts) >= ts->cfg->max_connections) {
        /* No room for another connection: ENOBUFS, the errno of a
         * resource the stack is short of (Linux gives it when it cannot
         * allocate one). The connections there are carry on. */
        TCOUNT(ts, tcp_connect_max_connections);
        *err = -ENOBUFS;
        return NULL;
    }
    struct tcb *tcb = tcp_tcb_new(ts);
    if (!tcb) {
        *err = -ENOMEM;
        return NULL;
    }
    tcb->laddr = laddr;
    tcb->lport = lport;
    tcb->raddr = raddr;
    tcb->rport = rport;
    tcb->tflags |= TF_USER;
    /* Before the SYN announces a window and the options. */
    if (o)
        tcp_opts_take(tcb, o);
    if (tcp_tcb_alloc_buffers(tcb) < 0) {
        tcb_free(tcb);
        *err = -ENOMEM;
        return NULL;
    }
    tcb->iss = tcp_isn(ts, laddr, lport, raddr, rport);
    tcb->snd_una = tcb->iss;
    tcb->snd_nxt = tcb->snd_max = tcb->iss + 1;
    tcb->snd_buf_seq = tcb->iss + 1;
    tcb->recover = tcb->iss;
    tcp_set_state(tcb, TCPS_SYN_SENT);
    tcp_hash_insert(tcb);
    TCOUNT(ts, tcp_active_opens);
    tcb->tflags |= TF_RTT_ACTIVE;
    tcb->rtt_seq = tcb->iss;
    tcb->rtt_start = st->now;
    tcp_send_syn(tcb);
    tcp_rexmt_arm(tcb);
    *err = 0;
    return tcb;
}

struct tcb *tcp_listen(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, unsigned backlog,
                       const struct tcp_opts *o, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    if (lport == 0) {
        *err = -EINVAL;
        return NULL;
    }
    if (laddr && !ipv4_is_local(ts->st, laddr)) {
        *err = -EADDRNOTAVAIL;
        return NULL;
    }
    for (struct tcb *t = ts->listen_hash[listen_bucket(lport)]; t; t = t->hash_next) {
        if (t->lport == lport && (t->laddr == laddr || t->laddr == 0 || laddr == 0)) {
            *err = -EADDRINUSE;
            return NULL;
        }
    }
    struct tcb *tcb = tcp_tcb_new(ts);
    if (!tcb) {
        *err = -ENOMEM;
        return NULL;
    }
    tcb->laddr = laddr;
    tcb->lport = lport;
    tcp_set_backlog(tcb, backlog);
    tcb->tflags |= TF_USER;
    if (o)
        tcp_opts_take(tcb, o);
    tcp_set_state(tcb, TCPS_LISTEN);
    tcp_hash_insert(tcb);
    *err = 0;
    return tcb;
}

void tcp_set_backlog(struct tcb *l, unsigned backlog)
{
    unsigned cap = l->ts->cfg->max_backlog;
    l->backlog = backlog < 1 ? 1 : backlog > cap ? cap : backlog;
}

size_t tcp_accept_queue_len(const struct tcb *l) { return l->state == TCPS_LISTEN ? l->acceptq_len : 0; }

struct tcb *tcp_accept_next(struct tcb *l)
{
    if (!l || l->state != TCPS_LISTEN || !l->acceptq)
        return NULL;
    struct tcb *c = l->acceptq;
    tcp_unqueue_child(c);
    c->tflags |= TF_USER;
    return c;
}

int tcp_take_error(struct tcb *tcb)
{
    int e = tcb->err;
    tcb->err = 0;
    return e;
}

ssize_t tcp_write(struct tcb *tcb, const void *buf, size_t len)
{
    if (tcb->err)
        return -tcp_take_error(tcb);
    switch (tcb->state) {
    case TCPS_LISTEN:
        return -ENOTCONN;
    case TCPS_CLOSED:
        return -EPIPE;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        if (tcb->tflags & TF_FIN_QUEUED)
            return -EPIPE;
        break;
    default:
        return -EPIPE;
    }
    if (!(tcb->tflags & TF_BUFS))
        return -ENOBUFS;
    size_t space = tcb->sndbuf_cap > tcb->sndq.len ? tcb->sndbuf_cap - tcb->sndq.len : 0;
    if (space == 0)
        return -EAGAIN;
    if (tcp_ring_alloc(&tcb->sndq, tcb->sndbuf_cap) < 0)
        return -ENOBUFS;
    size_t n = len < space ? len : space;
    tcp_ring_write_at(&tcb->sndq, tcb->sndq.len, buf, n);
    tcb->sndq.len += n;
    tcp_output(tcb);
    return (ssize_t)n;
}

ssize_t tcp_read(struct tcb *tcb, void *buf, size_t len)
{
    if (tcb->state == TCPS_LISTEN)
        return -ENOTCONN;
    size_t avail = tcb->rcvq.len;
    if (avail && len) {
        size_t n = len < avail ? len : avail;
        tcp_ring_peek(&tcb->rcvq, 0, buf, n);
        tcp_ring_consume(&tcb->rcvq, n);
        tcp_rcvbuf_autotune(tcb, n);
        tcp_buffers_trim(tcb);
        tcp_window_update(tcb);
        return (ssize_t)n;
    }
    if (avail)
        return 0; /* len == 0 */
    if (tcb->tflags & TF_FIN_RCVD)
        return 0;
    if (tcb->err)
        return -tcp_take_error(tcb);
    if (tcb->state == TCPS_CLOSED)
        return 0;
    return -EAGAIN;
}

size_t tcp_peek(const struct tcb *tcb, void *buf, size_t len)
{
    size_t n = len < tcb->rcvq.len ? len : tcb->rcvq.len;
    tcp_ring_peek(&tcb->rcvq, 0, buf, n);
    return n;
}

int tcp_shutdown_write(struct tcb *tcb)
{
    switch (tcb->state) {
    case TCPS_LISTEN:
    case TCPS_CLOSED:
        return -ENOTCONN;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
        /* The FIN follows the handshake (RFC 9293 3.10.4: queued until
         * ESTABLISHED). */
        tcb->tflags |= TF_FIN_QUEUED;
        return 0;
    case TCPS_ESTABLISHED:
        tcb->tflags |= TF_FIN_QUEUED;
        tcp_set_state(tcb, TCPS_FIN_WAIT_1);
        break;
    case TCPS_CLOSE_WAIT:
        tcb->tflags |= TF_FIN_QUEUED;
        tcp_set_state(tcb, TCPS_LAST_ACK);
        break;
    default:
        return 0; /* already closing */
    }
    tcp_output(tcb);
    return 0;
}

static void tcp_close_listener(struct tcb *l)
{
    /* Connections nobody accepted are reset (as Linux); half-open ones just
     * forgotten. */
    while (l->synq) {
        struct tcb *c = l->synq;
        tcp_unqueue_child(c);
        tcp_drop(c, 0);
    }
    while (l->acceptq) {
        struct tcb *c = l->acceptq;
        tcp_unqueue_child(c);
        tcp_send_rst_tcb(c);
        TCOUNT(l->ts, tcp_aborts);
        tcp_drop(c, 0);
    }
    l->tflags &= ~TF_USER;
    tcp_drop(l, 0);
}

void tcp_close(struct tcb *tcb)
{
    struct tcp_stack *ts = tcb->ts;
    tcb->event_fn = NULL;
    tcb->event_arg = NULL;
    switch (tcb->state) {
    case TCPS_LISTEN:
        tcp_close_listener(tcb);
        return;
    case TCPS_CLOSED:
    case TCPS_SYN_SENT:
        tcb->tflags &= ~TF_USER;
        tcp_drop(tcb, 0);
        return;
    default:
        break;
    }
    tcb->tflags &= ~TF_USER;
    if (tcb->rcvq.len && tcb->state != TCPS_TIME_WAIT) {
        /* Unread data: the peer must learn that it was not consumed
         * (RFC 2525 2.17, as Linux). */
        TCOUNT(ts, tcp_aborts);
        tcp_send_rst_tcb(tcb);
        tcp_drop(tcb, 0);
        return;
    }
    tcp_shutdown_write(tcb);
    if (tcb->state == TCPS_FIN_WAIT_2)
        timer_arm(ts->st, &tcb->t_2msl, ts->st->now + ts->cfg->fin_wait2_us);
    if (tcb->state == TCPS_TIME_WAIT)
        tcp_ring_free(&tcb->rcvq); /* nobody will read it now */
}

void tcp_abort(struct tcb *tcb)
{
    tcb->event_fn = NULL;
    tcb->event_arg = NULL;
    if (tcb->state == TCPS_LISTEN) {
        tcp_close_listener(tcb);
        return;
    }
    TCOUNT(tcb->ts, tcp_aborts);
    tcp_send_rst_tcb(tcb);
    tcb->tflags &= ~TF_USER;
    tcp_drop(tcb, 0);
}

void tcp_set_event_cb(struct tcb *tcb, tcp_event_fn fn, void *arg)
{
    tcb->event_fn = fn;
    tcb->event_arg = arg;
}

struct ustack *tcp_ustack(const struct tcb *tcb) { return tcb->ts->st; }

void tcp_opts_default(const struct tcp_stack *ts, struct tcp_opts *o)
{
    const struct ustack_tcp_config *c = ts->cfg;
    memset(o, 0, sizeof *o);
    o->nodelay = c->nodelay;
    o->keepalive = c->keepalive;
    o->keepidle_us = c->keepidle_us;
    o->keepintvl_us = c->keepintvl_us;
    o->keepcnt = c->keepcnt;
    o->sndbuf = c->sndbuf;
    o->rcvbuf = c->rcvbuf;
    o->features = c->features;
    o->syncookies = c->syncookies;
    o->cc = ts->cc;
}

const struct tcp_opts *tcp_get_opts(const struct tcb *tcb) { return &tcb->opt; }

/* Buffer sizes the socket set, while the connection has no buffers yet; a
 * size set this way is fixed (no autotuning), as on Linux. */
static void tcp_opts_apply_bufsizes(struct tcb *tcb)
{
    if (tcb->tflags & TF_BUFS)
        return;
    if (tcb->opt.sndbuf_lock) {
        tcb->sndbuf_cap = tcb->sndbuf_max = tcb->opt.sndbuf < TCP_MIN_BUF ? TCP_MIN_BUF : tcb->opt.sndbuf;
        tcb->tflags |= TF_SNDBUF_LOCK;
    }
    if (tcb->opt.rcvbuf_lock) {
        tcb->rcvbuf_cap = tcb->rcvbuf_max = tcb->opt.rcvbuf < TCP_MIN_BUF ? TCP_MIN_BUF : tcb->opt.rcvbuf;
        tcb->tflags |= TF_RCVBUF_LOCK;
    }
}

void tcp_opts_take(struct tcb *tcb, const struct tcp_opts *o)
{
    tcb->opt = *o;
    if (!tcb->opt.cc)
        tcb->opt.cc = tcb->ts->cc;
    tcp_opts_apply_bufsizes(tcb);
}

void tcp_set_opts(struct tcb *tcb, const struct tcp_opts *o)
{
    const unsigned negotiated = USTACK_TCPF_WSCALE | USTACK_TCPF_TIMESTAMPS | USTACK_TCPF_SACK;
    struct tcp_opts old = tcb->opt;
    tcp_opts_take(tcb, o);
    /* What a SYN negotiated stays as it was once the SYN is out. */
    if (tcb->state != TCPS_CLOSED && tcb->state != TCPS_LISTEN)
        tcb->opt.features = (tcb->opt.features & ~negotiated) | (old.features & negotiated);
    if (tcb->opt.cc != old.cc) {
        /* The window stays; the new algorithm's own state starts afresh. */
        memset(tcb->cc_priv, 0, sizeof tcb->cc_priv);
        tcb->cc_bytes_acked = 0;
    }
    if (tcb->opt.keepalive != old.keepalive || tcb->opt.keepidle_us != old.keepidle_us ||
        tcb->opt.keepintvl_us != old.keepintvl_us || tcb->opt.keepcnt != old.keepcnt)
        tcp_keepalive_reset(tcb);
    if (tcb->opt.nodelay && !old.nodelay)
        tcp_output(tcb); /* as Linux: what Nagle held goes now */
}

/* Receive buffer autotuning, after Linux's dynamic right-sizing: once per
 * receiver RTT, the buffer grows to four times what the application read in
 * that RTT (twice the bandwidth-delay product, twice again for a sender in
 * slow start), up to rcvbuf_max. The window scale chosen at the SYN covers
 * rcvbuf_max. */
void tcp_rcvbuf_autotune(struct tcb *tcb, size_t copied)
{
    struct ustack *st = tcb->ts->st;
    if (!tcp_feature(tcb, USTACK_TCPF_AUTOTUNE) || (tcb->tflags & TF_RCVBUF_LOCK) ||
        tcb->rcvbuf_cap >= tcb->rcvbuf_max)
        return;
    ustack_time_t rtt = tcb->rcv_rtt_us ? tcb->rcv_rtt_us : tcb->srtt;
    tcb->rcv_copied += copied;
    if (!rtt) {
        tcb->rcv_space_time = st->now;
        return;
    }
    if (st->now - tcb->rcv_space_time < rtt)
        return;
    size_t want = 4 * tcb->rcv_copied;
    tcb->rcv_copied = 0;
    tcb->rcv_space_time = st->now;
    if (want <= tcb->rcvbuf_cap)
        return;
    if (want > tcb->rcvbuf_max)
        want = tcb->rcvbuf_max;
    /* The ring holds out-of-order bytes at their offsets: keep all of it. */
    if (tcp_ring_grow(&tcb->rcvq, want, tcb->rcvq.cap) < 0)
        return;
    if (tcp_traced(tcb))
        tcp_trace_event(tcb, "rcvbuf", "bytes", (int64_t)want, "old", (int64_t)tcb->rcvbuf_cap);
    tcb->rcvbuf_cap = want;
    TCOUNT(tcb->ts, tcp_rcvbuf_grown);
}

/* Send buffer autotuning (as Linux's tcp_sndbuf_expand): room for twice
 * the congestion window, so a growing window never waits for the
 * application's next write, up to sndbuf_max. */
void tcp_sndbuf_autotune(struct tcb *tcb)
{
    if (!tcp_feature(tcb, USTACK_TCPF_AUTOTUNE) || (tcb->tflags & TF_SNDBUF_LOCK) ||
        tcb->sndbuf_cap >= tcb->sndbuf_max || !(tcb->tflags & TF_BUFS))
        return;
    size_t want = 2 * (size_t)tcb->cwnd;
    if (want <= tcb->sndbuf_cap || tcb->sndq.len < tcb->sndbuf_cap / 2)
        return;
    want = want < 2 * tcb->sndbuf_cap ? 2 * tcb->sndbuf_cap : want;
    if (want > tcb->sndbuf_max)
        want = tcb->sndbuf_max;
    if (tcp_ring_grow(&tcb->sndq, want, tcb->sndq.len) < 0)
        return;
    tcb->sndbuf_cap = want;
    TCOUNT(tcb->ts, tcp_sndbuf_grown);
    tcp_notify(tcb, TCP_EV_WRITABLE);
}

size_t tcp_readable_bytes(const struct tcb *tcb) { return tcb->rcvq.len; }

bool tcp_eof(const struct tcb *tcb) { return (tcb->tflags & TF_FIN_RCVD) && tcb->rcvq.len == 0; }

bool tcp_fin_received(const struct tcb *tcb) { return (tcb->tflags & TF_FIN_RCVD) != 0; }

size_t tcp_send_space(const struct tcb *tcb)
{
    if (!(tcb->tflags & TF_BUFS) || (tcb->tflags & TF_FIN_QUEUED))
        return 0;
    switch (tcb->state) {
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        return tcb->sndbuf_cap > tcb->sndq.len ? tcb->sndbuf_cap - tcb->sndq.len : 0;
    default:
        return 0;
    }
}

bool tcp_is_connected(const struct tcb *tcb)
{
    return tcb->state >= TCPS_ESTABLISHED;
}

bool tcp_is_connecting(const struct tcb *tcb)
{
    return !tcb->err && (tcb->state == TCPS_SYN_SENT || tcb->state == TCPS_SYN_RECEIVED);
}

bool tcp_is_closed(const struct tcb *tcb) { return tcb->state == TCPS_CLOSED; }

int tcp_error(const struct tcb *tcb) { return tcb->err; }

void tcp_endpoints(const struct tcb *tcb, uint32_t *laddr, uint16_t *lport, uint32_t *raddr, uint16_t *rport)
{
    if (laddr)
        *laddr = tcb->laddr;
    if (lport)
        *lport = tcb->lport;
    if (raddr)
        *raddr = tcb->raddr;
    if (rport)
        *rport = tcb->rport;
}

unsigned tcp_mss(const struct tcb *tcb) { return tcb->mss ? tcb->mss : TCP_DEFAULT_MSS; }

bool tcp_port_listening(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport)
{
    return tcp_listen_lookup(ts, laddr, lport) != NULL;
}

bool tcp_port_in_use(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport)
{
    for (const struct tcb *t = ts->all; t; t = t->all_next) {
        if (t->lport != lport || t->state == TCPS_CLOSED)
            continue;
        if (laddr == 0 || t->laddr == 0 || t->laddr == laddr)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ statistics */

/* What `ss -tin` would show of one connection. */
static void tcp_conn_info(const struct tcb *tcb, struct ustack_conn_info *ci)
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

size_t tcp_conn_list(const struct tcp_stack *ts, struct ustack_conn_info *out, size_t max)
{
    size_t n = 0;
    for (const struct tcb *tcb = ts->all; tcb; tcb = tcb->all_next, n++)
        if (n < max)
            tcp_conn_info(tcb, &out[n]);
    return n;
}
