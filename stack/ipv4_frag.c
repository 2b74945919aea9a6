/*
 * IPv4 fragmentation and reassembly (RFC 791 3.2, RFC 1122 3.3.2).
 *
 * Reassembly keeps, per (source, destination, id, protocol), the fragments
 * received so far in a list sorted by offset. Overlaps are resolved as Linux
 * does since 4.19 (and as RFC 5722 requires for IPv6): an exact duplicate of a
 * fragment already held is ignored, any other overlap discards the whole
 * datagram. This is deterministic whatever the arrival order and closes the
 * overlapping-fragment attacks.
 *
 * Limits: cfg.reasm_max_datagrams at once and cfg.reasm_max_bytes held; when
 * either would be exceeded the oldest datagram is evicted. Each datagram has
 * one timer, cfg.reasm_timeout_us from its first fragment; when it fires and
 * the first fragment (offset 0) had arrived, an ICMP time exceeded
 * (fragment reassembly) goes back to the sender (RFC 792, RFC 1122 3.3.2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define REASM_MAX_FRAGS 256 /* per datagram: 65535 bytes in 1480-byte pieces is 45 */

static void reasm_timer_fired(struct ustack *st, struct timer *t);

static void reasm_unlink(struct ustack *st, struct reasm_datagram *d)
{
    struct reasm_state *r = &st->reasm;
    if (d->prev)
        d->prev->next = d->next;
    else
        r->oldest = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        r->newest = d->prev;
    r->count--;
}

static void reasm_free(struct ustack *st, struct reasm_datagram *d)
{
    reasm_unlink(st, d);
    timer_cancel(st, &d->timer);
    struct reasm_frag *f = d->frags;
    while (f) {
        struct reasm_frag *n = f->next;
        free(f);
        f = n;
    }
    st->reasm.bytes -= d->mem;
    free(d);
}

void ipv4_reasm_fini(struct ustack *st)
{
    while (st->reasm.oldest)
        reasm_free(st, st->reasm.oldest);
}

static void reasm_timer_fired(struct ustack *st, struct timer *t)
{
    struct reasm_datagram *d = (struct reasm_datagram *)((char *)t - offsetof(struct reasm_datagram, timer));
    COUNT(st, ip_reasm_timeout);
    if (d->have_first && !d->first_link_bcast) /* RFC 1122 3.2.2 */
        icmp_send_error(st, d->first_hdr, d->first_hdr_len, ICMP_TIME_EXCEEDED, ICMP_TIMXCEED_REASM);
    reasm_free(st, d);
}

static struct reasm_datagram *reasm_find(struct ustack *st, const struct ipv4_hdr_info *h)
{
    for (struct reasm_datagram *d = st->reasm.oldest; d; d = d->next)
        if (d->id == h->id && d->src == h->src && d->dst == h->dst && d->proto == h->proto)
            return d;
    return NULL;
}

/* Makes room for `need` more bytes and one more datagram if `new_dgram`,
 * evicting the oldest datagrams other than `keep`. Returns false if it cannot. */
static bool reasm_make_room(struct ustack *st, size_t need, bool new_dgram, struct reasm_datagram *keep)
{
    struct reasm_state *r = &st->reasm;
    if (need > st->cfg.reasm_max_bytes)
        return false;
    while ((new_dgram && r->count >= st->cfg.reasm_max_datagrams) || r->bytes + need > st->cfg.reasm_max_bytes) {
        struct reasm_datagram *victim = r->oldest;
        if (victim == keep)
            victim = victim->next;
        if (!victim)
            return false;
        COUNT(st, ip_reasm_evicted);
        reasm_free(st, victim);
    }
    return true;
}

/* Builds the whole datagram: the first fragment's header, then the payload. */
static struct pbuf *reasm_complete(struct ustack *st, struct reasm_datagram *d)
{
    uint16_t hl = (uint16_t)((d->first_hdr[0] & 0x0f) * 4);
    struct pbuf *pb = NULL;
    if (hl + d->total <= IPV4_MAX_LEN)
        pb = pbuf_alloc(st, PBUF_HEADROOM, hl + d->total);
    if (pb) {
        uint8_t *p = pb->data;
        memcpy(p, d->first_hdr, hl);
        wr16(p + 2, (uint16_t)(hl + d->total));
        wr16(p + 6, rd16(p + 6) & IPV4_FLAG_DF);
        wr16(p + 10, 0);
        wr16(p + 10, inet_checksum(p, hl));
        for (struct reasm_frag *f = d->frags; f; f = f->next)
            memcpy(p + hl + f->start, f->data, f->end - f->start);
        pb->link_bcast = d->first_link_bcast;
        COUNT(st, ip_reasm_ok);
    } else {
        COUNT(st, ip_drop_frag_too_big);
    }
    reasm_free(st, d);
    return pb;
}

struct pbuf *ipv4_reasm_input(struct ustack *st, struct pbuf *pb, const struct ipv4_hdr_info *h)
{
    uint32_t len = h->total_len - h->ihl_bytes;
    uint32_t start = h->frag_off_bytes, end = start + len;
    const uint8_t *payload = pb->data + h->ihl_bytes;

    if (h->ihl_bytes + end > IPV4_MAX_LEN) {
        COUNT(st, ip_drop_frag_too_big);
        goto drop;
    }
    if (len == 0 || (h->mf && len % 8 != 0)) {
        COUNT(st, ip_drop_frag_bad);
        goto drop;
    }
    struct reasm_datagram *d = reasm_find(st, h);
    size_t fmem = sizeof(struct reasm_frag) + len;
    if (!d) {
        if (!reasm_make_room(st, sizeof *d + fmem, true, NULL)) {
            COUNT(st, ip_drop_frag_too_big);
            goto drop;
        }
        d = calloc(1, sizeof *d);
        if (!d)
            goto drop;
        d->src = h->src;
        d->dst = h->dst;
        d->id = h->id;
        d->proto = h->proto;
        d->mem = sizeof *d;
        timer_init(&d->timer, reasm_timer_fired);
        struct reasm_state *r = &st->reasm;
        d->prev = r->newest;
        if (r->newest)
            r->newest->next = d;
        else
            r->oldest = d;
        r->newest = d;
        r->count++;
        r->bytes += d->mem;
        if (timer_arm(st, &d->timer, st->now + st->cfg.reasm_timeout_us) < 0)
            goto drop_datagram; /* never held without its timeout */
    }

    /* The last fragment fixes the length; nothing may contradict it. */
    bool bad = false;
    if (!h->mf)
        bad = (d->have_last && end != d->total) || end < d->max_end;
    else
        bad = d->have_last && end > d->total;
    if (bad || d->nfrags >= REASM_MAX_FRAGS) {
        COUNT(st, ip_drop_frag_bad);
        goto drop_datagram;
    }
    /* Find the place in the sorted list and check both neighbours. */
    struct reasm_frag **link = &d->frags, *prev = NULL;
    while (*link && (*link)->start < start) {
        prev = *link;
        link = &(*link)->next;
    }
    struct reasm_frag *next = *link;
    if (next && next->start == start && next->end == end) {
        COUNT(st, ip_reasm_dup);
        goto drop;
    }
    if ((prev && prev->end > start) || (next && next->start < end)) {
        COUNT(st, ip_reasm_overlap);
        goto drop_datagram;
    }
    if (!reasm_make_room(st, fmem, false, d)) {
        COUNT(st, ip_drop_frag_too_big);
        goto drop_datagram;
    }
    struct reasm_frag *f = malloc(fmem);
    if (!f)
        goto drop_datagram;
    f->start = start;
    f->end = end;
    memcpy(f->data, payload, len);
    f->next = next;
    *link = f;
    d->nfrags++;
    d->covered += len;
    d->mem += fmem;
    st->reasm.bytes += fmem;
    if (end > d->max_end)
        d->max_end = end;
    if (!h->mf) {
        d->have_last = true;
        d->total = end;
    }
    if (start == 0) {
        d->have_first = true;
        d->first_link_bcast = pb->link_bcast;
        size_t n = h->ihl_bytes + (len < 8 ? len : 8);
        memcpy(d->first_hdr, pb->data, n);
        d->first_hdr_len = (uint16_t)n;
    }
    pbuf_free(st, pb);
    if (d->have_last && d->covered == d->total)
        return reasm_complete(st, d);
    return NULL;

drop_datagram:
    reasm_free(st, d);
drop:
    pbuf_free(st, pb);
    return NULL;
}

/* The header of the pieces after the first (RFC 791 3.2): options without
 * the copied bit become NOPs, so every piece has the same header length (as
 * Linux's ip_options_fragment does). An option list that cannot be walked
 * is left as it is from there on. */
static void frag_later_header(uint8_t *hdr, size_t hl)
{
    for (size_t i = IPV4_HDR_LEN; i < hl;) {
        if (hdr[i] == IPV4_OPT_EOL)
            break;
        if (hdr[i] == IPV4_OPT_NOP) {
            i++;
            continue;
        }
        if (hl - i < 2 || hdr[i + 1] < 2 || hdr[i + 1] > hl - i)
            break;
        size_t len = hdr[i + 1];
        if (!(hdr[i] & IPV4_OPT_COPIED))
            memset(hdr + i, IPV4_OPT_NOP, len);
        i += len;
    }
}

/* Sends a datagram too large for the MTU in pieces (RFC 791 3.2 "an example
 * fragmentation procedure"). The first piece carries the whole header, the
 * others only the options that are copied on fragmentation. */
int ipv4_fragment_output(struct ustack *st, struct pbuf *pb, uint32_t nh)
{
    const uint8_t *ip = pb->data;
    uint16_t hl = (uint16_t)((ip[0] & 0x0f) * 4);
    size_t payload_len = pb->len - hl;
    size_t chunk_max = (size_t)(st->cfg.mtu - hl) & ~(size_t)7;
    uint8_t later[IPV4_MAX_HDR_LEN];
    memcpy(later, ip, hl);
    frag_later_header(later, hl);
    uint16_t ff = rd16(ip + 6);
    uint32_t base_off = (uint32_t)(ff & IPV4_OFF_MASK) * 8;
    bool orig_mf = ff & IPV4_FLAG_MF;
    int rc = 0;

    COUNT(st, ip_tx_fragmented);
    for (size_t off = 0; off < payload_len; off += chunk_max) {
        size_t n = payload_len - off < chunk_max ? payload_len - off : chunk_max;
        bool last = off + n == payload_len;
        struct pbuf *f = pbuf_alloc(st, PBUF_HEADROOM, hl + n);
        if (!f) {
            rc = -ENOMEM;
            break;
        }
        uint8_t *p = f->data;
        memcpy(p, off == 0 ? ip : later, hl);
        memcpy(p + hl, ip + hl + off, n);
        wr16(p + 2, (uint16_t)(hl + n));
        uint16_t flags = (!last || orig_mf) ? IPV4_FLAG_MF : 0;
        wr16(p + 6, (uint16_t)(flags | ((base_off + off) / 8)));
        wr16(p + 10, 0);
        wr16(p + 10, inet_checksum(p, hl));
        f->owner_sock = pb->owner_sock;
        f->owner_gen = pb->owner_gen;
        COUNT(st, ip_frags_tx);
        arp_output_ip(st, f, nh);
    }
    pbuf_free(st, pb);
    return rc;
}
