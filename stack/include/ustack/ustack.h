/*
 * ustack — a user-space TCP/IP stack.
 *
 * This is the core interface: a `struct ustack` owns all protocol state. It is
 * driven from outside: frames are fed in with ustack_input(), time with
 * ustack_poll(), and the stack says when it next needs to run with
 * ustack_next_deadline(). The stack never reads the clock and never makes a
 * system call; frames go out through the `struct ustack_link` it was given.
 */
#ifndef USTACK_USTACK_H
#define USTACK_USTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Time in microseconds, from an arbitrary origin chosen by whoever drives the
 * stack (a monotonic clock in the runtime, a virtual clock in the simulator). */
typedef uint64_t ustack_time_t;
#define USTACK_TIME_NEVER UINT64_MAX
#define USTACK_MS(x) ((ustack_time_t)(x) * 1000u)
#define USTACK_SEC(x) ((ustack_time_t)(x) * 1000000u)

struct ustack;
struct ustack_link;

/* The TCP engine's tunables, ustack_config.tcp; the defaults (in brackets)
 * are ustack_config_default()'s. docs/tcp.md says where each one acts. */
struct ustack_tcp_config {
    /* Retransmission timer (RFC 6298) */
    ustack_time_t rto_min_us;       /* lower bound of the RTO [200 ms, as Linux] */
    ustack_time_t rto_initial_us;   /* RTO before any RTT sample [1 s] */
    ustack_time_t rto_max_us;       /* upper bound of the backed-off RTO [60 s] */
    unsigned syn_retries;           /* SYN retransmissions before connect() fails
                                     * with ETIMEDOUT [6] */
    unsigned synack_retries;        /* SYN-ACK retransmissions before a listener's
                                     * half-open child is dropped [5] */
    unsigned data_retries;          /* consecutive RTOs on data or a FIN before the
                                     * connection fails with ETIMEDOUT [15] */
    unsigned persist_max_probes;    /* zero-window probes not answered by an opening
                                     * window before ETIMEDOUT [15] (a peer that
                                     * answers them is never given up) */
    /* Acknowledgements and closing */
    ustack_time_t delack_us;        /* delayed-ACK limit, RFC 1122 4.2.3.2 (at most
                                     * 500 ms) [40 ms, as Linux's minimum: below the
                                     * 200 ms minimum RTO, so a lone segment's ACK
                                     * never races its RTO] */
    ustack_time_t msl_us;           /* maximum segment lifetime: TIME-WAIT lasts
                                     * 2 MSL [30 s] */
    ustack_time_t fin_wait2_us;     /* FIN-WAIT-2 limit once the application closed
                                     * [60 s, as Linux's tcp_fin_timeout] */
    unsigned challenge_ack_per_sec; /* RFC 5961 7: challenge ACKs sent per second,
                                     * for the whole stack [1000] */
    /* Buffers and queues */
    size_t sndbuf, rcvbuf;          /* per connection at the start, bytes, at least
                                     * 2048 [256 KiB each] */
    size_t sndbuf_max, rcvbuf_max;  /* autotuning grows the buffers up to these,
                                     * bytes [4 MiB each] */
    unsigned ooo_max_ranges;        /* out-of-order ranges held per connection
                                     * (also the SACK blocks we can report) [1024] */
    unsigned syn_backlog;           /* half-open (SYN-RECEIVED) children per
                                     * listener [128] */
    unsigned max_backlog;           /* cap on listen()'s backlog [4096] */
    unsigned syncookies;            /* SYN cookies (RFC 4987 3.6): 0 never, 1 when a
                                     * listener's SYN queue (or max_half_open) is
                                     * full, 2 for every SYN [1, as Linux]; per
                                     * socket: USTACK_TCP_SYNCOOKIES */
    bool abort_on_overflow;         /* a handshake-completing ACK that finds the
                                     * accept queue full is answered with an RST
                                     * instead of being ignored [false, as Linux] */
    /* Limits for the whole stack (when one bites, existing connections carry on) */
    unsigned max_half_open;         /* half-open (SYN-RECEIVED) children across all
                                     * listeners, at least 1; beyond it SYNs get
                                     * cookies if syncookies allows, else are
                                     * dropped [1024] */
    unsigned max_connections;       /* TCBs other than listeners (half-open,
                                     * connected, closing, TIME-WAIT), at least 1;
                                     * beyond it SYNs are dropped and connect()
                                     * fails with ENOBUFS [16384] */
    /* Congestion control and loss detection */
    unsigned initial_window_segs;   /* RFC 6928 initial window, segments; 0 is 1 [10] */
    unsigned dupthresh;             /* duplicate ACKs (or SACKed segments above a
                                     * hole) that mean a loss, RFC 5681 / 6675 [3] */
    char congestion[16];            /* "cubic" (RFC 9438) or "newreno" (RFC 5681 +
                                     * RFC 6582; "reno" is the same) ["cubic"];
                                     * per socket: TCP_CONGESTION */
    unsigned features;              /* USTACK_TCPF_* bits [USTACK_TCPF_DEFAULT];
                                     * per socket: USTACK_TCP_FEATURES */
    /* Defaults of the per-socket options */
    bool nodelay;                   /* TCP_NODELAY: Nagle off [false] */
    bool keepalive;                 /* SO_KEEPALIVE [false] */
    ustack_time_t keepidle_us;      /* TCP_KEEPIDLE: idle time before the first
                                     * probe [2 h] */
    ustack_time_t keepintvl_us;     /* TCP_KEEPINTVL: between probes [75 s] */
    unsigned keepcnt;               /* TCP_KEEPCNT: unanswered probes before the
                                     * connection fails with ETIMEDOUT [9] */
};

/* Tunables with documented defaults; fill with ustack_config_default() and
 * change what you need before ustack_create(). Addresses are in network byte
 * order (as in struct in_addr). */
struct ustack_config {
    uint8_t mac[6];          /* default: 02:00 followed by the IPv4 address */
    uint32_t addr;           /* our IPv4 address (network order); required */
    uint8_t prefix_len;      /* connected subnet, default 24 */
    uint32_t gateway;        /* default route (network order), 0 = none */
    uint16_t mtu;            /* link MTU, default 1500 */
    uint8_t ttl;             /* TTL on output, default 64 */
    uint64_t random_seed;    /* seeds ephemeral ports and IP ids; the programs
                              * set it from getrandom(), the simulator derives
                              * it from its own seed when left 0 */

    /* ARP (RFC 826 / RFC 1122 2.3.2) */
    unsigned arp_cache_size;        /* entries, default 64 */
    unsigned arp_queue_len;         /* packets held per unresolved entry, default 64
                                     * (a 64 KiB datagram is 45 fragments) */
    unsigned arp_retries;           /* requests before giving up, default 3 */
    ustack_time_t arp_retry_us;     /* between requests, default 1 s */
    ustack_time_t arp_reachable_us; /* reachable -> stale, default 30 s */
    ustack_time_t arp_stale_gc_us;  /* stale entries removed after, default 60 s */
    int arp_gratuitous;             /* announcements of our address on start, each
                                     * ANNOUNCE_INTERVAL (2 s) apart; default 2
                                     * (RFC 5227 2.3 ANNOUNCE_NUM); 0 = none */

    /* IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2) */
    ustack_time_t reasm_timeout_us; /* default 30 s */
    unsigned reasm_max_datagrams;   /* concurrent reassemblies, default 64 */
    size_t reasm_max_bytes;         /* bytes held across all of them, default 4 MiB */

    /* Path MTU discovery (RFC 1191): TCP sends with DF and learns from ICMP
     * "fragmentation needed" what fits each destination (docs/protocols.md) */
    unsigned pmtu_cache_size;       /* destinations remembered, at least 1, default 64;
                                     * when full, the oldest entry makes room */
    ustack_time_t pmtu_expire_us;   /* a learnt path MTU returns to the link MTU
                                     * after, at least 1 us, default 10 min (RFC 1191
                                     * 6.3, Linux's mtu_expires) */

    /* IPv4 options (RFC 791 3.1, RFC 1122 3.2.1.8) */
    bool ip_accept_source_route;    /* be the final destination of a finished
                                     * source route; default false, as Linux's
                                     * accept_source_route=0: every
                                     * source-routed datagram is dropped */

    /* ICMP error rate limit: token bucket */
    unsigned icmp_err_per_sec;      /* default 100 */
    unsigned icmp_err_burst;        /* default 50 */
    /* ICMP echo reply rate limit: token bucket */
    unsigned icmp_echo_per_sec;     /* default 0 = unlimited, as Linux (echo
                                     * replies are not in its icmp_ratemask) */
    unsigned icmp_echo_burst;       /* default 50 (used when per_sec > 0) */

    /* Memory */
    size_t mem_max;                 /* bytes of packet buffers alive at once
                                     * across the stack (frames, queues, copies
                                     * for sockets), default 64 MiB; 0 = no limit */

    /* TCP (RFC 9293, RFC 6298, RFC 1122 4.2): every tunable of the engine */
    struct ustack_tcp_config tcp;

    /* Sockets */
    unsigned max_sockets;           /* the socket table grows to this [65536] */
    size_t udp_rcvbuf;              /* default receive buffer, bytes, default 212992 */
    size_t udp_sndbuf;              /* default send buffer, bytes, default 212992 */
};

void ustack_config_default(struct ustack_config *cfg);

/* TCP mechanisms that can be switched on and off, for the whole stack
 * (ustack_config.tcp.features) or per socket (USTACK_TCP_FEATURES), so that
 * runs can be compared with and without each. docs/tcp.md explains them. */
#define USTACK_TCPF_WSCALE 0x0001     /* RFC 7323 2: window scaling */
#define USTACK_TCPF_TIMESTAMPS 0x0002 /* RFC 7323 3-5: timestamps, RTT from every ACK, PAWS */
#define USTACK_TCPF_SACK 0x0004       /* RFC 2018 SACK, RFC 6675 SACK-based loss recovery */
#define USTACK_TCPF_DSACK 0x0008      /* RFC 2883 D-SACK: report duplicates, undo on them */
#define USTACK_TCPF_LIMITED_TX 0x0010 /* RFC 3042 limited transmit */
#define USTACK_TCPF_RACK 0x0020       /* RFC 8985 RACK: time-based loss detection */
#define USTACK_TCPF_TLP 0x0040        /* RFC 8985 tail loss probes */
#define USTACK_TCPF_EIFEL 0x0080      /* RFC 3522/4015: detect a spurious RTO, undo it */
#define USTACK_TCPF_HYSTART 0x0100    /* RFC 9406 HyStart++: leave slow start on an RTT rise */
#define USTACK_TCPF_AUTOTUNE 0x0200   /* grow buffers up to tcp_{rcv,snd}buf_max as needed */
#define USTACK_TCPF_ECN 0x0400        /* RFC 3168 ECN: ask for it on our SYNs (off by default,
                                       * as Linux's tcp_ecn=2); a peer's request is
                                       * accepted whenever this is on */
#define USTACK_TCPF_BYTE_COUNT 0x0800 /* slow start grows by every byte acknowledged (as
                                       * Linux), not by at most one SMSS per ACK (RFC 5681) */
#define USTACK_TCPF_DEFAULT                                                                        \
    (USTACK_TCPF_WSCALE | USTACK_TCPF_TIMESTAMPS | USTACK_TCPF_SACK | USTACK_TCPF_DSACK |         \
     USTACK_TCPF_LIMITED_TX | USTACK_TCPF_RACK | USTACK_TCPF_TLP | USTACK_TCPF_EIFEL |           \
     USTACK_TCPF_AUTOTUNE | USTACK_TCPF_BYTE_COUNT)
/* Name of one feature bit ("wscale", "timestamps", "sack", "dsack",
 * "limited-transmit", "rack", "tlp", "eifel", "hystart", "autotune", "ecn",
 * "byte-counting"),
 * or NULL. */
const char *ustack_tcp_feature_name(unsigned bit);
/* Applies a comma-separated list to *features: "name" or "+name" sets a bit,
 * "-name" clears it, "all" and "none" set or clear every bit, "default"
 * resets to USTACK_TCPF_DEFAULT. Returns 0, or -1 on an unknown name. */
int ustack_tcp_features_parse(const char *spec, unsigned *features);

/* Creates a stack that sends frames through `link` (borrowed: the caller keeps
 * it alive and closes it after ustack_destroy()). Returns NULL on bad config
 * or out of memory. */
struct ustack *ustack_create(const struct ustack_config *cfg, struct ustack_link *link);
void ustack_destroy(struct ustack *st);

/* Feeds one received Ethernet frame (borrowed; copied if kept). The stack's
 * notion of time is the last value given to ustack_poll(). */
void ustack_input(struct ustack *st, const uint8_t *frame, size_t len);

/* Advances the stack's clock to `now` (never backwards) and runs every timer
 * that is due. */
void ustack_poll(struct ustack *st, ustack_time_t now);

/* When ustack_poll() must next be called, or USTACK_TIME_NEVER. */
ustack_time_t ustack_next_deadline(const struct ustack *st);

/* The stack's current time (last ustack_poll()). */
ustack_time_t ustack_now(const struct ustack *st);

const struct ustack_config *ustack_get_config(const struct ustack *st);

/* Counters: every frame handled and every drop, by reason. Index from 0 to
 * ustack_counter_count() - 1. */
size_t ustack_counter_count(void);
const char *ustack_counter_name(size_t i);
uint64_t ustack_counter_value(const struct ustack *st, size_t i);
/* Looks a counter up by name; returns 0 if the name is unknown. */
uint64_t ustack_counter_get(const struct ustack *st, const char *name);

/* Live resources, for leak checks in tests. */
struct ustack_usage {
    size_t pbufs;        /* packet buffers alive */
    size_t pbuf_bytes;   /* their memory, as counted against mem_max */
    size_t timers;       /* timers armed */
    size_t arp_entries;
    size_t arp_queued;   /* packets waiting on ARP */
    size_t reasm_datagrams;
    size_t reasm_bytes;
    size_t pmtu_entries; /* destinations with a learnt path MTU not yet expired */
    size_t sockets;
    size_t tcp_connections; /* TCBs alive: listening, connected, closing, TIME-WAIT */
    size_t tcp_busy;        /* of those, still delivering data or a FIN of ours */
    size_t sock_waiters;    /* threads blocked in a socket call */
    /* Memory the stack holds for connections and sockets, in bytes (what
     * it allocated; the resident part may be less): TCBs with their rings,
     * transmit records and out-of-order tables, and the connection table;
     * the socket table's slots. */
    size_t tcp_mem_bytes;
    size_t sock_mem_bytes;
};
void ustack_get_usage(const struct ustack *st, struct ustack_usage *u);

/* Environment hooks that a runtime installs so that the socket API can block
 * and be called from other threads. Without them (the simulator, unit tests)
 * every socket call is non-blocking and single-threaded. The hooks are the
 * only way the socket layer reaches the OS. */

/* A thread blocked in a socket call, as the socket layer hands it to the
 * runtime: the socket layer links it on the sockets it waits for and calls
 * wake() when one of them changes; `os` is the runtime's (what the thread
 * sleeps on), set by wait() for as long as it sleeps. */
struct ustack_waiter {
    void *os;
};

struct ustack_env {
    void *ctx;
    void (*lock)(void *ctx);
    void (*unlock)(void *ctx);
    /* Sleeps as `w` until wake(w) or `deadline` (in stack time), with the
     * lock held on entry and on return; may return early (spuriously). */
    void (*wait)(void *ctx, struct ustack_waiter *w, ustack_time_t deadline);
    /* Wakes the one thread sleeping as `w`; called with the lock held. */
    void (*wake)(void *ctx, struct ustack_waiter *w);
    /* Asks the loop to recompute its deadline (a timer was armed). */
    void (*kick)(void *ctx);
    /* Current time, for SO_RCVTIMEO and friends. */
    ustack_time_t (*now)(void *ctx);
    /* Kernel descriptors that an OS event loop can wait on (us_epoll_fd):
     * fd_open makes one (returns it, or -errno), fd_set makes it readable
     * (readable != 0) or not, fd_close closes it. Called with the lock held.
     * NULL: the stack offers none (EOPNOTSUPP). */
    int (*fd_open)(void *ctx);
    void (*fd_set)(void *ctx, int fd, int readable);
    void (*fd_close)(void *ctx, int fd);
};
void ustack_set_env(struct ustack *st, const struct ustack_env *env);
/* Wakes, once each, the threads waiting on sockets whose state changed since
 * the last call (env.wake); nobody else. A runtime calls it, with the lock
 * held, after each batch of ustack_input()/ustack_poll(); the socket calls
 * do the same for what they change. O(waiters of the changed sockets). */
void ustack_wake_waiters(struct ustack *st);

/* The seeded pseudo-random generator (splitmix64) used throughout ustack:
 * returns the next number and advances *state. Equal seeds give equal
 * sequences, so a run can be replayed. */
uint64_t ustack_rand64(uint64_t *state);

/* Formats "a.b.c.d" from a network-order address into buf (>= 16 bytes). */
const char *ustack_ip_str(uint32_t addr, char *buf);
/* Parses "a.b.c.d" or "a.b.c.d/len"; returns 0 or -1. len defaults to 32. */
int ustack_ip_parse(const char *s, uint32_t *addr, uint8_t *prefix_len);
/* Parses "aa:bb:cc:dd:ee:ff"; returns 0 or -1. */
int ustack_mac_parse(const char *s, uint8_t mac[6]);

#ifdef __cplusplus
}
#endif
#endif
