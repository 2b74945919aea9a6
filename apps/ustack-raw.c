/*
 * ustack-raw: a raw IP socket from the command line. Receives datagrams of one
 * protocol and prints them whole (IP header included), or sends one, with the
 * stack building the IP header or, with --hdrincl, the caller's own. It shows
 * what raw sockets are for and tests them against Linux.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/socket.h>
#include "common.h"

static void usage(void)
{
    printf("usage: ustack-raw [options] --proto P --recv N [--timeout SEC]\n"
           "       ustack-raw [options] --proto P --send DST --payload HEX [--hdrincl]\n"
           "A raw IPv4 socket for protocol P on a ustack instance (default --tap tap1 --addr 10.0.0.3/24).\n"
           "  --recv N      print N received datagrams, one line each:\n"
           "                from SRC proto P len L hex HEX   (HEX: the datagram with its IP header)\n"
           "                'ustack-raw: ready' is printed once the socket is open\n"
           "  --send DST    send one datagram to DST with the payload HEX\n"
           "  --hdrincl     the payload is a whole IPv4 datagram (IP_HDRINCL)\n"
           "  --timeout SEC give up receiving after SEC seconds (default 10; exit 1)\n\n%s",
           app_net_usage);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        app_usage_error("ustack-raw", "--payload wants an even number of hex digits (at most %zu bytes)", cap);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            app_usage_error("ustack-raw", "--payload: '%c%c' is not hex", s[2 * i], s[2 * i + 1]);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustack-raw", "tap1", "10.0.0.3/24");
    long proto = -1, nrecv = -1;
    double timeout_s = 10;
    const char *send_to = NULL, *payload = NULL;
    int hdrincl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if (strcmp(a, "--hdrincl") == 0) {
            hdrincl = 1;
            continue;
        }
        if (i + 1 >= argc)
            app_usage_error("ustack-raw", "unknown option '%s' (or it needs a value)", a);
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "--proto") == 0) {
            proto = strtol(v, &end, 10);
            if (*end || proto < 1 || proto > 255)
                app_usage_error("ustack-raw", "--proto wants 1..255");
        } else if (strcmp(a, "--recv") == 0) {
            nrecv = strtol(v, &end, 10);
            if (*end || nrecv < 1)
                app_usage_error("ustack-raw", "--recv wants a count");
        } else if (strcmp(a, "--timeout") == 0) {
            timeout_s = strtod(v, &end);
            if (*end || !(timeout_s > 0))
                app_usage_error("ustack-raw", "--timeout wants seconds");
        } else if (strcmp(a, "--send") == 0) {
            send_to = v;
        } else if (strcmp(a, "--payload") == 0) {
            payload = v;
        } else {
            app_usage_error("ustack-raw", "unknown option '%s'", a);
        }
    }
    if (proto < 0)
        app_usage_error("ustack-raw", "--proto is required");
    if ((nrecv > 0) == (send_to != NULL))
        app_usage_error("ustack-raw", "give either --recv N or --send DST");
    uint32_t dst = 0;
    uint8_t *buf = malloc(65536);
    size_t plen = 0;
    if (!buf)
        return 2;
    if (send_to) {
        uint8_t len;
        if (ustack_ip_parse(send_to, &dst, &len) < 0 || strchr(send_to, '/'))
            app_usage_error("ustack-raw", "--send wants an IPv4 address");
        plen = parse_hex(payload ? payload : "", buf, 65535);
    }

    app_net_start(&net);
    struct ustack *st = net.st;
    int rc = 0;
    int fd = us_socket(st, AF_INET, SOCK_RAW, (int)proto);
    int on = 1;
    if (fd < 0 || (hdrincl && us_setsockopt(st, fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof on) < 0)) {
        fprintf(stderr, "ustack-raw: socket: %s\n", strerror(errno));
        rc = 2;
    } else if (send_to) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = dst};
        if (us_sendto(st, fd, buf, plen, 0, (struct sockaddr *)&to, sizeof to) < 0) {
            fprintf(stderr, "ustack-raw: sendto: %s\n", strerror(errno));
            rc = 1;
        } else {
            /* The first datagram waits for ARP: stay until it has left. */
            if (app_net_drain(&net, 5000) < 0) {
                fprintf(stderr, "ustack-raw: %s: host unreachable\n", send_to);
                rc = 1;
            }
        }
    } else {
        struct timeval tv = {.tv_sec = (time_t)timeout_s, .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
        us_setsockopt(st, fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        printf("ustack-raw: ready\n");
        fflush(stdout);
        for (long k = 0; k < nrecv; k++) {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = us_recvfrom(st, fd, buf, 65536, 0, (struct sockaddr *)&from, &fl);
            if (n < 0) {
                fprintf(stderr, "ustack-raw: recvfrom: %s\n", errno == EAGAIN ? "timed out" : strerror(errno));
                rc = 1;
                break;
            }
            char src[16];
            printf("from %s proto %u len %zd hex ", ustack_ip_str(from.sin_addr.s_addr, src), n >= 10 ? buf[9] : 0, n);
            for (ssize_t j = 0; j < n; j++)
                printf("%02x", buf[j]);
            printf("\n");
            fflush(stdout);
        }
    }
    if (fd >= 0)
        us_close(st, fd);
    free(buf);
    app_net_stop(&net, NULL);
    return rc;
}
