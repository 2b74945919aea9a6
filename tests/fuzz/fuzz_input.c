/*
 * libFuzzer target: arbitrary bytes as received frames. Each input runs
 * against a fresh stack on a memory link, with a raw and a UDP socket open so
 * that delivery paths are exercised too; the clock is advanced past every
 * timeout so that reassembly and ARP expiry run as well. Any crash or
 * sanitizer report is a finding, and so is a broken invariant: every frame
 * the stack sends fits the MTU and, if IPv4, carries a correct header
 * checksum; reassembly and the ARP cache stay within their limits; and once the sockets are
 * closed and every timeout has passed, the stack holds no packet buffer,
 * socket, connection, ARP-queued packet or reassembly.
 */
#include <stdlib.h>
#include <string.h>
#include <ustack/ustack.h>
#include <ustack/link.h>
#include <ustack/socket.h>
#include "fuzz.h"

/* What the stack sent since the last call: checked, then dropped. */
static void drain(struct ustack_link *wire, ustack_time_t now)
{
    static uint8_t f[USTACK_FRAME_MAX];
    int n;
    while ((n = ustack_link_recv(wire, now, f, sizeof f)) > 0) {
        FZ_CHECK(n >= 60 && n <= 14 + 1500, "a %d-byte frame on a 1500-byte MTU", n);
        if (fz_get16(f + 12) != 0x0800)
            continue;
        const uint8_t *ip = f + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        FZ_CHECK((ip[0] >> 4) == 4 && ihl >= 20 && fz_get16(ip + 2) <= (size_t)n - 14,
                 "a malformed IPv4 header (0x%02x, length %u in a %d-byte frame)", ip[0], fz_get16(ip + 2), n);
        FZ_CHECK(fz_fold(fz_sum16(ip, ihl, 0)) == 0, "an IPv4 header with a bad checksum");
    }
}

/* Reassembly and the ARP cache within their limits. */
static void check_limits(struct ustack *st)
{
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    const struct ustack_config *c = ustack_get_config(st);
    FZ_CHECK(u.reasm_datagrams <= c->reasm_max_datagrams && u.reasm_bytes <= c->reasm_max_bytes,
             "%zu reassemblies holding %zu bytes", u.reasm_datagrams, u.reasm_bytes);
    FZ_CHECK(u.arp_entries <= c->arp_cache_size, "%zu ARP entries", u.arp_entries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ustack_link *a, *b;
    if (ustack_link_mem_pair(&a, &b) < 0)
        return 0;
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    ustack_ip_parse("10.0.0.2", &cfg.addr, NULL);
    cfg.prefix_len = 24;
    ustack_ip_parse("10.0.0.1", &cfg.gateway, NULL);
    cfg.mac[0] = 0x02; cfg.mac[5] = 0x02;
    struct ustack *st = ustack_create(&cfg, a);
    if (!st)
        abort();
    ustack_poll(st, 1000);
    int raw = us_socket(st, AF_INET, SOCK_RAW, 253);
    int raw_icmp = us_socket(st, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    int udp = us_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(7)};
    us_bind(st, udp, (struct sockaddr *)&sin, sizeof sin);

    /* The input may hold several frames: a 2-byte length before each. */
    size_t off = 0;
    ustack_time_t now = 1000;
    while (off + 2 <= size) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        ustack_input(st, data + off, n);
        off += n;
        now += 1000;
        ustack_poll(st, now);
        drain(b, now);
    }
    if (off < size)
        ustack_input(st, data + off, size - off);
    drain(b, now);
    check_limits(st);
    uint8_t buf[2048];
    while (us_recvfrom(st, udp, buf, sizeof buf, 0, NULL, NULL) >= 0) {}
    while (us_recvfrom(st, raw, buf, sizeof buf, 0, NULL, NULL) >= 0) {}
    us_close(st, raw);
    us_close(st, raw_icmp);
    us_close(st, udp);
    /* Past every timeout, one deadline at a time as a runtime would. */
    ustack_time_t end = now + USTACK_SEC(120);
    for (int i = 0; i < 10000 && ustack_next_deadline(st) <= end; i++) {
        now = ustack_next_deadline(st) > now ? ustack_next_deadline(st) : now;
        ustack_poll(st, now);
        drain(b, now);
    }
    ustack_poll(st, end);
    drain(b, end);
    fz_check_empty(st, "120 s after the last frame, sockets closed");
    ustack_destroy(st);
    ustack_link_close(a);
    ustack_link_close(b);
    return 0;
}
