/*
 * IPv4 reassembly (in order, reverse, random, duplicates, overlaps, bounds,
 * timeout with ICMP time exceeded, limits on datagrams and bytes) and
 * fragmentation (MTU boundaries, 8-byte multiples, offsets and MF, the
 * stack's own fragments reassembled, a 65507-byte echo end to end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* ------------------------------------------------------------ forging fragments */

#define MAX_FRAGS 300

struct frag {
    size_t len;
    uint8_t f[ETH_HDR_LEN + IPV4_HDR_LEN + 1480];
};

static struct frag frags[MAX_FRAGS];

/* Splits `payload` (an IP payload) into fragments of `fsz` bytes (a multiple
 * of 8) PEER -> us with `id` and `proto`; returns how many. */
static unsigned make_frags(uint16_t id, uint8_t proto, const uint8_t *payload, size_t plen, size_t fsz)
{
    unsigned n = 0;
    for (size_t off = 0; off < plen; off += fsz, n++) {
        ck_assert_uint_lt(n, MAX_FRAGS);
        size_t len = plen - off < fsz ? plen - off : fsz;
        struct frag *f = &frags[n];
        memcpy(f->f, OUR_MAC, 6);
        memcpy(f->f + 6, PEER_MAC, 6);
        wr16(f->f + 12, ETH_TYPE_IPV4);
        f->len = ETH_HDR_LEN + forge_ip(f->f + ETH_HDR_LEN,
                                        &(struct ipspec){.proto = proto, .id = id, .off = (uint16_t)off,
                                                         .mf = off + len < plen},
                                        payload + off, len);
    }
    return n;
}

/* One fragment with explicit fields. */
static void inject_frag(struct h *t, uint16_t id, uint8_t proto, uint16_t off, bool mf, const uint8_t *data,
                        size_t len)
{
    h_inject_ip(t, &(struct ipspec){.proto = proto, .id = id, .off = off, .mf = mf}, data, len);
}

static uint8_t data[70000];
static uint8_t udp[70000];

/* A UDP datagram PEER:1111 -> us:7 carrying `len` bytes of data(seed); its
 * UDP header + data are left in udp[]; returns the UDP length. */
static size_t make_udp(size_t len, uint64_t seed)
{
    h_fill(data, len, seed);
    return forge_udp(udp, PEER_IP, OUR_IP, 1111, 7, data, len);
}

/* Asserts the socket holds exactly the datagram made by make_udp(len). */
static void expect_delivered(struct h *t, int s, size_t len)
{
    static uint8_t buf[70000];
    ssize_t n = us_recv(t->st, s, buf, sizeof buf, 0);
    ck_assert_int_eq(n, (ssize_t)len);
    ck_assert_mem_eq(buf, data, len);
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1); /* exactly once */
    ck_assert_int_eq(errno, EAGAIN);
}

static void expect_nothing(struct h *t, int s)
{
    uint8_t buf[16];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
}

static void shuffle(unsigned *order, unsigned n, uint64_t seed)
{
    for (unsigned i = 0; i < n; i++)
        order[i] = i;
    for (unsigned i = n - 1; i > 0; i--) {
        unsigned j = (unsigned)(ustack_rand64(&seed) % (i + 1));
        unsigned tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* ------------------------------------------------------------ reassembly */

START_TEST(reassembles_fragments_in_order)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t ul = make_udp(4000, 1);
    unsigned n = make_frags(100, IPPROTO_UDP_, udp, ul, 1480);
    ck_assert_uint_eq(n, 3);
    for (unsigned i = 0; i < n; i++) {
        h_inject(t, frags[i].f, frags[i].len);
        if (i + 1 < n)
            ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    }
    expect_delivered(t, s, 4000);
    ck_assert_uint_eq(h_cnt(t, "ip_frags_rx"), 3);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 1);
    ck_assert_uint_eq(h_cnt(t, "udp_drop_bad_checksum"), 0);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(reassembles_fragments_in_reverse_order)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t ul = make_udp(3000, 2);
    unsigned n = make_frags(101, IPPROTO_UDP_, udp, ul, 256);
    ck_assert_uint_eq(n, 12);
    for (unsigned i = n; i-- > 0;)
        h_inject(t, frags[i].f, frags[i].len);
    expect_delivered(t, s, 3000);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 1);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(reassembles_fragments_in_random_order)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    static const size_t sizes[] = {8, 24, 64, 256, 512};
    unsigned order[MAX_FRAGS];
    uint64_t fragmented = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        size_t len = 600 + (size_t)(seed * 997 % 1392); /* 2..250 fragments */
        size_t ul = make_udp(len, seed);
        unsigned n = make_frags((uint16_t)(200 + seed), IPPROTO_UDP_, udp, ul, sizes[seed % 5]);
        fragmented += n > 1;
        shuffle(order, n, seed);
        for (unsigned i = 0; i < n; i++)
            h_inject(t, frags[order[i]].f, frags[order[i]].len);
        ck_assert_msg(h_usage(t).reasm_datagrams == 0, "seed %llu left a reassembly", (unsigned long long)seed);
        expect_delivered(t, s, len);
    }
    ck_assert_uint_eq(fragmented, 40);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), fragmented);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(exact_duplicate_fragment_is_ignored)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t ul = make_udp(2000, 3);
    unsigned n = make_frags(102, IPPROTO_UDP_, udp, ul, 512);
    ck_assert_uint_eq(n, 4);
    h_inject(t, frags[1].f, frags[1].len);
    h_inject(t, frags[0].f, frags[0].len);
    h_inject(t, frags[1].f, frags[1].len);
    h_inject(t, frags[0].f, frags[0].len);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_dup"), 2);
    h_inject(t, frags[2].f, frags[2].len);
    h_inject(t, frags[3].f, frags[3].len);
    expect_delivered(t, s, 2000);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_overlap"), 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(overlapping_fragment_discards_the_datagram)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    uint8_t d[64];
    h_fill(d, sizeof d, 4);
    /* New piece overlapping the end of the one before it. */
    inject_frag(t, 103, IPPROTO_UDP_, 0, true, d, 16);
    inject_frag(t, 103, IPPROTO_UDP_, 8, true, d, 16);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_overlap"), 1);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    ck_assert_uint_eq(h_usage(t).reasm_bytes, 0);
    /* New piece overlapping the start of the one after it. */
    inject_frag(t, 104, IPPROTO_UDP_, 16, true, d, 16);
    inject_frag(t, 104, IPPROTO_UDP_, 8, true, d, 16);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_overlap"), 2);
    /* Same start, different length: not a duplicate. */
    inject_frag(t, 105, IPPROTO_UDP_, 0, true, d, 16);
    inject_frag(t, 105, IPPROTO_UDP_, 0, true, d, 24);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_overlap"), 3);
    /* A piece inside another. */
    inject_frag(t, 106, IPPROTO_UDP_, 0, true, d, 48);
    inject_frag(t, 106, IPPROTO_UDP_, 16, true, d, 8);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_overlap"), 4);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    ck_assert_uint_eq(h_usage(t).pbufs, 0);
    expect_nothing(t, s);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(fragment_ending_beyond_65535_is_dropped)
{
    struct h *t = h_new();
    uint8_t d[16] = {0};
    /* 20 + 65504 + 11 = 65535: the largest legal end is accepted. */
    inject_frag(t, 107, IPPROTO_UDP_, 65504, false, d, 11);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_too_big"), 0);
    /* One byte more is not. */
    inject_frag(t, 108, IPPROTO_UDP_, 65504, false, d, 12);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_too_big"), 1);
    inject_frag(t, 109, IPPROTO_UDP_, 8191 * 8, true, d, 16);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_too_big"), 2);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    h_expect_none(t); /* no first fragment: no ICMP */
    h_done(t);
}
END_TEST

START_TEST(middle_fragment_not_multiple_of_8_is_dropped)
{
    struct h *t = h_new();
    uint8_t d[16] = {0};
    inject_frag(t, 110, IPPROTO_UDP_, 0, true, d, 12);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 1);
    inject_frag(t, 110, IPPROTO_UDP_, 8, true, d, 0); /* empty */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 2);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    /* A last fragment may have any length. */
    inject_frag(t, 110, IPPROTO_UDP_, 8, false, d, 13);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 2);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    h_time(t, USTACK_SEC(30));
    h_done(t);
}
END_TEST

START_TEST(contradicting_last_fragment_discards_the_datagram)
{
    struct h *t = h_new();
    uint8_t d[64] = {0};
    inject_frag(t, 111, IPPROTO_UDP_, 16, false, d, 16); /* total 32 */
    inject_frag(t, 111, IPPROTO_UDP_, 24, false, d, 16); /* total 40? */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 1);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    inject_frag(t, 112, IPPROTO_UDP_, 16, false, d, 16); /* total 32 */
    inject_frag(t, 112, IPPROTO_UDP_, 32, true, d, 8);   /* beyond it */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 2);
    inject_frag(t, 113, IPPROTO_UDP_, 40, true, d, 8);
    inject_frag(t, 113, IPPROTO_UDP_, 8, false, d, 16); /* ends before data seen */
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_bad"), 3);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    ck_assert_uint_eq(h_usage(t).reasm_bytes, 0);
    h_done(t);
}
END_TEST

START_TEST(more_than_256_fragments_discard_the_datagram)
{
    struct h *t = h_new();
    int s = h_udp(t, 7);
    size_t ul = make_udp(2100, 5); /* 2108 bytes: 264 pieces of 8 */
    unsigned n = make_frags(114, IPPROTO_UDP_, udp, ul, 8);
    ck_assert_uint_eq(n, 264);
    for (unsigned i = 0; i < n; i++)
        h_inject(t, frags[i].f, frags[i].len);
    ck_assert_uint_ge(h_cnt(t, "ip_drop_frag_bad"), 1);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 0);
    expect_nothing(t, s);
    h_time(t, USTACK_SEC(30)); /* what came after the discard times out */
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(timeout_sends_time_exceeded_when_first_fragment_seen)
{
    struct h *t = h_new();
    size_t ul = make_udp(2000, 6);
    unsigned n = make_frags(115, IPPROTO_UDP_, udp, ul, 1480);
    ck_assert_uint_eq(n, 2);
    h_inject(t, frags[0].f, frags[0].len);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    h_time(t, USTACK_SEC(30) - 1);
    h_expect_none(t);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 1);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_ICMP_);
    ck_assert_uint_eq(p.dst, PEER_IP);
    ck_assert_uint_eq(p.l4[0], ICMP_TIME_EXCEEDED);
    ck_assert_uint_eq(p.l4[1], ICMP_TIMXCEED_REASM);
    ck_assert_uint_eq(inet_checksum(p.l4, p.l4len), 0);
    /* The quote: the first fragment's header and first 8 data bytes. */
    ck_assert_uint_eq(p.l4len, ICMP_HDR_LEN + IPV4_HDR_LEN + 8);
    ck_assert_mem_eq(p.l4 + ICMP_HDR_LEN, frags[0].f + ETH_HDR_LEN, IPV4_HDR_LEN + 8);
    h_expect_none(t);
    struct ustack_usage u = h_usage(t);
    ck_assert_uint_eq(u.reasm_datagrams, 0);
    ck_assert_uint_eq(u.reasm_bytes, 0);
    /* The rest arriving late starts over and never completes. */
    h_inject(t, frags[1].f, frags[1].len);
    h_time(t, USTACK_SEC(60));
    h_expect_none(t);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 2);
    h_done(t);
}
END_TEST

START_TEST(timeout_without_first_fragment_sends_nothing)
{
    struct h *t = h_new();
    size_t ul = make_udp(4000, 7);
    unsigned n = make_frags(116, IPPROTO_UDP_, udp, ul, 1480);
    h_inject(t, frags[1].f, frags[1].len);
    h_inject(t, frags[n - 1].f, frags[n - 1].len);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx"), 0);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(concurrent_datagram_limit_evicts_the_oldest)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.reasm_max_datagrams = 4;
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 7);
    /* Five datagrams, all with the same 16 bytes, ids 1..5: first halves. */
    size_t ul = make_udp(8, 8); /* 16 bytes of UDP */
    for (uint16_t id = 1; id <= 5; id++) {
        h_step(t, USTACK_MS(1));
        inject_frag(t, id, IPPROTO_UDP_, 0, true, udp, 8);
    }
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 4);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_evicted"), 1);
    /* 2..5 complete; 1 was evicted and its second half starts over. */
    for (uint16_t id = 2; id <= 5; id++) {
        inject_frag(t, id, IPPROTO_UDP_, 8, false, udp + 8, 8);
        expect_delivered(t, s, 8);
    }
    inject_frag(t, 1, IPPROTO_UDP_, 8, false, udp + 8, 8);
    expect_nothing(t, s);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 1);
    ck_assert_uint_eq(ul, 16);
    h_step(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 1);
    h_expect_none(t); /* evicted or timed out without a first piece: silent */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(byte_limit_evicts_the_oldest)
{
    const size_t per = sizeof(struct reasm_datagram) + sizeof(struct reasm_frag) + 1480;
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.reasm_max_bytes = 3 * per + per / 2;
    struct h *t = h_new_cfg(&cfg, 0);
    uint8_t d[1480];
    h_fill(d, sizeof d, 9);
    for (uint16_t id = 1; id <= 3; id++)
        inject_frag(t, id, IPPROTO_UDP_, 1480, true, d, 1480);
    ck_assert_uint_eq(h_usage(t).reasm_bytes, 3 * per);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_evicted"), 0);
    inject_frag(t, 4, IPPROTO_UDP_, 1480, true, d, 1480);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_evicted"), 1);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 3);
    ck_assert_uint_eq(h_usage(t).reasm_bytes, 3 * per);
    /* A second piece for datagram 4 evicts 2, the oldest other than itself. */
    inject_frag(t, 4, IPPROTO_UDP_, 2960, true, d, 1480);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_evicted"), 2);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 2);
    ck_assert_uint_le(h_usage(t).reasm_bytes, cfg.reasm_max_bytes);
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), 2);
    h_done(t);
}
END_TEST

START_TEST(fragment_larger_than_byte_limit_is_dropped)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.reasm_max_bytes = 1000;
    struct h *t = h_new_cfg(&cfg, 0);
    uint8_t d[1480] = {0};
    inject_frag(t, 1, IPPROTO_UDP_, 0, true, d, 1480);
    ck_assert_uint_eq(h_cnt(t, "ip_drop_frag_too_big"), 1);
    ck_assert_uint_eq(h_usage(t).reasm_datagrams, 0);
    h_done(t);
}
END_TEST

START_TEST(two_thousand_unfinished_reassemblies_stay_bounded)
{
    struct h *t = h_new();
    const struct ustack_config *cfg = ustack_get_config(t->st);
    uint8_t d[1480];
    h_fill(d, sizeof d, 10);
    size_t max_bytes = 0, max_dgrams = 0;
    for (unsigned i = 0; i < 2000; i++) {
        inject_frag(t, (uint16_t)(1000 + i), IPPROTO_UDP_, 1480, true, d, 1480);
        struct ustack_usage u = h_usage(t);
        if (u.reasm_bytes > max_bytes)
            max_bytes = u.reasm_bytes;
        if (u.reasm_datagrams > max_dgrams)
            max_dgrams = u.reasm_datagrams;
        ck_assert_uint_eq(u.pbufs, 0);
    }
    ck_assert_uint_eq(max_dgrams, cfg->reasm_max_datagrams);
    ck_assert_uint_le(max_bytes, cfg->reasm_max_bytes);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_evicted"), 2000 - cfg->reasm_max_datagrams);
    ck_assert_uint_eq(h_usage(t).timers, cfg->reasm_max_datagrams + 1); /* + the ARP entry */
    h_time(t, USTACK_SEC(30));
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_timeout"), cfg->reasm_max_datagrams);
    h_expect_none(t);
    h_done(t);
}
END_TEST

START_TEST(reassembled_header_is_rebuilt_for_raw_sockets)
{
    struct h *t = h_new();
    int s = us_socket(t->st, AF_INET, SOCK_RAW, 253);
    ck_assert_int_ge(s, 0);
    h_fill(data, 3000, 11);
    unsigned n = make_frags(117, 253, data, 3000, 1480);
    for (unsigned i = n; i-- > 0;)
        h_inject(t, frags[i].f, frags[i].len);
    static uint8_t buf[4000];
    ck_assert_int_eq(us_recv(t->st, s, buf, sizeof buf, 0), IPV4_HDR_LEN + 3000);
    ck_assert_uint_eq(rd16(buf + 2), IPV4_HDR_LEN + 3000);
    ck_assert_uint_eq(rd16(buf + 4), 117);
    ck_assert_uint_eq(rd16(buf + 6), 0); /* no MF, no offset */
    ck_assert_uint_eq(inet_checksum(buf, IPV4_HDR_LEN), 0);
    ck_assert_mem_eq(buf + IPV4_HDR_LEN, data, 3000);
    h_expect_none(t); /* taken by the raw socket: no protocol unreachable */
    us_close(t->st, s);
    h_done(t);
}
END_TEST

/* ------------------------------------------------------------ fragmentation */

/* Reassembles what the stack sent (fragments or not) on the test's side,
 * checking every fragment; returns the IP payload length. */
struct rsm {
    uint8_t payload[65536];
    bool have[65536];
    uint8_t hdr[IPV4_HDR_LEN];
    unsigned nfrags;
    size_t total;
};
static struct rsm rsm;

static size_t collect(struct h *t, uint8_t proto, uint16_t mtu)
{
    memset(&rsm, 0, sizeof rsm);
    static struct pkt p;
    bool last = false;
    int id = -1;
    while (!last) {
        h_expect_ip(t, &p, proto);
        ck_assert_uint_le(p.tot, mtu);
        ck_assert_uint_eq(p.ihl, IPV4_HDR_LEN);
        ck_assert(!p.df);
        ck_assert_uint_eq(p.ttl, 64);
        if (id < 0)
            id = p.id;
        ck_assert_uint_eq(p.id, (uint16_t)id);
        ck_assert_uint_eq(p.off, rsm.total); /* in order, contiguous */
        if (p.mf)
            ck_assert_msg(p.l4len % 8 == 0, "fragment of %zu bytes is not a multiple of 8", p.l4len);
        ck_assert_uint_gt(p.l4len, 0);
        if (p.off == 0)
            memcpy(rsm.hdr, p.l3, IPV4_HDR_LEN);
        for (size_t i = 0; i < p.l4len; i++) {
            ck_assert(!rsm.have[p.off + i]);
            rsm.have[p.off + i] = true;
        }
        memcpy(rsm.payload + p.off, p.l4, p.l4len);
        rsm.total = p.off + p.l4len;
        rsm.nfrags++;
        last = !p.mf;
    }
    return rsm.total;
}

START_TEST(datagram_of_exactly_mtu_is_not_fragmented)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    uint8_t d[1472];
    h_fill(d, sizeof d, 12);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 7), 1472);
    struct pkt p;
    h_expect_ip(t, &p, IPPROTO_UDP_);
    ck_assert_uint_eq(p.tot, 1500);
    ck_assert_uint_eq(p.len, 1514);
    ck_assert(!p.mf);
    ck_assert_uint_eq(p.off, 0);
    ck_assert_mem_eq(p.l4 + UDP_HDR_LEN, d, sizeof d);
    ck_assert_uint_eq(h_cnt(t, "ip_tx_fragmented"), 0);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(datagram_of_mtu_plus_one_is_fragmented_in_two)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    uint8_t d[1473];
    h_fill(d, sizeof d, 13);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 7), 1473);
    struct pkt p1, p2;
    h_expect_ip(t, &p1, IPPROTO_UDP_);
    h_expect_ip(t, &p2, IPPROTO_UDP_);
    h_expect_none(t);
    ck_assert_uint_eq(p1.tot, 1500);
    ck_assert(p1.mf);
    ck_assert_uint_eq(p1.off, 0);
    ck_assert_uint_eq(p2.tot, IPV4_HDR_LEN + 1);
    ck_assert(!p2.mf);
    ck_assert_uint_eq(p2.off, 1480);
    ck_assert_uint_eq(p1.id, p2.id);
    ck_assert_uint_eq(p2.len, ETH_MIN_FRAME);
    ck_assert_uint_eq(p2.l4[0], d[1472]);
    ck_assert_uint_eq(h_cnt(t, "ip_tx_fragmented"), 1);
    ck_assert_uint_eq(h_cnt(t, "ip_frags_tx"), 2);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(fragments_are_multiples_of_8_with_odd_mtu)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.mtu = 1006; /* 986 bytes of payload room: 984 used */
    struct h *t = h_new_cfg(&cfg, 0);
    int s = h_udp(t, 5000);
    static uint8_t d[5000];
    h_fill(d, sizeof d, 14);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 7), 5000);
    ck_assert_uint_eq(collect(t, IPPROTO_UDP_, 1006), UDP_HDR_LEN + 5000);
    ck_assert_uint_eq(rsm.nfrags, 6); /* 5 x 984 + 88 */
    ck_assert_mem_eq(rsm.payload + UDP_HDR_LEN, d, sizeof d);
    h_expect_none(t);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(own_fragments_reassemble_to_the_original_bytes)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    static uint8_t d[20000];
    h_fill(d, sizeof d, 15);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 7), 20000);
    size_t ul = collect(t, IPPROTO_UDP_, 1500);
    ck_assert_uint_eq(ul, UDP_HDR_LEN + sizeof d);
    ck_assert_uint_eq(rsm.nfrags, 14); /* ceil(20008 / 1480) */
    ck_assert_uint_eq(rd16(rsm.payload), 5000);
    ck_assert_uint_eq(rd16(rsm.payload + 2), 7);
    ck_assert_uint_eq(rd16(rsm.payload + 4), ul);
    ck_assert(udp_csum_ok(OUR_IP, PEER_IP, rsm.payload, ul));
    ck_assert_mem_eq(rsm.payload + UDP_HDR_LEN, d, sizeof d);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(largest_udp_datagram_is_sent_and_one_more_byte_refused)
{
    struct h *t = h_new();
    int s = h_udp(t, 5000);
    static uint8_t d[65508];
    h_fill(d, sizeof d, 16);
    ck_assert_int_eq(h_sendto(t, s, d, 65508, PEER_IP, 7), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    h_expect_none(t);
    ck_assert_int_eq(h_sendto(t, s, d, 65507, PEER_IP, 7), 65507);
    ck_assert_uint_eq(collect(t, IPPROTO_UDP_, 1500), 65515);
    ck_assert_uint_eq(rsm.nfrags, 45);
    ck_assert_mem_eq(rsm.payload + UDP_HDR_LEN, d, 65507);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(fragments_waiting_for_arp_are_all_sent_on_reply)
{
    struct ustack_config cfg;
    h_config(&cfg);
    struct h *t = h_new_cfg(&cfg, H_NO_PEER);
    int s = h_udp(t, 5000);
    static uint8_t d[65507];
    h_fill(d, sizeof d, 17);
    ck_assert_int_eq(h_sendto(t, s, d, sizeof d, PEER_IP, 7), 65507);
    ck_assert_uint_eq(h_usage(t).arp_queued, 45);
    struct pkt p;
    h_expect_arp(t, &p, ARP_OP_REQUEST);
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP);
    ck_assert_uint_eq(collect(t, IPPROTO_UDP_, 1500), 65515);
    ck_assert_mem_eq(rsm.payload + UDP_HDR_LEN, d, sizeof d);
    us_close(t->st, s);
    h_done(t);
}
END_TEST

START_TEST(echo_of_65507_bytes_works_end_to_end)
{
    struct h *t = h_new();
    static uint8_t icmp[65515];
    h_fill(data, 65507, 18);
    size_t il = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, 0xbeef0001, data, 65507);
    ck_assert_uint_eq(il, 65515);
    unsigned n = make_frags(0x7777, IPPROTO_ICMP_, icmp, il, 1480);
    ck_assert_uint_eq(n, 45);
    unsigned order[MAX_FRAGS];
    shuffle(order, n, 19);
    for (unsigned i = 0; i < n; i++)
        h_inject(t, frags[order[i]].f, frags[order[i]].len);
    ck_assert_uint_eq(h_cnt(t, "ip_reasm_ok"), 1);
    ck_assert_uint_eq(h_cnt(t, "icmp_tx_echo_replies"), 1);
    ck_assert_uint_eq(collect(t, IPPROTO_ICMP_, 1500), 65515);
    ck_assert_uint_eq(rsm.nfrags, 45);
    ck_assert_uint_eq(rdaddr(rsm.hdr + 16), PEER_IP);
    ck_assert_uint_eq(rsm.payload[0], ICMP_ECHO_REPLY);
    ck_assert_uint_eq(rsm.payload[1], 0);
    ck_assert_uint_eq(rd32(rsm.payload + 4), 0xbeef0001);
    ck_assert_uint_eq(inet_checksum(rsm.payload, 65515), 0);
    ck_assert_mem_eq(rsm.payload + ICMP_HDR_LEN, data, 65507);
    h_expect_none(t);
    h_done(t);
}
END_TEST

Suite *suite_ipv4_frag(void)
{
    Suite *s = suite_create("ipv4_frag");
    TCase *tc = tcase_create("reassembly");
    h_tcase(tc);
    tcase_add_test(tc, reassembles_fragments_in_order);
    tcase_add_test(tc, reassembles_fragments_in_reverse_order);
    tcase_add_test(tc, reassembles_fragments_in_random_order);
    tcase_add_test(tc, exact_duplicate_fragment_is_ignored);
    tcase_add_test(tc, overlapping_fragment_discards_the_datagram);
    tcase_add_test(tc, fragment_ending_beyond_65535_is_dropped);
    tcase_add_test(tc, middle_fragment_not_multiple_of_8_is_dropped);
    tcase_add_test(tc, contradicting_last_fragment_discards_the_datagram);
    tcase_add_test(tc, more_than_256_fragments_discard_the_datagram);
    tcase_add_test(tc, timeout_sends_time_exceeded_when_first_fragment_seen);
    tcase_add_test(tc, timeout_without_first_fragment_sends_nothing);
    tcase_add_test(tc, concurrent_datagram_limit_evicts_the_oldest);
    tcase_add_test(tc, byte_limit_evicts_the_oldest);
    tcase_add_test(tc, fragment_larger_than_byte_limit_is_dropped);
    tcase_add_test(tc, two_thousand_unfinished_reassemblies_stay_bounded);
    tcase_add_test(tc, reassembled_header_is_rebuilt_for_raw_sockets);
    suite_add_tcase(s, tc);
    tc = tcase_create("fragmentation");
    h_tcase(tc);
    tcase_add_test(tc, datagram_of_exactly_mtu_is_not_fragmented);
    tcase_add_test(tc, datagram_of_mtu_plus_one_is_fragmented_in_two);
    tcase_add_test(tc, fragments_are_multiples_of_8_with_odd_mtu);
    tcase_add_test(tc, own_fragments_reassemble_to_the_original_bytes);
    tcase_add_test(tc, largest_udp_datagram_is_sent_and_one_more_byte_refused);
    tcase_add_test(tc, fragments_waiting_for_arp_are_all_sent_on_reply);
    tcase_add_test(tc, echo_of_65507_bytes_works_end_to_end);
    suite_add_tcase(s, tc);
    return s;
}
