/*
 * Simulation: two stacks on one simulated Ethernet segment (ustack_sim),
 * virtual time, seeded faults. Ping through raw ICMP sockets, UDP echo, loss
 * that replays exactly for a seed, and duplication/reordering that never
 * corrupts what is delivered.
 */
#include <errno.h>
#include <string.h>
#include <ustack/sim.h>
#include "harness.h"

#define A_IP ip4(10, 0, 0, 1)
#define B_IP ip4(10, 0, 0, 2)
#define SIM_T0 USTACK_SEC(1)

struct world {
    struct ustack_sim *sim;
    struct ustack *a, *b;
};

/* The simulation under way, for the cleanup after a failed test (the test's
 * own frame is gone by then). */
static struct ustack_sim *live_sim;

static void world_new(struct world *w, uint64_t seed, const struct ustack_fault_config *fa,
                      const struct ustack_fault_config *fb)
{
    w->sim = ustack_sim_new(seed, SIM_T0);
    ck_assert_ptr_nonnull(w->sim);
    live_sim = w->sim;
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.addr = A_IP;
    cfg.random_seed = seed;
    w->a = ustack_sim_add(w->sim, &cfg, fa);
    cfg.addr = B_IP;
    cfg.random_seed = seed + 1;
    w->b = ustack_sim_add(w->sim, &cfg, fb);
    ck_assert_ptr_nonnull(w->a);
    ck_assert_ptr_nonnull(w->b);
}

static void assert_clean(struct ustack *st, const char *who)
{
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    ck_assert_msg(u.pbufs == 0, "%s: %zu pbufs alive", who, u.pbufs);
    ck_assert_msg(u.arp_queued == 0, "%s: %zu packets on ARP", who, u.arp_queued);
    ck_assert_msg(u.reasm_datagrams == 0 && u.reasm_bytes == 0, "%s: reassembly left", who);
    ck_assert_msg(u.sockets == 0, "%s: %zu sockets", who, u.sockets);
}

/* Lets every timer run out, checks both stacks hold nothing, frees. */
static void world_done(struct world *w)
{
    ustack_sim_run_until(w->sim, NULL, NULL, ustack_sim_now(w->sim) + USTACK_SEC(120));
    assert_clean(w->a, "A");
    assert_clean(w->b, "B");
    ustack_sim_free(w->sim);
    live_sim = NULL;
}

static void world_cleanup(void)
{
    if (live_sim) {
        ustack_sim_free(live_sim);
        live_sim = NULL;
    }
}

static bool readable(struct ustack *st, int s)
{
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    return us_poll(st, &pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLERR));
}

/* ------------------------------------------------------------ ping */

struct ping_ctx {
    struct ustack *a;
    int s;
};

static int ping_ready(void *arg)
{
    struct ping_ctx *c = arg;
    return readable(c->a, c->s);
}

static void send_ping(struct world *w, int s, uint16_t id, uint16_t seq, const uint8_t *d, size_t len)
{
    static uint8_t icmp[70000];
    size_t n = forge_icmp(icmp, ICMP_ECHO_REQUEST, 0, (uint32_t)id << 16 | seq, d, len);
    struct sockaddr_in to = sin_of(B_IP, 0);
    ck_assert_int_eq(us_sendto(w->a, s, icmp, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
}

START_TEST(node_a_pings_node_b_through_raw_icmp_socket)
{
    struct world w;
    world_new(&w, 1, NULL, NULL);
    int s = us_socket(w.a, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    ck_assert_int_ge(s, 0);
    static uint8_t d[3000], buf[4000];
    static const size_t sizes[] = {0, 56, 1472, 3000};
    for (uint16_t seq = 0; seq < 4; seq++) {
        h_fill(d, sizes[seq], seq);
        send_ping(&w, s, 0x5151, seq, d, sizes[seq]);
        struct ping_ctx c = {w.a, s};
        ck_assert_int_eq(ustack_sim_run_until(w.sim, ping_ready, &c, ustack_sim_now(w.sim) + USTACK_SEC(1)), 1);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = us_recvfrom(w.a, s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        ck_assert_int_eq(n, (ssize_t)(IPV4_HDR_LEN + ICMP_HDR_LEN + sizes[seq]));
        ck_assert_uint_eq(from.sin_addr.s_addr, B_IP);
        ck_assert_uint_eq(rdaddr(buf + 12), B_IP);
        ck_assert_uint_eq(rdaddr(buf + 16), A_IP);
        const uint8_t *icmp = buf + IPV4_HDR_LEN;
        ck_assert_uint_eq(icmp[0], ICMP_ECHO_REPLY);
        ck_assert_uint_eq(rd16(icmp + 4), 0x5151);
        ck_assert_uint_eq(rd16(icmp + 6), seq);
        ck_assert_uint_eq(inet_checksum(icmp, (size_t)n - IPV4_HDR_LEN), 0);
        ck_assert_mem_eq(icmp + ICMP_HDR_LEN, d, sizes[seq]);
        ck_assert_int_eq(us_recv(w.a, s, buf, sizeof buf, 0), -1); /* only the reply */
    }
    ck_assert_uint_eq(ustack_counter_get(w.b, "icmp_tx_echo_replies"), 4);
    ck_assert_uint_eq(ustack_counter_get(w.a, "arp_tx_requests"), 1);
    /* Virtual time: four pings on a perfect link take no time at all. */
    ck_assert_uint_eq(ustack_sim_now(w.sim), SIM_T0);
    us_close(w.a, s);
    world_done(&w);
}
END_TEST

/* ------------------------------------------------------------ UDP echo */

struct echo_ctx {
    struct ustack *a, *b;
    int sa, sb;
    unsigned echoed;
};

/* B's application: echoes every datagram back; done when A has one. */
static int echo_step(void *arg)
{
    struct echo_ctx *c = arg;
    static uint8_t buf[70000];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = us_recvfrom(c->b, c->sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        ck_assert_int_eq(us_sendto(c->b, c->sb, buf, (size_t)n, 0, (struct sockaddr *)&from, fl), n);
        c->echoed++;
    }
    return readable(c->a, c->sa);
}

START_TEST(udp_echo_between_two_stacks)
{
    struct world w;
    world_new(&w, 2, NULL, NULL);
    struct echo_ctx c = {.a = w.a, .b = w.b};
    c.sb = us_socket(w.b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sin_of(0, 7);
    ck_assert_int_eq(us_bind(w.b, c.sb, (struct sockaddr *)&sin, sizeof sin), 0);
    c.sa = us_socket(w.a, AF_INET, SOCK_DGRAM, 0);
    sin = sin_of(B_IP, 7);
    ck_assert_int_eq(us_connect(w.a, c.sa, (struct sockaddr *)&sin, sizeof sin), 0);
    static uint8_t d[65507], buf[65507];
    static const size_t sizes[] = {1, 100, 1472, 1473, 9000, 65507};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        h_fill(d, sizes[i], 100 + i);
        ck_assert_int_eq(us_send(w.a, c.sa, d, sizes[i], 0), (ssize_t)sizes[i]);
        ck_assert_int_eq(ustack_sim_run_until(w.sim, echo_step, &c, ustack_sim_now(w.sim) + USTACK_SEC(1)), 1);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ck_assert_int_eq(us_recvfrom(w.a, c.sa, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl),
                         (ssize_t)sizes[i]);
        ck_assert_mem_eq(buf, d, sizes[i]);
        ck_assert_uint_eq(from.sin_addr.s_addr, B_IP);
        ck_assert_uint_eq(ntohs(from.sin_port), 7);
    }
    ck_assert_uint_eq(c.echoed, 6);
    /* 1473, 9000 and 65507 bytes went in fragments (45 for the last) each way. */
    ck_assert_uint_eq(ustack_counter_get(w.b, "ip_reasm_ok"), 3);
    ck_assert_uint_eq(ustack_counter_get(w.a, "ip_reasm_ok"), 3);
    ck_assert_uint_eq(ustack_counter_get(w.a, "ip_frags_tx"), 2 + 7 + 45);
    us_close(w.a, c.sa);
    us_close(w.b, c.sb);
    world_done(&w);
}
END_TEST

/* ------------------------------------------------------------ loss */

struct loss_result {
    unsigned answered, errors;
    struct ustack_fault_stats a_in, a_out, b_in, b_out;
};

/* 100 pings 100 ms apart with 30% loss each way on both nodes. */
static void lossy_pings(uint64_t seed, struct loss_result *r)
{
    struct ustack_fault_config f;
    memset(&f, 0, sizeof f);
    f.in.drop = 0.3;
    f.out.drop = 0.3;
    struct world w;
    world_new(&w, seed, &f, &f);
    int s = us_socket(w.a, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    ck_assert_int_ge(s, 0);
    bool answered[100] = {false};
    memset(r, 0, sizeof *r);
    uint8_t buf[256];
    for (uint16_t seq = 0; seq < 100; seq++) {
        send_ping(&w, s, 0x10ad, seq, (const uint8_t *)"lossy ping data!", 16);
        ustack_sim_run_until(w.sim, NULL, NULL, SIM_T0 + USTACK_MS(100) * (seq + 1u));
        ssize_t n;
        while ((n = us_recv(w.a, s, buf, sizeof buf, 0)) != -1 || errno == EHOSTUNREACH) {
            if (n < 0) {
                r->errors++; /* ARP gave up: every frame of it lost */
                continue;
            }
            ck_assert_int_eq(n, IPV4_HDR_LEN + ICMP_HDR_LEN + 16);
            ck_assert_uint_eq(buf[IPV4_HDR_LEN], ICMP_ECHO_REPLY);
            ck_assert_mem_eq(buf + IPV4_HDR_LEN + ICMP_HDR_LEN, "lossy ping data!", 16);
            uint16_t got = rd16(buf + IPV4_HDR_LEN + 6);
            ck_assert_uint_lt(got, 100);
            ck_assert(!answered[got]);
            answered[got] = true;
            r->answered++;
        }
    }
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 0), 0, &r->a_in);
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 0), 1, &r->a_out);
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 1), 0, &r->b_in);
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 1), 1, &r->b_out);
    us_close(w.a, s);
    world_done(&w);
}

START_TEST(loss_replays_exactly_for_a_seed_and_differs_for_another)
{
    struct loss_result r1, r2, r3;
    lossy_pings(7, &r1);
    lossy_pings(7, &r2);
    lossy_pings(8, &r3);
    /* Roughly half the round trips survive 30% loss at four points. */
    ck_assert_uint_gt(r1.answered, 20);
    ck_assert_uint_lt(r1.answered, 90);
    ck_assert_uint_gt(r1.a_out.dropped + r1.b_out.dropped + r1.a_in.dropped + r1.b_in.dropped, 0);
    ck_assert_uint_eq(r1.answered, r2.answered);
    ck_assert_uint_eq(r1.errors, r2.errors);
    ck_assert_mem_eq(&r1.a_in, &r2.a_in, sizeof r1.a_in);
    ck_assert_mem_eq(&r1.a_out, &r2.a_out, sizeof r1.a_out);
    ck_assert_mem_eq(&r1.b_in, &r2.b_in, sizeof r1.b_in);
    ck_assert_mem_eq(&r1.b_out, &r2.b_out, sizeof r1.b_out);
    uint64_t d1 = r1.a_in.dropped + r1.a_out.dropped + r1.b_in.dropped + r1.b_out.dropped;
    uint64_t d3 = r3.a_in.dropped + r3.a_out.dropped + r3.b_in.dropped + r3.b_out.dropped;
    ck_assert_msg(r1.answered != r3.answered || d1 != d3,
                  "seeds 7 and 8 lost exactly the same (%u answered, %llu dropped)", r1.answered,
                  (unsigned long long)d1);
}
END_TEST

/* ------------------------------------------------------------ dup / reorder */

#define NDGRAMS 200

static size_t dgram_len(unsigned seq) { return 4 + (seq * 2654435761u) % 4000; }

static void dgram_fill(uint8_t *d, unsigned seq)
{
    wr32(d, seq);
    h_fill(d + 4, dgram_len(seq) - 4, 1000 + seq);
}

struct sink {
    struct ustack *b;
    int s;
    unsigned copies[NDGRAMS];
    unsigned total;
};

static int sink_drain(void *arg)
{
    struct sink *k = arg;
    static uint8_t buf[8192], want[8192];
    ssize_t n;
    while ((n = us_recv(k->b, k->s, buf, sizeof buf, 0)) >= 0) {
        ck_assert_int_ge(n, 4);
        unsigned seq = rd32(buf);
        ck_assert_uint_lt(seq, NDGRAMS);
        ck_assert_int_eq(n, (ssize_t)dgram_len(seq));
        dgram_fill(want, seq);
        ck_assert_msg(memcmp(buf, want, (size_t)n) == 0, "datagram %u corrupted", seq);
        k->copies[seq]++;
        k->total++;
    }
    return 0;
}

START_TEST(duplicates_and_reordering_never_corrupt_delivered_data)
{
    struct ustack_fault_config f;
    memset(&f, 0, sizeof f);
    f.in.dup = f.out.dup = 0.2;
    f.in.reorder = f.out.reorder = 0.3;
    f.in.jitter_us = f.out.jitter_us = USTACK_MS(2);
    struct world w;
    world_new(&w, 99, &f, &f);
    static struct sink k;
    memset(&k, 0, sizeof k);
    k.b = w.b;
    k.s = us_socket(w.b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sin_of(0, 9);
    ck_assert_int_eq(us_bind(w.b, k.s, (struct sockaddr *)&sin, sizeof sin), 0);
    int sa = us_socket(w.a, AF_INET, SOCK_DGRAM, 0);
    static uint8_t d[8192];
    for (unsigned seq = 0; seq < NDGRAMS; seq++) {
        dgram_fill(d, seq);
        ck_assert_int_eq(h_sendto(&(struct h){.st = w.a}, sa, d, dgram_len(seq), B_IP, 9),
                         (ssize_t)dgram_len(seq));
        ustack_sim_run_until(w.sim, sink_drain, &k, ustack_sim_now(w.sim) + USTACK_MS(1));
    }
    ustack_sim_run_until(w.sim, sink_drain, &k, ustack_sim_now(w.sim) + USTACK_SEC(1));
    sink_drain(&k);
    /* Nothing was dropped: everything arrived, intact, at least once. */
    for (unsigned seq = 0; seq < NDGRAMS; seq++)
        ck_assert_msg(k.copies[seq] >= 1, "datagram %u never arrived", seq);
    struct ustack_fault_stats sa_out, sb_in;
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 0), 1, &sa_out);
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 1), 0, &sb_in);
    ck_assert_uint_gt(sa_out.duplicated + sb_in.duplicated, 50);
    ck_assert_uint_gt(sa_out.reordered + sb_in.reordered, 50);
    ck_assert_uint_gt(ustack_counter_get(w.b, "ip_reasm_dup"), 0);
    ck_assert_uint_gt(k.total, NDGRAMS); /* some unfragmented duplicates delivered twice */
    us_close(w.a, sa);
    us_close(w.b, k.s);
    world_done(&w);
}
END_TEST

START_TEST(single_bit_corruption_never_reaches_the_application)
{
    struct ustack_fault_config f;
    memset(&f, 0, sizeof f);
    f.in.corrupt = f.out.corrupt = 0.1;
    f.in.dup = f.out.dup = 0.1;
    struct world w;
    world_new(&w, 1234, &f, &f);
    static struct sink k;
    memset(&k, 0, sizeof k);
    k.b = w.b;
    k.s = us_socket(w.b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sin_of(0, 9);
    ck_assert_int_eq(us_bind(w.b, k.s, (struct sockaddr *)&sin, sizeof sin), 0);
    int sa = us_socket(w.a, AF_INET, SOCK_DGRAM, 0);
    static uint8_t d[8192];
    for (unsigned seq = 0; seq < NDGRAMS; seq++) {
        dgram_fill(d, seq);
        h_sendto(&(struct h){.st = w.a}, sa, d, dgram_len(seq), B_IP, 9);
        ustack_sim_run_until(w.sim, sink_drain, &k, ustack_sim_now(w.sim) + USTACK_MS(10));
    }
    ustack_sim_run_until(w.sim, sink_drain, &k, ustack_sim_now(w.sim) + USTACK_SEC(5));
    sink_drain(&k); /* asserts every delivered byte */
    struct ustack_fault_stats s_out, s_in;
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 0), 1, &s_out);
    ustack_link_fault_stats(ustack_sim_fault_link(w.sim, 1), 0, &s_in);
    ck_assert_uint_gt(s_out.corrupted + s_in.corrupted, 50);
    uint64_t caught = ustack_counter_get(w.b, "udp_drop_bad_checksum") +
                      ustack_counter_get(w.b, "ip_drop_bad_checksum");
    ck_assert_uint_gt(caught, 0);
    ck_assert_uint_gt(k.total, NDGRAMS / 2);
    us_close(w.a, sa);
    us_close(w.b, k.s);
    world_done(&w);
}
END_TEST

Suite *suite_sim(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("sim");
    tcase_add_checked_fixture(tc, NULL, world_cleanup);
    tcase_add_test(tc, node_a_pings_node_b_through_raw_icmp_socket);
    tcase_add_test(tc, udp_echo_between_two_stacks);
    tcase_add_test(tc, loss_replays_exactly_for_a_seed_and_differs_for_another);
    tcase_add_test(tc, duplicates_and_reordering_never_corrupt_delivered_data);
    tcase_add_test(tc, single_bit_corruption_never_reaches_the_application);
    suite_add_tcase(s, tc);
    return s;
}
