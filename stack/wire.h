/*
 * Wire formats: sizes, constants and byte-order helpers for the headers the
 * stack reads and writes. Headers are read and written field by field from
 * byte arrays (no packed structs, no unaligned casts).
 */
#ifndef USTACK_WIRE_H
#define USTACK_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETH_MIN_FRAME 60 /* without FCS */
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806

#define ARP_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

#define IPV4_HDR_LEN 20
#define IPV4_MAX_LEN 65535
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_OFF_MASK 0x1fff

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

#define ICMP_HDR_LEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
#define ICMP_UNREACH_NET 0
#define ICMP_UNREACH_HOST 1
#define ICMP_UNREACH_PROTO 2
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_NEEDFRAG 4
#define ICMP_TIMXCEED_REASM 1

#define UDP_HDR_LEN 8

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
/* Addresses stay in network order: copy the bytes as they are. */
static inline uint32_t rdaddr(const uint8_t *p) { uint32_t a; memcpy(&a, p, 4); return a; }
static inline void wraddr(uint8_t *p, uint32_t a) { memcpy(p, &a, 4); }

/* Host-to-network for 32 bits without pulling in the socket headers. */
static inline uint32_t htonl_(uint32_t v)
{
    uint8_t b[4];
    wr32(b, v);
    uint32_t r;
    memcpy(&r, b, 4);
    return r;
}
static inline uint32_t ntohl_(uint32_t v)
{
    uint8_t b[4];
    memcpy(b, &v, 4);
    return rd32(b);
}

/* Internet checksum (RFC 1071). csum_partial accumulates a 32-bit sum that
 * csum_fold turns into the final one's-complement 16-bit value. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t csum_fold(uint32_t sum);
uint16_t inet_checksum(const void *data, size_t len);
/* Sum of the IPv4 pseudo-header (RFC 768 / RFC 9293 3.1). */
uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

#endif
