/*
 * TCP sequence-space arithmetic (RFC 9293 3.4). Sequence numbers are 32-bit
 * and wrap, so "a before b" is the sign of the 32-bit difference, valid while
 * the two are less than 2^31 apart. Every comparison of sequence or
 * acknowledgment numbers in the TCP code goes through these.
 */
#ifndef USTACK_TCP_SEQ_H
#define USTACK_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool SEQ_LT(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool SEQ_LEQ(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool SEQ_GT(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool SEQ_GEQ(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* lo <= x < hi, in sequence space. */
static inline bool SEQ_IN(uint32_t x, uint32_t lo, uint32_t hi) { return SEQ_LEQ(lo, x) && SEQ_LT(x, hi); }

static inline uint32_t SEQ_MAX(uint32_t a, uint32_t b) { return SEQ_GT(a, b) ? a : b; }
static inline uint32_t SEQ_MIN(uint32_t a, uint32_t b) { return SEQ_LT(a, b) ? a : b; }

#endif
