/*
 * The HTTP/1.1 request parser of ustackd's server (http.c), apart from the
 * socket so that it can be tested and fuzzed on bytes alone
 * (tests/fuzz/fuzz_http.c): a buffered reader over any byte source, the
 * request line and headers (RFC 9112 2-3, 5), request bodies by
 * Content-Length or chunked (RFC 9112 6-7), and the mapping of a target onto
 * a path that cannot climb out of the document root.
 */
#ifndef USTACK_APPS_HTTP_PARSE_H
#define USTACK_APPS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_HDR_MAX 8192     /* request line or header line, bytes (414 / 431 beyond) */
#define HTTP_METHOD_MAX 16    /* with the NUL */
#define HTTP_TARGET_MAX 2048  /* with the NUL */

/* Where the reader's bytes come from: like recv(2), > 0 bytes read, 0 at
 * the end, < 0 on an error. */
typedef ssize_t (*http_recv_fn)(void *ctx, void *buf, size_t n);

/* A buffered reader: the request head, then the body. */
struct http_reader {
    http_recv_fn recv;
    void *ctx;
    char buf[HTTP_HDR_MAX + 1];
    size_t start, end;        /* unread bytes are buf[start, end) */
};

struct http_request {
    char method[HTTP_METHOD_MAX];
    char target[HTTP_TARGET_MAX];
    int minor;                 /* HTTP/1.minor */
    bool keep_alive;
    bool chunked;
    bool has_length;
    uint64_t content_length;
    bool expect_continue;
};

void http_reader_init(struct http_reader *r, http_recv_fn recv, void *ctx);

/* Reads the request line and headers into rq. Returns 0, -1 if the byte
 * source ended (or failed) before a complete head, or the HTTP status to
 * answer with: 400 (malformed), 414 (request line too long), 431 (header
 * line too long), 501 (a transfer coding other than chunked). */
int http_read_head(struct http_reader *r, struct http_request *rq);

/* Consumes the body rq announces, handing each piece to sink (may be NULL).
 * Returns the body's length, or -1 on a broken body or a source that ended
 * first. */
typedef void (*http_body_fn)(void *ctx, const uint8_t *p, size_t n);
int64_t http_read_body(struct http_reader *r, const struct http_request *rq, http_body_fn sink, void *ctx);

/* A decimal number of digits only (no sign, no space), fitting 64 bits. */
bool http_parse_u64(const char *s, uint64_t *out);

/* The target's path (without query or fragment) into rel[HTTP_TARGET_MAX + 1],
 * to be appended to the document root. -1 if the target is not absolute, is
 * too long, or has a ".." segment. */
int http_target_path(const char *target, char *rel);

#endif
