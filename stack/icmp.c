/*
 * ICMP (RFC 792, RFC 1122 3.2.2): answers echo requests (reflecting their
 * Record Route and Timestamp options, RFC 1122 3.2.2.6; at most
 * cfg.icmp_echo_per_sec per second when set), hands errors that arrive to
 * the socket they concern (a fragmentation needed with its Next-Hop MTU,
 * for TCP's path MTU discovery), and sends errors (destination unreachable,
 * time exceeded, parameter problem) under the rules of RFC 1122 3.2.2: never about
 * an ICMP error, a broadcast, a non-first fragment or an invalid source, and
 * at most cfg.icmp_err_per_sec per second (token bucket, burst
 * cfg.icmp_err_burst).
 */
#include <errno.h>
#include <string.h>
#include "internal.h"

static bool icmp_is_error_type(uint8_t type)
{
    return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
           type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

/* Takes a token from b, which gains per_sec tokens a second up to burst;
 * false when there is none. */
static bool icmp_bucket_take(struct ustack *st, struct token_bucket *b, unsigned per_sec, unsigned burst)
{
    const uint64_t scale = 1000000u; /* tokens are counted in millionths */
    uint64_t cap = (uint64_t)burst * scale;
    ustack_time_t dt = st->now - b->at;
    b->at = st->now;
    b->tokens += dt * per_sec;
    if (b->tokens > cap)
        b->tokens = cap;
    if (b->tokens < scale)
        return false;
    b->tokens -= scale;
    return true;
}

static void icmp_echo_reply(struct ustack *st, struct pbuf *req, const struct ipv4_hdr_info *h)
{
    if (st->cfg.icmp_echo_per_sec &&
        !icmp_bucket_take(st, &st->icmp_echo_bucket, st->cfg.icmp_echo_per_sec, st->cfg.icmp_echo_burst)) {
        COUNT(st, icmp_echo_rate_limited);
        return;
    }
    /* The reply carries the request's identifier, sequence and data (RFC 792);
     * it is built in a fresh buffer with room for the headers below. */
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, req->len);
    if (!pb)
        return;
    memcpy(pb->data, req->data, req->len);
    pb->data[0] = ICMP_ECHO_REPLY;
    pb->data[1] = 0;
    wr16(pb->data + 2, 0);
    wr16(pb->data + 2, inet_checksum(pb->data, pb->len));
    COUNT(st, icmp_tx);
    COUNT(st, icmp_tx_echo_replies);
    /* RFC 1122 3.2.2.6: Record Route and Timestamp options come back,
     * recorded on arrival and again here, on the way out. */
    uint8_t opts[IPV4_OPT_SPACE];
    size_t optlen = h->opt.rr || h->opt.ts ? ipv4_opts_echo(st, &h->opt, opts) : 0;
    ipv4_output_opts(st, pb, IPPROTO_ICMP_, st->cfg.addr, h->src, 0, false, 0, opts, optlen);
}

/* An error about a datagram we sent: find the socket it concerns from the
 * quoted header. */
static void icmp_deliver_error(struct ustack *st, const uint8_t *icmp, size_t len)
{
    if (len < ICMP_HDR_LEN + IPV4_HDR_LEN + 8)
        return;
    const uint8_t *q = icmp + ICMP_HDR_LEN;
    size_t qlen = len - ICMP_HDR_LEN;
    struct ipv4_hdr_info inner;
    inner.ihl_bytes = (uint8_t)((q[0] & 0x0f) * 4);
    if (q[0] >> 4 != 4 || inner.ihl_bytes < IPV4_HDR_LEN || inner.ihl_bytes + 8u > qlen)
        return;
    inner.total_len = rd16(q + 2);
    inner.proto = q[9];
    inner.src = rdaddr(q + 12);
    inner.dst = rdaddr(q + 16);
    if (!ipv4_is_local(st, inner.src))
        return;
    int err;
    unsigned nh_mtu = 0;
    uint8_t type = icmp[0], code = icmp[1];
    if (type == ICMP_DEST_UNREACH) {
        switch (code) {
        case ICMP_UNREACH_NET: err = ENETUNREACH; break;
        case ICMP_UNREACH_HOST: err = EHOSTUNREACH; break;
        case ICMP_UNREACH_PROTO: err = ENOPROTOOPT; break;
        case ICMP_UNREACH_PORT: err = ECONNREFUSED; break;
        case ICMP_UNREACH_NEEDFRAG:
            /* RFC 1191 4: the Next-Hop MTU in the low 16 bits of the
             * second word (0 from a router older than RFC 1191). Only TCP
             * sets DF and learns from it (tcp_pmtu.c). */
            err = EMSGSIZE;
            nh_mtu = rd16(icmp + 6);
            COUNT(st, icmp_rx_frag_needed);
            break;
        default: err = EHOSTUNREACH; break;
        }
    } else if (type == ICMP_TIME_EXCEEDED) {
        err = EHOSTUNREACH;
    } else if (type == ICMP_PARAM_PROBLEM) {
        err = EPROTO;
    } else {
        return; /* source quench and redirect are ignored (RFC 6633, no routing) */
    }
    if (inner.proto == IPPROTO_UDP_)
        udp_icmp_error(st, &inner, q + inner.ihl_bytes, qlen - inner.ihl_bytes, err);
    else if (inner.proto == IPPROTO_TCP_)
        tcp_icmp_error(st, &inner, q + inner.ihl_bytes, qlen - inner.ihl_bytes, err, nh_mtu);
}

void icmp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h)
{
    COUNT(st, icmp_rx);
    if (pb->len < ICMP_HDR_LEN) {
        COUNT(st, icmp_drop_short);
        goto drop;
    }
    if (inet_checksum(pb->data, pb->len) != 0) {
        COUNT(st, icmp_drop_bad_checksum);
        goto drop;
    }
    uint8_t type = pb->data[0];
    if (type == ICMP_ECHO_REQUEST) {
        COUNT(st, icmp_rx_echo_requests);
        if (h->to_broadcast) {
            /* Like Linux's icmp_echo_ignore_broadcasts (RFC 1122 3.2.2.6 allows it). */
            COUNT(st, icmp_drop_broadcast_echo);
            goto drop;
        }
        icmp_echo_reply(st, pb, h);
    } else if (icmp_is_error_type(type)) {
        COUNT(st, icmp_rx_errors);
        icmp_deliver_error(st, pb->data, pb->len);
    }
    /* Echo replies and everything else went to raw sockets already. */
drop:
    pbuf_free(st, pb);
}

/* An error of (type, code) whose second word is `rest` (zero, or a
 * parameter problem's pointer) about the datagram orig. */
static void icmp_error_send(struct ustack *st, const uint8_t *orig, size_t orig_len, uint8_t type, uint8_t code,
                            uint32_t rest)
{
    if (orig_len < IPV4_HDR_LEN)
        return;
    uint8_t hl = (uint8_t)((orig[0] & 0x0f) * 4);
    if (hl < IPV4_HDR_LEN || hl > orig_len)
        return;
    uint32_t src = rdaddr(orig + 12), dst = rdaddr(orig + 16);
    uint16_t ff = rd16(orig + 6);
    /* RFC 1122 3.2.2: no error about an ICMP error, a non-first fragment, a
     * broadcast, or a source that does not name one host. */
    bool suppress = (ff & IPV4_OFF_MASK) != 0 || ipv4_is_broadcast(st, dst) || (ntohl_(dst) >> 28) == 0xe ||
                    src == 0 || ipv4_is_broadcast(st, src) || (ntohl_(src) >> 28) == 0xe;
    if (!suppress && orig[9] == IPPROTO_ICMP_) {
        suppress = orig_len < hl + 1u || icmp_is_error_type(orig[hl]);
    }
    if (suppress) {
        COUNT(st, icmp_err_suppressed);
        return;
    }
    if (!icmp_bucket_take(st, &st->icmp_err_bucket, st->cfg.icmp_err_per_sec, st->cfg.icmp_err_burst)) {
        COUNT(st, icmp_err_rate_limited);
        return;
    }
    /* Quote the header and the first 8 bytes of data (RFC 792). */
    size_t quote = hl + 8u < orig_len ? hl + 8u : orig_len;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, ICMP_HDR_LEN + quote);
    if (!pb)
        return;
    uint8_t *p = pb->data;
    p[0] = type;
    p[1] = code;
    wr16(p + 2, 0);
    wr32(p + 4, rest);
    memcpy(p + ICMP_HDR_LEN, orig, quote);
    wr16(p + 2, inet_checksum(p, pb->len));
    COUNT(st, icmp_tx);
    COUNT(st, icmp_tx_errors);
    ipv4_output(st, pb, IPPROTO_ICMP_, st->cfg.addr, src, 0, false);
}

void icmp_send_error(struct ustack *st, const uint8_t *orig, size_t orig_len, uint8_t type, uint8_t code)
{
    icmp_error_send(st, orig, orig_len, type, code, 0);
}

void icmp_send_param_problem(struct ustack *st, const uint8_t *orig, size_t orig_len, uint8_t pointer)
{
    /* RFC 792: the pointer is the first octet of the second word. */
    icmp_error_send(st, orig, orig_len, ICMP_PARAM_PROBLEM, ICMP_PARAMPROB_POINTER, (uint32_t)pointer << 24);
}
