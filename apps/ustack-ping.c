/*
 * ustack-ping: ping from the stack, on a raw ICMP socket (the textbook use of
 * raw sockets). Output follows iputils ping: a line per reply, a summary with
 * loss and rtt min/avg/max/mdev. Exit 0 if any reply came, 1 if none, 2 on
 * error.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "common.h"
#include "util.h"

#define MAX_COUNT 1000000

enum slot_state { SLOT_UNSENT, SLOT_WAITING, SLOT_REPLIED, SLOT_ERROR };

struct ping {
    struct ustack *st;
    int fd;
    uint32_t dst;
    char dst_str[16], src_str[16];
    uint16_t ident;
    long count, size;
    double interval_s, linger_s;
    long sent, received, errors;
    double rtt_min, rtt_max, rtt_sum, rtt_sum2;
    uint8_t *state; /* per sequence number */
};

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static int send_echo(struct ping *p, long seq, uint8_t *buf)
{
    size_t n = 8 + (size_t)p->size;
    memset(buf, 0, n);
    buf[0] = 8; /* echo request */
    buf[4] = (uint8_t)(p->ident >> 8);
    buf[5] = (uint8_t)p->ident;
    buf[6] = (uint8_t)(seq >> 8);
    buf[7] = (uint8_t)seq;
    if (p->size >= (long)sizeof(double)) {
        double t = app_now_s();
        memcpy(buf + 8, &t, sizeof t);
    }
    for (size_t i = 8 + (p->size >= (long)sizeof(double) ? sizeof(double) : 0); i < n; i++)
        buf[i] = (uint8_t)(i - 8); /* the pattern iputils uses */
    uint16_t c = csum(buf, n);
    buf[2] = (uint8_t)(c >> 8);
    buf[3] = (uint8_t)c;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = p->dst};
    return (int)us_sendto(p->st, p->fd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
}

static void mark_unreachable(struct ping *p, const char *what)
{
    for (long seq = 1; seq <= p->sent; seq++) {
        if (p->state[seq] != SLOT_WAITING)
            continue;
        p->state[seq] = SLOT_ERROR;
        p->errors++;
        printf("From %s icmp_seq=%ld %s\n", p->src_str, seq, what);
    }
}

static const char *unreach_text(uint8_t type, uint8_t code)
{
    if (type == 11)
        return code ? "Frag reassembly time exceeded" : "Time to live exceeded";
    switch (code) {
    case 0: return "Destination Net Unreachable";
    case 1: return "Destination Host Unreachable";
    case 2: return "Destination Protocol Unreachable";
    case 3: return "Destination Port Unreachable";
    case 4: return "Frag needed and DF set";
    default: return "Destination Unreachable";
    }
}

/* One datagram from the raw socket, IP header included. */
static void handle_datagram(struct ping *p, const uint8_t *d, size_t n)
{
    if (n < 20)
        return;
    size_t hl = (size_t)(d[0] & 0x0f) * 4;
    if (hl < 20 || n < hl + 8)
        return;
    const uint8_t *icmp = d + hl;
    size_t ilen = n - hl;
    char from[16];
    struct in_addr src;
    memcpy(&src, d + 12, 4);
    ustack_ip_str(src.s_addr, from);
    uint8_t type = icmp[0];
    if (type == 0) {
        uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]);
        long seq = icmp[6] << 8 | icmp[7];
        if (id != p->ident || seq < 1 || seq > p->sent || src.s_addr != p->dst)
            return;
        if (csum(icmp, ilen) != 0)
            return;
        if (p->state[seq] == SLOT_REPLIED) {
            printf("%zu bytes from %s: icmp_seq=%ld ttl=%u (DUP!)\n", ilen, from, seq, d[8]);
            return;
        }
        if (p->state[seq] == SLOT_ERROR)
            p->errors--;
        p->state[seq] = SLOT_REPLIED;
        p->received++;
        if (p->size >= (long)sizeof(double) && ilen >= 8 + sizeof(double)) {
            double t0;
            memcpy(&t0, icmp + 8, sizeof t0);
            double ms = (app_now_s() - t0) * 1000.0;
            if (p->received == 1 || ms < p->rtt_min)
                p->rtt_min = ms;
            if (ms > p->rtt_max)
                p->rtt_max = ms;
            p->rtt_sum += ms;
            p->rtt_sum2 += ms * ms;
            printf("%zu bytes from %s: icmp_seq=%ld ttl=%u time=%.3f ms\n", ilen, from, seq, d[8], ms);
        } else {
            printf("%zu bytes from %s: icmp_seq=%ld ttl=%u\n", ilen, from, seq, d[8]);
        }
    } else if (type == 3 || type == 11) {
        /* An error quoting one of our requests. */
        const uint8_t *q = icmp + 8;
        size_t qlen = ilen - 8;
        if (qlen < 20)
            return;
        size_t qhl = (size_t)(q[0] & 0x0f) * 4;
        if (qlen < qhl + 8 || q[9] != 1)
            return;
        const uint8_t *qi = q + qhl;
        uint16_t id = (uint16_t)(qi[4] << 8 | qi[5]);
        long seq = qi[6] << 8 | qi[7];
        if (qi[0] != 8 || id != p->ident || seq < 1 || seq > p->sent || p->state[seq] != SLOT_WAITING)
            return;
        p->state[seq] = SLOT_ERROR;
        p->errors++;
        printf("From %s icmp_seq=%ld %s\n", from, seq, unreach_text(type, icmp[1]));
    }
}

static void usage(void)
{
    printf("usage: ustack-ping [options] [-c COUNT] [-s SIZE] [-i SECONDS] [-W SECONDS] HOST\n"
           "Ping HOST from a ustack instance on a TAP (default --tap tap1 --addr 10.0.0.3/24).\n"
           "  -c COUNT    stop after COUNT requests (default 4)\n"
           "  -s SIZE     data bytes per request (default 56, at most 65507)\n"
           "  -i SECONDS  interval between requests (default 1)\n"
           "  -W SECONDS  how long to wait for replies after the last request (default 5)\n\n%s",
           app_net_usage);
}

static double parse_seconds(const char *opt, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= 0) || x > 3600)
        app_usage_error("ustack-ping", "%s wants seconds, not '%s'", opt, v);
    return x;
}

static long parse_long(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || !*v || x < lo || x > hi)
        app_usage_error("ustack-ping", "%s wants a number from %ld to %ld, not '%s'", opt, lo, hi, v);
    return x;
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustack-ping", "tap1", "10.0.0.3/24");
    struct ping p = {.count = 4, .size = 56, .interval_s = 1, .linger_s = 5};
    const char *host = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "-s") == 0 || strcmp(a, "-i") == 0 || strcmp(a, "-W") == 0)) {
            if (i + 1 >= argc)
                app_usage_error("ustack-ping", "%s needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'c')
                p.count = parse_long(a, v, 1, MAX_COUNT - 1);
            else if (a[1] == 's')
                p.size = parse_long(a, v, 0, 65507);
            else if (a[1] == 'i')
                p.interval_s = parse_seconds(a, v);
            else
                p.linger_s = parse_seconds(a, v);
        } else if (a[0] == '-') {
            app_usage_error("ustack-ping", "unknown option '%s'", a);
        } else if (!host) {
            host = a;
        } else {
            app_usage_error("ustack-ping", "only one HOST, please");
        }
    }
    if (!host)
        app_usage_error("ustack-ping", "which HOST?");
    uint8_t len;
    if (ustack_ip_parse(host, &p.dst, &len) < 0 || strchr(host, '/'))
        app_usage_error("ustack-ping", "HOST must be an IPv4 address, not '%s'", host);

    app_net_start(&net);
    p.st = net.st;
    ustack_ip_str(p.dst, p.dst_str);
    ustack_ip_str(net.cfg.addr, p.src_str);
    p.ident = (uint16_t)getpid();
    p.state = calloc((size_t)p.count + 1, 1);
    uint8_t *buf = malloc(65536);
    p.fd = us_socket(p.st, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (p.fd < 0 || !p.state || !buf) {
        fprintf(stderr, "ustack-ping: %s\n", strerror(errno));
        app_net_stop(&net, NULL);
        return 2;
    }
    printf("PING %s (%s) %ld(%ld) bytes of data.\n", p.dst_str, p.dst_str, p.size, p.size + 28);
    fflush(stdout);

    double start = app_now_s(), next_send = start, end = -1;
    for (;;) {
        double t = app_now_s();
        if (p.sent < p.count && t >= next_send) {
            long seq = ++p.sent;
            p.state[seq] = SLOT_WAITING;
            if (send_echo(&p, seq, buf) < 0) {
                if (errno == EHOSTUNREACH || errno == ENETUNREACH) {
                    mark_unreachable(&p, "Destination Host Unreachable");
                } else {
                    printf("ping: sendmsg: %s\n", strerror(errno));
                    p.state[seq] = SLOT_ERROR;
                    p.errors++;
                }
            }
            next_send = start + p.interval_s * (double)p.sent;
            if (p.sent == p.count)
                end = app_now_s() + p.linger_s;
            fflush(stdout);
        }
        if (p.sent == p.count && p.received + p.errors >= p.count)
            break;
        if (end >= 0 && app_now_s() >= end)
            break;
        double until = p.sent < p.count ? next_send : end;
        int timeout_ms = (int)((until - app_now_s()) * 1000.0 + 0.999);
        if (timeout_ms < 0)
            timeout_ms = 0;
        struct pollfd pfd = {.fd = p.fd, .events = POLLIN};
        if (us_poll(p.st, &pfd, 1, timeout_ms) <= 0)
            continue;
        ssize_t n = us_recvfrom(p.st, p.fd, buf, 65536, MSG_DONTWAIT, NULL, NULL);
        if (n >= 0)
            handle_datagram(&p, buf, (size_t)n);
        else if (errno == EHOSTUNREACH || errno == ENETUNREACH)
            mark_unreachable(&p, "Destination Host Unreachable");
        fflush(stdout);
    }

    double elapsed_ms = (app_now_s() - start) * 1000.0;
    printf("\n--- %s ping statistics ---\n", p.dst_str);
    printf("%ld packets transmitted, %ld received", p.sent, p.received);
    if (p.errors)
        printf(", +%ld errors", p.errors);
    printf(", %g%% packet loss, time %.0fms\n", p.sent ? 100.0 * (double)(p.sent - p.received) / (double)p.sent : 0.0,
           elapsed_ms);
    if (p.received && p.size >= (long)sizeof(double)) {
        double avg = p.rtt_sum / (double)p.received;
        double var = p.rtt_sum2 / (double)p.received - avg * avg;
        printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", p.rtt_min, avg, p.rtt_max, sqrt(var > 0 ? var : 0));
    }
    fflush(stdout);
    us_close(p.st, p.fd);
    free(p.state);
    free(buf);
    app_net_stop(&net, NULL);
    return p.received ? 0 : 1;
}
