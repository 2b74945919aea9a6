/*
 * ustackd's HTTP/1.1 server: GET and HEAD of files under --http-root and of
 * /bytes/N (N bytes of the chargen pattern), PUT /upload (answers with the
 * byte count and SHA-256 of the body), keep-alive for HTTP/1.1 and for
 * HTTP/1.0 with "Connection: keep-alive", Content-Length or chunked request
 * bodies, and 400/404/405/411/413/414/431/501 for what it cannot serve.
 * The request parser is http_parse.c; this file answers.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "http_parse.h"
#include "services.h"
#include "util.h"

#define IO_CHUNK 65536
#define BYTES_MAX (1ull << 40)

struct conn {
    struct ustack *st;
    int fd;
};

/* The parser's byte source: the connection. */
static ssize_t sock_recv(void *ctx, void *buf, size_t n)
{
    const struct conn *c = ctx;
    return us_recv(c->st, c->fd, buf, n, 0);
}

static int send_str(struct ustack *st, int fd, const char *s)
{
    return us_send_all(st, fd, s, strlen(s));
}

/* The response head into h (at most cap bytes); returns its length. */
static size_t format_head(char *h, size_t cap, const struct http_request *rq, int code, const char *reason,
                          const char *ctype, uint64_t length, const char *extra)
{
    int n = snprintf(h, cap,
                     "HTTP/1.1 %d %s\r\nServer: ustack\r\nContent-Type: %s\r\nContent-Length: %" PRIu64 "\r\n%s%s\r\n",
                     code, reason, ctype, length, rq->keep_alive ? (rq->minor == 0 ? "Connection: keep-alive\r\n" : "")
                                                                 : "Connection: close\r\n",
                     extra ? extra : "");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Head and body go in one send: written separately, Nagle would hold a
 * small body until the head's ACK, which a client delays by up to 40 ms
 * (the classic write-write-read stall of a keep-alive connection). */
static int respond(struct ustack *st, int fd, const struct http_request *rq, int code, const char *reason,
                   const char *ctype, uint64_t length, const char *extra, bool head_only, const char *body)
{
    char h[4096];
    size_t n = format_head(h, sizeof h, rq, code, reason, ctype, length, extra);
    size_t blen = !head_only && body ? strlen(body) : 0;
    if (n + blen <= sizeof h) {
        memcpy(h + n, body, blen);
        return us_send_all(st, fd, h, n + blen) < 0 ? -1 : 0;
    }
    if (us_send_all(st, fd, h, n) < 0)
        return -1;
    if (blen && us_send_all(st, fd, body, blen) < 0)
        return -1;
    return 0;
}

static int respond_error(struct ustack *st, int fd, struct http_request *rq, int code, const char *reason,
                         const char *extra)
{
    char body[128];
    snprintf(body, sizeof body, "%d %s\n", code, reason);
    return respond(st, fd, rq, code, reason, "text/plain", strlen(body), extra,
                   strcmp(rq->method, "HEAD") == 0, body);
}

static void sha_sink(void *ctx, const uint8_t *p, size_t n)
{
    sha256_update(ctx, p, n);
}

/* Maps the target onto a file under root; refuses anything that climbs out. */
static int open_target(const char *root, const char *target, struct stat *sb)
{
    char path[4096], rel[HTTP_TARGET_MAX + 1];
    if (!root || http_target_path(target, rel) < 0)
        return -1;
    size_t tl = strlen(rel);
    snprintf(path, sizeof path, "%s%s", root, rel);
    if (stat(path, sb) == 0 && S_ISDIR(sb->st_mode)) {
        strncat(path, tl && rel[tl - 1] == '/' ? "index.html" : "/index.html", sizeof path - strlen(path) - 1);
        if (stat(path, sb) != 0)
            return -1;
    }
    if (stat(path, sb) != 0 || !S_ISREG(sb->st_mode))
        return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

static int serve_bytes(struct ustack *st, int fd, struct http_request *rq, uint64_t n, bool head)
{
    if (head)
        return respond(st, fd, rq, 200, "OK", "application/octet-stream", n, NULL, true, NULL);
    uint8_t *buf = malloc(IO_CHUNK);
    if (!buf)
        return -1;
    /* The head shares the first send with the data (see respond()). */
    size_t hl = format_head((char *)buf, 1024, rq, 200, "OK", "application/octet-stream", n, NULL);
    for (uint64_t off = 0; off < n || hl;) {
        size_t room = IO_CHUNK - hl;
        size_t k = n - off < room ? (size_t)(n - off) : room;
        chargen_fill(buf + hl, k, off);
        if (us_send_all(st, fd, buf, hl + k) < 0) {
            free(buf);
            return -1;
        }
        off += k;
        hl = 0;
    }
    free(buf);
    return 0;
}

static int serve_file(struct ustack *st, int fd, struct http_request *rq, const char *root, bool head)
{
    struct stat sb;
    int f = open_target(root, rq->target, &sb);
    if (f < 0)
        return respond_error(st, fd, rq, 404, "Not Found", NULL);
    const char *ctype = "application/octet-stream";
    const char *dot = strrchr(rq->target, '.');
    if (dot && (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0))
        ctype = "text/html";
    else if (dot && strcmp(dot, ".txt") == 0)
        ctype = "text/plain";
    else if (rq->target[strlen(rq->target) - 1] == '/')
        ctype = "text/html";
    int rc = 0;
    if (head) {
        rc = respond(st, fd, rq, 200, "OK", ctype, (uint64_t)sb.st_size, NULL, true, NULL);
    } else {
        /* The head shares the first send with the file's start (see respond()). */
        uint8_t *buf = malloc(IO_CHUNK);
        size_t hl = buf ? format_head((char *)buf, 1024, rq, 200, "OK", ctype, (uint64_t)sb.st_size, NULL) : 0;
        ssize_t n = 0;
        rc = buf ? 0 : -1;
        while (buf && ((n = read(f, buf + hl, IO_CHUNK - hl)) > 0 || hl)) {
            if (n < 0)
                n = 0;
            if (us_send_all(st, fd, buf, hl + (size_t)n) < 0) {
                rc = -1;
                break;
            }
            hl = 0;
        }
        free(buf);
    }
    close(f);
    return rc;
}

void http_serve(struct ustack *st, int fd, const char *root)
{
    struct http_reader *r = calloc(1, sizeof *r);
    if (!r)
        return;
    struct conn c = {st, fd};
    http_reader_init(r, sock_recv, &c);
    for (;;) {
        struct http_request rq;
        int status = http_read_head(r, &rq);
        if (status == -1)
            break;
        if (status) {
            static const char *const reasons[600] = {[400] = "Bad Request", [414] = "URI Too Long",
                                                     [431] = "Request Header Fields Too Large",
                                                     [501] = "Not Implemented"};
            rq.keep_alive = false;
            respond_error(st, fd, &rq, status, reasons[status], NULL);
            break;
        }
        bool head = strcmp(rq.method, "HEAD") == 0;
        bool has_body = rq.chunked || (rq.has_length && rq.content_length > 0);
        int rc;
        if (strcmp(rq.method, "PUT") == 0 || strcmp(rq.method, "POST") == 0) {
            if (strcmp(rq.target, "/upload") != 0) {
                rq.keep_alive = rq.keep_alive && http_read_body(r, &rq, NULL, NULL) >= 0;
                rc = respond_error(st, fd, &rq, strcmp(rq.method, "PUT") == 0 ? 404 : 405,
                                   strcmp(rq.method, "PUT") == 0 ? "Not Found" : "Method Not Allowed",
                                   strcmp(rq.method, "POST") == 0 ? "Allow: GET, HEAD, PUT\r\n" : NULL);
            } else if (!rq.chunked && !rq.has_length) {
                rq.keep_alive = false;
                rc = respond_error(st, fd, &rq, 411, "Length Required", NULL);
            } else {
                if (rq.expect_continue && send_str(st, fd, "HTTP/1.1 100 Continue\r\n\r\n") < 0)
                    break;
                struct sha256 h;
                sha256_init(&h);
                int64_t n = http_read_body(r, &rq, sha_sink, &h);
                if (n < 0)
                    break;
                char hex[65], body[160];
                sha256_final_hex(&h, hex);
                snprintf(body, sizeof body, "bytes %" PRId64 "\nsha256 %s\n", n, hex);
                rc = respond(st, fd, &rq, 200, "OK", "text/plain", strlen(body), NULL, false, body);
            }
        } else if (strcmp(rq.method, "GET") == 0 || head) {
            if (has_body && http_read_body(r, &rq, NULL, NULL) < 0)
                break;
            uint64_t n;
            if (strncmp(rq.target, "/bytes/", 7) == 0) {
                if (http_parse_u64(rq.target + 7, &n) && n <= BYTES_MAX)
                    rc = serve_bytes(st, fd, &rq, n, head);
                else
                    rc = respond_error(st, fd, &rq, 400, "Bad Request", NULL);
            } else {
                rc = serve_file(st, fd, &rq, root, head);
            }
        } else {
            if (has_body && http_read_body(r, &rq, NULL, NULL) < 0)
                break;
            rc = respond_error(st, fd, &rq, 405, "Method Not Allowed", "Allow: GET, HEAD, PUT\r\n");
        }
        if (rc < 0 || !rq.keep_alive)
            break;
    }
    /* Half-close and let the peer read everything before the socket goes. */
    us_shutdown(st, fd, SHUT_WR);
    free(r);
}
