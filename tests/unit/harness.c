/*
 * The unit-test harness (see harness.h).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

const uint8_t OUR_MAC[6] = {0x02, 0x00, 0x0a, 0x00, 0x00, 0x02};
const uint8_t PEER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x07};
const uint8_t PEER2_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x08};
const uint8_t GW_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t BCAST_MAC[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const uint8_t ZERO_MAC[6];

uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    const uint8_t bytes[4] = {a, b, c, d};
    uint32_t v;
    memcpy(&v, bytes, 4);
    return v;
}

/* ------------------------------------------------------------ the stack */

#define H_MAX_LIVE 8
static struct h *live[H_MAX_LIVE];

static void h_free(struct h *t)
{
    for (unsigned i = 0; i < H_MAX_LIVE; i++)
        if (live[i] == t)
            live[i] = NULL;
    ustack_destroy(t->st);
    ustack_link_close(t->stack_end);
    ustack_link_close(t->wire);
    free(t);
}

void h_cleanup(void)
{
    for (unsigned i = 0; i < H_MAX_LIVE; i++)
        if (live[i])
            h_free(live[i]);
}

void h_tcase(TCase *tc)
{
    tcase_add_checked_fixture(tc, NULL, h_cleanup);
}

void h_config(struct ustack_config *cfg)
{
    ustack_config_default(cfg);
    cfg->addr = OUR_IP;
    cfg->prefix_len = 24;
    cfg->gateway = GW_IP;
    memcpy(cfg->mac, OUR_MAC, 6);
    cfg->random_seed = 1;
    cfg->arp_gratuitous = 1; /* one announcement: tests step time freely */
}

struct h *h_new_cfg(const struct ustack_config *cfg, unsigned flags)
{
    struct h *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(ustack_link_mem_pair(&t->stack_end, &t->wire), 0);
    t->st = ustack_create(cfg, t->stack_end);
    ck_assert_ptr_nonnull(t->st);
    for (unsigned i = 0; i < H_MAX_LIVE; i++) {
        if (!live[i]) {
            live[i] = t;
            break;
        }
    }
    t->now = T0;
    if (!(flags & H_NO_START)) {
        ustack_poll(t->st, T0);
        if (cfg->arp_gratuitous) {
            struct pkt *p = malloc(sizeof *p);
            h_expect_arp(t, p, ARP_OP_REQUEST);
            ck_assert_uint_eq(arp_tpa(p), cfg->addr);
            free(p);
        }
        if (!(flags & H_NO_PEER))
            h_learn(t, PEER_IP, PEER_MAC);
        h_expect_none(t);
    }
    return t;
}

struct h *h_new(void)
{
    struct ustack_config cfg;
    h_config(&cfg);
    return h_new_cfg(&cfg, 0);
}

void h_done(struct h *t)
{
    struct ustack_usage u = h_usage(t);
    ck_assert_msg(u.pbufs == 0, "leak: %zu packet buffers alive", u.pbufs);
    ck_assert_msg(u.pbuf_bytes == 0, "leak: %zu bytes of packet buffers", u.pbuf_bytes);
    ck_assert_msg(u.arp_queued == 0, "leak: %zu packets queued on ARP", u.arp_queued);
    ck_assert_msg(u.reasm_datagrams == 0, "leak: %zu reassemblies", u.reasm_datagrams);
    ck_assert_msg(u.reasm_bytes == 0, "leak: %zu reassembly bytes", u.reasm_bytes);
    ck_assert_msg(u.sockets == 0, "leak: %zu sockets open", u.sockets);
    ck_assert_uint_eq(h_cnt(t, "pbuf_alloc_failed"), t->alloc_failures_expected);
    h_free(t);
}

void h_poll_at(struct h *t, ustack_time_t when)
{
    if (when > t->now)
        t->now = when;
    ustack_poll(t->st, t->now);
}

void h_run_to(struct h *t, ustack_time_t when)
{
    /* As a runtime would: poll at every deadline on the way, then at `when`. */
    for (;;) {
        ustack_time_t dl = ustack_next_deadline(t->st);
        if (dl == USTACK_TIME_NEVER || dl > when)
            break;
        bool now_due = dl <= t->now;
        h_poll_at(t, dl);
        if (now_due && ustack_next_deadline(t->st) <= t->now)
            break; /* still due at this instant: leave it to the final poll */
    }
    h_poll_at(t, when);
}

void h_time(struct h *t, ustack_time_t us) { h_run_to(t, T0 + us); }

void h_step(struct h *t, ustack_time_t dt) { h_run_to(t, t->now + dt); }

uint64_t h_cnt(const struct h *t, const char *name)
{
    /* An unknown name would read as 0 and make a test pass for nothing. */
    size_t i;
    for (i = 0; i < ustack_counter_count(); i++)
        if (strcmp(ustack_counter_name(i), name) == 0)
            break;
    ck_assert_msg(i < ustack_counter_count(), "no counter named %s", name);
    return ustack_counter_get(t->st, name);
}

struct ustack_usage h_usage(const struct h *t)
{
    struct ustack_usage u;
    ustack_get_usage(t->st, &u);
    return u;
}

/* ------------------------------------------------------------ forging */

size_t forge_eth(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t type, const void *payload,
                 size_t len)
{
    memcpy(out, dst, 6);
    memcpy(out + 6, src, 6);
    wr16(out + 12, type);
    if (len)
        memmove(out + ETH_HDR_LEN, payload, len);
    return ETH_HDR_LEN + len;
}

size_t forge_arp(uint8_t *out, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
                 uint32_t tpa)
{
    wr16(out, 1);
    wr16(out + 2, ETH_TYPE_IPV4);
    out[4] = 6;
    out[5] = 4;
    wr16(out + 6, op);
    memcpy(out + 8, sha, 6);
    wraddr(out + 14, spa);
    memcpy(out + 18, tha, 6);
    wraddr(out + 24, tpa);
    return ARP_LEN;
}

void fix_ip_csum(uint8_t *ip)
{
    unsigned hl = (ip[0] & 0x0f) * 4u;
    wr16(ip + 10, 0);
    wr16(ip + 10, inet_checksum(ip, hl));
}

size_t forge_ip(uint8_t *out, const struct ipspec *s, const void *payload, size_t len)
{
    size_t hl = IPV4_HDR_LEN + s->optlen;
    ck_assert(s->optlen % 4 == 0 && hl <= 60);
    ck_assert(s->off % 8 == 0);
    if (len)
        memmove(out + hl, payload, len);
    out[0] = (uint8_t)(0x40 | hl / 4);
    out[1] = s->tos;
    wr16(out + 2, (uint16_t)(hl + len));
    wr16(out + 4, s->id);
    wr16(out + 6, (uint16_t)((s->df ? IPV4_FLAG_DF : 0) | (s->mf ? IPV4_FLAG_MF : 0) | s->off / 8));
    out[8] = s->ttl ? s->ttl : 64;
    out[9] = s->proto;
    wraddr(out + 12, s->src ? s->src : PEER_IP);
    wraddr(out + 16, s->dst ? s->dst : OUR_IP);
    if (s->optlen)
        memcpy(out + IPV4_HDR_LEN, s->opts, s->optlen);
    fix_ip_csum(out);
    return hl + len;
}

size_t forge_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const void *data,
                 size_t len)
{
    uint16_t ulen = (uint16_t)(UDP_HDR_LEN + len);
    if (len)
        memmove(out + UDP_HDR_LEN, data, len);
    wr16(out, sport);
    wr16(out + 2, dport);
    wr16(out + 4, ulen);
    wr16(out + 6, 0);
    uint16_t c = csum_fold(csum_partial(out, ulen, csum_pseudo(src, dst, IPPROTO_UDP_, ulen)));
    wr16(out + 6, c ? c : 0xffff);
    return ulen;
}

size_t forge_icmp(uint8_t *out, uint8_t type, uint8_t code, uint32_t rest, const void *data, size_t len)
{
    if (len)
        memmove(out + ICMP_HDR_LEN, data, len);
    out[0] = type;
    out[1] = code;
    wr16(out + 2, 0);
    wr32(out + 4, rest);
    wr16(out + 2, inet_checksum(out, ICMP_HDR_LEN + len));
    return ICMP_HDR_LEN + len;
}

/* ------------------------------------------------------------ injecting */

static uint8_t inbuf[USTACK_FRAME_MAX + 64];
static uint8_t inbuf2[USTACK_FRAME_MAX + 64];

void h_inject(struct h *t, const void *frame, size_t len)
{
    ustack_input(t->st, frame, len);
}

void h_wire_inject(struct h *t, const void *frame, size_t len)
{
    ck_assert_int_eq(ustack_link_send(t->wire, t->now, frame, len), 0);
    int n;
    while ((n = ustack_link_recv(t->stack_end, t->now, inbuf2, sizeof inbuf2)) > 0)
        ustack_input(t->st, inbuf2, (size_t)n);
}

void h_inject_eth(struct h *t, const uint8_t dst[6], const uint8_t src[6], uint16_t type, const void *payload,
                  size_t len)
{
    ck_assert(len + ETH_HDR_LEN <= sizeof inbuf);
    size_t n = forge_eth(inbuf, dst, src, type, payload, len);
    h_inject(t, inbuf, n);
}

void h_inject_arp(struct h *t, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
                  const uint8_t tha[6], uint32_t tpa)
{
    uint8_t a[ARP_LEN];
    forge_arp(a, op, sha, spa, tha, tpa);
    h_inject_eth(t, eth_dst, sha, ETH_TYPE_ARP, a, sizeof a);
}

void h_inject_ip(struct h *t, const struct ipspec *s, const void *payload, size_t len)
{
    ck_assert(len + 60 + ETH_HDR_LEN <= sizeof inbuf);
    memmove(inbuf + ETH_HDR_LEN + IPV4_HDR_LEN + s->optlen, payload, len);
    size_t n = forge_ip(inbuf + ETH_HDR_LEN, s, inbuf + ETH_HDR_LEN + IPV4_HDR_LEN + s->optlen, len);
    memcpy(inbuf, OUR_MAC, 6);
    memcpy(inbuf + 6, PEER_MAC, 6);
    wr16(inbuf + 12, ETH_TYPE_IPV4);
    h_inject(t, inbuf, ETH_HDR_LEN + n);
}

void h_inject_udp(struct h *t, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    static uint8_t u[USTACK_FRAME_MAX];
    size_t n = forge_udp(u, PEER_IP, OUR_IP, sport, dport, data, len);
    h_inject_ip(t, &(struct ipspec){.proto = IPPROTO_UDP_}, u, n);
}

void h_learn(struct h *t, uint32_t ip, const uint8_t mac[6])
{
    h_inject_arp(t, OUR_MAC, ARP_OP_REPLY, mac, ip, OUR_MAC, OUR_IP);
}

/* ------------------------------------------------------------ capturing */

static void parse(struct pkt *p)
{
    p->eth_dst = p->b;
    p->eth_src = p->b + 6;
    p->type = p->len >= ETH_HDR_LEN ? rd16(p->b + 12) : 0;
    p->l3 = p->b + ETH_HDR_LEN;
    p->l3len = p->len >= ETH_HDR_LEN ? p->len - ETH_HDR_LEN : 0;
    p->l4 = NULL;
    p->l4len = 0;
    if (p->type != ETH_TYPE_IPV4 || p->l3len < IPV4_HDR_LEN)
        return;
    const uint8_t *ip = p->l3;
    p->ihl = (ip[0] & 0x0f) * 4u;
    p->tos = ip[1];
    p->tot = rd16(ip + 2);
    p->id = rd16(ip + 4);
    uint16_t ff = rd16(ip + 6);
    p->df = ff & IPV4_FLAG_DF;
    p->mf = ff & IPV4_FLAG_MF;
    p->off = (uint16_t)((ff & IPV4_OFF_MASK) * 8);
    p->ttl = ip[8];
    p->proto = ip[9];
    p->src = rdaddr(ip + 12);
    p->dst = rdaddr(ip + 16);
    if (p->ihl <= p->tot && p->tot <= p->l3len) {
        p->l4 = ip + p->ihl;
        p->l4len = p->tot - p->ihl;
    }
}

bool h_recv(struct h *t, struct pkt *p)
{
    int n = ustack_link_recv(t->wire, t->now, p->b, sizeof p->b);
    ck_assert_int_ge(n, 0);
    if (n == 0)
        return false;
    p->len = (size_t)n;
    parse(p);
    return true;
}

unsigned h_drain(struct h *t)
{
    static struct pkt p;
    unsigned n = 0;
    while (h_recv(t, &p))
        n++;
    return n;
}

void h_expect_none(struct h *t)
{
    static struct pkt p;
    bool got = h_recv(t, &p);
    ck_assert_msg(!got, "expected no frame, got one of %zu bytes, type 0x%04x, proto %u", p.len, p.type,
                  p.type == ETH_TYPE_IPV4 ? p.proto : 0);
}

void h_expect_arp(struct h *t, struct pkt *p, uint16_t op)
{
    ck_assert_msg(h_recv(t, p), "expected an ARP frame, got nothing");
    ck_assert_uint_eq(p->type, ETH_TYPE_ARP);
    ck_assert_uint_eq(p->len, ETH_MIN_FRAME);
    ck_assert_mem_eq(p->eth_src, OUR_MAC, 6);
    ck_assert_uint_eq(rd16(p->l3), 1);
    ck_assert_uint_eq(rd16(p->l3 + 2), ETH_TYPE_IPV4);
    ck_assert_uint_eq(p->l3[4], 6);
    ck_assert_uint_eq(p->l3[5], 4);
    ck_assert_uint_eq(arp_op(p), op);
}

void h_expect_ip(struct h *t, struct pkt *p, uint8_t proto)
{
    ck_assert_msg(h_recv(t, p), "expected an IPv4 frame (proto %u), got nothing", proto);
    ck_assert_msg(p->type == ETH_TYPE_IPV4, "expected IPv4, got ethertype 0x%04x", p->type);
    ck_assert_mem_eq(p->eth_src, OUR_MAC, 6);
    ck_assert_uint_eq(p->l3[0] >> 4, 4);
    ck_assert_uint_ge(p->ihl, IPV4_HDR_LEN);
    ck_assert_uint_le(p->tot, p->l3len);
    ck_assert_ptr_nonnull(p->l4);
    ck_assert_uint_eq(inet_checksum(p->l3, p->ihl), 0);
    ck_assert_uint_ge(p->len, ETH_MIN_FRAME);
    if (ETH_HDR_LEN + p->tot >= ETH_MIN_FRAME)
        ck_assert_uint_eq(p->len, ETH_HDR_LEN + p->tot); /* no stray bytes */
    ck_assert_msg(p->proto == proto, "expected IP protocol %u, got %u", proto, p->proto);
}

uint16_t arp_op(const struct pkt *p) { return rd16(p->l3 + 6); }
const uint8_t *arp_sha(const struct pkt *p) { return p->l3 + 8; }
uint32_t arp_spa(const struct pkt *p) { return rdaddr(p->l3 + 14); }
const uint8_t *arp_tha(const struct pkt *p) { return p->l3 + 18; }
uint32_t arp_tpa(const struct pkt *p) { return rdaddr(p->l3 + 24); }

bool udp_csum_ok(uint32_t src, uint32_t dst, const uint8_t *u, size_t len)
{
    if (len > 0xffff)
        return false;
    return csum_fold(csum_partial(u, len, csum_pseudo(src, dst, IPPROTO_UDP_, (uint16_t)len))) == 0;
}

/* ------------------------------------------------------------ sockets */

struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = ip;
    sin.sin_port = htons(port);
    return sin;
}

int h_udp(struct h *t, uint16_t port)
{
    int s = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(s, 0);
    if (port) {
        struct sockaddr_in sin = sin_of(0, port);
        ck_assert_int_eq(us_bind(t->st, s, (struct sockaddr *)&sin, sizeof sin), 0);
    }
    return s;
}

ssize_t h_sendto(struct h *t, int s, const void *buf, size_t len, uint32_t ip, uint16_t port)
{
    struct sockaddr_in sin = sin_of(ip, port);
    return us_sendto(t->st, s, buf, len, 0, (struct sockaddr *)&sin, sizeof sin);
}

uint16_t h_local_port(struct h *t, int s)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    ck_assert_int_eq(us_getsockname(t->st, s, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}


void h_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(ustack_rand64(&s) >> 56);
}
