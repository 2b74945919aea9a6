/*
 * The fixture every TCP suite shares: one stack, configured through its own
 * ustack_config.tcp and driven through its own TCP engine, on one end of the
 * unit harness's in-memory link (harness.h); the test plays the peer on the
 * other end. Segments are
 * forged here (header, options, checksum) and injected as whole Ethernet
 * frames, so Ethernet and IPv4 input run before TCP sees them; what the
 * stack sends is taken off the wire and parsed strictly. The clock is the
 * test's. The teardown lets go of every connection the test still holds,
 * runs virtual time until the engine has finished with them, and fails if a
 * TCB, a packet buffer or a timer is left.
 *
 *   tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
 *   struct tcb *c = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, NULL);
 *   struct outseg syn = EXPECT(TCP_SYN, ANY, 0, 0);   the SYN, asserted
 *   fx_advance(USTACK_MS(10));                        virtual time passes
 *   INJECT(.seq = 5000, .ack = syn.seq + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460);
 *   ck_assert_uint_eq(CNT(tcp_established), 1);       a counter, by its name
 *
 * The stack is 10.0.0.2, the peer 10.0.0.1 (its MAC already learnt); the
 * random seed is 42, the ISN key fixed, the clock starts at 100 s.
 *
 * Suites that need two real stacks (sockets on both ends, long transfers)
 * take them from fx_sim_pair() on the library's simulator, and end with
 * fx_sim_release(): the same leak check for both stacks.
 */
#ifndef USTACK_TEST_TCP_FIXTURE_H
#define USTACK_TEST_TCP_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ustack/ustack.h>
#include "internal.h"
#include "tcp_var.h"

#define LPORT 80          /* the stack's port in most tests */
#define PPORT 40000       /* the peer's */
#define FX_T0 USTACK_SEC(100)
#define ZERO_WND 0x10000u /* segspec.wnd: advertise a zero window (0 means 65535) */
#define ANY (1ull << 32)  /* EXPECT's seq: any sequence number */

struct h;

struct tcp_fixture {
    struct h *h;                 /* the harness's stack and wire (harness.h) */
    struct ustack *st;
    struct ustack_link *lb;      /* the peer's end of the link */
    struct tcp_stack *ts;        /* st->tcp */
    ustack_time_t now;
    uint32_t us, peer;           /* network order */
    unsigned events;             /* TCP_EV_* seen by fx_on_event */
    struct tcb *ev_tcb;
};
extern struct tcp_fixture T;

/* The fixture's stack config: defaults but for the addresses, seed and ARP. */
void fx_config(struct ustack_config *cfg);
/* Checked-fixture setup: a stack with fx_config(). */
void fx_setup(void);
/* A stack with this TCP config instead (the rest as fx_config()). */
void fx_setup_tcp(const struct ustack_tcp_config *tc);
/* Checked-fixture teardown: the leak check, then everything freed. */
void fx_teardown(void);
/* Within a test: the stack so far is torn down (leak check included) and a
 * new one made with this TCP config. */
void fx_restart(const struct ustack_tcp_config *tc);

/* The leak check: no TCB, packet buffer or TCP timer left in st. */
void fx_assert_released(const struct ustack *st, const char *who);

/* Two stacks on the library's simulator: A is 10.0.0.1, B 10.0.0.2, each
 * sending through its own fault injector (NULL: a perfect link); the rest
 * of the config as ustack_config_default() with no ARP announcements. */
struct ustack_sim *fx_sim_pair(uint64_t seed, ustack_time_t start, const struct ustack_fault_config *fa,
                               const struct ustack_fault_config *fb, struct ustack **a, struct ustack **b);
/* Closes every socket still open on the stacks, runs the simulator until
 * their engines have let go of every connection (at most a virtual day),
 * and checks each with fx_assert_released(). The simulator stays. */
void fx_sim_release(struct ustack_sim *sim, struct ustack *const *stacks, unsigned n);

/* An event callback for tcp_set_event_cb(): records into T.events. */
void fx_on_event(struct tcb *tcb, unsigned events, void *arg);

/* The clock. fx_advance() moves it by dt and polls once; fx_run_for() runs
 * every deadline on the way, one at a time, then polls at now + dt. */
void fx_advance(ustack_time_t dt);
void fx_run_for(ustack_time_t dt);

/* Counter by name, checked at compile time: CNT(tcp_rx_dup_ack). */
#define CNT(name) (T.st->counters[CNT_##name])

/* ---------------------------------------------------------- the peer's segments */

/* A segment from the peer. Options are written in this order: MSS,
 * SACK-permitted, timestamps, window scale, SACK blocks (NOP-padded to
 * words, as Linux does). */
struct segspec {
    uint16_t sport, dport; /* 0: PPORT, LPORT */
    uint32_t seq, ack;
    uint8_t flags;
    uint32_t wnd;          /* 0: 65535; ZERO_WND: 0 */
    const void *data;
    size_t len;
    uint16_t urg;
    bool bad_csum;         /* a wrong TCP checksum */
    uint16_t mss;          /* 0: no MSS option */
    bool has_ws;
    uint8_t ws;
    bool sackok;
    bool ts;
    uint32_t tsval, tsecr;
    unsigned nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
    uint8_t tos;           /* the IP header's TOS byte: its low bits are ECN's */
};
/* Forges the segment into an IPv4 datagram from the peer in an Ethernet
 * frame to us, and hands it to the stack. */
void fx_inject(struct segspec s);
#define INJECT(...) fx_inject((struct segspec){__VA_ARGS__})
/* An ICMP error of this type and code from the peer, quoting an IPv4 header
 * from us to the peer and the first 8 bytes of a TCP segment:
 * sport, dport, seq. */
void fx_inject_icmp_error(uint8_t type, uint8_t code, uint16_t sport, uint16_t dport, uint32_t seq);
/* A fragmentation needed (RFC 1191: type 3 code 4, Next-Hop MTU `mtu`, 0 as
 * an old router sends) quoting a datagram from us of total length
 * quoted_len and the first 8 bytes of its TCP segment. */
void fx_inject_frag_needed(uint16_t mtu, uint16_t quoted_len, uint16_t sport, uint16_t dport, uint32_t seq);

/* ---------------------------------------------------------- the stack's segments */

/* A segment the stack sent, checksums verified, options parsed. */
struct outseg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    unsigned hlen;         /* header length, options included */
    int mss;               /* -1 if absent */
    int ws;                /* -1 if absent */
    bool sackok;
    bool ts;
    uint32_t tsval, tsecr;
    unsigned nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
    uint8_t data[2048];
    size_t len;
    uint8_t tos;
    bool df;               /* the IP header's DF flag */
    uint16_t ip_len;       /* the IP total length */
};
/* The next TCP segment the stack sent (other frames are skipped); false if
 * none is waiting. Options are parsed strictly: every option inside the
 * header, only zeros after an EOL, no kind the stack does not send. */
bool fx_next_out(struct outseg *o);
/* Takes every frame waiting on the wire off it. */
void fx_drain(void);

struct outseg fx_expect_seg(uint8_t flags, uint64_t seq, uint32_t ack, size_t len, const char *where, int line);
void fx_expect_none(const char *where, int line);
/* The next segment has these flags, seq (or ANY), ack (checked when ACK is
 * set) and payload length; returns it. */
#define EXPECT(flags, seq, ack, len) fx_expect_seg((flags), (seq), (ack), (len), __func__, __LINE__)
/* The stack sent nothing. */
#define EXPECT_NONE() fx_expect_none(__func__, __LINE__)

/* Changes one of a connection's options as a socket does (tcp_set_opts):
 * FX_SET_OPT(tcb, nodelay, true). */
#define FX_SET_OPT(tcb, field, value)                                                                          \
    do {                                                                                                       \
        struct tcp_opts fx_o_ = *tcp_get_opts(tcb);                                                            \
        fx_o_.field = (value);                                                                                 \
        tcp_set_opts((tcb), &fx_o_);                                                                           \
    } while (0)

/* b[i] = i * 7 + seed: recognisable data. */
void fx_fill(uint8_t *b, size_t n, unsigned seed);

#endif
