/*
 * libFuzzer target for IPv4 reassembly (stack/ipv4_frag.c): each input is a
 * sequence of up to hundreds of fragments of eight datagrams, interleaved,
 * overlapping, duplicated, contradicting each other, with time passing, all
 * with correct header checksums so that they reach ipv4_reasm_input().
 *
 * The stack is checked against a model written here from the rules of
 * docs/protocols.md ("Reassembly", "Limits", "Timeout"): exact duplicates
 * ignored, any other overlap discarding the datagram, the last fragment
 * fixing the length, at most 256 fragments, the oldest datagrams evicted
 * at reasm_max_datagrams or reasm_max_bytes (bookkeeping counted as the
 * stack counts it: a struct reasm_datagram per datagram, a struct
 * reasm_frag plus the payload per fragment), the timeout from the first
 * fragment. After every step:
 *   - the stack holds as many datagrams and bytes as the model;
 *   - every datagram a raw socket receives is the one the model completed,
 *     in order: the offset-0 fragment's header (options included) with the
 *     total length set, MF and offset cleared, DF kept, a valid checksum, and
 *     every payload byte from the fragment the model kept for it;
 *   - every ICMP time exceeded (code 1) the stack sends quotes the first
 *     fragment of a datagram the model timed out (rate limiting may drop
 *     some, never invent one).
 * At the end the sockets are closed, every timeout passes, and the stack
 * must hold nothing.
 *
 * Input layout: byte 0 picks the limits (reasm_max_datagrams 1, 2, 3 or 64;
 * reasm_max_bytes 4 MiB or a few KiB; timeout 30 s or 1 s); then steps:
 *   op 0x00-0x7f  a fragment of datagram (op & 7): offset (13 bits, in
 *                 8-byte units) with MF, an IP option word and an unaligned
 *                 length in the top 3 bits; length in 8-byte units; a tag
 *                 that salts the payload bytes
 *   op 0x80-0x9f  the fragment sent (op & 7) fragments ago, again
 *   op 0xa0-0xbf  time passes: 1 ms to 61 s
 *   op 0xc0-0xdf  the holes of datagram (op & 7) filled, in order
 *   op 0xe0-0xff  an unfragmented datagram with datagram (op & 7)'s key
 */
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>
#include "internal.h"
#include "fuzz.h"

#define NKEYS 8
#define MAX_FRAGS 256       /* per datagram (docs/protocols.md) */
#define PEER fz_ip(10, 0, 0, 1)
static const uint8_t PEER_MAC[6] = {0x02, 0x00, 10, 0, 0, 1};

struct mfrag {
    uint32_t start, end;
    uint8_t tag;
};

/* One datagram being reassembled, as the model sees it. */
struct mdgram {
    bool live;
    uint64_t seq;           /* creation order: eviction takes the lowest */
    ustack_time_t expires;
    bool have_last, have_first;
    uint32_t total, max_end, covered;
    size_t mem;
    unsigned n;
    struct mfrag f[MAX_FRAGS]; /* sorted by start, never overlapping */
    uint8_t first_hdr[24 + 8]; /* header of the offset-0 fragment + 8 bytes */
    size_t first_hdr_len;
    uint8_t first_ihl;
};

/* A datagram the stack must deliver, or an ICMP error it may send. */
struct expect {
    uint8_t key;
    uint16_t len;           /* whole datagram */
    uint8_t hdr[24];
    uint8_t ihl;
    struct mfrag f[MAX_FRAGS];
    unsigned n;
};

struct quote {
    uint8_t bytes[24 + 8];
    size_t len;
};

struct world {
    struct ustack *st;
    struct ustack_link *la, *lb;
    int raw[2];
    ustack_time_t now;
    const struct ustack_config *cfg;
    struct mdgram d[NKEYS];
    uint64_t next_seq;
    size_t count, bytes;
    /* Completed and not yet received (a raw socket per protocol). */
    struct expect *exp[2][4];
    unsigned nexp[2];
    struct quote quotes[64];
    unsigned nquotes;
    /* The last fragments sent, for replays. */
    struct {
        uint8_t key, flags, tag;
        uint16_t off8;
        uint16_t len;
    } hist[8];
    unsigned nhist;
    uint8_t frame[14 + 24 + 65536];
    uint8_t rx[65536 + 64];
};

static uint16_t key_id(unsigned k) { return (uint16_t)(0x4200 + (k & 3)); }
static uint8_t key_proto(unsigned k) { return k & 4 ? 254 : 253; }
static uint8_t payload_byte(uint32_t pos, uint8_t tag) { return (uint8_t)(pos * 31 + (pos >> 8) + tag); }

/* The byte loops, not instrumented for coverage (fuzz.h). */
FZ_NO_COV __attribute__((noinline)) static void payload_fill(uint8_t *p, uint32_t start, uint32_t len, uint8_t tag)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = payload_byte(start + i, tag);
}

/* The first byte of [start, end) at p that is not the fragment's, or end. */
FZ_NO_COV __attribute__((noinline)) static uint32_t payload_mismatch(const uint8_t *p, uint32_t start, uint32_t end, uint8_t tag)
{
    uint32_t pos = start;
    while (pos < end && p[pos] == payload_byte(pos, tag))
        pos++;
    return pos;
}

/* ------------------------------------------------------------ the model */

/* The model and the checks are not instrumented for coverage (nor inlined
 * into code that is): their loops would cost more than the stack's own code
 * and guide the fuzzer by nothing the stack does. */
#define MODEL FZ_NO_COV __attribute__((noinline))

static size_t dgram_overhead(void) { return sizeof(struct reasm_datagram); }
static size_t frag_mem(uint32_t len) { return sizeof(struct reasm_frag) + len; }

MODEL static void model_free(struct world *w, unsigned k)
{
    struct mdgram *d = &w->d[k];
    w->count--;
    w->bytes -= d->mem;
    d->live = false;
}

MODEL static int model_oldest(const struct world *w, int except)
{
    int best = -1;
    for (int k = 0; k < NKEYS; k++)
        if (w->d[k].live && k != except && (best < 0 || w->d[k].seq < w->d[best].seq))
            best = k;
    return best;
}

/* Room for need more bytes (and a datagram if new_dgram), evicting the
 * oldest other than keep. */
MODEL static bool model_make_room(struct world *w, size_t need, bool new_dgram, int keep)
{
    if (need > w->cfg->reasm_max_bytes)
        return false;
    while ((new_dgram && w->count >= w->cfg->reasm_max_datagrams) || w->bytes + need > w->cfg->reasm_max_bytes) {
        int v = model_oldest(w, keep);
        if (v < 0)
            return false;
        model_free(w, (unsigned)v);
    }
    return true;
}

MODEL static void expect_push(struct world *w, struct expect *e)
{
    unsigned p = key_proto(e->key) == 254;
    FZ_CHECK(w->nexp[p] < 4, "deliveries piling up");
    w->exp[p][w->nexp[p]++] = e;
}

MODEL static void model_complete(struct world *w, unsigned k)
{
    struct mdgram *d = &w->d[k];
    if (d->first_ihl + d->total <= 65535) {
        struct expect *e = malloc(sizeof *e);
        if (!e)
            abort();
        e->key = (uint8_t)k;
        e->ihl = d->first_ihl;
        e->len = (uint16_t)(d->first_ihl + d->total);
        memcpy(e->hdr, d->first_hdr, d->first_ihl);
        e->n = d->n;
        memcpy(e->f, d->f, d->n * sizeof d->f[0]);
        expect_push(w, e);
    }
    model_free(w, k);
}

/* A fragment as docs/protocols.md says it is handled. */
MODEL static void model_fragment(struct world *w, unsigned k, const uint8_t *ip, uint8_t ihl, uint32_t start, uint32_t len,
                           bool mf, uint8_t tag)
{
    uint32_t end = start + len;
    if (ihl + end > 65535 || len == 0 || (mf && len % 8 != 0))
        return;
    struct mdgram *d = &w->d[k];
    if (!d->live) {
        if (!model_make_room(w, dgram_overhead() + frag_mem(len), true, -1))
            return;
        memset(d, 0, sizeof *d);
        d->live = true;
        d->seq = w->next_seq++;
        d->expires = w->now + w->cfg->reasm_timeout_us;
        d->mem = dgram_overhead();
        w->count++;
        w->bytes += d->mem;
    }
    bool bad = mf ? (d->have_last && end > d->total) : ((d->have_last && end != d->total) || end < d->max_end);
    if (bad || d->n >= MAX_FRAGS) {
        model_free(w, k);
        return;
    }
    unsigned i = 0;
    while (i < d->n && d->f[i].start < start)
        i++;
    if (i < d->n && d->f[i].start == start && d->f[i].end == end)
        return; /* exact duplicate: ignored */
    if ((i > 0 && d->f[i - 1].end > start) || (i < d->n && d->f[i].start < end)) {
        model_free(w, k);
        return;
    }
    if (!model_make_room(w, frag_mem(len), false, (int)k)) {
        model_free(w, k);
        return;
    }
    memmove(&d->f[i + 1], &d->f[i], (d->n - i) * sizeof d->f[0]);
    d->f[i] = (struct mfrag){start, end, tag};
    d->n++;
    d->mem += frag_mem(len);
    w->bytes += frag_mem(len);
    if (end > d->max_end)
        d->max_end = end;
    if (!mf) {
        d->have_last = true;
        d->total = end;
    }
    if (start == 0) {
        d->have_first = true;
        d->first_ihl = ihl;
        d->first_hdr_len = ihl + (len < 8 ? len : 8);
        memcpy(d->first_hdr, ip, d->first_hdr_len);
    }
    d->covered += len;
    if (d->have_last && d->covered == d->total)
        model_complete(w, k);
}

MODEL static void model_expire(struct world *w)
{
    for (unsigned k = 0; k < NKEYS; k++) {
        struct mdgram *d = &w->d[k];
        if (!d->live || d->expires > w->now)
            continue;
        if (d->have_first && w->nquotes < 64) {
            memcpy(w->quotes[w->nquotes].bytes, d->first_hdr, d->first_hdr_len);
            w->quotes[w->nquotes++].len = d->first_hdr_len;
        }
        model_free(w, k);
    }
}

/* ------------------------------------------------------------ the wire */

/* What the stack sent: ICMP time exceeded matched against the quotes. */
MODEL static void drain(struct world *w)
{
    int n;
    while ((n = ustack_link_recv(w->lb, w->now, w->rx, sizeof w->rx)) > 0) {
        const uint8_t *f = w->rx;
        if (n < 14 + 20 || fz_get16(f + 12) != 0x0800)
            continue;
        const uint8_t *ip = f + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4, tot = fz_get16(ip + 2);
        FZ_CHECK(ihl >= 20 && tot <= (size_t)n - 14 && fz_fold(fz_sum16(ip, ihl, 0)) == 0, "a bad IPv4 header sent");
        if (ip[9] != 1 || tot < ihl + 8)
            continue;
        const uint8_t *icmp = ip + ihl;
        size_t ilen = tot - ihl;
        FZ_CHECK(fz_fold(fz_sum16(icmp, ilen, 0)) == 0, "an ICMP message with a bad checksum");
        FZ_CHECK(icmp[0] == 11 && icmp[1] == 1, "ICMP %u/%u sent", icmp[0], icmp[1]);
        bool found = false;
        for (unsigned q = 0; q < w->nquotes && !found; q++) {
            if (w->quotes[q].len == ilen - 8 && memcmp(w->quotes[q].bytes, icmp + 8, ilen - 8) == 0) {
                w->quotes[q] = w->quotes[--w->nquotes];
                found = true;
            }
        }
        FZ_CHECK(found, "an ICMP time exceeded quoting %zu bytes of no datagram that timed out", ilen - 8);
    }
}

/* What the raw sockets received: exactly what the model completed. */
MODEL static void receive(struct world *w)
{
    for (unsigned p = 0; p < 2; p++) {
        ssize_t n;
        unsigned i = 0;
        while ((n = us_recvfrom(w->st, w->raw[p], w->rx, sizeof w->rx, 0, NULL, NULL)) >= 0) {
            FZ_CHECK(i < w->nexp[p], "a datagram of protocol %u delivered that the model did not complete (%zd bytes)",
                     253 + p, n);
            struct expect *e = w->exp[p][i++];
            const uint8_t *ip = w->rx;
            FZ_CHECK((size_t)n == e->len, "a %zd-byte datagram where %u were expected", n, e->len);
            FZ_CHECK(ip[0] == e->hdr[0] && fz_get16(ip + 2) == e->len && fz_get16(ip + 4) == fz_get16(e->hdr + 4) &&
                         fz_get16(ip + 6) == (fz_get16(e->hdr + 6) & 0x4000) && ip[9] == e->hdr[9] &&
                         memcmp(ip + 12, e->hdr + 12, 8) == 0 && memcmp(ip + 20, e->hdr + 20, e->ihl - 20) == 0,
                     "the rebuilt header differs from the first fragment's");
            FZ_CHECK(fz_fold(fz_sum16(ip, e->ihl, 0)) == 0, "the rebuilt header's checksum is wrong");
            for (unsigned j = 0; j < e->n; j++) {
                uint32_t bad = payload_mismatch(ip + e->ihl, e->f[j].start, e->f[j].end, e->f[j].tag);
                FZ_CHECK(bad == e->f[j].end, "payload byte %u not from the fragment held for it", bad);
            }
        }
        FZ_CHECK(i == w->nexp[p], "%u completed datagrams of protocol %u never delivered", w->nexp[p] - i, 253 + p);
        for (unsigned j = 0; j < w->nexp[p]; j++)
            free(w->exp[p][j]);
        w->nexp[p] = 0;
    }
}

MODEL static void check(struct world *w)
{
    drain(w);
    receive(w);
    /* What ustack_get_usage() reports, without its walk of the ARP cache. */
    FZ_CHECK(w->st->reasm.count == w->count && w->st->reasm.bytes == w->bytes,
             "the stack holds %zu datagrams in %zu bytes, the model %zu in %zu", w->st->reasm.count,
             w->st->reasm.bytes, w->count, w->bytes);
}

/* Sends one IPv4 datagram from the peer (a fragment when mf or start). */
static void send_fragment(struct world *w, unsigned k, uint32_t start, uint32_t len, bool mf, bool opt, bool df,
                          uint8_t tag)
{
    uint8_t *f = w->frame;
    memcpy(f, FZ_US_MAC, 6);
    memcpy(f + 6, PEER_MAC, 6);
    fz_put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    uint8_t ihl = opt ? 24 : 20;
    memset(ip, 0, ihl);
    ip[0] = (uint8_t)(0x40 | ihl / 4);
    fz_put16(ip + 2, (uint16_t)(ihl + len));
    fz_put16(ip + 4, key_id(k));
    fz_put16(ip + 6, (uint16_t)((df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | (start / 8)));
    ip[8] = 64;
    ip[9] = key_proto(k);
    uint32_t src = PEER, dst = FZ_US_IP;
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    if (opt)
        ip[20] = ip[21] = ip[22] = 1; /* NOP NOP NOP EOL */
    fz_put16(ip + 10, fz_fold(fz_sum16(ip, ihl, 0)));
    payload_fill(ip + ihl, start, len, tag);
    if (!mf && start == 0) {
        /* Not a fragment: delivered as it is. */
        struct expect *e = malloc(sizeof *e);
        if (!e)
            abort();
        e->key = (uint8_t)k;
        e->ihl = ihl;
        e->len = (uint16_t)(ihl + len);
        memcpy(e->hdr, ip, ihl);
        e->n = 1;
        e->f[0] = (struct mfrag){0, len, tag};
        expect_push(w, e);
    } else {
        model_fragment(w, k, ip, ihl, start, len, mf, tag);
    }
    ustack_input(w->st, f, 14 + ihl + len);
    check(w);
}

static void pass_time(struct world *w, ustack_time_t dt)
{
    ustack_time_t end = w->now + dt;
    for (int i = 0; i < 100; i++) {
        ustack_time_t d = ustack_next_deadline(w->st);
        if (d > end)
            break;
        if (d > w->now)
            w->now = d;
        ustack_poll(w->st, w->now);
        model_expire(w);
        check(w);
    }
    w->now = end;
    ustack_poll(w->st, w->now);
    model_expire(w);
    check(w);
}

/* Fragments that fill datagram k's holes, and its end if it has none. */
static void fill_holes(struct world *w, unsigned k, uint8_t tag)
{
    struct mdgram *d = &w->d[k];
    if (!d->live) {
        send_fragment(w, k, 0, 16, true, false, false, tag);
        send_fragment(w, k, 16, 8, false, false, false, tag);
        return;
    }
    uint32_t want = d->have_last ? d->total : ((d->max_end + 7) & ~7u) + 8;
    for (int guard = 0; guard < 64 && w->d[k].live; guard++) {
        uint32_t pos = 0, hole = want;
        for (unsigned j = 0; j < d->n; j++) {
            if (d->f[j].start > pos) {
                hole = d->f[j].start;
                break;
            }
            pos = d->f[j].end;
        }
        if (pos >= want)
            break;
        uint32_t len = hole - pos > 1480 ? 1480 : hole - pos;
        /* Hole edges are multiples of 8 (every fragment held but the last
         * is); the piece that reaches the end is the last fragment. */
        bool mf = !(pos + len == want && !d->have_last);
        send_fragment(w, k, pos, len, mf, false, false, tag);
    }
}

/* ------------------------------------------------------------ the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct world world;
    struct world *w = &world;
    memset(w, 0, offsetof(struct world, frame));
    struct fz_in in = {.p = data, .n = size};
    uint8_t c = fz_u8(&in);
    static const unsigned maxd[4] = {1, 2, 3, 64};
    struct ustack_config cfg;
    fz_config(&cfg);
    cfg.reasm_max_datagrams = maxd[c & 3];
    if (c & 4)
        cfg.reasm_max_bytes = 2048 + (size_t)(c >> 5) * 1024;
    if (c & 8)
        cfg.reasm_timeout_us = USTACK_SEC(1);
    /* ARP stays resolved whatever time passes: ICMP errors go out at once. */
    cfg.arp_reachable_us = USTACK_SEC(1000000);
    cfg.arp_stale_gc_us = USTACK_SEC(1000000);
    if (ustack_link_mem_pair(&w->la, &w->lb) < 0 || !(w->st = ustack_create(&cfg, w->la)))
        abort();
    w->cfg = ustack_get_config(w->st);
    w->now = USTACK_SEC(1);
    ustack_poll(w->st, w->now);
    for (unsigned p = 0; p < 2; p++) {
        int big = 1 << 20;
        w->raw[p] = us_socket(w->st, AF_INET, SOCK_RAW, (int)(253 + p));
        if (w->raw[p] < 0 || us_setsockopt(w->st, w->raw[p], SOL_SOCKET, SO_RCVBUF, &big, sizeof big) < 0)
            abort();
    }
    /* The peer's MAC, from an ARP request. */
    uint8_t arp[42] = {0};
    memcpy(arp, FZ_US_MAC, 6);
    memcpy(arp + 6, PEER_MAC, 6);
    fz_put16(arp + 12, 0x0806);
    fz_put16(arp + 14, 1);
    fz_put16(arp + 16, 0x0800);
    arp[18] = 6;
    arp[19] = 4;
    fz_put16(arp + 20, 1);
    memcpy(arp + 22, PEER_MAC, 6);
    uint32_t peer = PEER, us = FZ_US_IP;
    memcpy(arp + 28, &peer, 4);
    memcpy(arp + 38, &us, 4);
    ustack_input(w->st, arp, sizeof arp);
    check(w);

    while (fz_more(&in)) {
        uint8_t op = fz_u8(&in);
        unsigned k = op & 7;
        if (op < 0x80) {
            uint16_t off = fz_u16(&in);
            uint8_t units = fz_u8(&in), tag = fz_u8(&in);
            uint32_t start = (uint32_t)(off & 0x1fff) * 8;
            uint32_t len = (uint32_t)(units % 186) * 8;
            bool mf = off & 0x8000, opt = off & 0x4000;
            if (off & 0x2000)
                len = len > (uint32_t)(tag & 7) ? len - (tag & 7) : len + (tag & 7);
            unsigned h = w->nhist++ % 8;
            w->hist[h].key = (uint8_t)k;
            w->hist[h].off8 = (uint16_t)(start / 8);
            w->hist[h].len = (uint16_t)len;
            w->hist[h].flags = (uint8_t)((mf ? 1 : 0) | (opt ? 2 : 0) | ((op & 8) ? 4 : 0));
            w->hist[h].tag = tag;
            send_fragment(w, k, start, len, mf, opt, op & 8, tag);
        } else if (op < 0xa0) {
            if (w->nhist == 0)
                continue;
            unsigned back = k % (w->nhist < 8 ? w->nhist : 8);
            unsigned h = (w->nhist - 1 - back) % 8;
            send_fragment(w, w->hist[h].key, (uint32_t)w->hist[h].off8 * 8, w->hist[h].len, w->hist[h].flags & 1,
                          w->hist[h].flags & 2, w->hist[h].flags & 4, w->hist[h].tag);
        } else if (op < 0xc0) {
            static const ustack_time_t steps[8] = {USTACK_MS(1),  USTACK_MS(500), USTACK_SEC(1),  USTACK_SEC(5),
                                                   USTACK_SEC(29), USTACK_SEC(30), USTACK_SEC(31), USTACK_SEC(61)};
            pass_time(w, steps[k]);
        } else if (op < 0xe0) {
            fill_holes(w, k, fz_u8(&in));
        } else {
            uint8_t units = fz_u8(&in);
            send_fragment(w, k, 0, 8u * (units % 186) + 1, false, false, false, units);
        }
    }

    for (unsigned p = 0; p < 2; p++)
        us_close(w->st, w->raw[p]);
    /* Past every timeout: each datagram still held times out. */
    ustack_time_t end = w->now + w->cfg->reasm_timeout_us + USTACK_SEC(1);
    for (int i = 0; i < 100 && ustack_next_deadline(w->st) <= end; i++) {
        if (ustack_next_deadline(w->st) > w->now)
            w->now = ustack_next_deadline(w->st);
        ustack_poll(w->st, w->now);
        model_expire(w);
        drain(w);
    }
    w->now = end;
    ustack_poll(w->st, w->now);
    model_expire(w);
    drain(w);
    FZ_CHECK(w->count == 0, "the model still holds %zu datagrams", w->count);
    fz_check_empty(w->st, "every socket closed, every reassembly timed out");
    ustack_destroy(w->st);
    ustack_link_close(w->la);
    ustack_link_close(w->lb);
    return 0;
}
