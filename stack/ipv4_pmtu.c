/*
 * Path MTU discovery (RFC 1191), the IP half: a bounded per-destination cache
 * of what ICMP "fragmentation needed" messages taught, which TCP consults when
 * it sizes its segments (tcp_pmtu.c). A transport validates the message (RFC
 * 5927: it must quote a segment in flight) before ipv4_pmtu_learn() may lower
 * a destination's path MTU; an entry lapses back to the link MTU
 * cfg.pmtu_expire_us after it was set (RFC 1191 6.3, Linux's mtu_expires),
 * checked on lookup against st->now. When the cache (cfg.pmtu_cache_size
 * entries) is full the entry nearest its expiry, the oldest, makes room.
 */
#include <stdlib.h>
#include "internal.h"

/* RFC 1191 7: the plateaus of MTUs in use, for a router that sends no
 * Next-Hop MTU (RFC 792's older message). */
static const uint16_t pmtu_plateaus[] = {65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};

int ipv4_pmtu_init(struct ustack *st)
{
    st->pmtu.entries = calloc(st->cfg.pmtu_cache_size, sizeof *st->pmtu.entries);
    if (!st->pmtu.entries)
        return -1;
    st->pmtu.size = st->cfg.pmtu_cache_size;
    return 0;
}

void ipv4_pmtu_fini(struct ustack *st)
{
    free(st->pmtu.entries);
    st->pmtu.entries = NULL;
    st->pmtu.size = st->pmtu.count = 0;
}

/* The live entry for dst, or NULL; one that has lapsed is freed here. */
static struct pmtu_entry *pmtu_find(struct ustack *st, uint32_t dst)
{
    if (!st->pmtu.count)
        return NULL;
    for (unsigned i = 0; i < st->pmtu.size; i++) {
        struct pmtu_entry *e = &st->pmtu.entries[i];
        if (!e->mtu || e->dst != dst)
            continue;
        if (st->now >= e->expires) {
            COUNT(st, ip_pmtu_expired);
            e->mtu = 0;
            st->pmtu.count--;
            return NULL;
        }
        return e;
    }
    return NULL;
}

void ipv4_pmtu_lookup(struct ustack *st, uint32_t dst, struct ipv4_pmtu *out)
{
    const struct pmtu_entry *e = pmtu_find(st, dst);
    out->mtu = e ? e->mtu : st->cfg.mtu;
    out->no_df = e && e->no_df;
    out->expires = e ? e->expires : 0;
}

/* The largest plateau below len (68 at the least). */
static unsigned pmtu_plateau_below(unsigned len)
{
    for (size_t i = 0; i < sizeof pmtu_plateaus / sizeof pmtu_plateaus[0]; i++)
        if (pmtu_plateaus[i] < len)
            return pmtu_plateaus[i];
    return IPV4_MIN_MTU;
}

int ipv4_pmtu_learn(struct ustack *st, uint32_t dst, unsigned nh_mtu, unsigned quoted_len, struct ipv4_pmtu *out)
{
    struct ipv4_pmtu cur;
    ipv4_pmtu_lookup(st, dst, &cur);
    unsigned mtu = nh_mtu;
    bool plateau = false, clamped = false;
    if (mtu == 0) {
        /* RFC 1191 5: the plateau below the datagram that did not fit (its
         * quoted total length), or below the current estimate when that is
         * smaller: some routers quote a length that is not the original. */
        unsigned base = quoted_len && quoted_len < cur.mtu ? quoted_len : cur.mtu;
        mtu = pmtu_plateau_below(base);
        plateau = true;
    }
    if (mtu < IPV4_PMTU_MIN) {
        /* Smaller than every host must accept (576, RFC 791/1122): a path
         * that narrow, or a forged message trying to make us send tiny
         * segments (RFC 5927 7). Raised to 576 and DF dropped for this
         * destination, so that routers fragment (as Linux's min_pmtu). */
        mtu = IPV4_PMTU_MIN;
        clamped = true;
    }
    if (mtu >= cur.mtu)
        return CNT_ip_pmtu_drop_not_lower; /* RFC 1191 6.3: the estimate only goes down on an ICMP */
    struct pmtu_entry *e = pmtu_find(st, dst);
    if (!e) {
        struct pmtu_entry *oldest = NULL;
        for (unsigned i = 0; i < st->pmtu.size; i++) {
            struct pmtu_entry *c = &st->pmtu.entries[i];
            if (!c->mtu) {
                e = c;
                break;
            }
            if (!oldest || c->expires < oldest->expires)
                oldest = c;
        }
        if (!e) {
            COUNT(st, ip_pmtu_evictions);
            e = oldest;
        } else {
            st->pmtu.count++;
        }
        e->dst = dst;
    }
    e->mtu = (uint16_t)mtu;
    e->no_df = clamped;
    e->expires = st->now + st->cfg.pmtu_expire_us < st->now ? USTACK_TIME_NEVER : st->now + st->cfg.pmtu_expire_us;
    COUNT(st, ip_pmtu_updates);
    if (plateau)
        COUNT(st, ip_pmtu_plateau);
    if (clamped)
        COUNT(st, ip_pmtu_clamped);
    out->mtu = e->mtu;
    out->no_df = e->no_df;
    out->expires = e->expires;
    return 0;
}

size_t ipv4_pmtu_live(const struct ustack *st)
{
    size_t n = 0;
    for (unsigned i = 0; i < st->pmtu.size; i++)
        n += st->pmtu.entries[i].mtu && st->now < st->pmtu.entries[i].expires;
    return n;
}
