/*
 * The TCP engine's API: all that the socket layer (sock.c), the stack
 * (stack.c) and the statistics (stat.c) see of TCP. Connection blocks are
 * opaque here: their fields, and what the engine's files share, are in
 * tcp_var.h, which only tcp*.c include (make check-layers holds to it).
 * IPv4 and ICMP hand TCP its segments and errors through internal.h, as
 * they do UDP's.
 *
 * Calls that take a connection (struct tcb) never block and never call
 * back into the socket layer except through the event callback. Errors are
 * negative errno values.
 */
#ifndef USTACK_TCP_H
#define USTACK_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ustack/ustack.h>

struct tcb;
struct tcp_stack;
struct tcp_cc_ops;
struct ustack_conn_info;

/* ------------------------------------------------------------ the engine */

/* The defaults of ustack_config.tcp. */
void tcp_config_default(struct ustack_tcp_config *cfg);
/* Checks and normalises the tunables of a new stack: buffers below the
 * smallest are raised to it, an empty congestion name becomes the default.
 * 0, or -EINVAL when the congestion control is unknown, syncookies is
 * above 2, or max_half_open or max_connections is 0. */
int tcp_config_check(struct ustack_tcp_config *cfg);
/* A congestion control by name ("cubic", "newreno", "reno"), or NULL. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
const char *tcp_cc_name(const struct tcp_cc_ops *cc);

/* The TCP state of a stack, configured by st->cfg.tcp (already checked).
 * NULL on no memory. */
struct tcp_stack *tcp_engine_new(struct ustack *st);
/* Frees every TCB (no segments are sent) and cancels every timer. */
void tcp_engine_free(struct tcp_stack *ts);
/* TCBs alive: listening, connected, closing, TIME-WAIT. */
size_t tcp_tcb_count(const struct tcp_stack *ts);
/* Of those, the connections still moving data or a FIN of ours. */
/* Bytes allocated for TCBs, their buffers and the connection table. */
size_t tcp_mem_bytes(const struct tcp_stack *ts);
size_t tcp_busy_count(const struct tcp_stack *ts);
/* What ustack_conn_list() reports, for at most max TCBs; returns how many
 * there are. */
size_t tcp_conn_list(const struct tcp_stack *ts, struct ustack_conn_info *out, size_t max);

/* ------------------------------------------------- per-connection options */

/* The options a socket sets for its connection (SOL_SOCKET and IPPROTO_TCP
 * levels), in one place. tcp_opts_default() gives the stack's defaults
 * (ustack_config.tcp); a socket keeps its own copy until it has a TCB,
 * which holds them from then on, and a listener's are its children's. */
struct tcp_opts {
    bool nodelay;                  /* TCP_NODELAY */
    bool keepalive;                /* SO_KEEPALIVE */
    ustack_time_t keepidle_us;     /* TCP_KEEPIDLE */
    ustack_time_t keepintvl_us;    /* TCP_KEEPINTVL */
    unsigned keepcnt;              /* TCP_KEEPCNT */
    size_t sndbuf, rcvbuf;         /* SO_SNDBUF, SO_RCVBUF as reported (set: twice the value
                                    * asked, as Linux) */
    bool sndbuf_lock, rcvbuf_lock; /* set by the socket: that size, no autotuning; effective
                                    * until the connection has its buffers */
    bool debug;                    /* SO_DEBUG: traced when the stack traces chosen sockets */
    unsigned syncookies;           /* USTACK_TCP_SYNCOOKIES: a listener's SYN cookies, 0-2
                                    * as ustack_config.tcp.syncookies */
    unsigned features;             /* USTACK_TCP_FEATURES; the options a SYN negotiates
                                    * change only before it is sent */
    const struct tcp_cc_ops *cc;   /* TCP_CONGESTION: a running connection keeps cwnd and
                                    * ssthresh and starts the algorithm's own state afresh */
};
void tcp_opts_default(const struct tcp_stack *ts, struct tcp_opts *o);
const struct tcp_opts *tcp_get_opts(const struct tcb *tcb);
void tcp_set_opts(struct tcb *tcb, const struct tcp_opts *o);

/* ------------------------------------------------------------ events */

/* What the engine tells the holder of a TCB through its event callback. */
#define TCP_EV_CONNECTED 0x01 /* handshake completed */
#define TCP_EV_READABLE 0x02  /* data or EOF (FIN) to read */
#define TCP_EV_WRITABLE 0x04  /* send buffer space freed */
#define TCP_EV_ERROR 0x08     /* an error to report: ECONNREFUSED, ECONNRESET, ETIMEDOUT, ... */
#define TCP_EV_ACCEPT 0x10    /* listener: a connection waits in the accept queue */
#define TCP_EV_CLOSED 0x20    /* the connection reached CLOSED */
/* Called from inside the engine: it records the events and wakes waiters
 * (the socket layer's marks the socket, sock_wakeup()), never calls back into
 * the engine. A TCB without a callback (in an accept queue, or let go of)
 * wakes nobody.
 * A TCB that its holder has not let go of (tcp_close, tcp_abort) stays
 * allocated, in CLOSED if need be. */
typedef void (*tcp_event_fn)(struct tcb *tcb, unsigned events, void *arg);
void tcp_set_event_cb(struct tcb *tcb, tcp_event_fn fn, void *arg);
/* The stack a TCB belongs to (for event callbacks). */
struct ustack *tcp_ustack(const struct tcb *tcb);

/* ------------------------------------------------------------ opening */

/* Active open (connect): sends the SYN with the options o (NULL: the
 * defaults). laddr 0 is the stack's address; lport 0 a random ephemeral
 * port free for this 4-tuple. Returns the TCB, held by the caller, or NULL
 * with *err (may be NULL) -EADDRINUSE, -ENOMEM, -EADDRNOTAVAIL, -EINVAL, or
 * -ENOBUFS when tcp.max_connections TCBs (listeners aside) are alive. */
struct tcb *tcp_open_active(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                            const struct tcp_opts *o, int *err);
/* Passive open (listen) on laddr (0: any) and lport; backlog is capped by
 * tcp.max_backlog. */
struct tcb *tcp_listen(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, unsigned backlog,
                       const struct tcp_opts *o, int *err);
void tcp_set_backlog(struct tcb *listener, unsigned backlog);
/* Established connections waiting to be accepted. */
size_t tcp_accept_queue_len(const struct tcb *listener);
/* The next of them (now held by the caller), or NULL. */
struct tcb *tcp_accept_next(struct tcb *listener);

/* ------------------------------------------------------------ data */

/* Copies up to len bytes into the send buffer and sends what the windows
 * allow. Returns bytes taken, -EAGAIN (buffer full), -EPIPE (sending side
 * closed), -ENOTCONN, or the connection's error. */
ssize_t tcp_write(struct tcb *tcb, const void *buf, size_t len);
/* Reads up to len in-order bytes. Returns bytes, 0 at EOF (FIN received and
 * everything read), -EAGAIN, -ENOTCONN, or the connection's error. */
ssize_t tcp_read(struct tcb *tcb, void *buf, size_t len);
/* Copies up to len in-order bytes without taking them; returns how many. */
size_t tcp_peek(const struct tcb *tcb, void *buf, size_t len);
/* Half-close: a FIN after the queued data (shutdown(SHUT_WR)). */
int tcp_shutdown_write(struct tcb *tcb);
/* The holder lets go: a graceful close (FIN; the engine finishes it and
 * frees the TCB) unless unread data remains, which resets the connection
 * (RFC 9293 3.6, RFC 2525 2.17, as Linux). A listener resets the
 * connections nobody accepted. */
void tcp_close(struct tcb *tcb);
/* Abortive close (SO_LINGER 0): RST if synchronized; the TCB is freed. */
void tcp_abort(struct tcb *tcb);

/* ------------------------------------------------------------ state */

size_t tcp_readable_bytes(const struct tcb *tcb);
bool tcp_eof(const struct tcb *tcb);          /* FIN received and all data read */
bool tcp_fin_received(const struct tcb *tcb); /* FIN received, data read or not */
size_t tcp_send_space(const struct tcb *tcb);
bool tcp_is_connecting(const struct tcb *tcb); /* handshake under way, no error */
bool tcp_is_connected(const struct tcb *tcb);  /* ESTABLISHED or later */
bool tcp_is_closed(const struct tcb *tcb);     /* CLOSED: over, or never opened */
/* The pending error (positive errno, 0: none); tcp_take_error() clears it,
 * like SO_ERROR. */
int tcp_error(const struct tcb *tcb);
int tcp_take_error(struct tcb *tcb);
/* Addresses in network order, ports in host order. */
void tcp_endpoints(const struct tcb *tcb, uint32_t *laddr, uint16_t *lport, uint32_t *raddr, uint16_t *rport);
/* The segment size the connection sends with (TCP_MAXSEG). */
unsigned tcp_mss(const struct tcb *tcb);
/* Whether a listener or a connection uses the local port. */
bool tcp_port_in_use(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport);
/* Whether a listener does. */
bool tcp_port_listening(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport);

#endif
