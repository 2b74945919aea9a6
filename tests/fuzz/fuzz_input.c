/*
 * libFuzzer target: arbitrary bytes as a received frame. Each input runs
 * against a fresh stack on a memory link, with a raw and a UDP socket open so
 * that delivery paths are exercised too; the clock is advanced past every
 * timeout so that reassembly and ARP expiry run as well. Any crash, sanitizer
 * report or leaked buffer is a finding.
 */
#include <stdlib.h>
#include <string.h>
#include <ustack/ustack.h>
#include <ustack/link.h>
#include <ustack/socket.h>

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
    }
    if (off < size)
        ustack_input(st, data + off, size - off);
    uint8_t buf[2048];
    while (us_recvfrom(st, udp, buf, sizeof buf, 0, NULL, NULL) >= 0) {}
    while (us_recvfrom(st, raw, buf, sizeof buf, 0, NULL, NULL) >= 0) {}
    ustack_poll(st, now + USTACK_SEC(120));
    us_close(st, raw);
    us_close(st, raw_icmp);
    us_close(st, udp);
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    ustack_destroy(st);
    ustack_link_close(a);
    ustack_link_close(b);
    (void)u;
    return 0;
}
