/*
 * The HTTP/1.1 request parser (http_parse.h): lines from a buffered byte
 * source, the request head, request bodies, the target's path.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http_parse.h"

#define BODY_CHUNK 65536

void http_reader_init(struct http_reader *r, http_recv_fn recv, void *ctx)
{
    r->recv = recv;
    r->ctx = ctx;
    r->start = r->end = 0;
}

static ssize_t rd_fill(struct http_reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end >= HTTP_HDR_MAX)
        return -2; /* no room */
    ssize_t n = r->recv(r->ctx, r->buf + r->end, HTTP_HDR_MAX - r->end);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

/* Reads a CRLF- (or LF-) terminated line; returns its length without the
 * terminator, -1 on EOF/error, -2 if it does not fit. */
static ssize_t rd_line(struct http_reader *r, char **line)
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

/* Reads up to n body bytes into out: what is buffered first, then from the
 * source. */
static ssize_t rd_body(struct http_reader *r, uint8_t *out, size_t n)
{
    if (r->start < r->end) {
        size_t k = r->end - r->start < n ? r->end - r->start : n;
        memcpy(out, r->buf + r->start, k);
        r->start += k;
        return (ssize_t)k;
    }
    return r->recv(r->ctx, out, n);
}

bool http_parse_u64(const char *s, uint64_t *out)
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

int http_read_head(struct http_reader *r, struct http_request *rq)
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
            if (!http_parse_u64(v, &rq->content_length))
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

/* Passes len bytes of body to sink, BODY_CHUNK at a time through buf. */
static int body_copy(struct http_reader *r, uint8_t *buf, uint64_t len, http_body_fn sink, void *ctx, int64_t *total)
{
    while (len) {
        ssize_t n = rd_body(r, buf, len < BODY_CHUNK ? len : BODY_CHUNK);
        if (n <= 0)
            return -1;
        if (sink)
            sink(ctx, buf, (size_t)n);
        *total += n;
        len -= (uint64_t)n;
    }
    return 0;
}

int64_t http_read_body(struct http_reader *r, const struct http_request *rq, http_body_fn sink, void *ctx)
{
    uint8_t *buf = malloc(BODY_CHUNK);
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
            if (body_copy(r, buf, sz, sink, ctx, &total) < 0 || rd_line(r, &line) != 0)
                goto bad;
        }
    } else if (body_copy(r, buf, rq->content_length, sink, ctx, &total) < 0) {
        goto bad;
    }
    free(buf);
    return total;
bad:
    free(buf);
    return -1;
}

int http_target_path(const char *target, char *rel)
{
    if (target[0] != '/')
        return -1;
    size_t tl = strcspn(target, "?#");
    if (tl > HTTP_TARGET_MAX)
        return -1;
    memcpy(rel, target, tl);
    rel[tl] = 0;
    for (char *seg = rel; (seg = strstr(seg, "..")); seg += 2) {
        if ((seg == rel || seg[-1] == '/') && (seg[2] == '/' || seg[2] == 0))
            return -1;
    }
    return 0;
}
