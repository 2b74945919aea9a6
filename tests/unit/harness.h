/*
 * Test harness for the unit suites: one stack on one end of an in-memory link
 * pair, the other end kept as "the wire"; a fake clock (the test says what
 * time it is); helpers that forge Ethernet/ARP/IPv4/ICMP/UDP frames with
 * correct checksums and that parse what the stack sent; and a teardown that
 * asserts nothing leaked.
 *
 *   struct h *t = h_new();                   10.0.0.2/24, gw 10.0.0.1, started at T0,
 *                                            the peer 10.0.0.7 already in the ARP cache
 *   h_inject_udp(t, 1234, 7, "hi", 2);       a frame from the peer
 *   h_step(t, USTACK_SEC(1));                virtual time passes
 *   struct pkt p; h_expect_ip(t, &p, 17);    what the stack sent (asserted)
 *   h_expect_none(t);
 *   h_done(t);                               asserts no leak, frees everything
 */
#ifndef USTACK_TEST_HARNESS_H
#define USTACK_TEST_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ustack/ustack.h>
#include <ustack/link.h>
#include <ustack/socket.h>
#include "internal.h"

/* ------------------------------------------------------------- addresses */

/* a.b.c.d in network order. */
uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);

#define OUR_IP ip4(10, 0, 0, 2)
#define GW_IP ip4(10, 0, 0, 1)
#define PEER_IP ip4(10, 0, 0, 7)        /* on the subnet, learnt by h_new() */
#define PEER2_IP ip4(10, 0, 0, 8)       /* on the subnet, not learnt */
#define FAR_IP ip4(192, 0, 2, 9)        /* off the subnet: via the gateway */
#define SUBNET_BCAST ip4(10, 0, 0, 255)
#define ALL_ONES ip4(255, 255, 255, 255)

extern const uint8_t OUR_MAC[6];   /* 02:00:0a:00:00:02 */
extern const uint8_t PEER_MAC[6];  /* 02:00:00:00:00:07 */
extern const uint8_t PEER2_MAC[6]; /* 02:00:00:00:00:08 */
extern const uint8_t GW_MAC[6];    /* 02:00:00:00:00:01 */
extern const uint8_t BCAST_MAC[6];
extern const uint8_t ZERO_MAC[6];

/* Start of virtual time in every harness (not zero, so that nothing may
 * assume the clock starts at zero). */
#define T0 USTACK_SEC(1000)

/* ------------------------------------------------------------ the stack */

struct h {
    struct ustack *st;
    struct ustack_link *stack_end; /* the stack's side of the pair */
    struct ustack_link *wire;      /* the test's side */
    ustack_time_t now;
    uint64_t alloc_failures_expected; /* pbuf_alloc_failed h_done() accepts
                                       * (tests of cfg.mem_max); 0 otherwise */
};

/* The fixed config: 10.0.0.2/24, MAC 02:00:0a:00:00:02, gateway 10.0.0.1,
 * seed 1, every other value the documented default. */
void h_config(struct ustack_config *cfg);

#define H_NO_START 1u  /* do not call ustack_poll(T0) (nothing sent yet) */
#define H_NO_PEER 2u   /* leave the ARP cache empty */

/* A stack with the fixed config, started at T0 (its gratuitous ARP taken off
 * the wire) and with PEER_IP -> PEER_MAC in its ARP cache. */
struct h *h_new(void);
/* The same with a config of the test's own and H_* flags. */
struct h *h_new_cfg(const struct ustack_config *cfg, unsigned flags);
/* Asserts that no packet buffer (nor its bytes), queued ARP packet,
 * reassembly or socket is left and that no allocation failed beyond
 * t->alloc_failures_expected, then destroys the stack and the link (ASan
 * checks the rest). */
void h_done(struct h *t);
/* Destroys whatever a failed test left (checked teardown). */
void h_cleanup(void);
/* Adds the cleanup fixture to a test case. */
void h_tcase(TCase *tc);

/* Fake clock. h_run_to() moves time to `when` as a runtime would: it polls
 * the stack at every deadline on the way (ustack_next_deadline), then at
 * `when`. h_time() goes to T0 + us, h_step() to `dt` after the current time.
 * h_poll_at() jumps straight to `when` (one late poll). */
void h_run_to(struct h *t, ustack_time_t when);
void h_time(struct h *t, ustack_time_t us);
void h_step(struct h *t, ustack_time_t dt);
void h_poll_at(struct h *t, ustack_time_t when);

uint64_t h_cnt(const struct h *t, const char *name);
struct ustack_usage h_usage(const struct h *t);

/* ------------------------------------------------------------ forging */

/* Fields of a forged IPv4 header; zero means the default shown. */
struct ipspec {
    uint32_t src;        /* PEER_IP */
    uint32_t dst;        /* OUR_IP */
    uint8_t proto;       /* (required) */
    uint8_t ttl;         /* 64 */
    uint8_t tos;
    uint16_t id;
    bool df, mf;
    uint16_t off;        /* fragment offset in bytes (multiple of 8) */
    const uint8_t *opts; /* options, optlen a multiple of 4 */
    size_t optlen;
};

/* Ethernet header + payload into out; returns the frame length (no padding). */
size_t forge_eth(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t type, const void *payload,
                 size_t len);
/* A 28-byte ARP packet (no Ethernet header). */
size_t forge_arp(uint8_t *out, uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
                 uint32_t tpa);
/* IPv4 header (with its checksum) + payload; returns the IP length. */
size_t forge_ip(uint8_t *out, const struct ipspec *s, const void *payload, size_t len);
/* UDP header + data with the checksum over the pseudo-header. */
size_t forge_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const void *data,
                 size_t len);
/* ICMP header (type, code, 32-bit rest) + data with its checksum. */
size_t forge_icmp(uint8_t *out, uint8_t type, uint8_t code, uint32_t rest, const void *data, size_t len);
/* Recomputes the IPv4 header checksum in place. */
void fix_ip_csum(uint8_t *ip);

/* ------------------------------------------------------------ injecting */

/* Hands a frame to the stack (ustack_input). */
void h_inject(struct h *t, const void *frame, size_t len);
/* Sends a frame on the wire end and lets the stack read it from its end of
 * the link, as a driver would. */
void h_wire_inject(struct h *t, const void *frame, size_t len);
/* Ethernet frame from src_mac to dst_mac. */
void h_inject_eth(struct h *t, const uint8_t dst[6], const uint8_t src[6], uint16_t type, const void *payload,
                  size_t len);
/* ARP packet in a frame from sha to eth_dst. */
void h_inject_arp(struct h *t, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
                  const uint8_t tha[6], uint32_t tpa);
/* IPv4 datagram from PEER_MAC to OUR_MAC. */
void h_inject_ip(struct h *t, const struct ipspec *s, const void *payload, size_t len);
/* UDP datagram PEER_IP:sport -> OUR_IP:dport. */
void h_inject_udp(struct h *t, uint16_t sport, uint16_t dport, const void *data, size_t len);
/* Teaches the stack ip -> mac with an ARP reply addressed to it. */
void h_learn(struct h *t, uint32_t ip, const uint8_t mac[6]);

/* ------------------------------------------------------------ capturing */

/* One frame the stack sent, parsed. */
struct pkt {
    size_t len;                 /* frame length */
    uint8_t b[USTACK_FRAME_MAX];
    const uint8_t *eth_dst, *eth_src;
    uint16_t type;
    const uint8_t *l3;          /* after the Ethernet header */
    size_t l3len;               /* frame length - 14 (padding included) */
    /* IPv4 (type 0x0800 only) */
    unsigned ihl;               /* bytes */
    uint8_t tos, ttl, proto;
    uint16_t tot, id, off;      /* off in bytes */
    bool df, mf;
    uint32_t src, dst;
    const uint8_t *l4;          /* after the IP header */
    size_t l4len;               /* from the IP total length */
};

/* Takes the next frame the stack sent off the wire; false if there is none. */
bool h_recv(struct h *t, struct pkt *p);
/* Frames waiting on the wire (taken off and dropped); returns how many. */
unsigned h_drain(struct h *t);
/* Asserts that the stack sent nothing. */
void h_expect_none(struct h *t);
/* Asserts that the next frame is an ARP packet of operation `op`, 60 bytes. */
void h_expect_arp(struct h *t, struct pkt *p, uint16_t op);
/* Asserts that the next frame is a valid IPv4 datagram of protocol `proto`
 * from OUR_MAC (header checksum, lengths). */
void h_expect_ip(struct h *t, struct pkt *p, uint8_t proto);

/* ARP fields of a captured ARP frame. */
uint16_t arp_op(const struct pkt *p);
const uint8_t *arp_sha(const struct pkt *p);
uint32_t arp_spa(const struct pkt *p);
const uint8_t *arp_tha(const struct pkt *p);
uint32_t arp_tpa(const struct pkt *p);

/* True if the UDP checksum of u (len bytes) is right for src -> dst. */
bool udp_csum_ok(uint32_t src, uint32_t dst, const uint8_t *u, size_t len);

/* ------------------------------------------------------------ sockets */

struct sockaddr_in sin_of(uint32_t ip, uint16_t port);
/* A UDP socket bound to INADDR_ANY:port (port 0: ephemeral). */
int h_udp(struct h *t, uint16_t port);
/* sendto ip:port; returns what us_sendto returned. */
ssize_t h_sendto(struct h *t, int s, const void *buf, size_t len, uint32_t ip, uint16_t port);
/* The local port of s (host order). */
uint16_t h_local_port(struct h *t, int s);

/* Deterministic pseudo-random bytes for tests (numbers: ustack_rand64). */
void h_fill(uint8_t *buf, size_t len, uint64_t seed);

#endif
