/*
 * Internal definitions shared by the protocol modules: the stack instance,
 * packet buffers, timers, counters and the prototypes by which the layers call
 * each other. Nothing here is part of the public API.
 */
#ifndef USTACK_INTERNAL_H
#define USTACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ustack/ustack.h>
#include <ustack/link.h>
#include <ustack/trace.h>

#include "wire.h"

/* ------------------------------------------------------------------ counters */

/* Every frame the stack handles ends in exactly one of these, and every drop
 * has its own reason. Names are printed as they stand here. */
/* TCP's, named for the event or the reason a segment was dropped. */
#define TCP_COUNTERS(X)                                                            \
    X(tcp_rx) X(tcp_tx) X(tcp_rx_bytes) X(tcp_tx_bytes)                            \
    X(tcp_drop_short) X(tcp_drop_bad_offset) X(tcp_drop_bad_checksum)              \
    X(tcp_drop_bad_options) X(tcp_drop_broadcast) X(tcp_drop_bad_port)             \
    X(tcp_rx_closed_port) X(tcp_tx_rst) X(tcp_drop_rst_closed)                     \
    X(tcp_drop_listen_rst) X(tcp_drop_listen_no_syn) X(tcp_listen_ack_rst)         \
    X(tcp_drop_syn_queue_full) X(tcp_drop_accept_queue_full) X(tcp_drop_nomem)     \
    X(tcp_drop_syn_sent_bad_ack) X(tcp_drop_syn_sent_rst) X(tcp_drop_syn_sent_no_syn) \
    X(tcp_drop_unacceptable) X(tcp_drop_rst_unacceptable) X(tcp_rx_rst)             \
    X(tcp_challenge_ack) X(tcp_challenge_ack_limited) X(tcp_drop_no_ack)           \
    X(tcp_drop_ack_too_new) X(tcp_drop_ack_too_old) X(tcp_drop_synrcvd_bad_ack)    \
    X(tcp_rx_dup_ack) X(tcp_rx_dup_data) X(tcp_rx_trimmed) X(tcp_rx_ooo)           \
    X(tcp_drop_ooo_full) X(tcp_drop_rcvbuf) X(tcp_rx_data_after_close) X(tcp_rx_after_fin) \
    X(tcp_fast_retransmit) X(tcp_rto_expired) X(tcp_retransmit_segs)              \
    X(tcp_rtt_samples) X(tcp_delack_timeouts) X(tcp_persist_probes)                \
    X(tcp_keepalive_probes) X(tcp_timeout) X(tcp_active_opens) X(tcp_passive_opens) \
    X(tcp_established) X(tcp_conn_reset) X(tcp_conn_refused) X(tcp_aborts)         \
    X(tcp_hash_grown)                                                              \
    X(tcp_timewait_expired) X(tcp_timewait_reopen) X(tcp_fin_wait2_timeout)        \
    X(tcp_window_updates) X(tcp_tx_data_segs) X(tcp_tx_acks) X(tcp_icmp_errors) X(tcp_oow_ack_limited) \
    X(tcp_drop_paws) X(tcp_paws_idle_reset) X(tcp_rx_sack_blocks) X(tcp_rx_dsack) X(tcp_tx_sack_blocks)  \
    X(tcp_tx_dsack) X(tcp_sack_marked_lost) X(tcp_rack_marked_lost) X(tcp_dupack_marked_lost)           \
    X(tcp_rto_marked_lost) X(tcp_rack_timeouts) X(tcp_recoveries) X(tcp_sack_recoveries)                 \
    X(tcp_newreno_partial_acks) X(tcp_limited_transmit) X(tcp_tlp_probes) X(tcp_tlp_new_data)            \
    X(tcp_tlp_recoveries) X(tcp_spurious_rto) X(tcp_spurious_fast_rexmit) X(tcp_ecn_ce_rx) X(tcp_ecn_reductions) X(tcp_undo_dsack) X(tcp_sack_reneging)                     \
    X(tcp_rcvbuf_grown) X(tcp_sndbuf_grown) X(tcp_rtt_ts_samples) X(tcp_drop_bad_sack)   \
    X(tcp_syncookies_sent) X(tcp_syncookies_recv) X(tcp_syncookies_failed)            \
    X(tcp_abort_on_overflow) X(tcp_drop_max_half_open) X(tcp_drop_max_connections)    \
    X(tcp_connect_max_connections)                                                  \
    X(tcp_icmp_no_conn) X(tcp_icmp_oow) X(tcp_pmtu_updates) X(tcp_pmtu_raised) X(tcp_pmtu_marked_lost)

#define USTACK_COUNTERS(X)                                                     \
    X(eth_rx_frames) X(eth_tx_frames) X(eth_rx_bytes) X(eth_tx_bytes)          \
    X(eth_drop_short) X(eth_drop_oversize) X(eth_drop_other_mac) X(eth_drop_multicast)             \
    X(eth_drop_ethertype) X(eth_tx_errors)                                     \
    X(arp_rx) X(arp_tx_requests) X(arp_tx_replies) X(arp_tx_gratuitous)        \
    X(arp_drop_short) X(arp_drop_bad_format) X(arp_drop_not_for_us)            \
    X(arp_resolve_failed) X(arp_drop_queue_full) X(arp_drop_cache_full)        \
    X(arp_evictions) X(arp_stale_expired)                                                           \
    X(ip_rx) X(ip_tx) X(ip_drop_short) X(ip_drop_bad_version)                  \
    X(ip_drop_bad_ihl) X(ip_drop_bad_len) X(ip_drop_bad_checksum)              \
    X(ip_drop_not_for_us) X(ip_drop_bad_src) X(ip_drop_unknown_proto)          \
    X(ip_drop_no_route) X(ip_drop_df_too_big) X(ip_drop_frag_bad)              \
    X(ip_drop_frag_too_big) X(ip_frags_rx) X(ip_frags_tx) X(ip_tx_fragmented)  \
    X(ip_reasm_ok) X(ip_reasm_timeout) X(ip_reasm_evicted)                     \
    X(ip_reasm_overlap) X(ip_reasm_dup)                                        \
    X(ip_pmtu_updates) X(ip_pmtu_plateau) X(ip_pmtu_clamped)                   \
    X(ip_pmtu_drop_not_lower) X(ip_pmtu_expired) X(ip_pmtu_evictions)          \
    X(ip_drop_bad_options) X(ip_drop_srcroute) X(ip_drop_srcroute_refused)     \
    X(icmp_rx) X(icmp_tx) X(icmp_rx_echo_requests) X(icmp_tx_echo_replies)     \
    X(icmp_rx_errors) X(icmp_tx_errors) X(icmp_drop_short)                     \
    X(icmp_drop_bad_checksum) X(icmp_drop_broadcast_echo)                      \
    X(icmp_err_rate_limited) X(icmp_err_suppressed) X(icmp_rx_frag_needed)     \
    X(icmp_echo_rate_limited)                                                  \
    X(udp_rx) X(udp_tx) X(udp_drop_short) X(udp_drop_bad_len)                  \
    X(udp_drop_bad_checksum) X(udp_drop_no_port) X(udp_drop_rcvbuf)            \
    X(udp_rx_zero_checksum)                                                    \
    X(raw_rx) X(raw_tx) X(raw_drop_rcvbuf) X(raw_drop_bad_hdrincl)            \
    X(sock_table_full) X(sock_wakeups)                                         \
    X(pbuf_alloc_failed) X(pbuf_drop_mem_limit)                                \
    TCP_COUNTERS(X)

enum ustack_counter_id {
#define X(name) CNT_##name,
    USTACK_COUNTERS(X)
#undef X
    CNT__COUNT
};

#define COUNT(st, name) ((st)->counters[CNT_##name]++)
#define COUNT_ADD(st, name, n) ((st)->counters[CNT_##name] += (n))

/* ------------------------------------------------------------ packet buffers */

/* One contiguous buffer with headroom so that each layer prepends its header
 * without copying. Ownership moves with the pointer: a function that takes a
 * pbuf consumes it (frees it or passes it on) unless its comment says
 * otherwise. */
struct pbuf {
    struct pbuf *next;   /* queue link, for whoever owns the buffer */
    uint8_t *data;       /* first valid byte */
    size_t len;          /* valid bytes from data */
    size_t cap;          /* bytes in buf[] */
    int owner_sock;      /* socket that sent it (for errors), or -1 */
    uint32_t owner_gen;  /* that socket's generation: a reused number is not it */
    bool looped;         /* sent by us to ourselves */
    bool link_bcast;     /* received in a link-layer broadcast frame */
    /* Metadata filled by the receive path. */
    uint32_t src_addr, dst_addr; /* network order */
    uint16_t src_port;           /* host order */
    uint8_t buf[];
};

/* Headroom enough for Ethernet + IPv4 (with options) + a transport header. */
#define PBUF_HEADROOM 128

struct pbuf *pbuf_alloc(struct ustack *st, size_t headroom, size_t len);
void pbuf_free(struct ustack *st, struct pbuf *pb);
/* Prepends n bytes; returns the new start or NULL if the headroom is short. */
uint8_t *pbuf_push(struct pbuf *pb, size_t n);
/* Removes n bytes from the front; returns the new start or NULL. */
uint8_t *pbuf_pull(struct pbuf *pb, size_t n);
size_t pbuf_headroom(const struct pbuf *pb);

/* A FIFO of pbufs. */
struct pbuf_queue {
    struct pbuf *head, *tail;
    size_t count, bytes;
};
void pbuf_queue_push(struct pbuf_queue *q, struct pbuf *pb);
struct pbuf *pbuf_queue_pop(struct pbuf_queue *q);
void pbuf_queue_free(struct ustack *st, struct pbuf_queue *q);

/* ------------------------------------------------------------------- timers */

/* A timer is embedded in the object it serves; the stack keeps armed timers in
 * a binary min-heap ordered by expiry, so arming, cancelling and finding the
 * next deadline are O(log n) / O(1) whatever the number of timers. */
struct timer;
typedef void (*timer_fn)(struct ustack *st, struct timer *t);
struct timer {
    ustack_time_t when;
    timer_fn fn;
    size_t heap_index; /* position in the heap, TIMER_IDLE when not armed */
};
#define TIMER_IDLE ((size_t)-1)

struct timer_heap {
    struct timer **items;
    size_t len, cap;
};

void timer_init(struct timer *t, timer_fn fn);
/* Arms (or re-arms) t to fire at `when`. Returns 0 or -ENOMEM. */
int timer_arm(struct ustack *st, struct timer *t, ustack_time_t when);
void timer_cancel(struct ustack *st, struct timer *t);
static inline bool timer_armed(const struct timer *t) { return t->heap_index != TIMER_IDLE; }
void timer_run_due(struct ustack *st, ustack_time_t now);
void timer_heap_free(struct timer_heap *h);

/* --------------------------------------------------------------------- ARP */

enum arp_state { ARP_FREE = 0, ARP_INCOMPLETE, ARP_REACHABLE, ARP_STALE };

struct arp_entry {
    enum arp_state state;
    uint32_t ip;              /* network order */
    uint8_t mac[6];
    unsigned tries;           /* requests sent while incomplete */
    ustack_time_t updated;    /* last confirmation */
    ustack_time_t sent;       /* last packet sent through it (valid if has_sent) */
    bool has_sent;
    struct timer timer;       /* retry while incomplete, aging otherwise */
    struct pbuf_queue pending;/* IP packets waiting for resolution */
};

struct arp_cache {
    struct arp_entry *entries;
    unsigned size;
    struct timer announce_timer; /* next announcement (RFC 5227 2.3) */
    unsigned announce_left;
};

int arp_init(struct ustack *st);
void arp_fini(struct ustack *st);
void arp_input(struct ustack *st, struct pbuf *pb);
/* Sends an IP packet (pb holds the IP header and payload) to next hop `nh`,
 * resolving its MAC first if needed. Consumes pb. */
void arp_output_ip(struct ustack *st, struct pbuf *pb, uint32_t nh);
/* Starts the start-up announcements (cfg.arp_gratuitous of them). */
void arp_announce_start(struct ustack *st);
const struct arp_entry *arp_cache_lookup(const struct ustack *st, uint32_t ip);

/* ---------------------------------------------------------------- Ethernet */

void eth_input(struct ustack *st, struct pbuf *pb);
/* Prepends the Ethernet header and transmits. Consumes pb. */
void eth_output(struct ustack *st, struct pbuf *pb, const uint8_t dst[6], uint16_t ethertype);

/* -------------------------------------------------------------------- IPv4 */

/* The options of a received header (ipv4_opt.c), validated, with this host
 * recorded on arrival in a Record Route or Timestamp option that had room.
 * rr, ts and srr are the offsets in the header (20..59) of those options,
 * 0 when absent; b[] holds the header's bytes 20 onwards. */
struct ipv4_opts {
    uint8_t len;              /* bytes of options: IHL * 4 - 20 */
    uint8_t rr, ts, srr;      /* srr: loose or strict source route */
    uint8_t b[IPV4_OPT_SPACE];
};

/* A parsed IPv4 header, host order except the addresses. */
struct ipv4_hdr_info {
    uint8_t ihl_bytes;
    uint8_t tos;
    uint16_t total_len;
    uint16_t id;
    bool df, mf;
    uint16_t frag_off_bytes;
    uint8_t ttl;
    uint8_t proto;
    uint32_t src, dst;
    bool to_broadcast;
    bool link_bcast;          /* came as a link-layer broadcast (no ICMP errors) */
    struct ipv4_opts opt;     /* filled by ipv4_opts_input(); opt.len 0 = none */
};

struct reasm_frag {
    struct reasm_frag *next;  /* sorted by start */
    uint32_t start, end;      /* payload byte range [start, end) */
    uint8_t data[];
};

struct reasm_datagram {
    struct reasm_datagram *next;  /* list in arrival order (oldest first) */
    struct reasm_datagram *prev;
    uint32_t src, dst;
    uint16_t id;
    uint8_t proto;
    bool have_last;
    bool have_first;
    bool first_link_bcast;    /* the first fragment came as a link-layer broadcast */
    uint32_t total;           /* payload length, known once the last fragment came */
    uint32_t covered;         /* payload bytes held (fragments never overlap) */
    uint32_t max_end;         /* highest end offset seen */
    unsigned nfrags;
    size_t mem;               /* bytes charged against cfg.reasm_max_bytes */
    struct reasm_frag *frags;
    uint8_t first_hdr[60 + 8];/* header + 8 bytes of the first fragment, for ICMP */
    uint16_t first_hdr_len;
    struct timer timer;
};

struct reasm_state {
    struct reasm_datagram *oldest, *newest;
    size_t count, bytes;
};

void ipv4_input(struct ustack *st, struct pbuf *pb);
/* Sends pb (transport header + payload) to dst with protocol `proto`: builds
 * the IP header, routes, fragments to the MTU (unless df) and hands each piece
 * to ARP. Consumes pb. Returns 0 or -errno (-ENETUNREACH, -EMSGSIZE, -ENOMEM). */
int ipv4_output(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst,
                uint8_t ttl, bool df);
/* The same with a TOS byte (its low two bits are the ECN field, RFC 3168). */
int ipv4_output_tos(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst,
                    uint8_t ttl, bool df, uint8_t tos);
/* The same with options: optlen bytes (a multiple of 4, at most 40) copied
 * after the base header. */
int ipv4_output_opts(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst,
                     uint8_t ttl, bool df, uint8_t tos, const uint8_t *opts, size_t optlen);
/* Sends a datagram whose IP header is already in pb (IP_HDRINCL); the header
 * has been checked by the caller. Consumes pb. */
int ipv4_output_hdrincl(struct ustack *st, struct pbuf *pb);
bool ipv4_is_local(const struct ustack *st, uint32_t addr);
bool ipv4_is_broadcast(const struct ustack *st, uint32_t addr);
/* Next hop for dst, or 0 when unreachable. */
uint32_t ipv4_route(const struct ustack *st, uint32_t dst);
uint16_t ipv4_next_id(struct ustack *st);
/* Reassembly (ipv4_frag.c). Takes a fragment (pb: full IP datagram, header
 * included) and returns the complete datagram, header included, when the
 * last piece arrives; NULL otherwise. Consumes pb. */
struct pbuf *ipv4_reasm_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h);
void ipv4_reasm_fini(struct ustack *st);
/* Options (ipv4_opt.c). ipv4_opts_input() validates the options of the
 * header hdr (h->ihl_bytes long, checksum checked) as RFC 791 3.1 lays them
 * out, copies them into h->opt and records this host in a Record Route or
 * Timestamp option with room. Returns 0, or the offset in the header of the
 * octet at fault: the pointer of a Parameter Problem (RFC 1122 3.2.2.5). */
int ipv4_opts_input(struct ustack *st, const uint8_t *hdr, struct ipv4_hdr_info *h);
/* The options of a reply to a datagram that came with `in`: its Record Route
 * and Timestamp options, updated once more with this host (RFC 1122
 * 3.2.2.6), into out. Returns their length, padded to a multiple of 4. */
size_t ipv4_opts_echo(struct ustack *st, const struct ipv4_opts *in, uint8_t out[IPV4_OPT_SPACE]);
/* Fragmentation (ipv4_frag.c): pb holds a complete datagram with its header;
 * sends it in MTU-sized pieces to next hop nh. Consumes pb. */
int ipv4_fragment_output(struct ustack *st, struct pbuf *pb, uint32_t nh);

/* Path MTU discovery (RFC 1191), ipv4_pmtu.c: what ICMP "fragmentation
 * needed" taught about each destination, in a table of cfg.pmtu_cache_size
 * entries; each lapses back to the link MTU cfg.pmtu_expire_us after it was
 * set (checked on lookup, by st->now). */
struct pmtu_entry {
    uint32_t dst;             /* network order */
    uint16_t mtu;             /* 0: the entry is free */
    bool no_df;               /* the path is narrower than IPV4_PMTU_MIN: send without DF */
    ustack_time_t expires;
};
struct pmtu_cache {
    struct pmtu_entry *entries;
    unsigned size, count;     /* entries, and those in use */
};
/* The path MTU to a destination as a lookup gives it. */
struct ipv4_pmtu {
    uint16_t mtu;             /* the link MTU when nothing was learnt */
    bool no_df;               /* clamped to IPV4_PMTU_MIN: TCP sends without DF */
    ustack_time_t expires;    /* when the learnt value lapses; 0: nothing learnt */
};
int ipv4_pmtu_init(struct ustack *st);
void ipv4_pmtu_fini(struct ustack *st);
void ipv4_pmtu_lookup(struct ustack *st, uint32_t dst, struct ipv4_pmtu *out);
/* A fragmentation needed (type 3 code 4) about a datagram to dst, already
 * validated by the transport it concerns: nh_mtu is its Next-Hop MTU field
 * (0 from an old router: RFC 1191 5's plateau below quoted_len, the quoted
 * datagram's total length), raised to IPV4_PMTU_MIN if below. Returns 0
 * when dst's path MTU was lowered (*out: the new one), else the counter id
 * of why not (the caller counts it). */
int ipv4_pmtu_learn(struct ustack *st, uint32_t dst, unsigned nh_mtu, unsigned quoted_len, struct ipv4_pmtu *out);
/* Entries in use and not yet past their expiry (ustack_usage). */
size_t ipv4_pmtu_live(const struct ustack *st);

/* -------------------------------------------------------------------- ICMP */

void icmp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h);
/* Sends an ICMP error about the datagram in `orig` (full IP datagram, header
 * included; borrowed) unless RFC 1122 3.2.2 forbids it or the rate limit is
 * reached. */
void icmp_send_error(struct ustack *st, const uint8_t *orig, size_t orig_len, uint8_t type, uint8_t code);
/* The same for a Parameter Problem (type 12, code 0) whose pointer names the
 * octet at fault in orig's header (RFC 792, RFC 1122 3.2.2.5). */
void icmp_send_param_problem(struct ustack *st, const uint8_t *orig, size_t orig_len, uint8_t pointer);
/* A token bucket: `tokens` in millionths, refilled at a rate per second up to
 * a burst (ICMP errors, echo replies). */
struct token_bucket {
    uint64_t tokens;
    ustack_time_t at;         /* last refill */
};

/* --------------------------------------------------------------------- TCP */

/* A received segment: pb holds the TCP header and payload (the IP header has
 * been pulled, as for udp_input), h the parsed IP header. Consumes pb. */
void tcp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h);
/* An ICMP error quoting a segment we sent (inner: the quoted IP header, its
 * total length included; l4: the quoted TCP header). nh_mtu: the Next-Hop
 * MTU of a fragmentation needed (err EMSGSIZE), else 0. */
void tcp_icmp_error(struct ustack *st, const struct ipv4_hdr_info *inner, const uint8_t *l4, size_t l4len,
                    int err, unsigned nh_mtu);

/* ------------------------------------------------------------- UDP and raw */

void udp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h);
/* Hands an ICMP error about a UDP datagram we sent to the socket concerned. */
void udp_icmp_error(struct ustack *st, const struct ipv4_hdr_info *inner, const uint8_t *l4, size_t l4len,
                    int err);
/* Gives every raw socket bound to the datagram's protocol a copy (pb is the
 * whole datagram, header included; borrowed). Returns how many took it. */
int raw_input(struct ustack *st, const struct pbuf *pb, const struct ipv4_hdr_info *h);

/* ----------------------------------------------------------------- sockets */

struct sock;
struct tcp_stack;
int sock_init(struct ustack *st);
size_t sock_count(const struct ustack *st);
size_t sock_waiter_count(const struct ustack *st);
size_t sock_mem_bytes(const struct ustack *st);
void sock_fini(struct ustack *st);
/* A packet that a socket sent could not leave (ARP gave up, no buffer): the
 * error goes to that socket (found by pb's owner tag), if it is still open.
 * Layers below the sockets report errors only through this call; the socket
 * layer's sock_set_error() is the one that records them. */
void sock_report_error(struct ustack *st, const struct pbuf *pb, int err);

/* Pseudo-random numbers for ports, IP ids, ISN keys and timestamp offsets
 * (ustack_rand64 on the stack's state). Seeded from cfg.random_seed, so a
 * simulated run is reproducible. */
uint64_t ustack_random(struct ustack *st);

/* Event trace (trace.c): fill an event, then emit it. Callers test
 * st->trace_fn first so that nothing is built when tracing is off. */
void trace_begin(const struct ustack *st, struct ustack_trace_event *ev, const char *name);
void trace_int(struct ustack_trace_event *ev, const char *key, int64_t value);
void trace_str(struct ustack_trace_event *ev, const char *key, const char *value);
void trace_emit(struct ustack *st, const struct ustack_trace_event *ev);

/* ----------------------------------------------------------- the stack */

struct ustack {
    struct ustack_config cfg;
    struct ustack_link *link;
    struct ustack_env env;
    bool have_env;

    ustack_time_t now;
    bool started;

    uint32_t netmask;      /* network order */
    uint32_t bcast;        /* subnet broadcast, network order */
    uint16_t ip_id;

    struct timer_heap timers;
    struct arp_cache arp;
    struct reasm_state reasm;
    struct pmtu_cache pmtu;

    /* ICMP rate limits: errors (cfg.icmp_err_*) and echo replies
     * (cfg.icmp_echo_*). */
    struct token_bucket icmp_err_bucket;
    struct token_bucket icmp_echo_bucket;

    struct sock_table *socks;
    struct tcp_stack *tcp;

    uint64_t rng;          /* splitmix64 state, from cfg.random_seed */
    struct pbuf_queue loopback; /* datagrams to ourselves, fed back on poll */

    /* Event trace (ustack/trace.h); trace_fn NULL = off. */
    ustack_trace_fn trace_fn;
    void *trace_ctx;
    bool trace_all;        /* every connection, or only SO_DEBUG sockets' */

    size_t pbufs_live;
    size_t pbuf_bytes;     /* memory held by live pbufs, against cfg.mem_max */
    uint64_t counters[CNT__COUNT];

    /* Where eth_output() pads a short frame to the Ethernet minimum. */
    uint8_t txbuf[ETH_MIN_FRAME];
};

#endif
