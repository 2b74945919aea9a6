/*
 * TCP's private tier: the connection block (TCB), the parsed segment, the
 * per-stack TCP state, and what the engine's files share. Only tcp*.c
 * include it (make check-layers holds to it); every other layer sees TCP
 * through tcp.h. The engine is a pure state machine: segments come in
 * through tcp_input(), time through the timers (struct timer, driven by
 * ustack_poll()), and segments go out through ipv4_output(). It never reads
 * a clock (time is st->now) and never makes a system call.
 *
 * Files: tcp.c (per-stack state, TCB life cycle, the calls of tcp.h),
 * tcp_input.c (parsing, SEGMENT ARRIVES), tcp_output.c (building and sending
 * segments, options, ISN), tcp_recovery.c (loss detection and recovery on
 * the retransmission queue: SACK, RACK-TLP, PRR, NewReno, undo), tcp_timer.c
 * (every timer, RTT estimation), tcp_pmtu.c (the send MSS and path MTU
 * discovery, RFC 1191 / RFC 5927), tcp_cc.c (what every congestion control
 * uses), tcp_cc_newreno.c and tcp_cc_cubic.c (congestion control behind
 * struct tcp_cc_ops; CUBIC is the default), tcp_syncookie.c (SYN cookies,
 * RFC 4987 3.6), tcp_trace.c (trace events), tcp_seq.h (sequence space).
 */
#ifndef USTACK_TCP_VAR_H
#define USTACK_TCP_VAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"
#include "tcp.h"
#include "tcp_seq.h"

/* RFC 7323 5.5: a TS.Recent older than 24 days is no longer valid. */
#define TCP_PAWS_IDLE_US USTACK_SEC(24ull * 24 * 3600)
/* An RTT read from an echoed timestamp above this is a stale or forged
 * echo, not a round trip: no sample. */
#define TCP_TS_RTT_MAX_MS (3600u * 1000u)
/* RACK's reordering window grows by min_RTT / 4 per D-SACK round, up to
 * this many times (RFC 8985 6.2 leaves the bound to the implementation). */
#define TCP_RACK_REO_MULT_MAX 64
/* Out-of-order ranges a connection starts with room for; the table grows
 * up to tcp.ooo_max_ranges. */
#define TCP_OOO_INITIAL_RANGES 16

/* A segment parsed once (RFC 9293 3.1) into host order; the state machine
 * works on this and never on raw bytes. */
struct tcp_seg {
    uint32_t saddr, daddr;  /* network order */
    uint16_t sport, dport;  /* host order */
    uint32_t seq, ack;
    uint8_t flags;          /* TCP_FIN ... TCP_CWR */
    uint16_t wnd;           /* as on the wire (unscaled) */
    uint16_t urg;
    /* Options seen (RFC 9293 3.2, RFC 7323, RFC 2018). */
    bool has_mss;
    uint16_t mss;
    bool has_wscale;
    uint8_t wscale;
    bool sack_permitted;
    bool has_ts;
    uint32_t ts_val, ts_ecr;
    uint8_t ecn;            /* the IP header's ECN field (RFC 3168 5): IP_ECN_* */
    uint8_t nsack;          /* SACK blocks (RFC 2018), as received */
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
    const uint8_t *data;    /* payload, inside the input pbuf */
    uint32_t len;           /* payload bytes (after trimming to the window) */
    uint32_t wire_len;      /* payload bytes as received */
    uint32_t wire_seq;      /* sequence number as received (RFC 5961 RST check) */
};

/* A segment to send, described in host order before it is built: the
 * counterpart of struct tcp_seg on the way out. tcp_output.c's tcp_xmit()
 * builds it; tcp_options_write() lays out its options. */
struct tcp_out {
    uint32_t laddr, raddr;         /* network order */
    uint16_t lport, rport;         /* host order */
    uint32_t seq, ack;
    uint8_t flags;                 /* TCP_FIN ... TCP_CWR */
    uint16_t wnd;                  /* as on the wire (scaled) */
    uint8_t tos;                   /* the IP header's TOS: its ECN field */
    bool no_df;                    /* without DF (a path below IPV4_PMTU_MIN); else DF, RFC 1191 */
    const struct tcp_ring *data;   /* payload: len bytes of this ring from data_off */
    size_t data_off;
    uint32_t len;
    /* Options, written in Linux's order: MSS, SACK-permitted, timestamps,
     * window scale, SACK blocks. */
    bool has_mss;
    uint16_t mss;
    bool sack_permitted;
    bool has_ts;
    uint32_t ts_val, ts_ecr;
    bool has_wscale;
    uint8_t wscale;
    uint8_t nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
};
/* Writes o's options, NOP- and EOL-padded to whole words, into p (at least
 * TCP_OPT_SPACE bytes; NULL only counts them). Returns their length. */
size_t tcp_options_write(const struct tcp_out *o, uint8_t *p);

/* Sequence space taken by a segment: payload plus one for each of SYN, FIN. */
static inline uint32_t tcp_seg_seqlen(const struct tcp_seg *s)
{
    return s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
}

/* ------------------------------------------------------------------ states */

enum tcp_state {
    TCPS_CLOSED = 0,
    TCPS_LISTEN,
    TCPS_SYN_SENT,
    TCPS_SYN_RECEIVED,
    TCPS_ESTABLISHED,
    TCPS_FIN_WAIT_1,
    TCPS_FIN_WAIT_2,
    TCPS_CLOSE_WAIT,
    TCPS_CLOSING,
    TCPS_LAST_ACK,
    TCPS_TIME_WAIT,
};
const char *tcp_state_name(enum tcp_state s);

/* ------------------------------------------------------------- counters */

/* Counting a drop (tcp_drop_*) also traces it; the name test folds away at
 * compile time. */
#define TCOUNT(ts, name)                                                                                       \
    do {                                                                                                       \
        COUNT((ts)->st, name);                                                                                 \
        if (__builtin_strncmp(#name, "tcp_drop_", 9) == 0 && (ts)->st->trace_fn)                               \
            tcp_trace_drop((ts), #name);                                                                       \
    } while (0)
#define TCOUNT_ADD(ts, name, n) COUNT_ADD((ts)->st, name, n)

/* ------------------------------------------------------------------ buffers */

/* A byte ring. The send ring holds bytes from SND.UNA onwards (sent and not
 * acknowledged, then not yet sent); the receive ring holds in-order bytes the
 * application has not read, followed by room where out-of-order bytes are
 * written in place at their offset from RCV.NXT. */
struct tcp_ring {
    uint8_t *buf;
    size_t cap, head, len;
};

/* One out-of-order range [start, end) held in the receive ring beyond
 * RCV.NXT. The ranges are kept sorted and disjoint; their number is bounded
 * by cfg.ooo_max_ranges and their bytes by the advertised window (which
 * never exceeds the ring's free space), so the queue has bounded memory.
 * They are also the SACK blocks we send (`seen` orders them by recency). */
struct tcp_ooo_range {
    uint32_t start, end;
    uint64_t seen;
};

/* The retransmission queue: one record per segment sent and not yet
 * acknowledged, oldest first, in a ring of records. The bytes themselves stay
 * in the send ring. It is the SACK scoreboard (RFC 6675): the per-segment
 * flags say what SACK, RACK (RFC 8985) and the RTO found out. */
#define TCP_TXSEG_RETRANS 0x01 /* the last transmission was a retransmission, still in flight (counted in retrans_out) */
#define TCP_TXSEG_SACKED 0x02  /* the receiver holds it (RFC 2018) */
#define TCP_TXSEG_LOST 0x04    /* deemed lost (RFC 6675 IsLost, RACK, RTO): to be retransmitted */
#define TCP_TXSEG_SYN 0x08
#define TCP_TXSEG_FIN 0x10
#define TCP_TXSEG_EVER_RETRANS 0x20 /* retransmitted at least once (Karn) */
struct tcp_txseg {
    uint32_t seq, end;       /* sequence range, FIN included */
    ustack_time_t sent_at;   /* last (re)transmission (RACK's xmit_ts) */
    uint32_t tsval;          /* timestamp value it last carried */
    uint8_t flags;
    uint8_t xmits;
};
struct tcp_txq {
    struct tcp_txseg *segs;
    unsigned cap, head, len;
    unsigned hint;           /* no retransmission candidate before this index */
};
#define TCP_TXQ_INITIAL 64 /* records at first; the ring doubles as needed */
#define TCP_TXQ_MAX 16384 /* records; when full, no new data is sent until ACKs free some */

/* ------------------------------------------------- congestion control */

struct tcb;
/* Congestion control behind an interface, as Linux's tcp_congestion_ops: the
 * engine detects loss and runs recovery (NewReno, SACK-based, RACK-TLP; the
 * window during recovery is the engine's), the algorithm decides how cwnd
 * grows and what ssthresh a congestion event leaves. It may keep its own
 * state in tcb->cc_priv; it reads time as tcb->ts->st->now. */
struct tcp_cc_ops {
    const char *name;
    /* The connection is established: cwnd = initial window, ssthresh
     * "arbitrarily high" (RFC 5681 3.1), private state reset. */
    void (*init)(struct tcb *tcb);
    /* `acked` bytes newly acknowledged outside recovery while cwnd limits the
     * sender: slow start and congestion avoidance. rtt_us is this ACK's RTT
     * sample, 0 without one. */
    void (*cong_avoid)(struct tcb *tcb, uint32_t acked, ustack_time_t rtt_us);
    /* A congestion event (a loss found by duplicate ACKs, SACK or RACK, or an
     * RTO that is not a repeat): returns the new ssthresh. The engine then
     * sets cwnd: ssthresh in recovery, one segment after an RTO. */
    uint32_t (*ssthresh)(struct tcb *tcb);
    /* Optional: an RTO collapsed cwnd to one segment. */
    void (*on_rto)(struct tcb *tcb);
    /* Optional: the last congestion event was spurious (Eifel, D-SACK) and is
     * undone; the engine restores cwnd and ssthresh, this the private state
     * ssthresh() changed. */
    void (*undo)(struct tcb *tcb);
};
extern const struct tcp_cc_ops tcp_cc_newreno;
extern const struct tcp_cc_ops tcp_cc_cubic;
/* By name ("newreno", "reno", "cubic"), or NULL. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
/* RFC 6928 initial window for this connection's MSS. */
uint32_t tcp_initial_window(const struct tcb *tcb);
/* The bytes in flight: sent and not acknowledged, SND.MAX - SND.UNA (RFC
 * 5681's FlightSize; "inflight" in ustack_conn_info, "flight" in the trace). */
uint32_t tcp_flight_size(const struct tcb *tcb);

/* -------------------------------------------------------------------- TCB */

struct tcp_stack;

/* Flags in tcb->tflags. */
#define TF_ACKNOW 0x0001     /* send an ACK at the end of this input/output */
#define TF_FIN_QUEUED 0x0004 /* user closed the sending side: FIN after the data */
#define TF_FIN_RCVD 0x0008   /* peer's FIN received: EOF after the buffered data */
#define TF_USER 0x0010       /* a socket holds this TCB (else it is an orphan or a child) */
#define TF_SYN_REXMIT 0x0040 /* the SYN was retransmitted (RFC 6298 5.7) */
#define TF_OOO_FIN 0x0080    /* a FIN arrived beyond a hole, at ooo_fin_seq */
#define TF_HASHED 0x0100     /* in the connection table */
#define TF_IN_RECOVERY 0x0200/* fast recovery (RFC 5681 3.2) */
#define TF_RTT_ACTIVE 0x0400 /* timing rtt_seq */
#define TF_PERSIST 0x0800    /* the persist timer owns the send side */
#define TF_LISTEN_CHILD 0x1000 /* created by a listener (passive open) */
#define TF_WS_OK 0x4000      /* window scaling negotiated */
#define TF_TS_OK 0x8000      /* timestamps negotiated */
#define TF_SACK_OK 0x10000   /* SACK permitted by both */
#define TF_LOSS 0x20000      /* RTO recovery: everything unSACKed below `recover` was marked lost */
#define TF_PTO 0x40000       /* t_rexmt is armed as the TLP probe timeout */
#define TF_TLP_OUT 0x80000   /* a probe is out: its episode ends at tlp_end_seq */
#define TF_TLP_RETRANS 0x100000 /* the probe was a retransmission */
#define TF_EIFEL 0x200000    /* an RTO's or fast retransmit's retransmission may yet prove spurious (rto_tsval) */
#define TF_UNDO_OK 0x400000  /* prior_cwnd/prior_ssthresh hold the window before this episode (kept
                              * after a fast recovery while its D-SACKs are due) */
#define TF_RCVBUF_LOCK 0x800000 /* the receive buffer has the size the socket set: no autotuning */
#define TF_SNDBUF_LOCK 0x1000000 /* the send buffer likewise */
#define TF_EIFEL_RTO 0x2000000 /* TF_EIFEL is about an RTO (else a fast retransmit) */
#define TF_ECN_OK 0x4000000  /* ECN negotiated (RFC 3168 6.1.1) */
#define TF_ECE_SEND 0x8000000 /* a CE mark came: ECE on our ACKs until the peer's CWR */
#define TF_CWR_SEND 0x10000000 /* we reduced cwnd for an ECE: CWR on the next new data */
#define TF_PMTU_LOSS 0x20000000 /* TF_LOSS came from a path MTU drop (segments too big), not an RTO */
#define TF_BUFS 0x40000000   /* the connection may carry data: its buffer sizes are set (the rings
                              * themselves exist only while they hold bytes, tcp_buffers_trim) */

struct tcb {
    struct tcp_stack *ts;
    struct tcb *hash_next;         /* connection table chain, or listener chain */
    struct tcb *all_next, *all_prev; /* every TCB, for teardown */
    enum tcp_state state;
    unsigned tflags;
    struct tcp_opts opt;           /* the socket's options (nodelay, keepalive, features, cc, ...) */
    int err;                       /* hard error for the user (positive errno), 0 */
    int soft_err;                  /* last ICMP soft error (RFC 1122 4.2.3.9) */

    /* 4-tuple: addresses network order, ports host order. */
    uint32_t laddr, raddr;
    uint16_t lport, rport;

    /* Send sequence space (RFC 9293 3.3.1). snd_max is the highest sequence
     * number sent. snd_nxt does not go back after an RTO: what is lost is
     * marked in the retransmission queue and resent from there, so snd_nxt
     * stays equal to snd_max, the next new byte. */
    uint32_t iss, snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, snd_wl1, snd_wl2;
    uint32_t max_sndwnd;           /* largest window the peer offered (SWS, RFC 5961) */
    uint8_t snd_wscale;            /* peer's window shift (RFC 7323), 0 unless negotiated */
    uint32_t snd_buf_seq;          /* sequence number of the first byte in sndq */

    /* Receive sequence space. rcv_adv is the right edge last advertised:
     * it never moves left (RFC 9293 3.8.6.2.2). */
    uint32_t irs, rcv_nxt, rcv_wnd, rcv_adv, rcv_up;
    uint8_t rcv_wscale;            /* our window shift, 0 unless negotiated */
    uint32_t last_ack_sent;        /* RCV.NXT in our last segment (RFC 7323 Last.ACK.sent) */
    uint32_t ooo_fin_seq;

    uint16_t mss;                  /* effective send MSS: min(peer_mss, pmtu - 40) less the
                                    * timestamp option (tcp_mss_update) */
    uint16_t peer_mss;             /* the peer's MSS option (536 without one, RFC 9293 3.7.1) */
    uint16_t adv_mss;              /* what we announced (link MTU - 40, RFC 6691) */
    /* Path MTU to raddr (RFC 1191), from the stack's cache when mss was made. */
    uint16_t pmtu;
    bool pmtu_no_df;               /* below IPV4_PMTU_MIN: segments go without DF */
    ustack_time_t pmtu_expires;    /* when the learnt value lapses (0: it is the link MTU) */
    uint16_t rcv_mss;              /* estimate of the peer's segment size (delayed ACK) */
    uint32_t delack_bytes;         /* in-order bytes received since our last ACK */

    /* RFC 7323 timestamps. Our TSval is the stack's time in ms plus ts_offset. */
    uint32_t ts_offset;
    uint32_t ts_recent;            /* peer's latest TSval (TS.Recent) */
    ustack_time_t ts_recent_age;   /* when it was stored; 0: none */

    /* RFC 2018/2883: a duplicate to report as the first SACK block. */
    uint32_t dsack_start, dsack_end;

    /* Buffers (allocated when the connection can carry data). Autotuning
     * grows them up to *_max; a size set by the socket fixes them. */
    size_t sndbuf_cap, rcvbuf_cap;
    size_t sndbuf_max, rcvbuf_max;
    size_t rcv_copied;             /* bytes the application read since rcv_space_time */
    ustack_time_t rcv_space_time;
    ustack_time_t rcv_rtt_us;      /* receiver's RTT estimate (from timestamps), 0: none */
    struct tcp_ring sndq, rcvq;
    struct tcp_ooo_range *ooo;
    unsigned ooo_len, ooo_cap;    /* ranges held, and room for (grows to cfg.ooo_max_ranges) */
    uint64_t ooo_stamp;
    struct tcp_txq txq;

    /* RFC 6298 RTT estimation; all in microseconds. srtt == 0: no sample yet. */
    ustack_time_t srtt, rttvar, rto;
    unsigned rto_backoff;          /* shift applied to rto by consecutive timeouts */
    uint32_t rtt_seq;              /* timed segment: sample when it is acknowledged */
    ustack_time_t rtt_start;

    /* Retry counters. */
    unsigned rexmit_count;         /* consecutive RTO expirations */
    unsigned persist_probes;       /* zero-window probes since the window closed */
    unsigned persist_backoff;
    unsigned keep_probes;          /* unanswered keepalive probes */
    uint64_t retrans;              /* segments retransmitted, for ustack_conn_list() */
    ustack_time_t last_rcv;        /* time of the last segment from the peer */
    ustack_time_t last_oow_ack;    /* last ACK sent for an unacceptable segment */

    /* Congestion control (RFC 5681) and loss recovery. */
    uint32_t cwnd, ssthresh;       /* the algorithm is opt.cc */
    uint32_t cc_bytes_acked;       /* congestion avoidance byte counting */
    uint64_t cc_priv[16];          /* algorithm-private state */
    ustack_time_t min_rtt;         /* smallest RTT sample seen (us), 0: none */
    unsigned dupacks;
    uint32_t recover;              /* snd_max when recovery began (RFC 6582, RFC 6675 RecoveryPoint) */

    /* SACK scoreboard (RFC 6675), in bytes over the txq records. pipe is
     * (snd_max - snd_una) - sacked_out - lost_out + retrans_out. */
    uint32_t sacked_out, lost_out, retrans_out;
    uint32_t high_sacked;          /* highest SACKed sequence end (fack) */
    /* PRR (RFC 6937) during SACK recovery. */
    uint32_t prr_delivered, prr_out, recover_fs;
    /* RACK (RFC 8985 6): the most recently sent segment known delivered. */
    ustack_time_t rack_xmit_ts, rack_rtt;
    uint32_t rack_end_seq;
    unsigned rack_reo_wnd_mult, rack_reo_wnd_persist;
    uint32_t rack_dsack_round;     /* snd_max when reo_wnd_mult last grew */
    bool rack_reordering_seen;
    /* TLP (RFC 8985 7). */
    uint32_t tlp_end_seq;          /* snd_max when the probe went; valid with TF_TLP_OUT */
    /* Undo of a spurious congestion event (RFC 3522/4015 for an RTO;
     * D-SACK for fast recovery). */
    uint32_t prior_cwnd, prior_ssthresh;
    uint32_t rto_tsval;            /* TSval of the first retransmission after an RTO, or of the fast retransmit (Eifel) */
    int undo_retrans;              /* retransmissions of this episode not yet D-SACKed */
    unsigned episode_rexmits;      /* retransmissions of this episode */
    uint32_t undo_marker;          /* snd_una when the episode began: older D-SACKs are not about it */
    uint32_t cum_delivered;        /* bytes the last cumulative ACK delivered (not SACKed before) */
    uint32_t ecn_recover;          /* snd_max at the last ECE reduction: one per window (RFC 3168 6.1.2) */
    struct timer t_rack;           /* RACK reordering timer */

    /* Timers, explained in tcp_timer.c. */
    struct timer t_rexmt, t_persist, t_delack, t_keep, t_2msl;

    /* Listening: the bounded SYN queue (children in SYN-RECEIVED) and accept
     * queue (children ESTABLISHED or beyond, not yet accepted). A child
     * points to its listener through `parent` while it sits in a queue. */
    struct tcb *parent;
    struct tcb *q_next;            /* link within the parent's queue */
    struct tcb *synq, *acceptq, *acceptq_tail;
    unsigned synq_len, acceptq_len, backlog;
    /* A listener that sent a SYN cookie checks the ACKs that come to it
     * for one until then (0: none sent). */
    ustack_time_t cookie_until;

    tcp_event_fn event_fn;
    void *event_arg;
};

/* Decision trace, for study tools and unit tests: called (if set) on every
 * state change and every timer or recovery decision. `event` is a static
 * string; a and b depend on it:
 *   "state"         old state, new state
 *   "rtt"           sample (us), new RTO (us)
 *   "rto"           snd_una, backed-off RTO (us) of the next expiry
 *   "fast_rexmit"   snd_una, the new ssthresh (any fast recovery starting)
 *   "recovery_end"  snd_una, cwnd (any recovery ending, fast or after an RTO)
 *   "persist_probe" probes sent, snd_wnd
 *   "keepalive"     probes sent, 0
 *   "challenge_ack" rcv_nxt, snd_max
 */
typedef void (*tcp_trace_fn)(void *ctx, const struct tcb *tcb, const char *event, uint32_t a, uint32_t b);
#define TCP_TRACE(tcb, ev, a, b)                                                                               \
    do {                                                                                                       \
        if ((tcb)->ts->trace)                                                                                  \
            (tcb)->ts->trace((tcb)->ts->trace_ctx, (tcb), (ev), (uint32_t)(a), (uint32_t)(b));                 \
        if (tcp_traced(tcb))                                                                                   \
            tcp_trace_decision((tcb), (ev), (uint32_t)(a), (uint32_t)(b));                                     \
    } while (0)

/* The public event trace (ustack/trace.h, docs/trace.md), in tcp_trace.c.
 * Every site tests tcp_traced() first: off, tracing costs that branch. */
/* The decisions named in TCP_TRACE, as public events with named fields. */
void tcp_trace_decision(struct tcb *tcb, const char *ev, uint32_t a, uint32_t b);
/* A segment sent ("seg_out") or received ("seg_in"). */
void tcp_trace_seg(struct tcb *tcb, const char *ev, uint32_t seq, uint32_t ack, uint32_t len, uint32_t wnd,
                   uint8_t flags);
/* cwnd and ssthresh after the congestion control acted, and why. */
void tcp_trace_cwnd(struct tcb *tcb, const char *why);
/* Any other event: up to two named numbers. */
void tcp_trace_event(struct tcb *tcb, const char *ev, const char *k1, int64_t v1, const char *k2, int64_t v2);
/* A segment [seq, seq + len) marked lost, and why ("rack", "sack",
 * "dupthresh", "partial_ack", "rto"). */
void tcp_trace_mark_lost(struct tcb *tcb, uint32_t seq, uint32_t len, const char *why);
/* A retransmission of [seq, seq + len) (SYN and FIN count as one), for
 * `why` ("rto", "sack", "fast_retransmit", "tlp", "dup_syn"): counted and
 * traced. */
void tcp_note_retransmit(struct tcb *tcb, uint32_t seq, uint32_t len, const char *why);
/* An event about a segment to listener l that has no connection (yet):
 * traced if l is, with the segment's 4-tuple. */
void tcp_trace_listen_event(const struct tcb *l, const struct tcp_seg *seg, const char *ev, const char *k1,
                            int64_t v1, const char *k2, int64_t v2);
/* A segment dropped for `reason` (a counter name) while the engine handles
 * ts->cur_seg: traced with the segment's connection. */
void tcp_trace_drop(struct tcp_stack *ts, const char *reason);

/* ------------------------------------------------------------ stack state */

#define TCP_MIN_BUF 2048u /* smallest send or receive buffer, bytes */
#define TCP_OOW_ACK_INTERVAL_US USTACK_MS(500) /* ACKs for unacceptable pure ACKs, at most one per */
#define TCP_HASH_MIN_BUCKETS 1024 /* the connection table's start; doubled as it fills */
#define TCP_LISTEN_BUCKETS 64

struct tcp_stack {
    struct ustack *st;
    const struct ustack_tcp_config *cfg; /* the stack's: &st->cfg.tcp */
    const struct tcp_cc_ops *cc;   /* cfg->congestion, resolved */
    struct tcb **conn_hash;        /* by 4-tuple: conn_buckets chains (a power of two) */
    size_t conn_buckets;
    size_t conn_hashed;            /* TCBs in it; the table doubles beyond one per chain */
    struct tcb *listen_hash[TCP_LISTEN_BUCKETS]; /* by local port */
    struct tcb *all;               /* every TCB */
    size_t ntcbs;
    size_t nlisten;                /* of those, listeners (the rest count against tcp.max_connections) */
    size_t nhalf_open;             /* children in SYN queues, all listeners (tcp.max_half_open) */
    uint8_t isn_key[16];           /* RFC 6528 secret */
    bool isn_override;             /* tests: the next ISN is isn_next */
    uint32_t isn_next;
    /* RFC 5961 7 challenge ACK limit: count in the current second. */
    ustack_time_t challenge_window_start;
    unsigned challenge_count;
    tcp_trace_fn trace;
    void *trace_ctx;
    const struct tcp_seg *cur_seg; /* the segment tcp_input() is handling, for drop events */
    bool cur_traced;               /* whether its drops are traced */
};

/* Whether events of this connection go to the trace. */
static inline bool tcp_traced(const struct tcb *tcb)
{
    const struct ustack *st = tcb->ts->st;
    return st->trace_fn && (st->trace_all || tcb->opt.debug);
}

/* ------------------------------------------------------ tests and tools */

/* RFC 6528 secret: random per stack at creation; tests may fix it. */
void tcp_set_isn_key(struct tcp_stack *ts, const uint8_t key[16]);
/* Tests: the next connection uses exactly this ISN (once). */
void tcp_set_next_isn(struct tcp_stack *ts, uint32_t isn);
void tcp_set_trace(struct tcp_stack *ts, tcp_trace_fn fn, void *ctx);

/* ------------------------------------------- between the engine's files */

/* tcp.c */
struct tcb *tcp_tcb_new(struct tcp_stack *ts);
/* A new connection's options (before its SYN or SYN-ACK): copied, and the
 * buffer sizes they set applied. */
void tcp_opts_take(struct tcb *tcb, const struct tcp_opts *o);
/* Send and receive rings and the out-of-order table. 0 or -ENOMEM. */
int tcp_tcb_alloc_buffers(struct tcb *tcb);
void tcp_hash_insert(struct tcb *tcb);
struct tcb *tcp_listen_lookup(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport);
struct tcb *tcp_lookup(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
/* New TCBs other than listeners, against tcp.max_connections. */
static inline size_t tcp_conn_count(const struct tcp_stack *ts) { return ts->ntcbs - ts->nlisten; }
/* The MSS we announce: the MTU less the IPv4 and TCP headers. */
uint16_t tcp_adv_mss(const struct tcp_stack *ts);
/* tcp_input.c: parses and validates a segment; 0, or -1 (counted). */
int tcp_parse(struct tcp_stack *ts, const uint8_t *p, size_t len, const struct ipv4_hdr_info *h,
              struct tcp_seg *seg);

/* tcp_output.c */
uint32_t tcp_isn(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
/* The keyed hash of RFC 6528's F() (SipHash-2-4 under the stack's
 * isn_key) over len bytes: for ISNs and SYN cookies. */
uint64_t tcp_keyed_hash(const struct tcp_stack *ts, const uint8_t *m, size_t len);
/* Builds and sends a segment no TCB stands behind (an RST, a SYN cookie's
 * SYN-ACK). Returns 0 or -errno. */
int tcp_xmit(struct tcp_stack *ts, const struct tcp_out *o);
/* Sends what the windows allow, and an ACK if one is owed. */
void tcp_output(struct tcb *tcb);
void tcp_send_syn(struct tcb *tcb);    /* SYN or SYN-ACK by state, seq = iss */
void tcp_send_ack(struct tcb *tcb);    /* pure ACK now (SYN-ACK in SYN-RECEIVED) */
/* Sends one segment of the connection at seq: len bytes from the send ring
 * plus `flags` (ACK added when synchronized). Returns 0 or -errno. */
int tcp_send_segment(struct tcb *tcb, uint32_t seq, uint32_t len, uint8_t flags);
/* A segment with seq snd_una - 1 and no data: elicits an ACK (zero-window
 * and keepalive probes). */
void tcp_send_probe(struct tcb *tcb);
/* RST outside any TCB (RFC 9293 3.10.7.1). */
void tcp_send_rst(struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                  uint32_t seq, uint32_t ack, bool with_ack);
void tcp_send_rst_tcb(struct tcb *tcb);
/* Our window shift, from the largest receive buffer the connection may
 * grow to (a passive open, once the SYN offered scaling). */
void tcp_choose_rcv_wscale(struct tcb *tcb);
/* The shift tcp_choose_rcv_wscale() would choose for a connection with
 * tcb's buffers (a listener's are its children's). */
uint8_t tcp_rcv_wscale_of(const struct tcb *tcb);
/* The window a new passive connection offers in its SYN-ACK (never scaled
 * there): its receive buffer in whole units of its shift, at most 65535. */
uint32_t tcp_synack_window(size_t rcvbuf_cap, uint8_t rcv_wscale);
uint32_t tcp_rcv_window(struct tcb *tcb);  /* window to advertise now */
/* Window update after the application read; sends an ACK if worth it. */
void tcp_window_update(struct tcb *tcb);

/* SYN cookies (RFC 4987 3.6), tcp_syncookie.c. */
/* How long a cookie sent now may come back valid: two counter periods. */
#define TCP_SYNCOOKIE_PERIOD_US USTACK_SEC(64)
#define TCP_SYNCOOKIE_MAX_AGE 2 /* counter periods, as Linux's MAX_SYNCOOKIE_AGE */
#define TCP_SYNCOOKIE_VALID_US (TCP_SYNCOOKIE_MAX_AGE * TCP_SYNCOOKIE_PERIOD_US)
/* Answers the SYN that came to listener l with a SYN-ACK whose ISN is a
 * cookie; nothing is kept but l->cookie_until. */
void tcp_syncookie_send(struct tcb *l, const struct tcp_seg *syn);
/* Whether the ACK to listener l returns a valid, fresh cookie of ours. If
 * so, *syn is the SYN it answered as far as the cookie remembers it (the
 * 4-tuple, SEG.SEQ, an MSS from the table, and from the echoed timestamp
 * window scale, SACK-permitted and ECN), ready for the child to be made
 * from, and *iss the cookie. Counts tcp_syncookies_recv or
 * tcp_syncookies_failed. */
bool tcp_syncookie_check(struct tcb *l, const struct tcp_seg *ack, struct tcp_seg *syn, uint32_t *iss);
/* A cookie connection's timestamp offset: a keyed hash of its 4-tuple, so
 * the SYN-ACK and the connection made later agree on it. */
uint32_t tcp_syncookie_ts_offset(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                 uint16_t rport);

/* tcp_timer.c */
void tcp_timers_init(struct tcb *tcb);
void tcp_timers_cancel(struct tcb *tcb);
ustack_time_t tcp_rto_current(const struct tcb *tcb); /* rto << backoff, bounded */
void tcp_rexmt_arm(struct tcb *tcb);     /* (re)starts the RTO timer */
void tcp_rexmt_stop(struct tcb *tcb);
void tcp_persist_arm(struct tcb *tcb);
void tcp_delack_arm(struct tcb *tcb);
void tcp_keepalive_reset(struct tcb *tcb);
void tcp_rtt_sample(struct tcb *tcb, ustack_time_t rtt_us); /* RFC 6298 2.2/2.3 */
void tcp_enter_time_wait(struct tcb *tcb);
/* RFC 6298 5.7: RTO of 3 s once established if the SYN was lost and no RTT sample came. */
void tcp_rto_after_handshake(struct tcb *tcb);

/* Connection lifecycle (tcp.c). */
void tcp_set_state(struct tcb *tcb, enum tcp_state s);
/* The connection is over: reports err (0: none) to the user, unhashes it and
 * frees it unless a socket still holds it. The TCB may be gone on return. */
void tcp_drop(struct tcb *tcb, int err);
void tcp_notify(struct tcb *tcb, unsigned events);
/* Sends a challenge ACK unless the RFC 5961 rate limit is reached. */
void tcp_challenge_ack(struct tcb *tcb);

/* Rings (tcp.c). */
int tcp_ring_alloc(struct tcp_ring *r, size_t cap);
/* Frees what an idle connection does not need: the send ring and the
 * transmit records once everything sent is acknowledged, the receive ring
 * once the application has read everything and nothing waits out of order.
 * They are allocated again when data comes. */
void tcp_buffers_trim(struct tcb *tcb);
void tcp_ring_free(struct tcp_ring *r);
size_t tcp_ring_write_at(struct tcp_ring *r, size_t off, const uint8_t *src, size_t n);
void tcp_ring_peek(const struct tcp_ring *r, size_t off, uint8_t *dst, size_t n);
void tcp_ring_consume(struct tcp_ring *r, size_t n);
/* Grows the ring to cap, keeping its first `keep` bytes. 0 or -ENOMEM. */
int tcp_ring_grow(struct tcp_ring *r, size_t cap, size_t keep);
/* Buffer autotuning (tcp.c): after the application read `copied` bytes, and
 * after an ACK. */
void tcp_rcvbuf_autotune(struct tcb *tcb, size_t copied);
void tcp_sndbuf_autotune(struct tcb *tcb);

/* Retransmission queue (tcp_output.c). */
void tcp_txq_add(struct tcb *tcb, uint32_t seq, uint32_t end, uint8_t flags);
void tcp_txq_clear(struct tcb *tcb);
static inline struct tcp_txseg *tcp_txq_at(const struct tcp_txq *q, unsigned i)
{
    return &q->segs[(q->head + i) % q->cap];
}
/* Sequence space of a record, [seq, end): its bytes, and one more if it
 * carries the FIN. */
static inline uint32_t tcp_txseg_len(const struct tcp_txseg *s) { return s->end - s->seq; }
/* Retransmits record i now: one segment, or pieces of at most one MSS each
 * for a record sent before the MSS dropped and left whole by
 * tcp_txq_split() for want of memory. */
void tcp_txq_retransmit(struct tcb *tcb, unsigned i, const char *why);
/* The MSS dropped (path MTU discovery): every record longer than tcb->mss
 * is cut into records of at most one MSS with its flags and times (as
 * Linux's tcp_fragment). 0, or -ENOMEM (the queue stays as it was). */
int tcp_txq_split(struct tcb *tcb);
/* Our timestamp clock (RFC 7323 5.4): milliseconds, per-connection offset. */
static inline uint32_t tcp_ts_now(const struct tcb *tcb)
{
    return (uint32_t)(tcb->ts->st->now / 1000u) + tcb->ts_offset;
}

/* Loss detection and recovery (tcp_recovery.c): the SACK scoreboard
 * (RFC 2018, 2883, 6675), NewReno (RFC 6582), limited transmit (RFC 3042),
 * RACK-TLP (RFC 8985), PRR (RFC 6937), and undo (RFC 3522, 4015). */
/* Whether this connection uses the mechanism (negotiated and switched on). */
static inline bool tcp_sack_on(const struct tcb *tcb) { return tcb->tflags & TF_SACK_OK; }
static inline bool tcp_feature(const struct tcb *tcb, unsigned f) { return tcb->opt.features & f; }
/* RFC 6675's pipe: the bytes in flight less those SACKed or deemed lost,
 * plus the retransmissions still out. */
uint32_t tcp_pipe(const struct tcb *tcb);
/* The cumulative ACK moved tcb->snd_una and the txq has not yet been
 * trimmed: trims it, keeps the scoreboard, and returns the sample RFC 6298
 * and RACK want (0: none). */
ustack_time_t tcp_sack_cum_ack(struct tcb *tcb, const struct tcp_seg *seg);
/* An acceptable ACK (after the cumulative part): SACK blocks, D-SACK,
 * RACK, loss marking, entering, running and leaving recovery, TLP episode.
 * `dup` says whether RFC 5681 counts it as a duplicate ACK. */
void tcp_recovery_on_ack(struct tcb *tcb, const struct tcp_seg *seg, uint32_t prior_una, bool dup,
                         uint32_t prior_flight);
/* The RTO fired on data: marks everything unSACKed lost (RTO recovery). */
void tcp_recovery_on_rto(struct tcb *tcb);
/* The MSS dropped below what records in flight carry (path MTU discovery):
 * those records were too big for the path and are marked lost and cut to
 * the new MSS; outside a recovery, RTO recovery's way of resending starts
 * (TF_LOSS | TF_PMTU_LOSS) with cwnd and ssthresh untouched: not a
 * congestion signal (RFC 1191, as Linux's tcp_simple_retransmit). */
void tcp_recovery_on_pmtu(struct tcb *tcb);
/* The probe timeout (TLP) fired. */
void tcp_tlp_fire(struct tcb *tcb);
/* Arms t_rexmt as PTO or RTO, whichever RFC 8985 7.2 says. */
void tcp_rexmt_schedule(struct tcb *tcb);
/* The next record to retransmit (LOST, not SACKed, not already
 * retransmitted), or -1: RFC 6675 NextSeg rule 1. */
int tcp_next_lost(struct tcb *tcb);
/* Congestion window the output may fill now (cwnd, with limited transmit). */
uint32_t tcp_send_cwnd(const struct tcb *tcb);
/* Bytes counted against cwnd now: the bytes in flight (tcp_flight_size,
 * RFC 5681's FlightSize), or RFC 6675's pipe in SACK or RTO recovery. */
uint32_t tcp_cwnd_used(const struct tcb *tcb);
/* The SACK blocks to send (D-SACK first, then by recency), at most max. */
unsigned tcp_sack_blocks(struct tcb *tcb, uint32_t blocks[][2], unsigned max);
void tcp_rack_timer_fired(struct tcb *tcb);
/* An ACK with ECE on an ECN connection (RFC 3168 6.1.2). */
void tcp_ecn_echo(struct tcb *tcb);

/* The send MSS and path MTU discovery (tcp_pmtu.c). */
/* Sets tcb->mss (RFC 9293 3.7.1, RFC 6691): the peer's MSS, capped by the
 * path MTU to raddr (the stack's cache, ipv4_pmtu.c) less the IP and TCP
 * headers, less the timestamp option once negotiated; at least TCP_MIN_MSS.
 * Records the path MTU in tcb->pmtu*. */
void tcp_mss_update(struct tcb *tcb);
/* A fragmentation needed about a segment of tcb that passed RFC 5927's
 * checks: the path MTU to its peer is lowered (ipv4_pmtu_learn) and every
 * connection to that peer takes the new MSS and resends at once what was
 * too big. */
void tcp_pmtu_icmp(struct tcb *tcb, const struct ipv4_hdr_info *inner, unsigned nh_mtu);
/* The learnt path MTU lapsed (pmtu_expires): the MSS grows back. */
void tcp_pmtu_expired(struct tcb *tcb);
static inline void tcp_pmtu_check(struct tcb *tcb)
{
    if (tcb->pmtu_expires && tcb->ts->st->now >= tcb->pmtu_expires)
        tcp_pmtu_expired(tcb);
}

/* Sequence number of our FIN (valid with TF_FIN_QUEUED). */
static inline uint32_t tcp_fin_seq(const struct tcb *tcb) { return tcb->snd_buf_seq + (uint32_t)tcb->sndq.len; }
/* Our SYN has been acknowledged. */
static inline bool tcp_syn_acked(const struct tcb *tcb) { return SEQ_GT(tcb->snd_una, tcb->iss); }

#endif
