/*
 * Internal socket state shared by the socket API (sock.c) and the transport
 * modules that deliver to sockets (udp.c, raw.c). A socket is a slot in a
 * per-stack table; its number is the index. A stream socket's connection
 * is a TCB of the TCP engine, reached only through tcp.h.
 */
#ifndef USTACK_SOCK_H
#define USTACK_SOCK_H

#include <errno.h>
#include <sys/time.h>
#include <ustack/socket.h>
#include "internal.h"
#include "tcp.h"

#define SOCK_PORT_BUCKETS 256
#define SOCK_RX_OVERHEAD 256 /* bytes charged per queued datagram, like an skb's truesize */
#define EPHEMERAL_LO 49152
#define EPHEMERAL_HI 65535

/* The socket's own options (SOL_SOCKET and IPPROTO_IP); a stream socket's
 * TCP ones are struct tcp_opts. An accepted socket starts with its
 * listener's, as on Linux. */
struct sock_opts {
    bool reuseaddr;                /* SO_REUSEADDR */
    bool broadcast;                /* SO_BROADCAST */
    bool debug;                    /* SO_DEBUG of a datagram or raw socket (a stream
                                    * socket's is tcp_opts.debug) */
    bool hdrincl;                  /* IP_HDRINCL (raw) */
    uint8_t ttl;                   /* IP_TTL; 0 = the stack's */
    bool linger_on;                /* SO_LINGER */
    int linger_s;
    ustack_time_t rcvtimeo_us, sndtimeo_us; /* SO_RCVTIMEO, SO_SNDTIMEO; 0 = none */
};

/* One wait on one socket: a thread blocked in a socket call (sock.c) or a
 * registration that watches the socket. It is linked on the socket's wait
 * list while it waits; fn runs when ustack_wake_waiters() finds the socket's
 * state changed, or when the socket is closed (then e->s is already NULL:
 * the entry has been unlinked). fn must not link or unlink other entries of
 * the same socket. */
struct sock_wq_entry {
    struct sock_wq_entry *prev, *next;
    struct sock *s;        /* the socket it waits on; NULL once unlinked */
    void (*fn)(struct ustack *st, struct sock_wq_entry *e);
    void *arg;
};

struct sock {
    bool used;
    uint32_t gen;          /* bumped on close, so a waiter notices reuse */
    int num;               /* its index in the table: the socket's number */
    int type;              /* SOCK_DGRAM, SOCK_RAW or SOCK_STREAM */
    int proto;             /* IP protocol (raw), IPPROTO_UDP, IPPROTO_TCP */
    bool nonblock;
    bool bound, connected;
    bool shut_rd, shut_wr;
    uint32_t laddr;        /* network order, 0 = any */
    uint16_t lport;        /* host order */
    uint32_t raddr;
    uint16_t rport;
    struct sock_opts opt;
    int so_error;          /* pending error, reported once (sock_set_error) */
    size_t rcvbuf, sndbuf; /* datagram and raw sockets */
    size_t rx_charge;      /* bytes charged against rcvbuf */
    struct pbuf_queue rxq;
    int next_in_bucket;    /* port hash chain (UDP), or raw socket list */

    /* SOCK_STREAM: the connection (or the listener) in the TCP engine. The
     * TCP options are the TCB's once there is one; until then the socket
     * keeps them here and hands them over at connect() or listen(). */
    struct tcb *tcb;
    bool listening;
    struct tcp_opts tcp_opts;

    /* Who waits on it, and whether it is on the table's list of sockets
     * whose state changed since the waiters were last woken. Both survive
     * the slot's reuse (sock_reset). */
    struct sock_wq_entry *wq;
    struct sock *ev_next;
    bool ev_pending;

    /* Not a socket but an epoll instance (epoll.c) when set; the socket
     * calls refuse it (ENOTSOCK). */
    struct sock_epoll *ep;
};

/* The table grows by chunks as sockets are opened, up to cfg.max_sockets,
 * so that a stack that opens a few sockets does not pay for a thousand. A
 * chunk never moves: a caller waiting on a socket keeps its pointer. */
#define SOCK_CHUNK 32

struct sock_table {
    struct sock **chunk;   /* chunk[i / SOCK_CHUNK] holds socket i */
    unsigned n;            /* slots allocated (a multiple of SOCK_CHUNK, or max) */
    unsigned max;          /* cfg.max_sockets */
    unsigned used;
    uint64_t *inuse;       /* a bit per slot, set while the slot is used */
    unsigned free_hint;    /* no slot below it is free: where a search starts */
    int port_bucket[SOCK_PORT_BUCKETS]; /* UDP sockets by local port */
    int raw_head;                       /* raw sockets */
    struct sock *pending;  /* sockets whose state changed: their waiters are
                            * woken, once each, by ustack_wake_waiters() */
    unsigned waiters;      /* threads blocked in a socket call */
};

/* Slot i < t->n. */
static inline struct sock *sock_slot(const struct sock_table *t, unsigned i)
{
    return &t->chunk[i / SOCK_CHUNK][i % SOCK_CHUNK];
}

struct sock *sock_get(struct ustack *st, int fd);
/* Marks that s's state changed (data, room, a connection, an error, EOF,
 * shutdown): its waiters are woken at the next ustack_wake_waiters(). */
void sock_wakeup(struct ustack *st, struct sock *s);
/* Links e on s's wait list; fn(st, e) will run as struct sock_wq_entry says. */
void sock_wq_add(struct sock *s, struct sock_wq_entry *e, void (*fn)(struct ustack *st, struct sock_wq_entry *e),
                 void *arg);
/* Unlinks e if it is still linked. */
void sock_wq_del(struct sock_wq_entry *e);
int sock_number(const struct ustack *st, const struct sock *s);
/* The one way an error reaches a socket from below (an ICMP error about
 * what it sent, a packet of its that could not leave): pending for its
 * next call or SO_ERROR, and its waiters woken. */
void sock_set_error(struct ustack *st, struct sock *s, int err);
/* Marks pb as sent by s, so that a later failure (ARP) reaches s. */
void sock_tag_owner(struct ustack *st, const struct sock *s, struct pbuf *pb);
/* Binds s to an ephemeral port on any address. */
int sock_bind_port_any(struct ustack *st, struct sock *s);
/* The UDP socket bound to lport that best matches the datagram (connected
 * sockets first, then bound to our address, then to any), or NULL. */
struct sock *udp_sock_lookup(struct ustack *st, uint16_t lport, uint32_t laddr, uint32_t raddr, uint16_t rport);
/* Queues a received datagram on s if its receive buffer has room; consumes
 * pb either way. Returns 0 or -ENOBUFS. */
int sock_rx_enqueue(struct ustack *st, struct sock *s, struct pbuf *pb);
/* Sends a UDP datagram from s. Returns bytes sent or -errno. */
ssize_t udp_output(struct ustack *st, struct sock *s, const void *buf, size_t len, uint32_t dst, uint16_t dport);
ssize_t raw_output(struct ustack *st, struct sock *s, const void *buf, size_t len, uint32_t dst);

/* ------------------------------------------------------------ the API's helpers
 * (sock.c), shared with epoll.c */

/* Takes the stack lock and moves the clock to env.now(). */
void api_lock(struct ustack *st);
/* Wakes the waiters of the sockets the call changed, then unlocks. */
void api_unlock(struct ustack *st);
ustack_time_t api_now(struct ustack *st);

/* A blocked thread: woken once per round of ustack_wake_waiters(), however
 * many of the sockets it waits on changed. */
struct sock_waiter {
    struct ustack_waiter w;
    bool woken;
};
/* Links e on s's wait list for the thread w (unlink with sock_wq_del). */
void sock_waiter_link(struct sock *s, struct sock_wq_entry *e, struct sock_waiter *w);
/* Sleeps (env.wait, lock released meanwhile) until woken or `deadline`. */
void api_sleep(struct ustack *st, struct sock_waiter *w, ustack_time_t deadline);

/* A fresh table entry, or NULL with *err set (-EMFILE, -ENOMEM). */
struct sock *sock_alloc(struct ustack *st, int type, int protocol, bool nonblock, int *err);
/* poll(2) events of s (POLLIN, POLLOUT, POLLRDHUP asked; POLLERR, POLLHUP
 * always); an epoll instance is readable when it has ready entries. */
short sock_revents(struct sock *s, short events);

/* Unlocks and returns rc as the call's result (-errno: -1 with errno). */
#define API_RETURN(st, rc)                                                     \
    do {                                                                       \
        long rc_ = (rc);                                                       \
        api_unlock(st);                                                        \
        if (rc_ < 0) {                                                         \
            errno = (int)-rc_;                                                 \
            return -1;                                                         \
        }                                                                      \
        return rc_;                                                            \
    } while (0)

/* Locks and finds socket fd as s, or returns EBADF (ENOTSOCK for an epoll
 * instance). */
#define API_SOCK(st, fd, s)                                                    \
    api_lock(st);                                                              \
    struct sock *s = sock_get(st, fd);                                         \
    if (!s)                                                                    \
        API_RETURN(st, -EBADF);                                                \
    if (s->ep)                                                                 \
        API_RETURN(st, -ENOTSOCK)

/* ------------------------------------------------------------ epoll (epoll.c) */

struct sock_epoll;
/* Frees an epoll instance's registrations and state (from sock_release). */
void epoll_release(struct ustack *st, struct sock *s);
/* POLLIN if the instance has ready entries. */
short epoll_revents(const struct sock *s, short events);

#endif
