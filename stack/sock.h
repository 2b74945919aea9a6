/*
 * Internal socket state shared by the socket API (sock.c) and the transport
 * modules that deliver to sockets (udp.c, raw.c; tcp joins them). A socket is
 * a slot in a per-stack table; its number is the index.
 */
#ifndef USTACK_SOCK_H
#define USTACK_SOCK_H

#include <sys/time.h>
#include <ustack/socket.h>
#include "internal.h"
#include "tcp.h"

#define SOCK_PORT_BUCKETS 256
#define SOCK_RX_OVERHEAD 256 /* bytes charged per queued datagram, like an skb's truesize */
#define EPHEMERAL_LO 49152
#define EPHEMERAL_HI 65535

struct sock {
    bool used;
    uint32_t gen;          /* bumped on close, so a waiter notices reuse */
    int type;              /* SOCK_DGRAM or SOCK_RAW */
    int proto;             /* IP protocol (raw), IPPROTO_UDP */
    bool nonblock;
    bool bound, connected;
    bool shut_rd, shut_wr;
    bool hdrincl, reuseaddr, broadcast;
    uint32_t laddr;        /* network order, 0 = any */
    uint16_t lport;        /* host order */
    uint32_t raddr;
    uint16_t rport;
    uint8_t ttl;           /* 0 = stack default */
    int so_error;          /* pending error, reported once */
    size_t rcvbuf, sndbuf;
    size_t rx_charge;      /* bytes charged against rcvbuf */
    ustack_time_t rcvtimeo_us, sndtimeo_us; /* 0 = none */
    struct pbuf_queue rxq;
    int next_in_bucket;    /* port hash chain (UDP), or raw socket list */

    /* SOCK_STREAM: the connection (or the listener) in the TCP engine, and
     * options kept here until there is a TCB to apply them to. */
    struct tcb *tcb;
    bool listening;
    bool nodelay;
    bool keepalive;
    ustack_time_t keepidle_us, keepintvl_us; /* 0: the engine's default */
    unsigned keepcnt;
    bool linger_on;
    int linger_s;
    bool bufs_set;         /* SO_SNDBUF/SO_RCVBUF given: apply to the TCB */
    bool debug;            /* SO_DEBUG: trace this connection (ustack/trace.h) */
    bool features_set;     /* USTACK_TCP_FEATURES given */
    unsigned features;
    const struct tcp_cc_ops *cc; /* TCP_CONGESTION; NULL: the stack's */
};

struct sock_table {
    struct sock *s;
    unsigned n;
    unsigned used;
    int port_bucket[SOCK_PORT_BUCKETS]; /* UDP sockets by local port */
    int raw_head;                       /* raw sockets */
};

struct sock *sock_get(struct ustack *st, int fd);
int sock_number(const struct ustack *st, const struct sock *s);
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

#endif
