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
#define IPV4_MIN_MTU 68    /* RFC 791: every link carries a 68-byte datagram unfragmented */
#define IPV4_PMTU_MIN 576  /* RFC 791/1122: every host accepts a 576-byte datagram; the lowest path MTU we use */
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_OFF_MASK 0x1fff
#define IPV4_MAX_HDR_LEN 60
#define IPV4_OPT_SPACE (IPV4_MAX_HDR_LEN - IPV4_HDR_LEN) /* 40 bytes of options at most */

/* IPv4 options (RFC 791 3.1): the type octets, the bit that says an option is
 * copied into every fragment, and the Timestamp option's flags. */
#define IPV4_OPT_EOL 0
#define IPV4_OPT_NOP 1
#define IPV4_OPT_RR 7          /* record route */
#define IPV4_OPT_TS 68         /* internet timestamp */
#define IPV4_OPT_SEC 130       /* security (RFC 1108) */
#define IPV4_OPT_LSRR 131      /* loose source and record route */
#define IPV4_OPT_SID 136       /* stream identifier */
#define IPV4_OPT_SSRR 137      /* strict source and record route */
#define IPV4_OPT_RA 148        /* router alert (RFC 2113) */
#define IPV4_OPT_COPIED 0x80
#define IPV4_TS_ONLY 0         /* timestamps only */
#define IPV4_TS_ADDR 1         /* each timestamp preceded by the address that wrote it */
#define IPV4_TS_PRESPEC 3      /* addresses given by the sender; each fills its own slot */

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
#define ICMP_PARAMPROB_POINTER 0 /* code 0: the pointer names the octet at fault */

/* The ECN field, the low two bits of the IPv4 TOS byte (RFC 3168 5). */
#define IP_ECN_MASK 0x03
#define IP_ECN_NOT_ECT 0x00
#define IP_ECN_ECT1 0x01
#define IP_ECN_ECT0 0x02
#define IP_ECN_CE 0x03

#define UDP_HDR_LEN 8

/* TCP (RFC 9293 3.1) and its options (RFC 9293 3.2, RFC 7323, RFC 2018). */
#define TCP_HDR_LEN 20
#define TCP_MAX_HDR_LEN 60
#define TCP_OPT_SPACE (TCP_MAX_HDR_LEN - TCP_HDR_LEN) /* 40 bytes of options at most */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_OPT_WSCALE 3
#define TCP_OPT_SACK_PERM 4
#define TCP_OPT_SACK 5
#define TCP_OPT_TIMESTAMP 8
/* Each option's length byte (kind and length included); a SACK option is
 * 2 bytes plus 8 per block. */
#define TCP_OPTLEN_MSS 4
#define TCP_OPTLEN_WSCALE 3
#define TCP_OPTLEN_SACK_PERM 2
#define TCP_OPTLEN_TIMESTAMP 10
#define TCP_OPTLEN_SACK_BASE 2
#define TCP_SACK_BLOCK_LEN 8

#define TCP_DEFAULT_MSS 536      /* RFC 9293 3.7.1: assumed when the peer sends no MSS option */
#define TCP_MIN_MSS 64           /* the smallest segment size we send with, whatever a peer announces */
#define TCP_MAX_WINDOW 65535u    /* the window field; larger windows need RFC 7323 scaling */
#define TCP_MAX_WSCALE 14        /* RFC 7323 2.3 */
#define TCP_TS_OPT_LEN 12        /* NOP, NOP, kind 8 (10 bytes): on every segment once negotiated */
#define TCP_MAX_SACK_BLOCKS 4    /* RFC 2018 3: 4 fit in 40 bytes of options, 3 with timestamps */

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
