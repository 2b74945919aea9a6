/*
 * ustackd's HTTP/1.1 server: GET and HEAD of files under --http-root and of
 * /bytes/N (N bytes of the chargen pattern), PUT /upload (answers with the
 * byte count and SHA-256 of the body), keep-alive for HTTP/1.1 and for
 * HTTP/1.0 with "Connection: keep-alive", Content-Length or chunked request
 * bodies, and 400/404/405/411/413/414/431/501 for what it cannot serve.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "services.h"
#include "util.h"

#define HDR_MAX 8192
#define IO_CHUNK 65536
#define BYTES_MAX (1ull << 40)

/* A buffered reader over a socket: the request head, then the body. */
struct reader {
    struct ustack *st;
    int fd;
    char buf[HDR_MAX + 1];
    size_t start, end;
};

static ssize_t rd_fill(struct reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end >= HDR_MAX)
        return -2; /* no room */
    ssize_t n = us_recv(r->st, r->fd, r->buf + r->end, HDR_MAX - r->end, 0);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

/* Reads a CRLF- (or LF-) terminated line; returns its length without the
 * terminator, -1 on EOF/error, -2 if it does not fit. */
static ssize_t rd_line(struct reader *r, char **line)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            size_t len = (size_t)(nl - (r->buf + r->start));
            *line = r->buf + r->start;
            r->start += len + 1;
            if (len && (*line)[len - 1] == '\r')
                len--;
            (*line)[len] = 0;
            return (ssize_t)len;
        }
        ssize_t n = rd_fill(r);
        if (n == -2)
            return -2;
        if (n <= 0)
            return -1;
    }
}

/* Reads up to n body bytes into out (or discards them if out is NULL). */
static ssize_t rd_body(struct reader *r, uint8_t *out, size_t n)
{
    if (r->start < r->end) {
        size_t k = r->end - r->start < n ? r->end - r->start : n;
        if (out)
            memcpy(out, r->buf + r->start, k);
        r->start += k;
        return (ssize_t)k;
    }
    return us_recv(r->st, r->fd, out, n, 0);
}

struct request {
    char method[16];
    char target[2048];
    int minor;                 /* HTTP/1.minor */
    bool keep_alive;
    bool chunked;
    bool has_length;
    uint64_t content_length;
    bool expect_continue;
};

static int send_str(struct ustack *st, int fd, const char *s)
{
    return us_send_all(st, fd, s, strlen(s));
}

/* The response head into h (at most cap bytes); returns its length. */
static size_t format_head(char *h, size_t cap, const struct request *rq, int code, const char *reason,
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
static int respond(struct ustack *st, int fd, const struct request *rq, int code, const char *reason,
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

static int respond_error(struct ustack *st, int fd, struct request *rq, int code, const char *reason,
                         const char *extra)
{
    char body[128];
    snprintf(body, sizeof body, "%d %s\n", code, reason);
    return respond(st, fd, rq, code, reason, "text/plain", strlen(body), extra,
                   strcmp(rq->method, "HEAD") == 0, body);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Reads the request line and headers. Returns 0, -1 if the connection ended
 * cleanly before a request, or an HTTP status to answer with. */
static int read_head(struct reader *r, struct request *rq)
{
    char *line;
    ssize_t n;
    memset(rq, 0, sizeof *rq);
    do { /* RFC 9112 2.2: ignore empty lines before the request line */
        n = rd_line(r, &line);
    } while (n == 0);
    if (n == -1)
        return -1;
    if (n == -2)
        return 414;
    char version[16];
    if (sscanf(line, "%15s %2047s %15s", rq->method, rq->target, version) != 3)
        return 400;
    if (strncmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1') || version[8])
        return 400;
    rq->minor = version[7] - '0';
    rq->keep_alive = rq->minor == 1;
    for (;;) {
        n = rd_line(r, &line);
        if (n == -1)
            return -1;
        if (n == -2)
            return 431;
        if (n == 0)
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            return 400;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Length") == 0) {
            if (!parse_u64(v, &rq->content_length))
                return 400;
            rq->has_length = true;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            if (strcasecmp(v, "chunked") != 0)
                return 501;
            rq->chunked = true;
        } else if (strcasecmp(line, "Connection") == 0) {
            if (strcasestr(v, "close"))
                rq->keep_alive = false;
            else if (strcasestr(v, "keep-alive"))
                rq->keep_alive = true;
        } else if (strcasecmp(line, "Expect") == 0 && strcasecmp(v, "100-continue") == 0) {
            rq->expect_continue = true;
        }
    }
    return 0;
}

/* Consumes the request body, feeding it to `sink` (may be NULL). Returns the
 * body length, or -1 on a broken body. */
static int64_t read_body(struct reader *r, struct request *rq, struct sha256 *sink)
{
    static const size_t chunk = IO_CHUNK;
    uint8_t *buf = malloc(chunk);
    if (!buf)
        return -1;
    int64_t total = 0;
    if (rq->chunked) {
        for (;;) {
            char *line;
            if (rd_line(r, &line) < 0)
                goto bad;
            char *end;
            errno = 0;
            unsigned long long sz = strtoull(line, &end, 16);
            if (end == line || errno)
                goto bad;
            if (sz == 0) {
                /* trailers, then the empty line */
                ssize_t n;
                while ((n = rd_line(r, &line)) > 0) {
                }
                if (n < 0)
                    goto bad;
                break;
            }
            while (sz) {
                ssize_t n = rd_body(r, buf, sz < chunk ? sz : chunk);
                if (n <= 0)
                    goto bad;
                if (sink)
                    sha256_update(sink, buf, (size_t)n);
                total += n;
                sz -= (unsigned long long)n;
            }
            if (rd_line(r, &line) != 0)
                goto bad;
        }
    } else {
        uint64_t left = rq->content_length;
        while (left) {
            ssize_t n = rd_body(r, buf, left < chunk ? left : chunk);
            if (n <= 0)
                goto bad;
            if (sink)
                sha256_update(sink, buf, (size_t)n);
            total += n;
            left -= (uint64_t)n;
        }
    }
    free(buf);
    return total;
bad:
    free(buf);
    return -1;
}

/* Maps the target onto a file under root; refuses anything that climbs out. */
static int open_target(const char *root, const char *target, struct stat *sb)
{
    if (!root || target[0] != '/')
        return -1;
    char path[4096];
    size_t tl = strcspn(target, "?#");
    if (tl > 2048)
        return -1;
    char rel[2049];
    memcpy(rel, target, tl);
    rel[tl] = 0;
    for (char *seg = rel; (seg = strstr(seg, "..")); seg += 2) {
        if ((seg == rel || seg[-1] == '/') && (seg[2] == '/' || seg[2] == 0))
            return -1;
    }
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

static int serve_bytes(struct ustack *st, int fd, struct request *rq, uint64_t n, bool head)
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

static int serve_file(struct ustack *st, int fd, struct request *rq, const char *root, bool head)
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
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->st = st;
    r->fd = fd;
    for (;;) {
        struct request rq;
        int status = read_head(r, &rq);
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
                rq.keep_alive = rq.keep_alive && read_body(r, &rq, NULL) >= 0;
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
                int64_t n = read_body(r, &rq, &h);
                if (n < 0)
                    break;
                char hex[65], body[160];
                sha256_final_hex(&h, hex);
                snprintf(body, sizeof body, "bytes %" PRId64 "\nsha256 %s\n", n, hex);
                rc = respond(st, fd, &rq, 200, "OK", "text/plain", strlen(body), NULL, false, body);
            }
        } else if (strcmp(rq.method, "GET") == 0 || head) {
            if (has_body && read_body(r, &rq, NULL) < 0)
                break;
            uint64_t n;
            if (strncmp(rq.target, "/bytes/", 7) == 0) {
                if (parse_u64(rq.target + 7, &n) && n <= BYTES_MAX)
                    rc = serve_bytes(st, fd, &rq, n, head);
                else
                    rc = respond_error(st, fd, &rq, 400, "Bad Request", NULL);
            } else {
                rc = serve_file(st, fd, &rq, root, head);
            }
        } else {
            if (has_body && read_body(r, &rq, NULL) < 0)
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
