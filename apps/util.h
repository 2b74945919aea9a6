/*
 * Small helpers the programs share: SHA-256 (to check what a transfer
 * delivered), the chargen byte pattern (RFC 864 lines, also served by
 * /bytes/N), and full-buffer socket I/O.
 */
#ifndef USTACK_APPS_UTIL_H
#define USTACK_APPS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ustack/ustack.h>
#include <ustack/runtime.h>

/* Seconds on the monotonic clock, for the programs' own timing. */
static inline double app_now_s(void) { return (double)ustack_clock_now() / 1e6; }

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
};
void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t n);
/* Writes the digest as 64 lowercase hex digits and a NUL into hex[65]. */
void sha256_final_hex(struct sha256 *c, char hex[65]);

/* The chargen pattern (RFC 864): lines of 72 printable characters, each
 * starting one character later than the one before, ended by CR LF. Byte i of
 * the endless stream is chargen_byte(i); chargen_fill writes the bytes from
 * offset `off` on. */
uint8_t chargen_byte(uint64_t i);
void chargen_fill(uint8_t *buf, size_t n, uint64_t off);

/* Sends all n bytes (blocking socket); returns 0 or -1 with errno. */
int us_send_all(struct ustack *st, int fd, const void *buf, size_t n);

/* Creates DIR and its missing parents (as mkdir -p). 0 or -1 with errno. */
int mkdirs(const char *dir);

#endif
