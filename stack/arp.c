/*
 * ARP (RFC 826, RFC 1122 2.3.2): maps next-hop IPv4 addresses to MACs for
 * ipv4_output(). The cache is a bounded table of entries that move through
 * INCOMPLETE (requests sent, packets queued) -> REACHABLE (confirmed) ->
 * STALE (still used, refreshed on use) -> free.
 *
 * Each entry has one timer, whose meaning follows the state:
 *   INCOMPLETE  next request; after cfg.arp_retries requests the entry fails,
 *               its queued packets are dropped and their sockets get
 *               EHOSTUNREACH;
 *   REACHABLE   cfg.arp_reachable_us after the last confirmation: -> STALE;
 *   STALE       cfg.arp_stale_gc_us later: the entry is removed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static const uint8_t mac_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_zero[6];

static void arp_timer_fired(struct ustack *st, struct timer *t);
static void arp_announce_fired(struct ustack *st, struct timer *t);

int arp_init(struct ustack *st)
{
    st->arp.size = st->cfg.arp_cache_size;
    st->arp.entries = calloc(st->arp.size, sizeof *st->arp.entries);
    if (!st->arp.entries)
        return -ENOMEM;
    for (unsigned i = 0; i < st->arp.size; i++)
        timer_init(&st->arp.entries[i].timer, arp_timer_fired);
    timer_init(&st->arp.announce_timer, arp_announce_fired);
    return 0;
}

static void arp_entry_clear(struct ustack *st, struct arp_entry *e)
{
    timer_cancel(st, &e->timer);
    pbuf_queue_free(st, &e->pending);
    e->state = ARP_FREE;
    e->ip = 0;
    e->tries = 0;
    e->has_sent = false;
}

void arp_fini(struct ustack *st)
{
    if (!st->arp.entries)
        return;
    timer_cancel(st, &st->arp.announce_timer);
    for (unsigned i = 0; i < st->arp.size; i++)
        arp_entry_clear(st, &st->arp.entries[i]);
    free(st->arp.entries);
    st->arp.entries = NULL;
}

static struct arp_entry *arp_find(struct ustack *st, uint32_t ip)
{
    for (unsigned i = 0; i < st->arp.size; i++) {
        struct arp_entry *e = &st->arp.entries[i];
        if (e->state != ARP_FREE && e->ip == ip)
            return e;
    }
    return NULL;
}

const struct arp_entry *arp_cache_lookup(const struct ustack *st, uint32_t ip)
{
    return arp_find((struct ustack *)st, ip);
}

/* In use: we sent through it within cfg.arp_reachable_us. */
static bool arp_in_use(const struct ustack *st, const struct arp_entry *e)
{
    return e->has_sent && st->now < e->sent + st->cfg.arp_reachable_us;
}

static ustack_time_t arp_last_use(const struct arp_entry *e)
{
    return e->has_sent && e->sent > e->updated ? e->sent : e->updated;
}

/* A free entry, or a resolved one evicted: the least recently confirmed of
 * those not in use; failing that, for a packet of ours (`for_output`), the
 * least recently used of the others. A sender merely learnt from its ARP
 * packet never pushes out a neighbour we are talking to: an ARP storm from
 * forged senders would otherwise have us resolve that neighbour afresh for
 * nearly every packet (Linux's neighbour table never reclaims an entry in
 * use either). Entries still resolving are never evicted: their senders are
 * waiting. */
static struct arp_entry *arp_alloc(struct ustack *st, bool for_output)
{
    struct arp_entry *victim = NULL, *busy = NULL;
    for (unsigned i = 0; i < st->arp.size; i++) {
        struct arp_entry *e = &st->arp.entries[i];
        if (e->state == ARP_FREE)
            return e;
        if (e->state == ARP_INCOMPLETE)
            continue;
        if (!arp_in_use(st, e)) {
            if (!victim || e->updated < victim->updated)
                victim = e;
        } else if (!busy || arp_last_use(e) < arp_last_use(busy)) {
            busy = e;
        }
    }
    if (!victim && for_output)
        victim = busy;
    if (victim) {
        COUNT(st, arp_evictions);
        arp_entry_clear(st, victim);
    }
    return victim;
}

static void arp_send(struct ustack *st, uint16_t op, const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa,
                     uint32_t spa)
{
    struct pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, ARP_LEN);
    if (!pb)
        return;
    uint8_t *a = pb->data;
    wr16(a, 1);               /* hardware: Ethernet */
    wr16(a + 2, ETH_TYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    wr16(a + 6, op);
    memcpy(a + 8, st->cfg.mac, 6);
    wraddr(a + 14, spa);
    memcpy(a + 18, tha, 6);
    wraddr(a + 24, tpa);
    eth_output(st, pb, eth_dst, ETH_TYPE_ARP);
}

static void arp_request(struct ustack *st, uint32_t ip, const uint8_t *eth_dst)
{
    COUNT(st, arp_tx_requests);
    arp_send(st, ARP_OP_REQUEST, eth_dst, mac_zero, ip, st->cfg.addr);
}

/* Gratuitous ARP (RFC 5227 2.3 announcement): a request for our own address,
 * so that neighbours update any stale mapping. The RFC sends ANNOUNCE_NUM (2)
 * of them ANNOUNCE_INTERVAL (2 s) apart; the second also covers a link that
 * was not yet forwarding when the first left (a bridge port whose carrier has
 * just come up drops frames until it notices). */
#define ARP_ANNOUNCE_INTERVAL_US USTACK_SEC(2)

static void arp_announce(struct ustack *st)
{
    COUNT(st, arp_tx_gratuitous);
    arp_send(st, ARP_OP_REQUEST, mac_broadcast, mac_zero, st->cfg.addr, st->cfg.addr);
    if (--st->arp.announce_left > 0)
        timer_arm(st, &st->arp.announce_timer, st->now + ARP_ANNOUNCE_INTERVAL_US);
}

static void arp_announce_fired(struct ustack *st, struct timer *t)
{
    (void)t;
    arp_announce(st);
}

void arp_announce_start(struct ustack *st)
{
    st->arp.announce_left = st->cfg.arp_gratuitous > 0 ? (unsigned)st->cfg.arp_gratuitous : 0;
    if (st->arp.announce_left)
        arp_announce(st);
}

static void arp_set_reachable(struct ustack *st, struct arp_entry *e, const uint8_t *mac)
{
    memcpy(e->mac, mac, 6);
    e->state = ARP_REACHABLE;
    e->tries = 0;
    e->updated = st->now;
    timer_arm(st, &e->timer, st->now + st->cfg.arp_reachable_us);
    /* Send what waited for this answer, in order. */
    struct pbuf *pb;
    while ((pb = pbuf_queue_pop(&e->pending)))
        eth_output(st, pb, e->mac, ETH_TYPE_IPV4);
}

static void arp_timer_fired(struct ustack *st, struct timer *t)
{
    struct arp_entry *e = (struct arp_entry *)((char *)t - offsetof(struct arp_entry, timer));
    switch (e->state) {
    case ARP_INCOMPLETE:
        if (e->tries < st->cfg.arp_retries) {
            e->tries++;
            arp_request(st, e->ip, mac_broadcast);
            timer_arm(st, &e->timer, st->now + st->cfg.arp_retry_us);
            return;
        }
        /* RFC 1122 2.3.2.2: give up and tell the senders. */
        COUNT(st, arp_resolve_failed);
        struct pbuf *pb;
        while ((pb = pbuf_queue_pop(&e->pending))) {
            sock_report_error(st, pb, EHOSTUNREACH);
            pbuf_free(st, pb);
        }
        arp_entry_clear(st, e);
        return;
    case ARP_REACHABLE:
        e->state = ARP_STALE;
        timer_arm(st, &e->timer, st->now + st->cfg.arp_stale_gc_us);
        return;
    case ARP_STALE:
        arp_entry_clear(st, e);
        return;
    case ARP_FREE:
        return;
    }
}

void arp_output_ip(struct ustack *st, struct pbuf *pb, uint32_t nh)
{
    if (ipv4_is_broadcast(st, nh)) {
        eth_output(st, pb, mac_broadcast, ETH_TYPE_IPV4);
        return;
    }
    struct arp_entry *e = arp_find(st, nh);
    if (e && e->state == ARP_STALE && st->now >= e->updated + st->cfg.arp_reachable_us + st->cfg.arp_retry_us) {
        if (e->tries >= st->cfg.arp_retries) {
            /* RFC 1122 2.3.2.1: unicast polls went unanswered: the mapping
             * may be wrong (the neighbour changed its MAC, or a bad reply
             * poisoned it). Forget it and resolve afresh by broadcast. */
            COUNT(st, arp_stale_expired);
            arp_entry_clear(st, e);
            e = NULL;
        } else {
            /* Stale but usable: refresh with a unicast request (RFC 1122
             * 2.3.2.1 "unicast poll"), at most once per retry interval. */
            e->tries++;
            e->updated = st->now - st->cfg.arp_reachable_us;
            arp_request(st, nh, e->mac);
        }
    }
    if (e) {
        e->sent = st->now;
        e->has_sent = true;
    }
    if (e && e->state != ARP_INCOMPLETE) {
        eth_output(st, pb, e->mac, ETH_TYPE_IPV4);
        return;
    }
    if (!e) {
        e = arp_alloc(st, true);
        if (!e) {
            COUNT(st, arp_drop_cache_full);
            sock_report_error(st, pb, ENOBUFS);
            pbuf_free(st, pb);
            return;
        }
        if (timer_arm(st, &e->timer, st->now + st->cfg.arp_retry_us) < 0) {
            /* Without its timer the entry could never retry nor expire. */
            sock_report_error(st, pb, ENOBUFS);
            pbuf_free(st, pb);
            return;
        }
        e->state = ARP_INCOMPLETE;
        e->ip = nh;
        e->tries = 1;
        e->updated = st->now;
        e->sent = st->now;
        e->has_sent = true;
        arp_request(st, nh, mac_broadcast);
    }
    if (e->pending.count >= st->cfg.arp_queue_len) {
        /* RFC 1122 2.3.2.2: keep the latest; the oldest goes. */
        COUNT(st, arp_drop_queue_full);
        if (!e->pending.head) {
            pbuf_free(st, pb); /* a queue of length 0 holds nothing */
            return;
        }
        pbuf_free(st, pbuf_queue_pop(&e->pending));
    }
    pbuf_queue_push(&e->pending, pb);
}

void arp_input(struct ustack *st, struct pbuf *pb)
{
    COUNT(st, arp_rx);
    if (pb->len < ARP_LEN) {
        COUNT(st, arp_drop_short);
        goto drop;
    }
    const uint8_t *a = pb->data;
    uint16_t op = rd16(a + 6);
    if (rd16(a) != 1 || rd16(a + 2) != ETH_TYPE_IPV4 || a[4] != 6 || a[5] != 4 ||
        (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)) {
        COUNT(st, arp_drop_bad_format);
        goto drop;
    }
    const uint8_t *sha = a + 8;
    uint32_t spa = rdaddr(a + 14);
    uint32_t tpa = rdaddr(a + 24);
    if ((sha[0] & 1) || memcmp(sha, st->cfg.mac, 6) == 0 || spa == st->cfg.addr) {
        /* A multicast sender, our own frame echoed, or someone claiming our
         * address: never learnt. */
        COUNT(st, arp_drop_bad_format);
        goto drop;
    }
    /* RFC 826 "merge": refresh the sender if we already know it. */
    bool merged = false;
    struct arp_entry *e = spa ? arp_find(st, spa) : NULL;
    if (e) {
        arp_set_reachable(st, e, sha);
        merged = true;
    }
    if (tpa != st->cfg.addr) {
        COUNT(st, arp_drop_not_for_us);
        goto drop;
    }
    if (!merged && spa && !ipv4_is_broadcast(st, spa)) {
        e = arp_alloc(st, false);
        if (e) {
            e->ip = spa;
            arp_set_reachable(st, e, sha);
        } else {
            COUNT(st, arp_drop_cache_full);
        }
    }
    if (op == ARP_OP_REQUEST) {
        COUNT(st, arp_tx_replies);
        arp_send(st, ARP_OP_REPLY, sha, sha, spa, st->cfg.addr);
    }
drop:
    pbuf_free(st, pb);
}
