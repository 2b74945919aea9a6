/*
 * What the libFuzzer targets share (docs/fuzzing.md): reading the input,
 * byte-order and checksum helpers, the stack they fuzz on a memory link,
 * the invariant check that turns a broken rule into a finding, and the
 * sanitizer defaults that keep a target fast.
 *
 * Included once by each tests/fuzz/fuzz_*.c (it defines
 * __asan_default_options, so a program has one of it).
 */
#ifndef USTACK_FUZZ_H
#define USTACK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/ustack.h>

/* A broken invariant is a finding: say which and abort, so that libFuzzer
 * keeps the input as a crash-* artifact. */
#define FZ_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Helpers that only move bytes are not instrumented for coverage: their
 * loops would give libFuzzer features that say nothing about the stack and
 * cost time on every byte. */
#define FZ_NO_COV __attribute__((no_sanitize("coverage")))

/*
 * ASan's quarantine keeps freed memory unusable for reuse so that a late
 * access is caught; its default of 256 MiB means every allocation of a
 * long run takes fresh pages from the kernel (page faults were a third of
 * a run). 16 MiB is still many inputs' worth of freed memory: a use after
 * free inside one input is caught as before. Options given in ASAN_OPTIONS
 * override these.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }

/* ------------------------------------------------------------ the input */

struct fz_in {
    const uint8_t *p;
    size_t n, off;
};

static inline bool fz_more(const struct fz_in *in) { return in->off < in->n; }
/* Past the end, reads give zeros: every input is a complete program. */
static inline uint8_t fz_u8(struct fz_in *in) { return in->off < in->n ? in->p[in->off++] : 0; }
static inline uint16_t fz_u16(struct fz_in *in)
{
    uint16_t v = (uint16_t)(fz_u8(in) << 8);
    return v | fz_u8(in);
}
static inline uint32_t fz_u32(struct fz_in *in)
{
    uint32_t v = (uint32_t)fz_u16(in) << 16;
    return v | fz_u16(in);
}

/* ------------------------------------------------------------ bytes */

static inline void fz_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static inline void fz_put32(uint8_t *p, uint32_t v) { fz_put16(p, (uint16_t)(v >> 16)), fz_put16(p + 2, (uint16_t)v); }
static inline uint16_t fz_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t fz_get32(const uint8_t *p) { return (uint32_t)fz_get16(p) << 16 | fz_get16(p + 2); }

/* a.b.c.d in network order. */
static inline uint32_t fz_ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    const uint8_t bytes[4] = {a, b, c, d};
    uint32_t v;
    memcpy(&v, bytes, 4);
    return v;
}

/* The Internet checksum (RFC 1071), written apart from the stack's. */
FZ_NO_COV static inline uint32_t fz_sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

FZ_NO_COV static inline uint16_t fz_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* The pseudo-header sum of a transport segment of len bytes. */
static inline uint32_t fz_pseudo(uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
    uint8_t ph[12];
    memcpy(ph, &src, 4);
    memcpy(ph + 4, &dst, 4);
    ph[8] = 0;
    ph[9] = proto;
    fz_put16(ph + 10, (uint16_t)len);
    return fz_sum16(ph, sizeof ph, 0);
}

/* ------------------------------------------------------------ the stack */

/* The stack the targets fuzz: 10.0.0.2/24, gateway 10.0.0.1, seed 1, no
 * gratuitous ARP, every other setting the documented default. */
#define FZ_US_IP fz_ip(10, 0, 0, 2)
#define FZ_GW_IP fz_ip(10, 0, 0, 1)
static const uint8_t FZ_US_MAC[6] = {0x02, 0x00, 10, 0, 0, 2};

static inline void fz_config(struct ustack_config *cfg)
{
    ustack_config_default(cfg);
    cfg->addr = FZ_US_IP;
    cfg->prefix_len = 24;
    cfg->gateway = FZ_GW_IP;
    memcpy(cfg->mac, FZ_US_MAC, 6);
    cfg->random_seed = 1;
    cfg->arp_gratuitous = 0;
}

/* Nothing held: no packet buffer, socket, connection, ARP-queued packet or
 * reassembly. */
static inline void fz_check_empty(struct ustack *st, const char *when)
{
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    FZ_CHECK(u.pbufs == 0 && u.sockets == 0 && u.tcp_connections == 0 && u.arp_queued == 0 &&
                 u.reasm_datagrams == 0 && u.reasm_bytes == 0,
             "%s: %zu pbufs, %zu sockets, %zu TCBs, %zu ARP-queued, %zu reassemblies (%zu bytes)", when, u.pbufs,
             u.sockets, u.tcp_connections, u.arp_queued, u.reasm_datagrams, u.reasm_bytes);
}

#endif
