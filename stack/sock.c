/*
 * The socket API (ustack/socket.h): BSD-named calls over the per-stack socket
 * table. Each call takes the stack lock through the runtime's hooks, works on
 * the socket state, and when it has to wait (blocking recv, poll) links itself
 * on the wait list of the sockets it waits for and sleeps until the runtime
 * wakes it: only when one of those sockets changed (ustack_wake_waiters).
 * Without a runtime every call is non-blocking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include "sock.h"

/* ------------------------------------------------------------ table */

int sock_init(struct ustack *st)
{
    struct sock_table *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->max = st->cfg.max_sockets;
    t->chunk = calloc((t->max + SOCK_CHUNK - 1) / SOCK_CHUNK, sizeof *t->chunk);
    t->inuse = calloc((t->max + 63) / 64, sizeof *t->inuse);
    if (!t->chunk || !t->inuse) {
        free(t->chunk);
        free(t->inuse);
        free(t);
        return -ENOMEM;
    }
    for (int i = 0; i < SOCK_PORT_BUCKETS; i++)
        t->port_bucket[i] = -1;
    t->raw_head = -1;
    st->socks = t;
    return 0;
}

static void sock_release(struct ustack *st, struct sock *s);

void sock_fini(struct ustack *st)
{
    struct sock_table *t = st->socks;
    if (!t)
        return;
    for (unsigned i = 0; i < t->n; i++)
        if (sock_slot(t, i)->used)
            sock_release(st, sock_slot(t, i));
    for (unsigned c = 0; c * SOCK_CHUNK < t->n; c++)
        free(t->chunk[c]);
    free(t->chunk);
    free(t->inuse);
    free(t);
    st->socks = NULL;
}

size_t sock_count(const struct ustack *st)
{
    return st->socks ? st->socks->used : 0;
}

size_t sock_mem_bytes(const struct ustack *st)
{
    const struct sock_table *t = st->socks;
    if (!t)
        return 0;
    return sizeof *t + t->n * sizeof(struct sock) + (t->max + SOCK_CHUNK - 1) / SOCK_CHUNK * sizeof *t->chunk +
           (t->max + 63) / 64 * sizeof *t->inuse;
}

size_t sock_waiter_count(const struct ustack *st)
{
    return st->socks ? st->socks->waiters : 0;
}

struct sock *sock_get(struct ustack *st, int fd)
{
    struct sock_table *t = st->socks;
    if (fd < 0 || (unsigned)fd >= t->n || !sock_slot(t, (unsigned)fd)->used)
        return NULL;
    return sock_slot(t, (unsigned)fd);
}

int sock_number(const struct ustack *st, const struct sock *s)
{
    (void)st;
    return s->num;
}

/* ------------------------------------------------------------ waiting */

void sock_wakeup(struct ustack *st, struct sock *s)
{
    if (s->ev_pending)
        return;
    s->ev_pending = true;
    s->ev_next = st->socks->pending;
    st->socks->pending = s;
}

/* Every event of a socket's connection changes what its waiters wait for. */
static void sock_tcp_event(struct tcb *tcb, unsigned events, void *arg)
{
    (void)events;
    sock_wakeup(tcp_ustack(tcb), arg);
}

/* Gives s its connection (or listener) and the connection's events to s. */
static void sock_attach_tcb(struct sock *s, struct tcb *tcb)
{
    s->tcb = tcb;
    if (tcb)
        tcp_set_event_cb(tcb, sock_tcp_event, s);
}

void sock_wq_add(struct sock *s, struct sock_wq_entry *e, void (*fn)(struct ustack *st, struct sock_wq_entry *e),
                 void *arg)
{
    e->s = s;
    e->fn = fn;
    e->arg = arg;
    e->prev = NULL;
    e->next = s->wq;
    if (s->wq)
        s->wq->prev = e;
    s->wq = e;
}

void sock_wq_del(struct sock_wq_entry *e)
{
    if (!e->s)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        e->s->wq = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->s = NULL;
    e->prev = e->next = NULL;
}

void ustack_wake_waiters(struct ustack *st)
{
    struct sock_table *t = st->socks;
    struct sock *s;
    while ((s = t->pending)) {
        t->pending = s->ev_next;
        s->ev_next = NULL;
        s->ev_pending = false;
        for (struct sock_wq_entry *e = s->wq, *next; e; e = next) {
            next = e->next;
            e->fn(st, e);
        }
    }
}

/* A closed socket's waiters: unlinked, then told (a blocked call returns
 * EBADF). */
static void sock_wq_close(struct ustack *st, struct sock *s)
{
    struct sock_wq_entry *e;
    while ((e = s->wq)) {
        sock_wq_del(e);
        e->fn(st, e);
    }
}

/* Clears a slot for reuse: its number, its generation and its place on the
 * pending list stay (a stale entry there only costs a look at an empty wait
 * list). */
static void sock_reset(struct sock *s)
{
    uint32_t gen = s->gen;
    int num = s->num;
    struct sock *ev_next = s->ev_next;
    bool ev_pending = s->ev_pending;
    memset(s, 0, sizeof *s);
    s->gen = gen;
    s->num = num;
    s->ev_next = ev_next;
    s->ev_pending = ev_pending;
}

void sock_set_error(struct ustack *st, struct sock *s, int err)
{
    s->so_error = err;
    sock_wakeup(st, s);
}

void sock_report_error(struct ustack *st, const struct pbuf *pb, int err)
{
    struct sock *s = sock_get(st, pb->owner_sock);
    if (s && s->gen == pb->owner_gen)
        sock_set_error(st, s, err);
}

static int *sock_chain_head(struct ustack *st, struct sock *s)
{
    if (s->type == SOCK_RAW)
        return &st->socks->raw_head;
    return &st->socks->port_bucket[s->lport % SOCK_PORT_BUCKETS];
}

static void sock_chain_add(struct ustack *st, struct sock *s)
{
    int *head = sock_chain_head(st, s);
    s->next_in_bucket = *head;
    *head = sock_number(st, s);
}

static void sock_chain_remove(struct ustack *st, struct sock *s)
{
    int fd = sock_number(st, s);
    for (int *p = sock_chain_head(st, s); *p >= 0; p = &sock_slot(st->socks, (unsigned)*p)->next_in_bucket) {
        if (*p == fd) {
            *p = s->next_in_bucket;
            return;
        }
    }
}

static void sock_release(struct ustack *st, struct sock *s)
{
    if (s->ep)
        epoll_release(st, s);
    if ((s->bound && s->type == SOCK_DGRAM) || s->type == SOCK_RAW)
        sock_chain_remove(st, s);
    if (s->tcb) {
        /* close(2) on a connection: graceful unless SO_LINGER says 0 s, in
         * which case the connection is reset (RFC 9293 3.10.5 ABORT). The
         * engine finishes a graceful close on its own and frees the TCB. */
        if (s->opt.linger_on && s->opt.linger_s == 0 && !s->listening)
            tcp_abort(s->tcb);
        else
            tcp_close(s->tcb);
        s->tcb = NULL;
    }
    pbuf_queue_free(st, &s->rxq);
    sock_wq_close(st, s);
    s->gen++;
    sock_reset(s);
    struct sock_table *t = st->socks;
    t->used--;
    t->inuse[(unsigned)s->num / 64] &= ~(1ull << ((unsigned)s->num % 64));
    if ((unsigned)s->num < t->free_hint)
        t->free_hint = (unsigned)s->num;
}

struct sock *udp_sock_lookup(struct ustack *st, uint16_t lport, uint32_t laddr, uint32_t raddr, uint16_t rport)
{
    struct sock *best = NULL;
    int best_score = -1;
    for (int i = st->socks->port_bucket[lport % SOCK_PORT_BUCKETS]; i >= 0; i = sock_slot(st->socks, (unsigned)i)->next_in_bucket) {
        struct sock *s = sock_slot(st->socks, (unsigned)i);
        if (s->lport != lport)
            continue;
        int score = 0;
        if (s->laddr) {
            if (s->laddr != laddr)
                continue;
            score += 1;
        }
        if (s->connected) {
            if (s->raddr != raddr || s->rport != rport)
                continue;
            score += 2;
        }
        if (score > best_score) {
            best = s;
            best_score = score;
        }
    }
    return best;
}

int sock_rx_enqueue(struct ustack *st, struct sock *s, struct pbuf *pb)
{
    size_t charge = pb->len + SOCK_RX_OVERHEAD;
    if (s->shut_rd || s->rx_charge + charge > s->rcvbuf) {
        pbuf_free(st, pb);
        return -ENOBUFS;
    }
    s->rx_charge += charge;
    pbuf_queue_push(&s->rxq, pb);
    sock_wakeup(st, s);
    return 0;
}

/* ------------------------------------------------------------ locking */

void api_lock(struct ustack *st)
{
    if (st->have_env && st->env.lock)
        st->env.lock(st->env.ctx);
    /* The loop thread may have slept for a while: what this call sends and
     * arms must carry the time of now, not of the loop's last wake-up. Only
     * the clock moves here; due timers still run on the loop. */
    if (st->have_env && st->env.now) {
        ustack_time_t now = st->env.now(st->env.ctx);
        if (now > st->now)
            st->now = now;
    }
}

/* Wakes the waiters of the sockets the call changed, then unlocks (the
 * runtime's unlock also wakes the loop if the call armed an earlier timer). */
void api_unlock(struct ustack *st)
{
    ustack_wake_waiters(st);
    if (st->have_env && st->env.unlock)
        st->env.unlock(st->env.ctx);
}

ustack_time_t api_now(struct ustack *st)
{
    return st->have_env && st->env.now ? st->env.now(st->env.ctx) : st->now;
}

static bool api_can_block(struct ustack *st, const struct sock *s, int flags)
{
    return st->have_env && st->env.wait && !s->nonblock && !(flags & MSG_DONTWAIT);
}

static void sock_waiter_wake(struct ustack *st, struct sock_wq_entry *e)
{
    struct sock_waiter *w = e->arg;
    if (w->woken)
        return;
    w->woken = true;
    COUNT(st, sock_wakeups);
    if (st->env.wake)
        st->env.wake(st->env.ctx, &w->w);
}

void sock_waiter_link(struct sock *s, struct sock_wq_entry *e, struct sock_waiter *w)
{
    sock_wq_add(s, e, sock_waiter_wake, w);
}

/* Sleeps as w until woken or `deadline`. */
void api_sleep(struct ustack *st, struct sock_waiter *w, ustack_time_t deadline)
{
    w->woken = false;
    st->socks->waiters++;
    st->env.wait(st->env.ctx, &w->w, deadline);
    st->socks->waiters--;
}

/* Sleeps on s until its state changes or `deadline`. Returns 0 if the
 * socket is still the same one, -EBADF if it was closed meanwhile, -EAGAIN
 * on timeout. */
static int api_wait(struct ustack *st, struct sock *s, uint32_t gen, ustack_time_t deadline)
{
    if (deadline != USTACK_TIME_NEVER && api_now(st) >= deadline)
        return -EAGAIN;
    struct sock_waiter w = {0};
    struct sock_wq_entry e;
    sock_waiter_link(s, &e, &w);
    api_sleep(st, &w, deadline);
    sock_wq_del(&e);
    if (!s->used || s->gen != gen)
        return -EBADF;
    return 0;
}

/* ------------------------------------------------------------ addresses */

static int sockaddr_in_get(const struct sockaddr *sa, socklen_t len, uint32_t *addr, uint16_t *port)
{
    if (!sa || len < (socklen_t)sizeof(struct sockaddr_in))
        return -EINVAL;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    if (sin->sin_family != AF_INET)
        return -EAFNOSUPPORT;
    *addr = sin->sin_addr.s_addr;
    *port = ntohs(sin->sin_port);
    return 0;
}

static void sockaddr_in_put(struct sockaddr *sa, socklen_t *len, uint32_t addr, uint16_t port)
{
    if (!sa || !len)
        return;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = addr;
    sin.sin_port = htons(port);
    socklen_t n = *len < (socklen_t)sizeof sin ? *len : (socklen_t)sizeof sin;
    memcpy(sa, &sin, n);
    *len = sizeof sin;
}

/* Whether bound socket o keeps a new binding of (laddr, port) out: the
 * addresses overlap and SO_REUSEADDR does not let both in. */
static bool bind_conflicts(const struct sock *o, uint32_t laddr, uint16_t port, bool reuse)
{
    if (o->lport != port)
        return false;
    if (o->laddr && laddr && o->laddr != laddr)
        return false;
    return !(reuse && o->opt.reuseaddr);
}

typedef bool (*port_taken_fn)(struct ustack *st, const struct sock *self, uint32_t laddr, uint16_t port,
                              bool reuse);

static bool udp_port_taken(struct ustack *st, const struct sock *self, uint32_t laddr, uint16_t port, bool reuse)
{
    (void)self;
    for (int i = st->socks->port_bucket[port % SOCK_PORT_BUCKETS]; i >= 0; i = sock_slot(st->socks, (unsigned)i)->next_in_bucket)
        if (bind_conflicts(sock_slot(st->socks, (unsigned)i), laddr, port, reuse))
            return true;
    return false;
}

/* The port to bind: `port` if it is free, else -EADDRINUSE; for port 0 an
 * ephemeral one, probed from a random point of the range. */
static int choose_port(struct ustack *st, const struct sock *s, uint32_t laddr, uint16_t port, port_taken_fn taken)
{
    if (port != 0)
        return taken(st, s, laddr, port, s->opt.reuseaddr) ? -EADDRINUSE : port;
    unsigned span = EPHEMERAL_HI - EPHEMERAL_LO + 1;
    unsigned start = (unsigned)(ustack_random(st) % span);
    for (unsigned k = 0; k < span; k++) {
        uint16_t p = (uint16_t)(EPHEMERAL_LO + (start + k) % span);
        if (!taken(st, s, laddr, p, false))
            return p;
    }
    return -EADDRINUSE;
}

static int sock_bind_port(struct ustack *st, struct sock *s, uint32_t laddr, uint16_t port)
{
    int p = choose_port(st, s, laddr, port, udp_port_taken);
    if (p < 0)
        return p;
    s->laddr = laddr;
    s->lport = (uint16_t)p;
    s->bound = true;
    sock_chain_add(st, s);
    return 0;
}

void sock_tag_owner(struct ustack *st, const struct sock *s, struct pbuf *pb)
{
    pb->owner_sock = sock_number(st, s);
    pb->owner_gen = s->gen;
}

int sock_bind_port_any(struct ustack *st, struct sock *s)
{
    return sock_bind_port(st, s, 0, 0);
}

/* One more chunk of free slots, numbered on from t->n. */
static int sock_table_grow(struct sock_table *t)
{
    unsigned k = t->max - t->n < SOCK_CHUNK ? t->max - t->n : SOCK_CHUNK;
    struct sock *c = calloc(k, sizeof *c);
    if (!c)
        return -ENOMEM;
    for (unsigned i = 0; i < k; i++)
        c[i].num = (int)(t->n + i);
    t->chunk[t->n / SOCK_CHUNK] = c;
    t->n += k;
    return 0;
}

/* A fresh socket in the first free slot, or NULL with *err set (-EMFILE:
 * the table is full; -ENOMEM). */
struct sock *sock_alloc(struct ustack *st, int type, int protocol, bool nonblock, int *err)
{
    struct sock_table *t = st->socks;
    if (t->used == t->n) {
        *err = t->n < t->max ? sock_table_grow(t) : -EMFILE;
        if (*err == -EMFILE)
            COUNT(st, sock_table_full);
        if (*err < 0)
            return NULL;
    }
    /* The lowest free number, as a kernel gives out descriptors: a word of
     * the bitmap at a time from the hint, so opening a socket does not walk
     * the sockets already open. */
    for (unsigned w = t->free_hint / 64; w * 64 < t->n; w++) {
        uint64_t freebits = ~t->inuse[w];
        if (!freebits)
            continue;
        unsigned i = w * 64 + (unsigned)__builtin_ctzll(freebits);
        if (i >= t->n)
            break;
        t->inuse[w] |= 1ull << (i % 64);
        t->free_hint = i + 1;
        struct sock *s = sock_slot(t, i);
        sock_reset(s);
        s->used = true;
        s->type = type;
        s->proto = protocol;
        s->nonblock = nonblock;
        if (type == SOCK_STREAM) {
            tcp_opts_default(st->tcp, &s->tcp_opts);
        } else {
            s->rcvbuf = st->cfg.udp_rcvbuf;
            s->sndbuf = st->cfg.udp_sndbuf;
        }
        s->next_in_bucket = -1;
        s->opt.hdrincl = type == SOCK_RAW && protocol == IPPROTO_RAW;
        if (type == SOCK_RAW)
            sock_chain_add(st, s);
        t->used++;
        return s;
    }
    *err = -EMFILE; /* not reached: used < n means a slot is free */
    return NULL;
}

/* ------------------------------------------------------------ streams */

/* Whether a TCP port is taken: by the engine (listener or connection) or by
 * a stream socket bound but not yet listening or connected. With
 * SO_REUSEADDR only a listener on the port conflicts (as on Linux, where it
 * lets a server rebind while old connections sit in TIME-WAIT). */
static bool tcp_port_taken(struct ustack *st, const struct sock *self, uint32_t laddr, uint16_t port, bool reuse)
{
    if (reuse ? tcp_port_listening(st->tcp, laddr, port) : tcp_port_in_use(st->tcp, laddr, port))
        return true;
    for (unsigned i = 0; i < st->socks->n; i++) {
        const struct sock *o = sock_slot(st->socks, i);
        if (o != self && o->used && o->type == SOCK_STREAM && o->bound && !o->tcb &&
            bind_conflicts(o, laddr, port, reuse))
            return true;
    }
    return false;
}

static int stream_bind(struct ustack *st, struct sock *s, uint32_t laddr, uint16_t port)
{
    if (ipv4_is_broadcast(st, laddr))
        return -EADDRNOTAVAIL;
    int p = choose_port(st, s, laddr, port, tcp_port_taken);
    if (p < 0)
        return p;
    s->laddr = laddr;
    s->lport = (uint16_t)p;
    s->bound = true;
    return 0;
}

/* A stream socket's TCP options: its TCB's, or its own before it has one. */
static const struct tcp_opts *stream_opts(const struct sock *s)
{
    return s->tcb ? tcp_get_opts(s->tcb) : &s->tcp_opts;
}

static void stream_set_opts(struct sock *s, const struct tcp_opts *o)
{
    if (s->tcb)
        tcp_set_opts(s->tcb, o);
    else
        s->tcp_opts = *o;
}

/* connect(2) on a stream socket (RFC 9293 3.10.1 OPEN, active). */
static int stream_connect(struct ustack *st, struct sock *s, uint32_t raddr, uint16_t rport)
{
    if (s->listening)
        return -EISCONN;
    if (s->tcb && tcp_is_closed(s->tcb)) {
        /* The last attempt failed: report it if nobody has, then let the
         * socket try again with the same options, as Linux does. */
        int err = tcp_take_error(s->tcb);
        s->tcp_opts = *tcp_get_opts(s->tcb);
        tcp_close(s->tcb);
        s->tcb = NULL;
        if (err)
            return -err;
    }
    if (s->tcb) {
        if (tcp_is_connecting(s->tcb))
            return -EALREADY;
        if (tcp_error(s->tcb))
            return -tcp_take_error(s->tcb);
        return -EISCONN;
    }
    if (rport == 0 || raddr == 0 || ipv4_is_broadcast(st, raddr) || (ntohl_(raddr) >> 28) == 0xe)
        return -ENETUNREACH;
    if (ipv4_route(st, raddr) == 0 && !ipv4_is_local(st, raddr))
        return -ENETUNREACH;
    int err = 0;
    sock_attach_tcb(s, tcp_open_active(st->tcp, s->laddr, s->lport, raddr, rport, &s->tcp_opts, &err));
    if (!s->tcb)
        return err ? err : -ENOMEM;
    s->bound = true;
    tcp_endpoints(s->tcb, &s->laddr, &s->lport, NULL, NULL);
    if (!api_can_block(st, s, 0))
        return -EINPROGRESS;
    /* A blocking connect waits for the handshake; SO_SNDTIMEO bounds it as
     * on Linux (which then answers EINPROGRESS). */
    uint32_t gen = s->gen;
    ustack_time_t deadline = s->opt.sndtimeo_us ? api_now(st) + s->opt.sndtimeo_us : USTACK_TIME_NEVER;
    while (tcp_is_connecting(s->tcb)) {
        int rc = api_wait(st, s, gen, deadline);
        if (rc == -EAGAIN)
            return -EINPROGRESS;
        if (rc < 0)
            return rc;
    }
    if (tcp_error(s->tcb))
        return -tcp_take_error(s->tcb);
    return 0;
}

static int stream_listen(struct ustack *st, struct sock *s, int backlog)
{
    unsigned want = backlog < 1 ? 1 : (unsigned)backlog;
    if (s->listening) {
        tcp_set_backlog(s->tcb, want);
        return 0;
    }
    if (s->tcb)
        return -EINVAL; /* already connected or connecting */
    int rc;
    if (!s->bound && (rc = stream_bind(st, s, 0, 0)) < 0)
        return rc;
    int err = 0;
    sock_attach_tcb(s, tcp_listen(st->tcp, s->laddr, s->lport, want, &s->tcp_opts, &err));
    if (!s->tcb)
        return err ? err : -ENOMEM;
    s->listening = true;
    return 0;
}

static int stream_accept(struct ustack *st, struct sock *s, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!s->listening)
        return -EINVAL;
    uint32_t gen = s->gen;
    ustack_time_t deadline = s->opt.rcvtimeo_us ? api_now(st) + s->opt.rcvtimeo_us : USTACK_TIME_NEVER;
    for (;;) {
        struct tcb *child = tcp_accept_next(s->tcb);
        if (child) {
            int err;
            struct sock *c = sock_alloc(st, SOCK_STREAM, IPPROTO_TCP, flags & SOCK_NONBLOCK, &err);
            if (!c) {
                tcp_abort(child);
                return err;
            }
            uint32_t raddr;
            uint16_t rport;
            sock_attach_tcb(c, child);
            c->bound = true;
            tcp_endpoints(child, &c->laddr, &c->lport, &raddr, &rport);
            /* The listener's socket options carry over, as on Linux; its
             * TCP options went with the connection (tcp_input.c). */
            c->opt = s->opt;
            sockaddr_in_put(addr, len, raddr, rport);
            return sock_number(st, c);
        }
        if (!api_can_block(st, s, 0))
            return -EAGAIN;
        int rc = api_wait(st, s, gen, deadline);
        if (rc < 0)
            return rc;
    }
}

static ssize_t stream_send(struct ustack *st, struct sock *s, const uint8_t *buf, size_t len, int flags)
{
    if (s->listening || !s->tcb)
        return -ENOTCONN;
    if (s->so_error) {
        int err = s->so_error; /* kept from a send that returned a partial count */
        s->so_error = 0;
        return -err;
    }
    if (s->shut_wr)
        return -EPIPE;
    if (len == 0)
        return 0;
    uint32_t gen = s->gen;
    ustack_time_t deadline = s->opt.sndtimeo_us ? api_now(st) + s->opt.sndtimeo_us : USTACK_TIME_NEVER;
    size_t sent = 0;
    for (;;) {
        ssize_t n = tcp_write(s->tcb, buf + sent, len - sent);
        if (n > 0) {
            sent += (size_t)n;
            if (sent == len)
                return (ssize_t)sent;
            continue;
        }
        if (n != -EAGAIN) {
            /* EPIPE (no signal is raised), ECONNRESET, ETIMEDOUT... After a
             * partial send the count goes back now and the error with the
             * next call, as on Linux; the engine has already cleared it. */
            if (sent && n != -EPIPE)
                s->so_error = (int)-n;
            return sent ? (ssize_t)sent : n;
        }
        if (!api_can_block(st, s, flags))
            return sent ? (ssize_t)sent : -EAGAIN;
        int rc = api_wait(st, s, gen, deadline);
        if (rc < 0)
            return sent ? (ssize_t)sent : rc;
    }
}

static ssize_t stream_recv(struct ustack *st, struct sock *s, uint8_t *buf, size_t len, int flags)
{
    if (s->listening || !s->tcb)
        return -ENOTCONN;
    uint32_t gen = s->gen;
    ustack_time_t deadline = s->opt.rcvtimeo_us ? api_now(st) + s->opt.rcvtimeo_us : USTACK_TIME_NEVER;
    size_t got = 0;
    for (;;) {
        ssize_t n;
        if (flags & MSG_PEEK) {
            n = (ssize_t)tcp_peek(s->tcb, buf, len);
            if (n == 0)
                n = tcp_eof(s->tcb) ? 0 : (tcp_error(s->tcb) ? -tcp_take_error(s->tcb) : -EAGAIN);
        } else {
            n = tcp_read(s->tcb, buf + got, len - got);
        }
        if (n > 0) {
            got += (size_t)n;
            /* MSG_WAITALL: keep going until the buffer is full. */
            if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || got == len)
                return (ssize_t)got;
            continue;
        }
        if (n == 0 || s->shut_rd)
            return (ssize_t)got; /* EOF: the peer's FIN and nothing left */
        if (n != -EAGAIN)
            return got ? (ssize_t)got : n;
        if (tcp_is_connecting(s->tcb) && !api_can_block(st, s, flags))
            return -EAGAIN;
        if (!api_can_block(st, s, flags))
            return got ? (ssize_t)got : -EAGAIN;
        int rc = api_wait(st, s, gen, deadline);
        if (rc < 0)
            return got ? (ssize_t)got : rc;
    }
}

/* ------------------------------------------------------------ calls */

int us_socket(struct ustack *st, int domain, int type, int protocol)
{
    bool nonblock = type & SOCK_NONBLOCK;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    if (type == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP) {
            errno = EPROTONOSUPPORT;
            return -1;
        }
        protocol = IPPROTO_UDP;
    } else if (type == SOCK_RAW) {
        if (protocol <= 0 || protocol > 255) {
            errno = EPROTONOSUPPORT;
            return -1;
        }
    } else if (type == SOCK_STREAM) {
        if (protocol != 0 && protocol != IPPROTO_TCP) {
            errno = EPROTONOSUPPORT;
            return -1;
        }
        protocol = IPPROTO_TCP;
    } else {
        errno = ESOCKTNOSUPPORT;
        return -1;
    }
    api_lock(st);
    int err;
    struct sock *s = sock_alloc(st, type, protocol, nonblock, &err);
    API_RETURN(st, s ? (long)sock_number(st, s) : err);
}

int us_bind(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len)
{
    uint32_t a;
    uint16_t port;
    API_SOCK(st, fd, s);
    int rc = sockaddr_in_get(addr, len, &a, &port);
    if (rc < 0)
        API_RETURN(st, rc);
    if (a != 0 && !ipv4_is_local(st, a) && !ipv4_is_broadcast(st, a))
        API_RETURN(st, -EADDRNOTAVAIL);
    if (s->bound)
        API_RETURN(st, -EINVAL);
    if (s->type == SOCK_RAW) {
        s->laddr = a;
        s->bound = true;
        API_RETURN(st, 0);
    }
    if (s->type == SOCK_STREAM)
        API_RETURN(st, s->tcb ? -EINVAL : stream_bind(st, s, a, port));
    API_RETURN(st, sock_bind_port(st, s, a, port));
}

int us_connect(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len)
{
    uint32_t a;
    uint16_t port;
    API_SOCK(st, fd, s);
    if (s->type == SOCK_STREAM) {
        int rc = sockaddr_in_get(addr, len, &a, &port);
        API_RETURN(st, rc < 0 ? rc : stream_connect(st, s, a, port));
    }
    if (addr && len >= (socklen_t)sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
        s->connected = false; /* dissolve the association, as on Linux */
        s->raddr = 0;
        s->rport = 0;
        API_RETURN(st, 0);
    }
    int rc = sockaddr_in_get(addr, len, &a, &port);
    if (rc < 0)
        API_RETURN(st, rc);
    if (s->type == SOCK_DGRAM) {
        if (port == 0)
            API_RETURN(st, -EINVAL);
        if (ipv4_is_broadcast(st, a) && !s->opt.broadcast)
            API_RETURN(st, -EACCES);
        if (!s->bound && (rc = sock_bind_port(st, s, 0, 0)) < 0)
            API_RETURN(st, rc);
    }
    if (ipv4_route(st, a) == 0 && !ipv4_is_local(st, a))
        API_RETURN(st, -ENETUNREACH);
    s->raddr = a;
    s->rport = port;
    s->connected = true;
    API_RETURN(st, 0);
}

int us_listen(struct ustack *st, int fd, int backlog)
{
    API_SOCK(st, fd, s);
    if (s->type != SOCK_STREAM)
        API_RETURN(st, -EOPNOTSUPP); /* datagram and raw sockets do not listen */
    API_RETURN(st, stream_listen(st, s, backlog));
}

int us_accept(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    API_SOCK(st, fd, s);
    if (s->type != SOCK_STREAM)
        API_RETURN(st, -EOPNOTSUPP);
    API_RETURN(st, stream_accept(st, s, addr, len, flags));
}

ssize_t us_sendto(struct ustack *st, int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                  socklen_t tolen)
{
    uint32_t dst;
    uint16_t dport;
    API_SOCK(st, fd, s);
    if (s->type == SOCK_STREAM) {
        /* The address, if any, is ignored: the connection has one (Linux). */
        if (!buf && len)
            API_RETURN(st, -EFAULT);
        API_RETURN(st, stream_send(st, s, buf, len, flags));
    }
    if (s->shut_wr)
        API_RETURN(st, -EPIPE);
    if (s->so_error) {
        int err = s->so_error;
        s->so_error = 0;
        API_RETURN(st, -err);
    }
    if (to) {
        int rc = sockaddr_in_get(to, tolen, &dst, &dport);
        if (rc < 0)
            API_RETURN(st, rc);
    } else if (s->connected) {
        dst = s->raddr;
        dport = s->rport;
    } else {
        API_RETURN(st, -EDESTADDRREQ);
    }
    if (!buf && len)
        API_RETURN(st, -EFAULT);
    if (s->type == SOCK_RAW)
        API_RETURN(st, raw_output(st, s, buf, len, dst));
    API_RETURN(st, udp_output(st, s, buf, len, dst, dport));
}

ssize_t us_send(struct ustack *st, int fd, const void *buf, size_t len, int flags)
{
    return us_sendto(st, fd, buf, len, flags, NULL, 0);
}

ssize_t us_recvfrom(struct ustack *st, int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                    socklen_t *fromlen)
{
    API_SOCK(st, fd, s);
    if (!buf && len)
        API_RETURN(st, -EFAULT);
    if (s->type == SOCK_STREAM) {
        ssize_t n = stream_recv(st, s, buf, len, flags);
        if (n >= 0 && s->tcb && from) {
            uint32_t raddr;
            uint16_t rport;
            tcp_endpoints(s->tcb, NULL, NULL, &raddr, &rport);
            sockaddr_in_put(from, fromlen, raddr, rport);
        }
        API_RETURN(st, n);
    }
    uint32_t gen = s->gen;
    ustack_time_t deadline = s->opt.rcvtimeo_us ? api_now(st) + s->opt.rcvtimeo_us : USTACK_TIME_NEVER;
    for (;;) {
        struct pbuf *pb = s->rxq.head;
        if (pb) {
            size_t n = pb->len < len ? pb->len : len;
            if (n)
                memcpy(buf, pb->data, n);
            sockaddr_in_put(from, fromlen, pb->src_addr, s->type == SOCK_RAW ? 0 : pb->src_port);
            size_t full = pb->len;
            if (!(flags & MSG_PEEK)) {
                pbuf_queue_pop(&s->rxq);
                s->rx_charge -= full + SOCK_RX_OVERHEAD;
                pbuf_free(st, pb);
            }
            API_RETURN(st, (long)((flags & MSG_TRUNC) ? full : n));
        }
        if (s->so_error) {
            int err = s->so_error;
            s->so_error = 0;
            API_RETURN(st, -err);
        }
        if (s->shut_rd)
            API_RETURN(st, 0);
        if (!api_can_block(st, s, flags))
            API_RETURN(st, -EAGAIN);
        int rc = api_wait(st, s, gen, deadline);
        if (rc < 0)
            API_RETURN(st, rc);
    }
}

ssize_t us_recv(struct ustack *st, int fd, void *buf, size_t len, int flags)
{
    return us_recvfrom(st, fd, buf, len, flags, NULL, NULL);
}

int us_shutdown(struct ustack *st, int fd, int how)
{
    API_SOCK(st, fd, s);
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        API_RETURN(st, -EINVAL);
    if (s->type == SOCK_STREAM) {
        if (!s->tcb || s->listening)
            API_RETURN(st, -ENOTCONN);
        if (how != SHUT_RD) {
            int rc = tcp_shutdown_write(s->tcb);
            if (rc < 0)
                API_RETURN(st, rc);
        }
    } else if (!s->connected) {
        API_RETURN(st, -ENOTCONN);
    }
    if (how != SHUT_WR)
        s->shut_rd = true;
    if (how != SHUT_RD)
        s->shut_wr = true;
    sock_wakeup(st, s);
    API_RETURN(st, 0);
}

int us_close(struct ustack *st, int fd)
{
    api_lock(st);
    struct sock *s = sock_get(st, fd);
    if (!s)
        API_RETURN(st, -EBADF);
    sock_release(st, s); /* threads blocked on it return EBADF */
    API_RETURN(st, 0);
}

int us_set_nonblocking(struct ustack *st, int fd, int on)
{
    API_SOCK(st, fd, s);
    s->nonblock = on != 0;
    API_RETURN(st, 0);
}

static int opt_int(const void *val, socklen_t len, int *out)
{
    if (!val || len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static int opt_timeval(const void *val, socklen_t len, ustack_time_t *out)
{
    struct timeval tv;
    if (!val || len < (socklen_t)sizeof tv)
        return -EINVAL;
    memcpy(&tv, val, sizeof tv);
    if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    *out = (ustack_time_t)tv.tv_sec * 1000000u + (ustack_time_t)tv.tv_usec;
    return 0;
}

/* Like Linux: the kernel doubles the value for bookkeeping overhead. */
static size_t buf_size(int v)
{
    size_t n = v < 1024 ? 2048 : (size_t)v * 2;
    return n > (64u << 20) ? (64u << 20) : n;
}

int us_setsockopt(struct ustack *st, int fd, int level, int name, const void *val, socklen_t len)
{
    int v = 0, rc;
    API_SOCK(st, fd, s);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        rc = opt_timeval(val, len, name == SO_RCVTIMEO ? &s->opt.rcvtimeo_us : &s->opt.sndtimeo_us);
        API_RETURN(st, rc);
    }
    if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
        /* A name, as on Linux: not necessarily NUL-terminated within len. */
        char cc_name[16] = {0};
        if (s->type != SOCK_STREAM)
            API_RETURN(st, -ENOPROTOOPT);
        if (!val || len < 1)
            API_RETURN(st, -EINVAL);
        memcpy(cc_name, val, len < (socklen_t)sizeof cc_name - 1 ? (size_t)len : sizeof cc_name - 1);
        const struct tcp_cc_ops *cc = tcp_cc_find(cc_name);
        if (!cc)
            API_RETURN(st, -ENOENT);
        struct tcp_opts o = *stream_opts(s);
        o.cc = cc;
        stream_set_opts(s, &o);
        API_RETURN(st, 0);
    }
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l;
        if (!val || len < (socklen_t)sizeof l)
            API_RETURN(st, -EINVAL);
        memcpy(&l, val, sizeof l);
        s->opt.linger_on = l.l_onoff != 0;
        s->opt.linger_s = l.l_linger < 0 ? 0 : l.l_linger;
        API_RETURN(st, 0);
    }
    if ((rc = opt_int(val, len, &v)) < 0)
        API_RETURN(st, rc);
    bool stream = s->type == SOCK_STREAM;
    /* A stream socket's TCP options change as a whole: read, changed here,
     * set again (tcp_set_opts() applies what changed). */
    struct tcp_opts o;
    if (stream)
        o = *stream_opts(s);
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_RCVBUF:
        case SO_SNDBUF:
            if (!stream) {
                *(name == SO_RCVBUF ? &s->rcvbuf : &s->sndbuf) = buf_size(v);
                break;
            }
            /* Fixed from now on (no autotuning), effective until the
             * connection has its buffers. */
            if (name == SO_RCVBUF) {
                o.rcvbuf = buf_size(v);
                o.rcvbuf_lock = true;
            } else {
                o.sndbuf = buf_size(v);
                o.sndbuf_lock = true;
            }
            break;
        case SO_REUSEADDR: s->opt.reuseaddr = v != 0; break;
        case SO_BROADCAST: s->opt.broadcast = v != 0; break;
        case SO_DEBUG:
            /* The per-socket trace switch: with ustack_set_trace(..., all 0)
             * only such sockets' connections are traced. */
            if (stream)
                o.debug = v != 0;
            else
                s->opt.debug = v != 0;
            break;
        case SO_KEEPALIVE:
            if (!stream)
                API_RETURN(st, -ENOPROTOOPT);
            o.keepalive = v != 0;
            break;
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else if (level == IPPROTO_TCP) {
        if (!stream)
            API_RETURN(st, -ENOPROTOOPT);
        switch (name) {
        case TCP_NODELAY: o.nodelay = v != 0; break;
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
            if (v < 1 || v > 32767) /* seconds, Linux's bounds */
                API_RETURN(st, -EINVAL);
            *(name == TCP_KEEPIDLE ? &o.keepidle_us : &o.keepintvl_us) = USTACK_SEC(v);
            break;
        case TCP_KEEPCNT:
            if (v < 1 || v > 127)
                API_RETURN(st, -EINVAL);
            o.keepcnt = (unsigned)v;
            break;
        case USTACK_TCP_FEATURES: o.features = (unsigned)v; break;
        case USTACK_TCP_SYNCOOKIES:
            if (v < 0 || v > 2)
                API_RETURN(st, -EINVAL);
            o.syncookies = (unsigned)v;
            break;
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else if (level == IPPROTO_IP) {
        switch (name) {
        case IP_HDRINCL:
            if (s->type != SOCK_RAW)
                API_RETURN(st, -ENOPROTOOPT);
            s->opt.hdrincl = v != 0;
            break;
        case IP_TTL:
            if (v < -1 || v > 255 || v == 0)
                API_RETURN(st, -EINVAL);
            s->opt.ttl = v < 0 ? 0 : (uint8_t)v;
            break;
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else {
        API_RETURN(st, -ENOPROTOOPT);
    }
    if (stream && level != IPPROTO_IP)
        stream_set_opts(s, &o);
    API_RETURN(st, 0);
}

int us_getsockopt(struct ustack *st, int fd, int level, int name, void *val, socklen_t *len)
{
    int v;
    API_SOCK(st, fd, s);
    if (!val || !len)
        API_RETURN(st, -EFAULT);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        ustack_time_t us = name == SO_RCVTIMEO ? s->opt.rcvtimeo_us : s->opt.sndtimeo_us;
        struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
        if (*len < (socklen_t)sizeof tv)
            API_RETURN(st, -EINVAL);
        memcpy(val, &tv, sizeof tv);
        *len = sizeof tv;
        API_RETURN(st, 0);
    }
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l = {.l_onoff = s->opt.linger_on, .l_linger = s->opt.linger_s};
        if (*len < (socklen_t)sizeof l)
            API_RETURN(st, -EINVAL);
        memcpy(val, &l, sizeof l);
        *len = sizeof l;
        API_RETURN(st, 0);
    }
    bool stream = s->type == SOCK_STREAM;
    const struct tcp_opts *o = stream ? stream_opts(s) : NULL;
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_ERROR:
            v = s->so_error;
            s->so_error = 0;
            if (!v && s->tcb)
                v = tcp_take_error(s->tcb);
            break;
        case SO_KEEPALIVE: v = o && o->keepalive; break;
        case SO_DEBUG: v = o ? o->debug : s->opt.debug; break;
        case SO_ACCEPTCONN: v = s->listening; break;
        case SO_TYPE: v = s->type; break;
        case SO_RCVBUF: v = (int)(o ? o->rcvbuf : s->rcvbuf); break;
        case SO_SNDBUF: v = (int)(o ? o->sndbuf : s->sndbuf); break;
        case SO_REUSEADDR: v = s->opt.reuseaddr; break;
        case SO_BROADCAST: v = s->opt.broadcast; break;
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else if (level == IPPROTO_IP) {
        switch (name) {
        case IP_HDRINCL: v = s->opt.hdrincl; break;
        case IP_TTL: v = s->opt.ttl ? s->opt.ttl : st->cfg.ttl; break;
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else if (level == IPPROTO_TCP && stream) {
        switch (name) {
        case TCP_NODELAY: v = o->nodelay; break;
        case TCP_KEEPIDLE: v = (int)(o->keepidle_us / 1000000u); break;
        case TCP_KEEPINTVL: v = (int)(o->keepintvl_us / 1000000u); break;
        case TCP_KEEPCNT: v = (int)o->keepcnt; break;
        case TCP_MAXSEG: v = s->tcb ? (int)tcp_mss(s->tcb) : TCP_DEFAULT_MSS; break;
        case USTACK_TCP_FEATURES: v = (int)o->features; break;
        case USTACK_TCP_SYNCOOKIES: v = (int)o->syncookies; break;
        case TCP_CONGESTION: {
            const char *n = tcp_cc_name(o->cc);
            size_t nl = strlen(n) + 1;
            if (*len < 1)
                API_RETURN(st, -EINVAL);
            if ((size_t)*len > nl)
                *len = (socklen_t)nl;
            memcpy(val, n, (size_t)*len);
            API_RETURN(st, 0);
        }
        default: API_RETURN(st, -ENOPROTOOPT);
        }
    } else {
        API_RETURN(st, -ENOPROTOOPT);
    }
    if (*len < (socklen_t)sizeof v)
        API_RETURN(st, -EINVAL);
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    API_RETURN(st, 0);
}

int us_getsockname(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len)
{
    API_SOCK(st, fd, s);
    if (!addr || !len)
        API_RETURN(st, -EFAULT);
    sockaddr_in_put(addr, len, s->laddr, s->lport);
    API_RETURN(st, 0);
}

int us_getpeername(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len)
{
    API_SOCK(st, fd, s);
    if (!addr || !len)
        API_RETURN(st, -EFAULT);
    if (s->type == SOCK_STREAM) {
        if (!s->tcb || s->listening || !tcp_is_connected(s->tcb))
            API_RETURN(st, -ENOTCONN);
        uint32_t raddr;
        uint16_t rport;
        tcp_endpoints(s->tcb, NULL, NULL, &raddr, &rport);
        sockaddr_in_put(addr, len, raddr, rport);
        API_RETURN(st, 0);
    }
    if (!s->connected)
        API_RETURN(st, -ENOTCONN);
    sockaddr_in_put(addr, len, s->raddr, s->rport);
    API_RETURN(st, 0);
}

/* poll(2) for a stream socket, as Linux's tcp_poll reports it. */
static short stream_revents(struct sock *s, short events)
{
    const struct tcb *tcb = s->tcb;
    short r = 0;
    if (!tcb)
        return POLLOUT | POLLHUP; /* never connected */
    if (s->listening)
        return (events & POLLIN) && tcp_accept_queue_len(tcb) ? POLLIN : 0;
    bool eof = tcp_eof(tcb) || s->shut_rd;
    bool closed = tcp_is_closed(tcb);
    bool err = tcp_error(tcb) != 0;
    /* The peer shut down its side (its FIN), even with data still unread. */
    if ((events & POLLRDHUP) && (tcp_fin_received(tcb) || closed || s->shut_rd))
        r |= POLLRDHUP;
    if ((events & POLLIN) && (tcp_readable_bytes(tcb) || eof || err || closed))
        r |= POLLIN;
    if ((events & POLLOUT) && !tcp_is_connecting(tcb) && (err || closed || s->shut_wr || tcp_send_space(tcb) > 0))
        r |= POLLOUT;
    if (err)
        r |= POLLERR;
    if (closed || (eof && s->shut_wr))
        r |= POLLHUP;
    return r;
}

short sock_revents(struct sock *s, short events)
{
    if (s->ep)
        return epoll_revents(s, events);
    if (s->type == SOCK_STREAM)
        return stream_revents(s, events);
    short r = 0;
    if ((events & POLLIN) && (s->rxq.head || s->shut_rd))
        r |= POLLIN;
    if ((events & POLLOUT) && !s->shut_wr)
        r |= POLLOUT;
    if (s->so_error)
        r |= POLLERR;
    if (s->shut_rd && s->shut_wr)
        r |= POLLHUP;
    return r;
}

#define POLL_ENTRIES_ON_STACK 16

int us_poll(struct ustack *st, struct pollfd *fds, nfds_t n, int timeout_ms)
{
    api_lock(st);
    ustack_time_t deadline = timeout_ms < 0 ? USTACK_TIME_NEVER : api_now(st) + USTACK_MS(timeout_ms);
    struct sock_wq_entry stack_entries[POLL_ENTRIES_ON_STACK];
    struct sock_wq_entry *ent = stack_entries;
    int ready;
    for (;;) {
        ready = 0;
        for (nfds_t i = 0; i < n; i++) {
            struct sock *s = sock_get(st, fds[i].fd);
            fds[i].revents = s ? sock_revents(s, fds[i].events) : (fds[i].fd < 0 ? 0 : POLLNVAL);
            if (fds[i].revents)
                ready++;
        }
        if (ready || timeout_ms == 0 || !st->have_env || !st->env.wait)
            break;
        if (deadline != USTACK_TIME_NEVER && api_now(st) >= deadline)
            break;
        if (n > POLL_ENTRIES_ON_STACK && ent == stack_entries) {
            ent = calloc(n, sizeof *ent);
            if (!ent)
                API_RETURN(st, -ENOMEM);
        }
        /* Wait on every socket polled; a number that is no socket waits
         * for nothing (it cannot become one without a call that changes
         * nothing polled here, as on a kernel where the fd is not open). */
        struct sock_waiter w = {0};
        for (nfds_t i = 0; i < n; i++) {
            struct sock *s = sock_get(st, fds[i].fd);
            if (s)
                sock_waiter_link(s, &ent[i], &w);
            else
                ent[i].s = NULL;
        }
        api_sleep(st, &w, deadline);
        for (nfds_t i = 0; i < n; i++)
            sock_wq_del(&ent[i]);
    }
    if (ent != stack_entries)
        free(ent);
    API_RETURN(st, ready);
}
