/*
 * UDP (RFC 768): udp_input() checks length and checksum and queues the
 * datagram on the matching socket, or answers ICMP port unreachable;
 * udp_output() builds the header and checksum and hands the datagram to IPv4.
 */
#include <errno.h>
#include <string.h>
#include "sock.h"

void udp_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h)
{
    COUNT(st, udp_rx);
    if (pb->len < UDP_HDR_LEN) {
        COUNT(st, udp_drop_short);
        goto drop;
    }
    const uint8_t *u = pb->data;
    uint16_t sport = rd16(u), dport = rd16(u + 2), ulen = rd16(u + 4), csum = rd16(u + 6);
    if (ulen < UDP_HDR_LEN || ulen > pb->len) {
        COUNT(st, udp_drop_bad_len);
        goto drop;
    }
    pb->len = ulen; /* anything after the UDP length is not ours */
    if (csum == 0) {
        COUNT(st, udp_rx_zero_checksum); /* sender computed none: accepted (RFC 768) */
    } else if (csum_fold(csum_partial(u, ulen, csum_pseudo(h->src, h->dst, IPPROTO_UDP_, ulen))) != 0) {
        COUNT(st, udp_drop_bad_checksum);
        goto drop;
    }
    struct sock *s = udp_sock_lookup(st, dport, h->dst, h->src, sport);
    if (!s) {
        COUNT(st, udp_drop_no_port);
        if (!h->to_broadcast && !h->link_bcast) { /* RFC 1122 3.2.2 */
            /* icmp_send_error wants the whole datagram: step back over the
             * IP header, which is still in front of the payload. */
            pbuf_push(pb, h->ihl_bytes);
            icmp_send_error(st, pb->data, pb->len, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT);
        }
        goto drop;
    }
    pbuf_pull(pb, UDP_HDR_LEN);
    pb->src_port = sport;
    if (sock_rx_enqueue(st, s, pb) < 0)
        COUNT(st, udp_drop_rcvbuf);
    return;
drop:
    pbuf_free(st, pb);
}

void udp_icmp_error(struct ustack *st, const struct ipv4_hdr_info *inner, const uint8_t *l4, size_t l4len, int err)
{
    if (l4len < 4)
        return;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    struct sock *s = udp_sock_lookup(st, sport, inner->src, inner->dst, dport);
    /* As on Linux, only a connected socket hears about errors: an unconnected
     * one could not tell which of its destinations failed. */
    if (s && s->connected && s->raddr == inner->dst && s->rport == dport)
        sock_set_error(st, s, err);
}

ssize_t udp_output(struct ustack *st, struct sock *s, const void *buf, size_t len, uint32_t dst, uint16_t dport)
{
    if (len > IPV4_MAX_LEN - IPV4_HDR_LEN - UDP_HDR_LEN)
        return -EMSGSIZE;
    if (dport == 0)
        return -EINVAL;
    if (ipv4_is_broadcast(st, dst) && !s->opt.broadcast)
        return -EACCES;
    if (!s->bound) {
        int rc = sock_bind_port_any(st, s);
        if (rc < 0)
            return rc;
    }
    uint32_t src = s->laddr && !ipv4_is_broadcast(st, s->laddr) ? s->laddr : st->cfg.addr;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, UDP_HDR_LEN + len);
    if (!pb)
        return -ENOBUFS;
    uint8_t *u = pb->data;
    uint16_t ulen = (uint16_t)(UDP_HDR_LEN + len);
    wr16(u, s->lport);
    wr16(u + 2, dport);
    wr16(u + 4, ulen);
    wr16(u + 6, 0);
    if (len)
        memcpy(u + UDP_HDR_LEN, buf, len);
    uint16_t c = csum_fold(csum_partial(u, ulen, csum_pseudo(src, dst, IPPROTO_UDP_, ulen)));
    wr16(u + 6, c ? c : 0xffff); /* zero means "no checksum" on the wire */
    sock_tag_owner(st, s, pb);
    COUNT(st, udp_tx);
    int rc = ipv4_output(st, pb, IPPROTO_UDP_, src, dst, s->opt.ttl, false);
    return rc < 0 ? rc : (ssize_t)len;
}
