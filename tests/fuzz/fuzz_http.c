/*
 * libFuzzer target for ustackd's HTTP/1.1 request parser (apps/http_parse.c):
 * the input is what a client sent on one connection (byte 0 picks how the
 * bytes arrive, the rest are the bytes), read as http_serve() reads it:
 * request heads and their bodies, one after the other, until the parser
 * answers with an error status, a body breaks, or the bytes end.
 *
 * Checked on every input:
 *   - the parse does not depend on how the bytes arrive: the connection read
 *     in one piece and read in pieces of 1 to 16 bytes (a pattern from
 *     byte 0) give the same requests, statuses and bodies;
 *   - a head read gives a non-empty, NUL-terminated method and target
 *     within their arrays, and HTTP/1.0 or 1.1;
 *   - a body is reported as long as what reached the sink, and a
 *     Content-Length body exactly that long;
 *   - a target's path (http_target_path) starts with '/', is the target up
 *     to '?' or '#', and has no ".." segment; a number
 *     (http_parse_u64) prints back as the digits it came from.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "fuzz.h"

struct source {
    const uint8_t *p;
    size_t n, off;
    uint8_t pattern;   /* 0: everything at once */
    unsigned calls;
};

static ssize_t src_recv(void *ctx, void *buf, size_t n)
{
    struct source *s = ctx;
    size_t left = s->n - s->off;
    if (!left)
        return 0;
    size_t k = left < n ? left : n;
    if (s->pattern) {
        size_t piece = 1 + ((s->pattern >> (s->calls++ % 4 * 2)) & 3) * 5; /* 1, 6, 11 or 16 */
        if (k > piece)
            k = piece;
    }
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

struct body {
    uint64_t len;
    uint64_t hash;     /* FNV-1a over the bytes */
};

FZ_NO_COV static void body_sink(void *ctx, const uint8_t *p, size_t n)
{
    struct body *b = ctx;
    for (size_t i = 0; i < n; i++)
        b->hash = (b->hash ^ p[i]) * 0x100000001b3ull;
    b->len += n;
}

/* What one read of the connection gave, request by request. */
#define MAX_REQUESTS 32
struct outcome {
    unsigned n;
    struct {
        int status;
        struct http_request rq;
        int64_t body;
        struct body sink;
    } r[MAX_REQUESTS];
};

static bool has_dotdot_segment(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == 0))
            return true;
    return false;
}

static void check_request(const struct http_request *rq)
{
    FZ_CHECK(memchr(rq->method, 0, sizeof rq->method) && memchr(rq->target, 0, sizeof rq->target),
             "method or target not terminated");
    FZ_CHECK(rq->method[0] && rq->target[0], "an empty method or target accepted");
    FZ_CHECK(rq->minor == 0 || rq->minor == 1, "HTTP/1.%d", rq->minor);
    static char rel[HTTP_TARGET_MAX + 1];
    if (http_target_path(rq->target, rel) == 0) {
        size_t tl = strcspn(rq->target, "?#");
        FZ_CHECK(rel[0] == '/' && strlen(rel) == tl && memcmp(rel, rq->target, tl) == 0,
                 "path \"%s\" of target \"%s\"", rel, rq->target);
        FZ_CHECK(!has_dotdot_segment(rel), "path \"%s\" climbs out", rel);
    } else {
        size_t tl = strcspn(rq->target, "?#");
        memcpy(rel, rq->target, tl);
        rel[tl] = 0;
        FZ_CHECK(rq->target[0] != '/' || has_dotdot_segment(rel), "target \"%s\" refused", rq->target);
    }
    uint64_t v;
    const char *num = strncmp(rq->target, "/bytes/", 7) == 0 ? rq->target + 7 : rq->target + 1;
    if (http_parse_u64(num, &v)) {
        char back[32];
        snprintf(back, sizeof back, "%" PRIu64, v);
        const char *digits = num;
        while (digits[0] == '0' && digits[1])
            digits++;
        FZ_CHECK(strcmp(back, digits) == 0, "\"%s\" read as %" PRIu64, num, v);
    }
}

static void run(const uint8_t *p, size_t n, uint8_t pattern, struct outcome *o)
{
    static struct http_reader r;
    struct source s = {.p = p, .n = n, .pattern = pattern};
    http_reader_init(&r, src_recv, &s);
    o->n = 0;
    while (o->n < MAX_REQUESTS) {
        struct http_request *rq = &o->r[o->n].rq;
        int status = http_read_head(&r, rq);
        o->r[o->n].status = status;
        o->r[o->n].body = 0;
        memset(&o->r[o->n].sink, 0, sizeof o->r[o->n].sink);
        o->n++;
        if (status != 0)
            break;
        check_request(rq);
        struct body *b = &o->r[o->n - 1].sink;
        b->hash = 0xcbf29ce484222325ull;
        int64_t len = http_read_body(&r, rq, body_sink, b);
        o->r[o->n - 1].body = len;
        if (len < 0)
            break;
        FZ_CHECK((uint64_t)len == b->len, "a body of %" PRId64 " bytes, %" PRIu64 " reached the sink", len, b->len);
        FZ_CHECK(rq->chunked || (uint64_t)len == rq->content_length, "%" PRId64 " bytes for Content-Length %" PRIu64,
                 len, rq->content_length);
        if (!rq->keep_alive)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct outcome whole, pieces;
    if (size < 1)
        return 0;
    uint8_t pattern = data[0] ? data[0] : 1;
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, pattern, &pieces);
    FZ_CHECK(whole.n == pieces.n, "%u requests read at once, %u in pieces", whole.n, pieces.n);
    for (unsigned i = 0; i < whole.n; i++) {
        FZ_CHECK(whole.r[i].status == pieces.r[i].status, "request %u: status %d at once, %d in pieces", i,
                 whole.r[i].status, pieces.r[i].status);
        if (whole.r[i].status != 0)
            continue;
        const struct http_request *a = &whole.r[i].rq, *b = &pieces.r[i].rq;
        FZ_CHECK(strcmp(a->method, b->method) == 0 && strcmp(a->target, b->target) == 0 && a->minor == b->minor &&
                     a->keep_alive == b->keep_alive && a->chunked == b->chunked && a->has_length == b->has_length &&
                     a->content_length == b->content_length && a->expect_continue == b->expect_continue,
                 "request %u read differently in pieces", i);
        FZ_CHECK(whole.r[i].body == pieces.r[i].body && whole.r[i].sink.len == pieces.r[i].sink.len &&
                     whole.r[i].sink.hash == pieces.r[i].sink.hash,
                 "request %u: body of %" PRId64 " bytes at once, %" PRId64 " in pieces", i, whole.r[i].body,
                 pieces.r[i].body);
    }
    return 0;
}
