/*
 * Live connection statistics: a snapshot of every TCP connection's state,
 * sequence numbers, windows, congestion control and RTT estimate, for tools
 * in the style of `ss -tin` (apps/ustack-stat.c, docs/stat.md).
 *
 * The call only reads the stack; it is thread-agnostic like the rest of the
 * core: the caller must hold the stack, i.e. under a runtime call it inside
 * ustack_rt_locked() (or after ustack_rt_halt()), in the simulator or a test
 * call it between ustack_input()/ustack_poll() calls. Together with the
 * counters (ustack_counter_*) and ustack_get_usage() it gives a consistent
 * picture of the stack at one instant.
 */
#ifndef USTACK_STAT_H
#define USTACK_STAT_H

#include <stddef.h>
#include <stdint.h>
#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ssthresh before the first loss: "arbitrarily high" (RFC 5681 3.1). */
#define USTACK_SSTHRESH_INF UINT32_MAX

/* One TCP connection (or listener). Sequence numbers are absolute, as on the
 * wire and in the event trace; byte counts are bytes, times microseconds. */
struct ustack_conn_info {
    char state[16];             /* RFC 9293 name: "LISTEN", "SYN-SENT", "SYN-RECEIVED",
                                 * "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT",
                                 * "CLOSING", "LAST-ACK", "TIME-WAIT", "CLOSED" */
    uint32_t laddr, raddr;      /* network order (raddr 0 for a listener) */
    uint16_t lport, rport;      /* host order */
    uint32_t iss, irs;          /* our and the peer's initial sequence numbers */
    uint32_t snd_una;           /* oldest unacknowledged sequence number */
    uint32_t snd_nxt;           /* next new byte to send (equals snd_max: an RTO does not move it back) */
    uint32_t snd_max;           /* highest sent + 1 */
    uint32_t rcv_nxt;           /* next expected from the peer */
    uint32_t inflight;          /* snd_max - snd_una: RFC 5681 FlightSize */
    uint32_t cwnd;              /* congestion window, bytes */
    uint32_t ssthresh;          /* slow-start threshold, bytes, or USTACK_SSTHRESH_INF */
    ustack_time_t srtt_us;      /* smoothed RTT (RFC 6298); 0: no sample yet */
    ustack_time_t rttvar_us;    /* RTT variation */
    ustack_time_t rto_us;       /* retransmission timeout now, backoff included */
    unsigned rto_backoff;       /* consecutive timeouts doubling the RTO */
    uint64_t retrans;           /* segments this connection retransmitted (RTO, fast
                                 * retransmit), as counted in tcp_retransmit_segs */
    size_t sendq;               /* bytes in the send buffer: unacknowledged + unsent */
    size_t recvq;               /* in-order bytes received, not yet read by the application */
    uint32_t snd_wnd;           /* the peer's window (what it last advertised) */
    uint32_t rcv_wnd;           /* our advertised window: right edge offered - rcv_nxt */
    uint16_t mss;               /* effective send MSS */
};

/* Fills out[0 .. min(total, max) - 1] with the stack's TCP control blocks
 * (connections in every state, listeners included) and returns the total
 * number, so a caller can size its array: ustack_conn_list(st, NULL, 0)
 * counts. The order is unspecified. The caller holds the stack (see above). */
size_t ustack_conn_list(struct ustack *st, struct ustack_conn_info *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif
