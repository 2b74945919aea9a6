/*
 * Raw IP sockets, as on Linux (raw(7)): a SOCK_RAW socket for protocol P gets
 * a copy of every datagram of protocol P addressed to us, IP header included,
 * and sends either a payload for which the stack builds the header or, with
 * IP_HDRINCL, a whole datagram whose header is checked and completed (length,
 * id, source, checksum) but never taken on trust.
 */
#include <errno.h>
#include <string.h>
#include "sock.h"

int raw_input(struct ustack *st, const struct pbuf *pb, const struct ipv4_hdr_info *h)
{
    int taken = 0;
    for (int i = st->socks->raw_head; i >= 0; i = sock_slot(st->socks, (unsigned)i)->next_in_bucket) {
        struct sock *s = sock_slot(st->socks, (unsigned)i);
        if (s->proto != h->proto || s->proto == IPPROTO_RAW)
            continue;
        if (s->bound && s->laddr && s->laddr != h->dst)
            continue;
        if (s->connected && s->raddr != h->src)
            continue;
        struct pbuf *copy = pbuf_alloc(st, 0, pb->len);
        if (!copy)
            break;
        memcpy(copy->data, pb->data, pb->len);
        copy->src_addr = h->src;
        copy->dst_addr = h->dst;
        if (sock_rx_enqueue(st, s, copy) < 0) {
            COUNT(st, raw_drop_rcvbuf);
            continue;
        }
        COUNT(st, raw_rx);
        taken++;
    }
    return taken;
}

static ssize_t raw_output_hdrincl(struct ustack *st, struct sock *s, const uint8_t *buf, size_t len)
{
    if (len < IPV4_HDR_LEN || len > IPV4_MAX_LEN || buf[0] >> 4 != 4 || (buf[0] & 0x0f) < 5 ||
        (size_t)(buf[0] & 0x0f) * 4 > len) {
        COUNT(st, raw_drop_bad_hdrincl);
        return -EINVAL;
    }
    uint32_t dst = rdaddr(buf + 16);
    if (dst == 0 || (ipv4_route(st, dst) == 0 && !ipv4_is_local(st, dst))) {
        COUNT(st, raw_drop_bad_hdrincl);
        return -ENETUNREACH;
    }
    if (ipv4_is_broadcast(st, dst) && !s->opt.broadcast)
        return -EACCES;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, len);
    if (!pb)
        return -ENOBUFS;
    uint8_t *p = pb->data;
    memcpy(p, buf, len);
    uint8_t hl = (uint8_t)((p[0] & 0x0f) * 4);
    /* What Linux fills in for the caller (raw(7)): total length always, the
     * id and source when zero, the checksum always. */
    wr16(p + 2, (uint16_t)len);
    if (rd16(p + 4) == 0)
        wr16(p + 4, ipv4_next_id(st));
    if (rdaddr(p + 12) == 0)
        wraddr(p + 12, st->cfg.addr);
    wr16(p + 10, 0);
    wr16(p + 10, inet_checksum(p, hl));
    sock_tag_owner(st, s, pb);
    COUNT(st, raw_tx);
    int rc = ipv4_output_hdrincl(st, pb);
    return rc < 0 ? rc : (ssize_t)len;
}

ssize_t raw_output(struct ustack *st, struct sock *s, const void *buf, size_t len, uint32_t dst)
{
    if (s->opt.hdrincl)
        return raw_output_hdrincl(st, s, buf, len);
    if (len > IPV4_MAX_LEN - IPV4_HDR_LEN)
        return -EMSGSIZE;
    if (ipv4_is_broadcast(st, dst) && !s->opt.broadcast)
        return -EACCES;
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, len);
    if (!pb)
        return -ENOBUFS;
    if (len)
        memcpy(pb->data, buf, len);
    sock_tag_owner(st, s, pb);
    uint32_t src = s->laddr && !ipv4_is_broadcast(st, s->laddr) ? s->laddr : st->cfg.addr;
    COUNT(st, raw_tx);
    int rc = ipv4_output(st, pb, (uint8_t)s->proto, src, dst, s->opt.ttl, false);
    return rc < 0 ? rc : (ssize_t)len;
}
