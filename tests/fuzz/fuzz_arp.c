/*
 * libFuzzer target for the ARP state machine (stack/arp.c): requests and
 * replies from neighbours (valid, malformed, from multicast or our own MAC,
 * probes, gratuitous, not for us), datagrams sent to neighbours and through
 * the gateway, and time passing, on a small cache with limits the input
 * picks, checked step by step against a model written from
 * docs/protocols.md ("ARP"): learning and RFC 826 merge, replies,
 * resolution with queueing (the latest packets kept, RFC 1122 2.3.2.2),
 * retries and failure, REACHABLE -> STALE -> removed, unicast polls of a
 * STALE entry in use, eviction of the entry confirmed longest ago (never an
 * INCOMPLETE one, and to learn a sender never one sent through within
 * arp_reachable_us; a datagram of ours then takes the least recently used
 * one), ENOBUFS when every entry is resolving, EHOSTUNREACH when
 * resolution fails, and the gratuitous announcements.
 *
 * After every step the stack must have sent exactly the frames the model
 * expects (ARP frames in any order, IPv4 frames in the model's order), its
 * socket must hold the model's pending error, and each cache entry must be
 * in the model's state with its address, MAC, tries, last confirmation and
 * queue length. At the end, the socket closed and every timer run out, the
 * stack must hold nothing.
 *
 * Input layout: bytes 0 and 1 pick the limits (cache of 1 to 4 entries,
 * queues of 0 to 3 packets, 0 to 3 retries, 0 to 2 announcements; retry,
 * reachable and stale times); then steps:
 *   op 0x00-0x5f  an ARP packet; op's low 5 bits corrupt it (hardware type,
 *                 opcode, length) or address its frame (broadcast, another
 *                 host); the next byte picks opcode, sender address, sender
 *                 MAC and target address
 *   op 0x60-0x9f  a UDP datagram to neighbour (op & 7) or off the subnet
 *   op 0xa0-0xff  time passes: 1 ms to 61 s
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>
#include "internal.h"
#include "fuzz.h"

#define MAX_CACHE 4
#define MAX_FRAMES 64

/* Addresses an ARP packet may carry: four neighbours (the first is the
 * gateway), ours, 0.0.0.0 (a probe), the subnet broadcast, a host off the
 * subnet. */
static uint32_t arp_ip(unsigned i)
{
    static const uint8_t last[8] = {1, 3, 4, 5, 2, 0, 255, 0};
    if (i == 5)
        return 0;
    if (i == 7)
        return fz_ip(192, 168, 7, 7);
    return fz_ip(10, 0, 0, last[i]);
}

/* Where datagrams go: the four neighbours, or off the subnet (the gateway). */
static uint32_t send_ip(unsigned i)
{
    static const uint8_t last[4] = {1, 3, 4, 5};
    return i < 4 ? fz_ip(10, 0, 0, last[i]) : fz_ip(192, 168, 7, (uint8_t)i);
}

static const uint8_t MACS[4][6] = {
    {0x02, 0, 0, 0, 0, 0x0a},
    {0x02, 0, 0, 0, 0, 0x0b},
    {0x01, 0x00, 0x5e, 0, 0, 1}, /* multicast: never learnt */
    {0x02, 0x00, 10, 0, 0, 2},   /* ours: never learnt */
};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t ZERO[6];

/* A frame the stack sent, as compared. */
struct frame {
    uint8_t kind;      /* 1 ARP request, 2 ARP reply, 3 IPv4 */
    uint8_t dst[6];
    uint8_t tha[6];
    uint32_t spa, tpa; /* ARP only */
    uint32_t seq;      /* IPv4: the datagram's number */
};

struct ment {
    enum arp_state state;
    uint32_t ip;
    uint8_t mac[6];
    unsigned tries;
    ustack_time_t updated, deadline;
    ustack_time_t sent; /* last datagram sent through it, if has_sent */
    bool has_sent;
    uint32_t q[4];
    unsigned qn;
};

struct world {
    struct ustack *st;
    struct ustack_link *la, *lb;
    const struct ustack_config *cfg;
    int udp;
    ustack_time_t now;
    struct ment e[MAX_CACHE];
    unsigned announce_left;
    ustack_time_t announce_at;
    int error;         /* the socket's pending error */
    uint32_t seq;
    struct frame want[MAX_FRAMES], got[MAX_FRAMES];
    unsigned nwant, ngot;
    uint8_t buf[USTACK_FRAME_MAX];
};

#define MODEL FZ_NO_COV __attribute__((noinline))

/* ------------------------------------------------------------ the model */

MODEL static void want(struct world *w, uint8_t kind, const uint8_t *dst, const uint8_t *tha, uint32_t spa,
                       uint32_t tpa, uint32_t seq)
{
    FZ_CHECK(w->nwant < MAX_FRAMES, "too many frames in one step");
    struct frame *f = &w->want[w->nwant++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    memcpy(f->dst, dst, 6);
    if (tha)
        memcpy(f->tha, tha, 6);
    f->spa = spa;
    f->tpa = tpa;
    f->seq = seq;
}

MODEL static void m_clear(struct ment *e) { memset(e, 0, sizeof *e); }

MODEL static int m_find(struct world *w, uint32_t ip)
{
    for (unsigned i = 0; i < w->cfg->arp_cache_size; i++)
        if (w->e[i].state != ARP_FREE && w->e[i].ip == ip)
            return (int)i;
    return -1;
}

MODEL static bool m_in_use(const struct world *w, const struct ment *e)
{
    return e->has_sent && w->now < e->sent + w->cfg->arp_reachable_us;
}

MODEL static ustack_time_t m_last_use(const struct ment *e)
{
    return e->has_sent && e->sent > e->updated ? e->sent : e->updated;
}

/* A free entry, else the resolved one confirmed longest ago among those not
 * sent through within arp_reachable_us (evicted); for a datagram of ours,
 * failing that, the least recently used of the others. */
MODEL static int m_alloc(struct world *w, bool for_output)
{
    int victim = -1, busy = -1;
    for (unsigned i = 0; i < w->cfg->arp_cache_size; i++) {
        const struct ment *e = &w->e[i];
        if (e->state == ARP_FREE)
            return (int)i;
        if (e->state == ARP_INCOMPLETE)
            continue;
        if (!m_in_use(w, e)) {
            if (victim < 0 || e->updated < w->e[victim].updated)
                victim = (int)i;
        } else if (busy < 0 || m_last_use(e) < m_last_use(&w->e[busy])) {
            busy = (int)i;
        }
    }
    if (victim < 0 && for_output)
        victim = busy;
    if (victim >= 0)
        m_clear(&w->e[victim]);
    return victim;
}

MODEL static void m_reachable(struct world *w, struct ment *e, const uint8_t *mac)
{
    memcpy(e->mac, mac, 6);
    e->state = ARP_REACHABLE;
    e->tries = 0;
    e->updated = w->now;
    e->deadline = w->now + w->cfg->arp_reachable_us;
    for (unsigned i = 0; i < e->qn; i++)
        want(w, 3, e->mac, NULL, 0, 0, e->q[i]);
    e->qn = 0;
}

MODEL static void m_request(struct world *w, uint32_t ip, const uint8_t *dst)
{
    want(w, 1, dst, ZERO, FZ_US_IP, ip, 0);
}

/* A datagram numbered seq to next hop nh. */
MODEL static void m_output(struct world *w, uint32_t nh, uint32_t seq)
{
    int i = m_find(w, nh);
    const struct ustack_config *c = w->cfg;
    if (i >= 0 && w->e[i].state == ARP_STALE && w->now >= w->e[i].updated + c->arp_reachable_us + c->arp_retry_us) {
        struct ment *e = &w->e[i];
        if (e->tries >= c->arp_retries) {
            m_clear(e);
            i = -1;
        } else {
            e->tries++;
            e->updated = w->now - c->arp_reachable_us;
            m_request(w, nh, e->mac);
        }
    }
    if (i >= 0) {
        w->e[i].sent = w->now;
        w->e[i].has_sent = true;
    }
    if (i >= 0 && w->e[i].state != ARP_INCOMPLETE) {
        want(w, 3, w->e[i].mac, NULL, 0, 0, seq);
        return;
    }
    if (i < 0) {
        i = m_alloc(w, true);
        if (i < 0) {
            w->error = ENOBUFS;
            return;
        }
        struct ment *e = &w->e[i];
        e->state = ARP_INCOMPLETE;
        e->ip = nh;
        e->tries = 1;
        e->updated = w->now;
        e->sent = w->now;
        e->has_sent = true;
        e->deadline = w->now + c->arp_retry_us;
        m_request(w, nh, BCAST);
    }
    struct ment *e = &w->e[i];
    if (e->qn >= c->arp_queue_len) {
        if (e->qn == 0)
            return;
        memmove(e->q, e->q + 1, (e->qn - 1) * sizeof e->q[0]); /* the oldest goes */
        e->qn--;
    }
    e->q[e->qn++] = seq;
}

/* An ARP packet that passed validation. */
MODEL static void m_input(struct world *w, bool request, const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
    if ((sha[0] & 1) || memcmp(sha, FZ_US_MAC, 6) == 0 || spa == FZ_US_IP)
        return;
    bool merged = false;
    int i = spa ? m_find(w, spa) : -1;
    if (i >= 0) {
        m_reachable(w, &w->e[i], sha);
        merged = true;
    }
    if (tpa != FZ_US_IP)
        return;
    if (!merged && spa && spa != fz_ip(10, 0, 0, 255)) {
        i = m_alloc(w, false);
        if (i >= 0) {
            w->e[i].ip = spa;
            m_reachable(w, &w->e[i], sha);
        }
    }
    if (request)
        want(w, 2, sha, sha, FZ_US_IP, spa, 0);
}

MODEL static void m_fire(struct world *w, struct ment *e)
{
    const struct ustack_config *c = w->cfg;
    switch (e->state) {
    case ARP_INCOMPLETE:
        if (e->tries < c->arp_retries) {
            e->tries++;
            m_request(w, e->ip, BCAST);
            e->deadline = w->now + c->arp_retry_us;
            return;
        }
        if (e->qn)
            w->error = EHOSTUNREACH;
        m_clear(e);
        return;
    case ARP_REACHABLE:
        e->state = ARP_STALE;
        e->deadline = w->now + c->arp_stale_gc_us;
        return;
    case ARP_STALE: m_clear(e); return;
    case ARP_FREE: return;
    }
}

/* Every timer due by t, in time order, each at its own time. */
MODEL static void m_advance(struct world *w, ustack_time_t t)
{
    for (;;) {
        ustack_time_t best = t + 1;
        int bi = -2;
        for (unsigned i = 0; i < w->cfg->arp_cache_size; i++)
            if (w->e[i].state != ARP_FREE && w->e[i].deadline < best)
                best = w->e[i].deadline, bi = (int)i;
        if (w->announce_left && w->announce_at < best)
            best = w->announce_at, bi = -1;
        if (bi == -2)
            break;
        if (best > w->now)
            w->now = best;
        if (bi == -1) {
            want(w, 1, BCAST, ZERO, FZ_US_IP, FZ_US_IP, 0);
            if (--w->announce_left)
                w->announce_at = w->now + USTACK_SEC(2);
        } else {
            m_fire(w, &w->e[bi]);
        }
    }
    if (t > w->now)
        w->now = t;
}

/* ------------------------------------------------------------ checks */

static int frame_cmp(const void *a, const void *b) { return memcmp(a, b, sizeof(struct frame)); }

MODEL static void collect(struct world *w)
{
    int n;
    while ((n = ustack_link_recv(w->lb, w->now, w->buf, sizeof w->buf)) > 0) {
        const uint8_t *f = w->buf;
        FZ_CHECK(n >= 60 && memcmp(f + 6, FZ_US_MAC, 6) == 0, "a %d-byte frame, or not from our MAC", n);
        FZ_CHECK(w->ngot < MAX_FRAMES, "too many frames sent in one step");
        struct frame *g = &w->got[w->ngot++];
        memset(g, 0, sizeof *g);
        memcpy(g->dst, f, 6);
        if (fz_get16(f + 12) == 0x0806) {
            const uint8_t *a = f + 14;
            uint16_t op = fz_get16(a + 6);
            FZ_CHECK(fz_get16(a) == 1 && fz_get16(a + 2) == 0x0800 && a[4] == 6 && a[5] == 4 &&
                         (op == 1 || op == 2) && memcmp(a + 8, FZ_US_MAC, 6) == 0,
                     "a malformed ARP packet sent");
            g->kind = (uint8_t)op;
            memcpy(&g->spa, a + 14, 4);
            memcpy(g->tha, a + 18, 6);
            memcpy(&g->tpa, a + 24, 4);
        } else {
            FZ_CHECK(fz_get16(f + 12) == 0x0800, "EtherType 0x%04x sent", fz_get16(f + 12));
            const uint8_t *ip = f + 14;
            FZ_CHECK(ip[0] == 0x45 && ip[9] == 17, "not the UDP datagram sent");
            g->kind = 3;
            g->seq = fz_get32(ip + 28);
        }
    }
}

MODEL static void check(struct world *w, const char *what)
{
    collect(w);
    FZ_CHECK(w->ngot == w->nwant, "%s: %u frames sent, %u expected", what, w->ngot, w->nwant);
    /* IPv4 frames in order, ARP frames in any order (timers due together
     * fire in either order). */
    unsigned gi = 0, wi = 0;
    for (;; gi++, wi++) {
        while (gi < w->ngot && w->got[gi].kind != 3)
            gi++;
        while (wi < w->nwant && w->want[wi].kind != 3)
            wi++;
        if (gi >= w->ngot || wi >= w->nwant)
            break;
        FZ_CHECK(frame_cmp(&w->got[gi], &w->want[wi]) == 0, "%s: datagram %u sent to the wrong place or out of order",
                 what, w->got[gi].seq);
    }
    FZ_CHECK(gi >= w->ngot && wi >= w->nwant, "%s: datagrams differ", what);
    qsort(w->got, w->ngot, sizeof w->got[0], frame_cmp);
    qsort(w->want, w->nwant, sizeof w->want[0], frame_cmp);
    for (unsigned i = 0; i < w->ngot; i++)
        FZ_CHECK(frame_cmp(&w->got[i], &w->want[i]) == 0, "%s: frame %u (kind %u to %08x) not the one expected (kind %u to %08x)",
                 what, i, w->got[i].kind, w->got[i].tpa, w->want[i].kind, w->want[i].tpa);
    w->ngot = w->nwant = 0;

    if (w->udp >= 0) {
        int err = -1;
        socklen_t len = sizeof err;
        FZ_CHECK(us_getsockopt(w->st, w->udp, SOL_SOCKET, SO_ERROR, &err, &len) == 0, "SO_ERROR");
        FZ_CHECK(err == w->error, "%s: pending error %d, the model's %d", what, err, w->error);
        w->error = 0;
    }
    for (unsigned i = 0; i < w->cfg->arp_cache_size; i++) {
        const struct arp_entry *s = &w->st->arp.entries[i];
        const struct ment *m = &w->e[i];
        FZ_CHECK(s->state == m->state, "%s: entry %u in state %d, the model's %d", what, i, s->state, m->state);
        if (m->state == ARP_FREE)
            continue;
        FZ_CHECK(s->ip == m->ip && s->tries == m->tries && s->updated == m->updated && s->pending.count == m->qn,
                 "%s: entry %u: address, tries (%u, %u), confirmation or queue (%zu, %u) differ", what, i, s->tries,
                 m->tries, (size_t)s->pending.count, m->qn);
        FZ_CHECK(m->state == ARP_INCOMPLETE || memcmp(s->mac, m->mac, 6) == 0, "%s: entry %u: MAC differs", what, i);
    }
}

/* ------------------------------------------------------------ steps */

static void pass_time(struct world *w, ustack_time_t dt)
{
    ustack_time_t end = w->now + dt;
    for (int i = 0; i < 1000; i++) {
        ustack_time_t d = ustack_next_deadline(w->st);
        if (d > end)
            break;
        ustack_time_t t = d > w->now ? d : w->now;
        ustack_poll(w->st, t);
        m_advance(w, t);
        check(w, "timers");
    }
    ustack_poll(w->st, end);
    m_advance(w, end);
    check(w, "time");
}

static void arp_packet(struct world *w, uint8_t op, uint8_t a)
{
    uint8_t f[60] = {0};
    bool request = !(a & 1);
    uint32_t spa = arp_ip((a >> 1) & 7), tpa = (a & 0x10) ? FZ_US_IP : arp_ip(((a >> 1) & 7) ^ 1);
    static const uint8_t third[6] = {0x02, 0, 0, 0, 0, 0x0c};
    const uint8_t *sha = (a & 0x80) ? third : MACS[(a >> 5) & 3];
    bool for_us = (op & 0x08) || !(op & 0x10); /* broadcast, or to our MAC */
    memcpy(f, (op & 0x08) ? BCAST : for_us ? FZ_US_MAC : MACS[1], 6);
    memcpy(f + 6, sha, 6);
    fz_put16(f + 12, 0x0806);
    uint8_t *p = f + 14;
    fz_put16(p, (op & 0x01) ? 6 : 1);
    fz_put16(p + 2, 0x0800);
    p[4] = 6;
    p[5] = 4;
    fz_put16(p + 6, (op & 0x02) ? 3 : request ? 1 : 2);
    memcpy(p + 8, sha, 6);
    memcpy(p + 14, &spa, 4);
    memcpy(p + 24, &tpa, 4);
    bool valid = for_us && !(op & 0x03);
    /* A frame cut inside the ARP packet: Ethernet takes it as a runt or
     * ARP as too short; either way nothing is learnt. */
    size_t len = (op & 0x04) ? 14 + 27 : sizeof f;
    if (op & 0x04)
        valid = false;
    if (valid)
        m_input(w, request, sha, spa, tpa);
    ustack_input(w->st, f, len);
    check(w, "ARP in");
}

static void udp_send(struct world *w, unsigned i)
{
    uint32_t dst = send_ip(i);
    uint8_t payload[8];
    uint32_t seq = ++w->seq;
    fz_put32(payload, seq);
    fz_put32(payload + 4, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = dst};
    uint32_t nh = i < 4 ? dst : FZ_GW_IP;
    m_output(w, nh, seq);
    ssize_t n = us_sendto(w->st, w->udp, payload, sizeof payload, 0, (struct sockaddr *)&to, sizeof to);
    FZ_CHECK(n == (ssize_t)sizeof payload, "sendto: %zd", n);
    check(w, "send");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct world world;
    struct world *w = &world;
    memset(w, 0, offsetof(struct world, buf));
    struct fz_in in = {.p = data, .n = size};
    uint8_t b0 = fz_u8(&in), b1 = fz_u8(&in);
    static const ustack_time_t retry[4] = {USTACK_SEC(1), USTACK_MS(100), USTACK_SEC(2), USTACK_SEC(3)};
    static const ustack_time_t reach[4] = {USTACK_SEC(30), USTACK_SEC(1), USTACK_SEC(5), USTACK_SEC(10)};
    static const ustack_time_t gc[4] = {USTACK_SEC(60), USTACK_SEC(1), USTACK_SEC(10), USTACK_SEC(30)};
    struct ustack_config cfg;
    fz_config(&cfg);
    cfg.arp_cache_size = 1 + (b0 & 3);
    cfg.arp_queue_len = (b0 >> 2) & 3;
    cfg.arp_retries = (b0 >> 4) & 3;
    cfg.arp_gratuitous = (b0 >> 6) % 3;
    cfg.arp_retry_us = retry[b1 & 3];
    cfg.arp_reachable_us = reach[(b1 >> 2) & 3];
    cfg.arp_stale_gc_us = gc[(b1 >> 4) & 3];
    if (ustack_link_mem_pair(&w->la, &w->lb) < 0 || !(w->st = ustack_create(&cfg, w->la)))
        abort();
    w->cfg = ustack_get_config(w->st);
    w->udp = us_socket(w->st, AF_INET, SOCK_DGRAM, 0);
    if (w->udp < 0)
        abort();
    /* The first poll announces our address. */
    w->now = USTACK_SEC(1);
    w->announce_left = (unsigned)cfg.arp_gratuitous;
    w->announce_at = w->now;
    ustack_poll(w->st, w->now);
    m_advance(w, w->now);
    check(w, "start");

    while (fz_more(&in)) {
        uint8_t op = fz_u8(&in);
        if (op < 0x60) {
            arp_packet(w, op, fz_u8(&in));
        } else if (op < 0xa0) {
            udp_send(w, op & 7);
        } else {
            static const ustack_time_t steps[8] = {USTACK_MS(1),  USTACK_MS(100), USTACK_MS(999), USTACK_SEC(1),
                                                   USTACK_SEC(2), USTACK_SEC(10), USTACK_SEC(31), USTACK_SEC(61)};
            pass_time(w, steps[op & 7]);
        }
    }

    us_close(w->st, w->udp);
    w->udp = -1;
    pass_time(w, w->cfg->arp_reachable_us + w->cfg->arp_stale_gc_us + USTACK_SEC(20));
    struct ustack_usage u;
    ustack_get_usage(w->st, &u);
    FZ_CHECK(u.arp_entries == 0, "%zu ARP entries left after every timeout", u.arp_entries);
    fz_check_empty(w->st, "the socket closed, every ARP timer run out");
    ustack_destroy(w->st);
    ustack_link_close(w->la);
    ustack_link_close(w->lb);
    return 0;
}
