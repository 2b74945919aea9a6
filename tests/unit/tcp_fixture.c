/*
 * The TCP suites' fixture (see tcp_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include "harness.h"
#include "sock.h"
#include "tcp_fixture.h"

struct tcp_fixture T;

static const uint8_t FX_US_MAC[6] = {0x02, 0x00, 10, 0, 0, 2};
static const uint8_t FX_PEER_MAC[6] = {0x02, 0x00, 10, 0, 0, 1};

void fx_config(struct ustack_config *cfg)
{
    ustack_config_default(cfg);
    cfg->addr = ip4(10, 0, 0, 2);
    memcpy(cfg->mac, FX_US_MAC, 6);
    cfg->arp_gratuitous = 0;
    /* The PAWS tests idle for 24 days: the peer's MAC must outlive that. */
    cfg->arp_reachable_us = USTACK_SEC(100000000);
    cfg->arp_stale_gc_us = USTACK_SEC(100000000);
    cfg->random_seed = 42;
}

void fx_drain(void) { h_drain(T.h); }

/* The harness's stack and wire (harness.h), started at FX_T0 with the
 * peer's MAC learnt. */
static void fx_start(const struct ustack_config *cfg)
{
    memset(&T, 0, sizeof T);
    T.h = h_new_cfg(cfg, H_NO_START);
    T.st = T.h->st;
    T.ts = T.st->tcp;
    T.lb = T.h->wire;
    T.us = cfg->addr;
    T.peer = ip4(10, 0, 0, 1);
    T.now = T.h->now = FX_T0;
    ustack_poll(T.st, T.now);
    h_learn(T.h, T.peer, FX_PEER_MAC);
    fx_drain();
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tcp_set_isn_key(T.ts, key);
}

void fx_setup_tcp(const struct ustack_tcp_config *tc)
{
    struct ustack_config cfg;
    fx_config(&cfg);
    if (tc)
        cfg.tcp = *tc;
    fx_start(&cfg);
}

void fx_setup(void) { fx_setup_tcp(NULL); }

/* Polls at every deadline up to `end`, one at a time; with `until_idle`,
 * stops early once the engine has no TCB left. The clock ends at the last
 * deadline run. */
static void fx_run_deadlines(ustack_time_t end, bool until_idle)
{
    for (;;) {
        if (until_idle) {
            fx_drain();
            if (tcp_tcb_count(T.ts) == 0)
                return;
        }
        ustack_time_t d = ustack_next_deadline(T.st);
        if (d > end)
            return;
        if (d > T.now)
            T.now = d;
        ustack_poll(T.st, T.now);
    }
}

/* Timers that belong to the layers below TCP (ARP entries and
 * announcements, reassembly): what may stay armed once no TCB is left. */
static size_t fx_timers_below_tcp(const struct ustack *st)
{
    size_t n = st->reasm.count + timer_armed(&st->arp.announce_timer);
    for (unsigned i = 0; i < st->arp.size; i++)
        n += timer_armed(&st->arp.entries[i].timer);
    return n;
}

void fx_assert_released(const struct ustack *st, const char *who)
{
    const struct tcp_stack *ts = st->tcp;
    if (tcp_tcb_count(ts)) {
        char states[256] = "";
        size_t len = 0;
        for (const struct tcb *t = ts->all; t && len < sizeof states - 32; t = t->all_next)
            len += (size_t)snprintf(states + len, sizeof states - len, " %s:%u", tcp_state_name(t->state), t->lport);
        ck_abort_msg("leak (%s): %zu TCBs left a day after the connections were let go:%s", who,
                     tcp_tcb_count(ts), states);
    }
    ck_assert_msg(st->pbufs_live == 0, "leak (%s): %zu packet buffers alive", who, st->pbufs_live);
    size_t below = fx_timers_below_tcp(st);
    ck_assert_msg(st->timers.len == below, "leak (%s): %zu timers armed with no TCB left (%zu are ARP's)", who,
                  st->timers.len, below);
}

/* How long an orphaned connection may take to finish on its own: the
 * longest retry sequence (data or FIN retransmissions backed off to the
 * maximum RTO, persist probes, TIME-WAIT) ends well within a day. */
#define FX_RELEASE_LIMIT USTACK_SEC(24 * 3600)

/* Closes what the test still holds and lets the engine finish: every TCB
 * must then be gone, and with it its buffers and timers. */
static void fx_check_leaks(void)
{
    size_t n = tcp_tcb_count(T.ts);
    struct tcb **held = calloc(n ? n : 1, sizeof *held);
    ck_assert_ptr_nonnull(held);
    size_t k = 0;
    for (struct tcb *t = T.ts->all; t; t = t->all_next)
        if (t->tflags & TF_USER)
            held[k++] = t;
    for (size_t i = 0; i < k; i++)
        tcp_close(held[i]);
    free(held);
    fx_run_deadlines(T.now + FX_RELEASE_LIMIT, true);
    fx_drain();
    fx_assert_released(T.st, "the stack");
}

struct ustack_sim *fx_sim_pair(uint64_t seed, ustack_time_t start, const struct ustack_fault_config *fa,
                               const struct ustack_fault_config *fb, struct ustack **a, struct ustack **b)
{
    struct ustack_sim *sim = ustack_sim_new(seed, start);
    ck_assert_ptr_nonnull(sim);
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.arp_gratuitous = 0;
    cfg.addr = ip4(10, 0, 0, 1);
    *a = ustack_sim_add(sim, &cfg, fa);
    cfg.addr = ip4(10, 0, 0, 2);
    *b = ustack_sim_add(sim, &cfg, fb);
    ck_assert_ptr_nonnull(*a);
    ck_assert_ptr_nonnull(*b);
    return sim;
}

struct fx_release {
    struct ustack *const *stacks;
    unsigned n;
};

static int fx_released(void *arg)
{
    const struct fx_release *r = arg;
    for (unsigned i = 0; i < r->n; i++)
        if (tcp_tcb_count(r->stacks[i]->tcp))
            return 0;
    return 1;
}

void fx_sim_release(struct ustack_sim *sim, struct ustack *const *stacks, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned fd = 0; fd < stacks[i]->cfg.max_sockets; fd++)
            if (sock_get(stacks[i], (int)fd))
                us_close(stacks[i], (int)fd);
    struct fx_release r = {stacks, n};
    ustack_sim_run_until(sim, fx_released, &r, ustack_sim_now(sim) + FX_RELEASE_LIMIT);
    for (unsigned i = 0; i < n; i++) {
        char who[24];
        snprintf(who, sizeof who, "stack %u", i);
        fx_assert_released(stacks[i], who);
    }
}

/* The harness's own checks (sockets, ARP queues, reassembly), then the
 * stack freed. */
static void fx_free(void)
{
    h_done(T.h);
    memset(&T, 0, sizeof T);
}

void fx_teardown(void)
{
    if (!T.st)
        return;
    fx_check_leaks();
    fx_free();
}

void fx_restart(const struct ustack_tcp_config *tc)
{
    fx_teardown();
    fx_setup_tcp(tc);
}

void fx_on_event(struct tcb *tcb, unsigned events, void *arg)
{
    (void)arg;
    T.events |= events;
    T.ev_tcb = tcb;
}

void fx_advance(ustack_time_t dt)
{
    T.now += dt;
    ustack_poll(T.st, T.now);
}

void fx_run_for(ustack_time_t dt)
{
    ustack_time_t end = T.now + dt;
    fx_run_deadlines(end, false);
    T.now = end;
    ustack_poll(T.st, T.now);
}

/* ------------------------------------------------------------ injecting */

/* An IPv4 datagram from the peer to us, in an Ethernet frame, to the stack. */
static void fx_inject_ip(uint8_t proto, uint8_t tos, const uint8_t *payload, size_t len)
{
    uint8_t f[USTACK_FRAME_MAX] = {0};
    struct ipspec ip = {.src = T.peer, .dst = T.us, .proto = proto, .tos = tos, .df = true};
    size_t n = ETH_HDR_LEN + forge_ip(f + ETH_HDR_LEN, &ip, payload, len);
    memcpy(f, FX_US_MAC, 6);
    memcpy(f + 6, FX_PEER_MAC, 6);
    wr16(f + 12, ETH_TYPE_IPV4);
    ustack_input(T.st, f, n < ETH_MIN_FRAME ? ETH_MIN_FRAME : n);
}

void fx_inject(struct segspec s)
{
    uint8_t opts[80];
    size_t n = 0;
    if (s.mss) {
        opts[n++] = TCP_OPT_MSS;
        opts[n++] = TCP_OPTLEN_MSS;
        wr16(opts + n, s.mss);
        n += 2;
    }
    if (s.sackok) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_SACK_PERM;
        opts[n++] = TCP_OPTLEN_SACK_PERM;
    }
    if (s.ts) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_TIMESTAMP;
        opts[n++] = TCP_OPTLEN_TIMESTAMP;
        wr32(opts + n, s.tsval);
        wr32(opts + n + 4, s.tsecr);
        n += 8;
    }
    if (s.has_ws) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_WSCALE;
        opts[n++] = TCP_OPTLEN_WSCALE;
        opts[n++] = s.ws;
    }
    if (s.nsack) {
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_NOP;
        opts[n++] = TCP_OPT_SACK;
        opts[n++] = (uint8_t)(TCP_OPTLEN_SACK_BASE + TCP_SACK_BLOCK_LEN * s.nsack);
        for (unsigned b = 0; b < s.nsack; b++) {
            wr32(opts + n, s.sack[b][0]);
            wr32(opts + n + 4, s.sack[b][1]);
            n += TCP_SACK_BLOCK_LEN;
        }
    }
    ck_assert_uint_le(n, TCP_OPT_SPACE); /* what the data offset can say */
    ck_assert_uint_eq(n % 4, 0);
    size_t hlen = TCP_HDR_LEN + n, tcplen = hlen + s.len;
    ck_assert_uint_le(ETH_HDR_LEN + IPV4_HDR_LEN + tcplen, USTACK_FRAME_MAX);
    uint8_t p[USTACK_FRAME_MAX] = {0};
    wr16(p, s.sport ? s.sport : PPORT);
    wr16(p + 2, s.dport ? s.dport : LPORT);
    wr32(p + 4, s.seq);
    wr32(p + 8, s.ack);
    p[12] = (uint8_t)((hlen / 4) << 4);
    p[13] = s.flags;
    wr16(p + 14, s.wnd == ZERO_WND ? 0 : s.wnd ? (uint16_t)s.wnd : 65535);
    wr16(p + 18, s.urg);
    memcpy(p + TCP_HDR_LEN, opts, n);
    if (s.len)
        memcpy(p + hlen, s.data, s.len);
    uint16_t c = csum_fold(csum_partial(p, tcplen, csum_pseudo(T.peer, T.us, IPPROTO_TCP_, (uint16_t)tcplen)));
    wr16(p + 16, s.bad_csum ? (uint16_t)(c ^ 0x5555) : c);
    fx_inject_ip(IPPROTO_TCP_, s.tos, p, tcplen);
}

void fx_inject_icmp_error(uint8_t type, uint8_t code, uint16_t sport, uint16_t dport, uint32_t seq)
{
    /* The quoted datagram: an IPv4 header from us and a TCP header's start. */
    uint8_t tcp[TCP_HDR_LEN] = {0}, quoted[IPV4_HDR_LEN + TCP_HDR_LEN], icmp[ICMP_HDR_LEN + sizeof quoted];
    wr16(tcp, sport);
    wr16(tcp + 2, dport);
    wr32(tcp + 4, seq);
    struct ipspec q = {.src = T.us, .dst = T.peer, .proto = IPPROTO_TCP_, .df = true};
    forge_ip(quoted, &q, tcp, sizeof tcp);
    size_t n = forge_icmp(icmp, type, code, 0, quoted, IPV4_HDR_LEN + 8);
    fx_inject_ip(IPPROTO_ICMP_, 0, icmp, n);
}

void fx_inject_frag_needed(uint16_t mtu, uint16_t quoted_len, uint16_t sport, uint16_t dport, uint32_t seq)
{
    uint8_t tcp[TCP_HDR_LEN] = {0}, quoted[IPV4_HDR_LEN + TCP_HDR_LEN], icmp[ICMP_HDR_LEN + sizeof quoted];
    wr16(tcp, sport);
    wr16(tcp + 2, dport);
    wr32(tcp + 4, seq);
    struct ipspec q = {.src = T.us, .dst = T.peer, .proto = IPPROTO_TCP_, .df = true};
    forge_ip(quoted, &q, tcp, sizeof tcp);
    wr16(quoted + 2, quoted_len); /* the datagram as it was: only its start is quoted */
    fix_ip_csum(quoted);
    size_t n = forge_icmp(icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_NEEDFRAG, mtu, quoted, IPV4_HDR_LEN + 8);
    fx_inject_ip(IPPROTO_ICMP_, 0, icmp, n);
}

/* ------------------------------------------------------------ capturing */

bool fx_next_out(struct outseg *o)
{
    uint8_t buf[USTACK_FRAME_MAX];
    for (;;) {
        int n = ustack_link_recv(T.lb, T.now, buf, sizeof buf);
        if (n <= 0)
            return false;
        if (n < ETH_HDR_LEN + IPV4_HDR_LEN || rd16(buf + 12) != ETH_TYPE_IPV4)
            continue;
        const uint8_t *iph = buf + ETH_HDR_LEN;
        size_t ihl = (size_t)(iph[0] & 15) * 4;
        size_t tot = rd16(iph + 2);
        ck_assert_uint_eq(inet_checksum(iph, ihl), 0);
        if (iph[9] != IPPROTO_TCP_)
            continue;
        const uint8_t *p = iph + ihl;
        size_t len = tot - ihl;
        ck_assert_uint_ge(len, TCP_HDR_LEN);
        ck_assert_uint_eq(csum_fold(csum_partial(p, len, csum_pseudo(rdaddr(iph + 12), rdaddr(iph + 16),
                                                                     IPPROTO_TCP_, (uint16_t)len))),
                          0);
        memset(o, 0, sizeof *o);
        o->sport = rd16(p);
        o->dport = rd16(p + 2);
        o->seq = rd32(p + 4);
        o->ack = rd32(p + 8);
        o->flags = p[13];
        o->wnd = rd16(p + 14);
        o->tos = iph[1];
        o->df = rd16(iph + 6) & IPV4_FLAG_DF;
        o->ip_len = (uint16_t)tot;
        size_t doff = (size_t)(p[12] >> 4) * 4;
        ck_assert_uint_ge(doff, TCP_HDR_LEN);
        ck_assert_uint_le(doff, len);
        o->hlen = (unsigned)doff;
        o->mss = o->ws = -1;
        for (size_t i = TCP_HDR_LEN; i < doff;) {
            if (p[i] == TCP_OPT_EOL) {
                for (size_t j = i; j < doff; j++)
                    ck_assert_msg(p[j] == 0, "non-zero byte after EOL at %zu", j);
                break;
            }
            if (p[i] == TCP_OPT_NOP) {
                i++;
                continue;
            }
            ck_assert_msg(i + 1 < doff, "option kind %u at %zu cut by the header end %zu", p[i], i, doff);
            uint8_t olen = p[i + 1];
            ck_assert_msg(olen >= 2 && i + olen <= doff, "option kind %u length %u at %zu overruns %zu", p[i],
                          olen, i, doff);
            const uint8_t *v = p + i + 2;
            switch (p[i]) {
            case TCP_OPT_MSS:
                ck_assert_uint_eq(olen, TCP_OPTLEN_MSS);
                o->mss = rd16(v);
                break;
            case TCP_OPT_WSCALE:
                ck_assert_uint_eq(olen, TCP_OPTLEN_WSCALE);
                o->ws = v[0];
                break;
            case TCP_OPT_SACK_PERM:
                ck_assert_uint_eq(olen, TCP_OPTLEN_SACK_PERM);
                o->sackok = true;
                break;
            case TCP_OPT_TIMESTAMP:
                ck_assert_uint_eq(olen, TCP_OPTLEN_TIMESTAMP);
                o->ts = true;
                o->tsval = rd32(v);
                o->tsecr = rd32(v + 4);
                break;
            case TCP_OPT_SACK:
                ck_assert_msg(olen >= TCP_OPTLEN_SACK_BASE + TCP_SACK_BLOCK_LEN &&
                                  (olen - TCP_OPTLEN_SACK_BASE) % TCP_SACK_BLOCK_LEN == 0,
                              "SACK option length %u", olen);
                o->nsack = (unsigned)(olen - TCP_OPTLEN_SACK_BASE) / TCP_SACK_BLOCK_LEN;
                ck_assert_uint_le(o->nsack, TCP_MAX_SACK_BLOCKS);
                for (unsigned b = 0; b < o->nsack; b++) {
                    o->sack[b][0] = rd32(v + TCP_SACK_BLOCK_LEN * b);
                    o->sack[b][1] = rd32(v + TCP_SACK_BLOCK_LEN * b + 4);
                }
                break;
            default:
                ck_abort_msg("unexpected option kind %u", p[i]);
            }
            i += olen;
        }
        o->len = len - doff;
        ck_assert_uint_le(o->len, sizeof o->data);
        memcpy(o->data, p + doff, o->len);
        return true;
    }
}

struct outseg fx_expect_seg(uint8_t flags, uint64_t seq, uint32_t ack, size_t len, const char *where, int line)
{
    struct outseg o;
    ck_assert_msg(fx_next_out(&o), "%s:%d: expected a segment, none sent", where, line);
    ck_assert_msg(o.flags == flags, "%s:%d: flags 0x%02x, expected 0x%02x (seq %u ack %u len %zu)", where, line,
                  o.flags, flags, o.seq, o.ack, o.len);
    if (seq != ANY)
        ck_assert_msg(o.seq == (uint32_t)seq, "%s:%d: seq %u, expected %u (len %zu)", where, line, o.seq,
                      (uint32_t)seq, o.len);
    if (flags & TCP_ACK)
        ck_assert_msg(o.ack == ack, "%s:%d: ack %u, expected %u", where, line, o.ack, ack);
    ck_assert_msg(o.len == len, "%s:%d: len %zu, expected %zu (seq %u)", where, line, o.len, len, o.seq);
    return o;
}

void fx_expect_none(const char *where, int line)
{
    struct outseg o;
    ck_assert_msg(!fx_next_out(&o), "%s:%d: unexpected segment flags 0x%02x seq %u ack %u len %zu", where, line,
                  o.flags, o.seq, o.ack, o.len);
}

void fx_fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + seed);
}
