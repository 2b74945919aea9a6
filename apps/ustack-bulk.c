/*
 * ustack-bulk: a bulk TCP transfer over a ustack instance, for measuring.
 * Sends N bytes of the chargen pattern to HOST:PORT (--send N), or receives
 * from HOST:PORT until N bytes arrived or, with N = 0, the peer closed (--recv N); with -l
 * it waits for the connection on PORT instead. Prints bytes, seconds, Mbit/s
 * and the SHA-256 of what moved. --read-start-ms, --read-chunk and
 * --read-delay-ms make a slow reader (one that closes the peer's window).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ustack/socket.h>
#include "common.h"
#include "util.h"

#define CHUNK 65536

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (ms && nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void usage(void)
{
    printf("usage: ustack-bulk [options] (--send N | --recv N) [-l] HOST PORT\n"
           "Move bytes over TCP from a ustack instance (default --tap tap1 --addr 10.0.0.3/24).\n"
           "  --send N   send N bytes of the chargen pattern, then close\n"
           "  --recv N   receive N bytes (0: until the peer closes)\n"
           "  N may end in k, M or G (powers of 1024)\n"
           "  -l         wait for the connection on PORT (HOST is then the local address)\n"
           "  --read-chunk N     with --recv: read at most N bytes at a time (default 64k)\n"
           "  --read-delay-ms N  with --recv: sleep N ms before each read (a slow reader:\n"
           "                     --read-chunk 1k --read-delay-ms 100 drains 10 KiB/s)\n"
           "  --read-start-ms N  with --recv: read nothing for the first N ms\n"
           "Prints: bytes B seconds S mbps M sha256 H\n\n%s",
           app_net_usage);
}

static uint64_t parse_size(const char *v)
{
    char *end;
    errno = 0;
    uint64_t n = strtoull(v, &end, 10);
    if (errno || end == v)
        app_usage_error("ustack-bulk", "not a byte count: '%s'", v);
    if (*end == 'k' || *end == 'K')
        n <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        n <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        n <<= 30, end++;
    if (*end)
        app_usage_error("ustack-bulk", "not a byte count: '%s'", v);
    return n;
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustack-bulk", "tap1", "10.0.0.3/24");
    int mode = 0; /* 1 send, 2 recv */
    uint64_t count = UINT64_MAX;
    bool listen_mode = false;
    uint64_t read_chunk = CHUNK, read_delay_ms = 0, read_start_ms = 0;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if (strcmp(a, "--send") == 0) {
            if (i + 1 >= argc)
                app_usage_error("ustack-bulk", "--send needs a byte count");
            mode = 1;
            count = parse_size(argv[++i]);
        } else if (strcmp(a, "--recv") == 0) {
            if (i + 1 >= argc)
                app_usage_error("ustack-bulk", "--recv needs a byte count (0: until the peer closes)");
            mode = 2;
            count = parse_size(argv[++i]);
            if (count == 0)
                count = UINT64_MAX;
        } else if (strcmp(a, "--read-chunk") == 0 || strcmp(a, "--read-delay-ms") == 0 ||
                   strcmp(a, "--read-start-ms") == 0) {
            if (i + 1 >= argc)
                app_usage_error("ustack-bulk", "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--read-chunk") == 0) {
                read_chunk = parse_size(v);
                if (read_chunk == 0 || read_chunk > CHUNK)
                    app_usage_error("ustack-bulk", "--read-chunk wants 1 to %d bytes", CHUNK);
            } else {
                char *end;
                errno = 0;
                uint64_t ms = strtoull(v, &end, 10);
                if (errno || end == v || *end || *v == '-' || ms > 3600000)
                    app_usage_error("ustack-bulk", "%s wants milliseconds, not '%s'", a, v);
                *(strcmp(a, "--read-delay-ms") == 0 ? &read_delay_ms : &read_start_ms) = ms;
            }
        } else if (strcmp(a, "-l") == 0) {
            listen_mode = true;
        } else if (a[0] == '-') {
            app_usage_error("ustack-bulk", "unknown option '%s'", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            app_usage_error("ustack-bulk", "too many arguments");
        }
    }
    if (!mode)
        app_usage_error("ustack-bulk", "--send N or --recv?");
    if (npos != 2)
        app_usage_error("ustack-bulk", "which HOST and PORT?");
    uint32_t addr;
    uint8_t len;
    char *end;
    unsigned long port = strtoul(pos[1], &end, 10);
    if (*end || port == 0 || port > 65535)
        app_usage_error("ustack-bulk", "bad port '%s'", pos[1]);
    if (ustack_ip_parse(pos[0], &addr, &len) < 0 || strchr(pos[0], '/'))
        app_usage_error("ustack-bulk", "HOST must be an IPv4 address, not '%s'", pos[0]);

    app_net_start(&net);
    struct ustack *st = net.st;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = addr};
    int fd = us_socket(st, AF_INET, SOCK_STREAM, 0);
    if (listen_mode) {
        int on = 1, lfd = fd;
        us_setsockopt(st, lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (lfd < 0 || us_bind(st, lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || us_listen(st, lfd, 1) < 0 ||
            (fd = us_accept(st, lfd, NULL, NULL, 0)) < 0) {
            fprintf(stderr, "ustack-bulk: waiting on port %lu: %s\n", port, strerror(errno));
            app_net_stop(&net, NULL);
            return 1;
        }
        us_close(st, lfd);
    } else if (fd < 0 || us_connect(st, fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        fprintf(stderr, "ustack-bulk: connect to %s port %lu: %s\n", pos[0], port, strerror(errno));
        app_net_stop(&net, NULL);
        return 1;
    }
    uint8_t *buf = malloc(CHUNK);
    struct sha256 h;
    sha256_init(&h);
    uint64_t moved = 0;
    int rc = 0;
    double t0 = app_now_s();
    if (mode == 1) {
        while (moved < count) {
            size_t k = count - moved < CHUNK ? (size_t)(count - moved) : CHUNK;
            chargen_fill(buf, k, moved);
            if (us_send_all(st, fd, buf, k) < 0) {
                fprintf(stderr, "ustack-bulk: send: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            sha256_update(&h, buf, k);
            moved += k;
        }
        us_shutdown(st, fd, SHUT_WR);
        /* Wait for the peer's FIN: everything sent has then been received. */
        while (us_recv(st, fd, buf, CHUNK, 0) > 0) {
        }
    } else {
        sleep_ms(read_start_ms);
        while (moved < count) {
            size_t want = count - moved < read_chunk ? (size_t)(count - moved) : (size_t)read_chunk;
            sleep_ms(read_delay_ms);
            ssize_t n = us_recv(st, fd, buf, want, 0);
            if (n == 0)
                break;
            if (n < 0) {
                fprintf(stderr, "ustack-bulk: recv: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            sha256_update(&h, buf, (size_t)n);
            moved += (uint64_t)n;
        }
        if (count != UINT64_MAX && moved < count) {
            fprintf(stderr, "ustack-bulk: the peer closed after %" PRIu64 " of %" PRIu64 " bytes\n", moved, count);
            rc = 1;
        }
    }
    double secs = app_now_s() - t0;
    char hex[65];
    sha256_final_hex(&h, hex);
    printf("bytes %" PRIu64 " seconds %.3f mbps %.1f sha256 %s\n", moved, secs,
           secs > 0 ? (double)moved * 8 / 1e6 / secs : 0.0, hex);
    us_close(st, fd);
    app_net_drain(&net, 2000);
    free(buf);
    app_net_stop(&net, NULL);
    return rc;
}
