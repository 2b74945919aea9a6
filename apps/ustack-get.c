/*
 * ustack-get: an HTTP/1.1 client on a ustack instance, like `curl -o`.
 * Fetches one URL (http://A.B.C.D[:PORT]/PATH), follows Content-Length,
 * chunked or close-delimited bodies, writes the body to -o FILE or stdout,
 * and exits non-zero with a clear message on refusal, timeout or a bad
 * response. Progress goes to stderr for large downloads on a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "common.h"
#include "util.h"

#define BUF_SIZE 65536

struct conn {
    struct ustack *st;
    int fd;
    uint8_t buf[BUF_SIZE];
    size_t start, end;
};

static ssize_t conn_fill(struct conn *c)
{
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == sizeof c->buf) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    ssize_t n = us_recv(c->st, c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
    if (n > 0)
        c->end += (size_t)n;
    return n;
}

static ssize_t conn_line(struct conn *c, char *out, size_t cap)
{
    for (;;) {
        uint8_t *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl) {
            size_t len = (size_t)(nl - (c->buf + c->start));
            size_t keep = len && nl[-1] == '\r' ? len - 1 : len;
            if (keep >= cap)
                return -2;
            memcpy(out, c->buf + c->start, keep);
            out[keep] = 0;
            c->start += len + 1;
            return (ssize_t)keep;
        }
        if (c->end - c->start >= cap)
            return -2;
        ssize_t n = conn_fill(c);
        if (n <= 0)
            return -1;
    }
}

struct sink {
    FILE *out;
    uint64_t got, total; /* total 0 = unknown */
    bool progress;
    double t0, last;
    struct sha256 hash;
};

static int sink_write(struct sink *s, const uint8_t *p, size_t n)
{
    if (n && fwrite(p, 1, n, s->out) != n)
        return -1;
    sha256_update(&s->hash, p, n);
    s->got += n;
    if (s->progress) {
        double t = app_now_s();
        if (t - s->last >= 0.25) {
            s->last = t;
            if (s->total)
                fprintf(stderr, "\r%" PRIu64 " / %" PRIu64 " bytes (%.0f%%) %.1f Mbit/s", s->got, s->total,
                        100.0 * (double)s->got / (double)s->total, (double)s->got * 8 / 1e6 / (t - s->t0));
            else
                fprintf(stderr, "\r%" PRIu64 " bytes %.1f Mbit/s", s->got, (double)s->got * 8 / 1e6 / (t - s->t0));
        }
    }
    return 0;
}

/* Copies exactly n body bytes (or until EOF when n is UINT64_MAX). */
static int copy_body(struct conn *c, struct sink *s, uint64_t n)
{
    while (n) {
        if (c->start == c->end) {
            ssize_t r = conn_fill(c);
            if (r < 0)
                return -1;
            if (r == 0)
                return n == UINT64_MAX ? 0 : -1;
        }
        size_t k = c->end - c->start;
        if (n != UINT64_MAX && k > n)
            k = (size_t)n;
        if (sink_write(s, c->buf + c->start, k) < 0)
            return -2;
        c->start += k;
        if (n != UINT64_MAX)
            n -= k;
    }
    return 0;
}

static void usage(void)
{
    printf("usage: ustack-get [options] [-o FILE] [--timeout SEC] [--sha256] http://A.B.C.D[:PORT]/PATH\n"
           "Fetch a URL over a ustack instance (default --tap tap1 --addr 10.0.0.3/24).\n"
           "  -o FILE        write the body to FILE (default: stdout)\n"
           "  --timeout SEC  give up when nothing arrives for SEC seconds (default 30)\n"
           "  --sha256       print the body's SHA-256 and size on stderr\n"
           "Exit status: 0 on a 2xx response, 22 on an HTTP error status (as curl -f),\n"
           "7 when the connection is refused or the host unreachable, 28 on a timeout,\n"
           "8 on a malformed response, 2 on bad usage.\n\n%s",
           app_net_usage);
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustack-get", "tap1", "10.0.0.3/24");
    const char *url = NULL, *outpath = NULL;
    double timeout_s = 30;
    bool print_hash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if (strcmp(a, "--sha256") == 0) {
            print_hash = true;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc)
                app_usage_error("ustack-get", "%s needs a value", a);
            if (a[1] == 'o')
                outpath = argv[++i];
            else {
                char *end;
                timeout_s = strtod(argv[++i], &end);
                if (*end || !(timeout_s > 0))
                    app_usage_error("ustack-get", "--timeout wants seconds");
            }
        } else if (a[0] == '-') {
            app_usage_error("ustack-get", "unknown option '%s'", a);
        } else if (!url) {
            url = a;
        } else {
            app_usage_error("ustack-get", "only one URL, please");
        }
    }
    if (!url)
        app_usage_error("ustack-get", "which URL?");
    char host[64] = "", path[2048] = "/";
    unsigned port = 80;
    if (strncmp(url, "http://", 7) != 0)
        app_usage_error("ustack-get", "only http:// URLs are supported, not '%s'", url);
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof host)
        app_usage_error("ustack-get", "no host in '%s'", url);
    memcpy(host, h, hl);
    if (slash) {
        if (strlen(slash) >= sizeof path)
            app_usage_error("ustack-get", "path too long");
        strcpy(path, slash);
    }
    char *colon = strchr(host, ':');
    if (colon) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (*end || p == 0 || p > 65535)
            app_usage_error("ustack-get", "bad port in '%s'", url);
        port = (unsigned)p;
        *colon = 0;
    }
    uint32_t addr;
    uint8_t len;
    if (ustack_ip_parse(host, &addr, &len) < 0 || strchr(host, '/'))
        app_usage_error("ustack-get", "the host must be an IPv4 address, not '%s'", host);

    app_net_start(&net);
    struct ustack *st = net.st;
    int rc = 0;
    struct conn *c = calloc(1, sizeof *c);
    FILE *out = NULL;
    c->st = st;
    c->fd = us_socket(st, AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = (time_t)timeout_s, .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    us_setsockopt(st, c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    us_setsockopt(st, c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = addr};
    if (c->fd < 0 || us_connect(st, c->fd, (struct sockaddr *)&to, sizeof to) < 0) {
        int e = errno;
        /* SO_SNDTIMEO bounds a blocking connect; it then answers EINPROGRESS. */
        bool timed_out = e == ETIMEDOUT || e == EINPROGRESS;
        fprintf(stderr, "ustack-get: cannot connect to %s port %u: %s\n", host, port,
                timed_out ? "timed out" : strerror(e));
        rc = timed_out ? 28 : 7;
        goto done;
    }
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ustack-get\r\nAccept: */*\r\n"
                                      "Connection: close\r\n\r\n", path, colon ? url + 7 : host);
    if (us_send_all(st, c->fd, req, (size_t)n) < 0) {
        fprintf(stderr, "ustack-get: sending the request: %s\n", strerror(errno));
        rc = errno == ETIMEDOUT || errno == EAGAIN ? 28 : 7;
        goto done;
    }
    char line[8192];
    int status = 0;
    ssize_t l;
    do {
        if ((l = conn_line(c, line, sizeof line)) < 0)
            break;
        int minor;
        if (sscanf(line, "HTTP/1.%d %d", &minor, &status) != 2) {
            fprintf(stderr, "ustack-get: malformed status line: %.80s\n", line);
            rc = 8;
            goto done;
        }
        /* A 1xx interim answer is followed by headers and the real one. */
        if (status >= 100 && status < 200)
            while ((l = conn_line(c, line, sizeof line)) > 0) {
            }
    } while (status >= 100 && status < 200 && l >= 0);
    if (l < 0) {
        int e = errno;
        fprintf(stderr, "ustack-get: no response from %s: %s\n", host,
                l == -2 ? "line too long" : e == EAGAIN ? "timed out" : e ? strerror(e) : "connection closed");
        rc = (e == EAGAIN || e == ETIMEDOUT) ? 28 : 8;
        goto done;
    }
    uint64_t clen = UINT64_MAX;
    bool chunked = false;
    while ((l = conn_line(c, line, sizeof line)) > 0) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        *v++ = 0;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Length") == 0) {
            char *end;
            clen = strtoull(v, &end, 10);
            if (*end || end == v) {
                fprintf(stderr, "ustack-get: bad Content-Length '%s'\n", v);
                rc = 8;
                goto done;
            }
        } else if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked")) {
            chunked = true;
        }
    }
    if (l < 0) {
        fprintf(stderr, "ustack-get: response headers cut short\n");
        rc = 8;
        goto done;
    }
    out = outpath ? fopen(outpath, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "ustack-get: cannot write %s: %s\n", outpath, strerror(errno));
        rc = 23;
        goto done;
    }
    struct sink s = {.out = out, .total = clen == UINT64_MAX ? 0 : clen};
    sha256_init(&s.hash);
    s.t0 = s.last = app_now_s();
    s.progress = isatty(2) && (s.total == 0 || s.total > (1u << 20));
    int r = 0;
    if (chunked) {
        for (;;) {
            if ((l = conn_line(c, line, sizeof line)) < 0) {
                r = -1;
                break;
            }
            char *end;
            uint64_t sz = strtoull(line, &end, 16);
            if (end == line) {
                r = -3;
                break;
            }
            if (sz == 0) {
                while ((l = conn_line(c, line, sizeof line)) > 0) {
                }
                break;
            }
            if ((r = copy_body(c, &s, sz)) < 0 || conn_line(c, line, sizeof line) != 0) {
                r = r < 0 ? r : -3;
                break;
            }
        }
    } else {
        r = copy_body(c, &s, clen);
    }
    if (s.progress)
        fprintf(stderr, "\n");
    if (r < 0) {
        int e = errno;
        if (r == -2)
            fprintf(stderr, "ustack-get: writing the body: %s\n", strerror(e));
        else if (r == -3)
            fprintf(stderr, "ustack-get: malformed chunked body\n");
        else
            fprintf(stderr, "ustack-get: body cut short after %" PRIu64 " bytes: %s\n", s.got,
                    e == EAGAIN ? "timed out" : strerror(e));
        rc = r == -2 ? 23 : (e == EAGAIN || e == ETIMEDOUT) ? 28 : 18;
        goto done;
    }
    if (print_hash) {
        char hex[65];
        sha256_final_hex(&s.hash, hex);
        fprintf(stderr, "ustack-get: %" PRIu64 " bytes sha256 %s\n", s.got, hex);
    }
    if (status < 200 || status > 299) {
        fprintf(stderr, "ustack-get: the server answered HTTP %d\n", status);
        rc = 22;
    }
done:
    if (out && out != stdout)
        fclose(out);
    else if (out)
        fflush(out);
    if (c->fd >= 0)
        us_close(st, c->fd);
    free(c);
    app_net_drain(&net, 2000); /* let our FIN arrive before the stack goes away */
    app_net_stop(&net, NULL);
    return rc;
}
