/*
 * IPv4 (RFC 791, RFC 1122 3.2/3.3): ipv4_input() validates the header, keeps
 * what is addressed to us, sends fragments to reassembly and dispatches to
 * ICMP, UDP, TCP and raw sockets. ipv4_output() builds the header,
 * routes (connected subnet or default gateway), fragments to the MTU and
 * hands the packet to ARP. Options are checked (ipv4_opt.c): malformed ones
 * are answered with a Parameter Problem, source-routed datagrams dropped
 * unless cfg.ip_accept_source_route; there is no forwarding.
 */
#include <errno.h>
#include <string.h>
#include "internal.h"

bool ipv4_is_local(const struct ustack *st, uint32_t addr)
{
    return addr == st->cfg.addr;
}

bool ipv4_is_broadcast(const struct ustack *st, uint32_t addr)
{
    return addr == 0xffffffffu || (st->cfg.prefix_len < 31 && addr == st->bcast);
}

uint32_t ipv4_route(const struct ustack *st, uint32_t dst)
{
    if (dst == 0)
        return 0; /* "this host" is never a destination on the wire */
    if (ipv4_is_broadcast(st, dst) || (dst & st->netmask) == (st->cfg.addr & st->netmask))
        return dst;
    return st->cfg.gateway; /* 0 when there is no default route */
}

uint16_t ipv4_next_id(struct ustack *st)
{
    return st->ip_id++;
}

/* Fills *h from the header at p (len bytes available) and validates it.
 * Returns 0 or the counter id of the reason to drop. */
static int ipv4_parse(struct ustack *st, const uint8_t *p, size_t len, struct ipv4_hdr_info *h)
{
    if (len < IPV4_HDR_LEN)
        return CNT_ip_drop_short;
    if (p[0] >> 4 != 4)
        return CNT_ip_drop_bad_version;
    h->ihl_bytes = (uint8_t)((p[0] & 0x0f) * 4);
    if (h->ihl_bytes < IPV4_HDR_LEN || h->ihl_bytes > len)
        return CNT_ip_drop_bad_ihl;
    h->total_len = rd16(p + 2);
    if (h->total_len < h->ihl_bytes || h->total_len > len)
        return CNT_ip_drop_bad_len;
    if (inet_checksum(p, h->ihl_bytes) != 0)
        return CNT_ip_drop_bad_checksum;
    h->tos = p[1];
    h->id = rd16(p + 4);
    uint16_t ff = rd16(p + 6);
    h->df = ff & IPV4_FLAG_DF;
    h->mf = ff & IPV4_FLAG_MF;
    h->frag_off_bytes = (uint16_t)((ff & IPV4_OFF_MASK) * 8);
    h->ttl = p[8];
    h->proto = p[9];
    h->src = rdaddr(p + 12);
    h->dst = rdaddr(p + 16);
    h->to_broadcast = ipv4_is_broadcast(st, h->dst);
    h->link_bcast = false;
    h->opt.len = 0;
    h->opt.rr = h->opt.ts = h->opt.srr = 0;
    return 0;
}

/* The options of a datagram for us (RFC 1122 3.2.1.8), before reassembly as
 * 3.2.1.8 asks: malformed ones get a Parameter Problem (3.2.2.5) pointing at
 * the octet at fault. Returns 0 or the counter id of the reason to drop. */
static int ipv4_options_check(struct ustack *st, const struct pbuf *pb, struct ipv4_hdr_info *h)
{
    int at = ipv4_opts_input(st, pb->data, h);
    if (at) {
        if (!h->to_broadcast && !h->link_bcast) /* RFC 1122 3.2.2 */
            icmp_send_param_problem(st, pb->data, pb->len, (uint8_t)at);
        return CNT_ip_drop_bad_options;
    }
    if (h->opt.srr) {
        const uint8_t *sr = h->opt.b + h->opt.srr - IPV4_HDR_LEN;
        /* Not finished: we are a hop, not the destination, and a host that
         * does not forward drops it (RFC 1122 3.3.5). */
        if (sr[2] <= sr[1])
            return CNT_ip_drop_srcroute;
        /* Finished: we are the final destination (RFC 1122 3.2.1.8c), if we
         * accept source routes at all; Linux by default does not. */
        if (!st->cfg.ip_accept_source_route)
            return CNT_ip_drop_srcroute_refused;
    }
    return 0;
}

void ipv4_input(struct ustack *st, struct pbuf *pb)
{
    struct ipv4_hdr_info h;
    COUNT(st, ip_rx);
    int why = ipv4_parse(st, pb->data, pb->len, &h);
    if (why) {
        st->counters[why]++;
        goto drop;
    }
    /* Ethernet may pad: the IP total length is the truth. */
    pb->len = h.total_len;
    h.link_bcast = pb->link_bcast;
    if (!ipv4_is_local(st, h.dst) && !h.to_broadcast) {
        COUNT(st, ip_drop_not_for_us);
        goto drop;
    }
    if (h.src == 0xffffffffu || (ipv4_is_local(st, h.src) && !pb->looped) || ipv4_is_broadcast(st, h.src) ||
        (ntohl_(h.src) >> 24) == 127 || (ntohl_(h.src) >> 28) == 0xe) {
        /* RFC 1122 3.2.1.3: a source that cannot be a host. */
        COUNT(st, ip_drop_bad_src);
        goto drop;
    }
    if (h.ihl_bytes > IPV4_HDR_LEN && (why = ipv4_options_check(st, pb, &h))) {
        st->counters[why]++;
        goto drop;
    }
    if (h.mf || h.frag_off_bytes) {
        COUNT(st, ip_frags_rx);
        pb = ipv4_reasm_input(st, pb, &h);
        if (!pb)
            return;
        /* Reassembled: reparse the rebuilt header (it has no MF/offset),
         * options included: they are the first fragment's, checked when it
         * came, and now recorded for the whole datagram. */
        if (ipv4_parse(st, pb->data, pb->len, &h) != 0 ||
            (h.ihl_bytes > IPV4_HDR_LEN && ipv4_opts_input(st, pb->data, &h) != 0)) {
            COUNT(st, ip_drop_frag_bad);
            goto drop;
        }
        h.link_bcast = pb->link_bcast;
    }
    pb->src_addr = h.src;
    pb->dst_addr = h.dst;
    int raw_taken = raw_input(st, pb, &h);
    switch (h.proto) {
    case IPPROTO_ICMP_:
        pbuf_pull(pb, h.ihl_bytes);
        icmp_input(st, pb, &h);
        return;
    case IPPROTO_UDP_:
        pbuf_pull(pb, h.ihl_bytes);
        udp_input(st, pb, &h);
        return;
    case IPPROTO_TCP_:
        pbuf_pull(pb, h.ihl_bytes);
        tcp_input(st, pb, &h);
        return;
    default:
        if (raw_taken)
            goto drop; /* delivered; nothing else to do */
        COUNT(st, ip_drop_unknown_proto);
        if (!h.to_broadcast && !h.link_bcast) /* RFC 1122 3.2.2 */
            icmp_send_error(st, pb->data, pb->len, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTO);
        goto drop;
    }
drop:
    pbuf_free(st, pb);
}

/* Sends a complete datagram (header in place) towards its destination. */
static int ipv4_send_datagram(struct ustack *st, struct pbuf *pb, uint32_t dst, bool df)
{
    if (ipv4_is_local(st, dst)) {
        /* To ourselves: queued and fed back to ipv4_input by ustack_poll. */
        COUNT(st, ip_tx);
        pb->looped = true;
        pbuf_queue_push(&st->loopback, pb);
        if (st->have_env && st->env.kick)
            st->env.kick(st->env.ctx);
        return 0;
    }
    uint32_t nh = ipv4_route(st, dst);
    if (nh == 0) {
        COUNT(st, ip_drop_no_route);
        pbuf_free(st, pb);
        return -ENETUNREACH;
    }
    if (pb->len > st->cfg.mtu) {
        if (df) {
            COUNT(st, ip_drop_df_too_big);
            pbuf_free(st, pb);
            return -EMSGSIZE;
        }
        COUNT(st, ip_tx);
        return ipv4_fragment_output(st, pb, nh);
    }
    COUNT(st, ip_tx);
    arp_output_ip(st, pb, nh);
    return 0;
}

int ipv4_output(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst, uint8_t ttl,
                bool df)
{
    return ipv4_output_tos(st, pb, proto, src, dst, ttl, df, 0);
}

int ipv4_output_tos(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst, uint8_t ttl,
                    bool df, uint8_t tos)
{
    return ipv4_output_opts(st, pb, proto, src, dst, ttl, df, tos, NULL, 0);
}

int ipv4_output_opts(struct ustack *st, struct pbuf *pb, uint8_t proto, uint32_t src, uint32_t dst, uint8_t ttl,
                     bool df, uint8_t tos, const uint8_t *opts, size_t optlen)
{
    size_t hl = IPV4_HDR_LEN + optlen;
    if (optlen % 4 || optlen > IPV4_OPT_SPACE || pb->len + hl > IPV4_MAX_LEN) {
        pbuf_free(st, pb);
        return -EMSGSIZE;
    }
    uint8_t *p = pbuf_push(pb, hl);
    if (!p) {
        pbuf_free(st, pb);
        return -ENOMEM;
    }
    p[0] = (uint8_t)(0x40 | hl / 4);
    p[1] = tos;
    wr16(p + 2, (uint16_t)pb->len);
    wr16(p + 4, ipv4_next_id(st));
    wr16(p + 6, df ? IPV4_FLAG_DF : 0);
    p[8] = ttl ? ttl : st->cfg.ttl;
    p[9] = proto;
    wr16(p + 10, 0);
    wraddr(p + 12, src ? src : st->cfg.addr);
    wraddr(p + 16, dst);
    if (optlen)
        memcpy(p + IPV4_HDR_LEN, opts, optlen);
    wr16(p + 10, inet_checksum(p, hl));
    return ipv4_send_datagram(st, pb, dst, df);
}

int ipv4_output_hdrincl(struct ustack *st, struct pbuf *pb)
{
    const uint8_t *p = pb->data;
    return ipv4_send_datagram(st, pb, rdaddr(p + 16), rd16(p + 6) & IPV4_FLAG_DF);
}
