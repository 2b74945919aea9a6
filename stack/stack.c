/*
 * The stack instance: creation from a config, the three entry points by which
 * it is driven (ustack_input for frames, ustack_poll for time,
 * ustack_next_deadline for when to call again), counters and usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "tcp.h"

void ustack_config_default(struct ustack_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->prefix_len = 24;
    cfg->mtu = 1500;
    cfg->ttl = 64;
    cfg->arp_cache_size = 64;
    cfg->arp_queue_len = 64;
    cfg->arp_retries = 3;
    cfg->arp_retry_us = USTACK_SEC(1);
    cfg->arp_reachable_us = USTACK_SEC(30);
    cfg->arp_stale_gc_us = USTACK_SEC(60);
    cfg->arp_gratuitous = 2;
    cfg->reasm_timeout_us = USTACK_SEC(30);
    cfg->reasm_max_datagrams = 64;
    cfg->reasm_max_bytes = 4u << 20;
    cfg->pmtu_cache_size = 64;
    cfg->pmtu_expire_us = USTACK_SEC(600);
    cfg->icmp_err_per_sec = 100;
    cfg->icmp_err_burst = 50;
    cfg->icmp_echo_per_sec = 0;
    cfg->icmp_echo_burst = 50;
    cfg->mem_max = 64u << 20;
    tcp_config_default(&cfg->tcp);
    cfg->max_sockets = 65536;
    cfg->udp_rcvbuf = 212992;
    cfg->udp_sndbuf = 212992;
}

static bool mac_is_zero(const uint8_t m[6])
{
    static const uint8_t zero[6];
    return memcmp(m, zero, 6) == 0;
}

struct ustack *ustack_create(const struct ustack_config *cfg, struct ustack_link *link)
{
    if (!cfg || !link || cfg->addr == 0 || cfg->prefix_len > 32 || cfg->mtu < IPV4_MIN_MTU ||
        cfg->mtu > USTACK_FRAME_MAX - ETH_HDR_LEN || cfg->arp_cache_size == 0 || cfg->max_sockets == 0 ||
        cfg->pmtu_cache_size == 0 || cfg->pmtu_expire_us == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct ustack *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->cfg = *cfg;
    if (tcp_config_check(&st->cfg.tcp) < 0) {
        free(st);
        errno = EINVAL;
        return NULL;
    }
    st->link = link;
    if (mac_is_zero(st->cfg.mac)) {
        /* Locally administered unicast MAC made from the address: readable
         * in captures and stable across runs. */
        st->cfg.mac[0] = 0x02;
        st->cfg.mac[1] = 0x00;
        memcpy(st->cfg.mac + 2, &cfg->addr, 4);
    }
    st->netmask = cfg->prefix_len ? htonl_(0xffffffffu << (32 - cfg->prefix_len)) : 0;
    st->bcast = (cfg->addr & st->netmask) | ~st->netmask;
    st->rng = cfg->random_seed ^ 0x75737461636bULL;
    st->ip_id = (uint16_t)ustack_random(st);
    st->icmp_err_bucket.tokens = (uint64_t)cfg->icmp_err_burst * 1000000u;
    st->icmp_echo_bucket.tokens = (uint64_t)cfg->icmp_echo_burst * 1000000u;
    if (arp_init(st) < 0 || ipv4_pmtu_init(st) < 0 || sock_init(st) < 0 || !(st->tcp = tcp_engine_new(st))) {
        ustack_destroy(st);
        errno = ENOMEM;
        return NULL;
    }
    return st;
}

uint64_t ustack_random(struct ustack *st) { return ustack_rand64(&st->rng); }

void ustack_destroy(struct ustack *st)
{
    if (!st)
        return;
    pbuf_queue_free(st, &st->loopback);
    sock_fini(st); /* releases the sockets' TCBs first */
    if (st->tcp)
        tcp_engine_free(st->tcp);
    arp_fini(st);
    ipv4_reasm_fini(st);
    ipv4_pmtu_fini(st);
    timer_heap_free(&st->timers);
    free(st);
}

void ustack_set_env(struct ustack *st, const struct ustack_env *env)
{
    if (env) {
        st->env = *env;
        st->have_env = true;
    } else {
        memset(&st->env, 0, sizeof st->env);
        st->have_env = false;
    }
}

void ustack_input(struct ustack *st, const uint8_t *frame, size_t len)
{
    COUNT(st, eth_rx_frames);
    COUNT_ADD(st, eth_rx_bytes, len);
    if (len < ETH_HDR_LEN) {
        COUNT(st, eth_drop_short);
        return;
    }
    if (len > USTACK_FRAME_MAX) {
        COUNT(st, eth_drop_oversize);
        return;
    }
    struct pbuf *pb = pbuf_alloc(st, 0, len);
    if (!pb)
        return;
    memcpy(pb->data, frame, len);
    eth_input(st, pb);
}

void ustack_poll(struct ustack *st, ustack_time_t now)
{
    if (now > st->now)
        st->now = now;
    if (!st->started) {
        st->started = true;
        st->icmp_err_bucket.at = st->now;
        st->icmp_echo_bucket.at = st->now;
        arp_announce_start(st);
    }
    timer_run_due(st, st->now);
    /* Datagrams we sent to ourselves: delivered here, never recursively. A
     * bounded number per call so a loop of replies cannot starve the caller. */
    for (size_t n = st->loopback.count; n > 0; n--) {
        struct pbuf *pb = pbuf_queue_pop(&st->loopback);
        if (!pb)
            break;
        ipv4_input(st, pb);
    }
}

ustack_time_t ustack_next_deadline(const struct ustack *st)
{
    if (!st->started || st->loopback.head)
        return st->now;
    return st->timers.len ? st->timers.items[0]->when : USTACK_TIME_NEVER;
}

ustack_time_t ustack_now(const struct ustack *st) { return st->now; }

const struct ustack_config *ustack_get_config(const struct ustack *st) { return &st->cfg; }

static const char *const counter_names[] = {
#define X(name) #name,
    USTACK_COUNTERS(X)
#undef X
};

size_t ustack_counter_count(void) { return CNT__COUNT; }

const char *ustack_counter_name(size_t i) { return i < CNT__COUNT ? counter_names[i] : NULL; }

uint64_t ustack_counter_value(const struct ustack *st, size_t i)
{
    return i < CNT__COUNT ? st->counters[i] : 0;
}

uint64_t ustack_counter_get(const struct ustack *st, const char *name)
{
    for (size_t i = 0; i < CNT__COUNT; i++)
        if (strcmp(counter_names[i], name) == 0)
            return st->counters[i];
    return 0;
}

void ustack_get_usage(const struct ustack *st, struct ustack_usage *u)
{
    memset(u, 0, sizeof *u);
    u->pbufs = st->pbufs_live;
    u->pbuf_bytes = st->pbuf_bytes;
    u->timers = st->timers.len;
    for (unsigned i = 0; i < st->arp.size; i++) {
        const struct arp_entry *e = &st->arp.entries[i];
        if (e->state != ARP_FREE) {
            u->arp_entries++;
            u->arp_queued += e->pending.count;
        }
    }
    u->reasm_datagrams = st->reasm.count;
    u->reasm_bytes = st->reasm.bytes;
    u->pmtu_entries = ipv4_pmtu_live(st);
    u->sockets = sock_count(st);
    u->sock_waiters = sock_waiter_count(st);
    u->tcp_connections = st->tcp ? tcp_tcb_count(st->tcp) : 0;
    u->tcp_busy = st->tcp ? tcp_busy_count(st->tcp) : 0;
    u->tcp_mem_bytes = st->tcp ? tcp_mem_bytes(st->tcp) : 0;
    u->sock_mem_bytes = sock_mem_bytes(st);
}

const char *ustack_ip_str(uint32_t addr, char *buf)
{
    const uint8_t *b = (const uint8_t *)&addr;
    snprintf(buf, 16, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return buf;
}

int ustack_ip_parse(const char *s, uint32_t *addr, uint8_t *prefix_len)
{
    unsigned a, b, c, d, len = 32;
    char tail;
    int n = sscanf(s, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &len, &tail);
    if (n == 4) {
        if (strchr(s, '/'))
            return -1;
        char t2;
        if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &t2) != 4)
            return -1;
    } else if (n != 5) {
        return -1;
    }
    if (a > 255 || b > 255 || c > 255 || d > 255 || len > 32)
        return -1;
    uint8_t bytes[4] = {(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d};
    memcpy(addr, bytes, 4);
    if (prefix_len)
        *prefix_len = (uint8_t)len;
    else if (n == 5)
        return -1;
    return 0;
}

int ustack_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned m[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (m[i] > 255)
            return -1;
        mac[i] = (uint8_t)m[i];
    }
    if (mac[0] & 1)
        return -1; /* multicast cannot be a host's address */
    return 0;
}
