/*
 * The per-socket TCP switches and buffer autotuning, through the socket API
 * on two simulated stacks: TCP_CONGESTION names an algorithm (and only a
 * known one), USTACK_TCP_FEATURES switches mechanisms per connection (SACK
 * off on one socket means no SACK recovery on that connection however the
 * stack is configured), a listener passes both on to its children, and the
 * receive buffer grows past 64 KiB on a long path unless SO_RCVBUF fixed it.
 * Each test ends with the TCP fixture's leak check for both stacks.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/sim.h>
#include <ustack/stat.h>
#include <ustack/trace.h>
#include "harness.h"
#include "tcp_fixture.h"

#define B_IP ip4(10, 0, 0, 2) /* fx_sim_pair()'s B */
#define PORT 5001

struct world {
    struct ustack_sim *sim;
    struct ustack *a, *b;
    int listener, ca, cb;
};

/* The world under test (a test's worlds live on its stack). */
static struct ustack_sim *live_sim;
static struct ustack *live_stacks[2];

/* Every socket closed, both engines done with their connections, nothing
 * left (fx_sim_release), then the simulator freed. */
static void cleanup(void)
{
    struct ustack_sim *sim = live_sim;
    if (!sim)
        return;
    live_sim = NULL;
    fx_sim_release(sim, live_stacks, 2);
    ustack_sim_free(sim);
}

/* Two stacks, one-way delay `delay_us` each way; A's frames are dropped with
 * probability a_drop. B listens (not yet connected). */
static void world_new(struct world *w, uint64_t seed, ustack_time_t delay_us, double a_drop)
{
    memset(w, 0, sizeof *w);
    w->ca = w->cb = -1;
    struct ustack_fault_config fa = {.out = {.delay_us = delay_us, .drop = a_drop}};
    struct ustack_fault_config fb = {.out = {.delay_us = delay_us}};
    w->sim = fx_sim_pair(seed, USTACK_SEC(1), &fa, &fb, &w->a, &w->b);
    live_sim = w->sim;
    live_stacks[0] = w->a;
    live_stacks[1] = w->b;
    w->listener = us_socket(w->b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = sin_of(0, PORT);
    ck_assert_int_eq(us_bind(w->b, w->listener, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(w->b, w->listener, 4), 0);
    w->ca = us_socket(w->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(w->ca, 0);
}

static int accepted(void *arg)
{
    struct world *w = arg;
    if (w->cb < 0)
        w->cb = us_accept(w->b, w->listener, NULL, NULL, SOCK_NONBLOCK);
    return w->cb >= 0;
}

static void world_connect(struct world *w)
{
    struct sockaddr_in to = sin_of(B_IP, PORT);
    ck_assert_int_eq(us_connect(w->a, w->ca, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    ck_assert_int_eq(ustack_sim_run_until(w->sim, accepted, w, ustack_sim_now(w->sim) + USTACK_SEC(30)), 1);
}

struct xfer {
    struct world *w;
    size_t len, sent, got;
    ustack_time_t done_at;
};

/* A sends len pattern bytes, B reads as fast as they come and checks them. */
static int xfer_step(void *arg)
{
    struct xfer *x = arg;
    static uint8_t buf[65536];
    while (x->sent < x->len) {
        size_t n = x->len - x->sent < sizeof buf ? x->len - x->sent : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)((x->sent + i) * 7 + 3);
        ssize_t k = us_send(x->w->a, x->w->ca, buf, n, 0);
        if (k <= 0)
            break;
        x->sent += (size_t)k;
    }
    for (;;) {
        ssize_t k = us_recv(x->w->b, x->w->cb, buf, sizeof buf, 0);
        if (k <= 0)
            break;
        for (ssize_t i = 0; i < k; i++)
            ck_assert_uint_eq(buf[i], (uint8_t)((x->got + (size_t)i) * 7 + 3));
        x->got += (size_t)k;
    }
    if (x->got == x->len && !x->done_at)
        x->done_at = ustack_sim_now(x->w->sim);
    return x->got == x->len;
}

static ustack_time_t transfer(struct world *w, size_t len)
{
    struct xfer x = {.w = w, .len = len};
    ustack_time_t start = ustack_sim_now(w->sim);
    ck_assert_int_eq(ustack_sim_run_until(w->sim, xfer_step, &x, start + USTACK_SEC(600)), 1);
    return x.done_at - start;
}

static int get_int(struct ustack *st, int s, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    ck_assert_int_eq(us_getsockopt(st, s, IPPROTO_TCP, name, &v, &l), 0);
    return v;
}

START_TEST(tcp_congestion_names_an_algorithm)
{
    struct world w;
    world_new(&w, 1, USTACK_MS(5), 0);
    char name[16];
    socklen_t l = sizeof name;
    ck_assert_int_eq(us_getsockopt(w.a, w.ca, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    ck_assert_str_eq(name, "cubic"); /* the default */
    ck_assert_int_eq(us_setsockopt(w.a, w.ca, IPPROTO_TCP, TCP_CONGESTION, "vegas", 5), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(us_setsockopt(w.a, w.ca, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
    l = sizeof name;
    ck_assert_int_eq(us_getsockopt(w.a, w.ca, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    ck_assert_str_eq(name, "newreno"); /* Linux's "reno" is this algorithm */
    ck_assert_int_eq(l, 8);
    /* On the listener: its children inherit it. */
    ck_assert_int_eq(us_setsockopt(w.b, w.listener, IPPROTO_TCP, TCP_CONGESTION, "newreno", 7), 0);
    world_connect(&w);
    l = sizeof name;
    ck_assert_int_eq(us_getsockopt(w.b, w.cb, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    ck_assert_str_eq(name, "newreno");
    l = sizeof name;
    ck_assert_int_eq(us_getsockopt(w.a, w.ca, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    ck_assert_str_eq(name, "newreno");
    /* A UDP socket has no such option. */
    int u = us_socket(w.a, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_eq(us_setsockopt(w.a, u, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), -1);
    ck_assert_int_eq(errno, ENOPROTOOPT);
}
END_TEST

START_TEST(features_parse_names_and_signs)
{
    unsigned f = USTACK_TCPF_DEFAULT;
    ck_assert_int_eq(ustack_tcp_features_parse("-sack,-rack", &f), 0);
    ck_assert_uint_eq(f, USTACK_TCPF_DEFAULT & ~(unsigned)(USTACK_TCPF_SACK | USTACK_TCPF_RACK));
    ck_assert_int_eq(ustack_tcp_features_parse("+hystart", &f), 0);
    ck_assert(f & USTACK_TCPF_HYSTART);
    ck_assert_int_eq(ustack_tcp_features_parse("none,timestamps", &f), 0);
    ck_assert_uint_eq(f, USTACK_TCPF_TIMESTAMPS);
    ck_assert_int_eq(ustack_tcp_features_parse("default", &f), 0);
    ck_assert_uint_eq(f, USTACK_TCPF_DEFAULT);
    unsigned before = f;
    ck_assert_int_eq(ustack_tcp_features_parse("sack,warp", &f), -1);
    ck_assert_uint_eq(f, before); /* unchanged on error */
    ck_assert_str_eq(ustack_tcp_feature_name(USTACK_TCPF_LIMITED_TX), "limited-transmit");
    ck_assert_ptr_null(ustack_tcp_feature_name(0x8000));
}
END_TEST

/* The same lossy transfer twice: the socket that switched SACK off recovers
 * with NewReno; the default one with SACK. */
START_TEST(features_switch_sack_per_socket)
{
    for (int off = 0; off <= 1; off++) {
        struct world w;
        world_new(&w, 7, USTACK_MS(10), 0.03);
        if (off) {
            unsigned f = USTACK_TCPF_DEFAULT;
            ck_assert_int_eq(ustack_tcp_features_parse("-sack,-dsack,-rack,-tlp", &f), 0);
            int v = (int)f;
            ck_assert_int_eq(us_setsockopt(w.a, w.ca, IPPROTO_TCP, USTACK_TCP_FEATURES, &v, sizeof v), 0);
            ck_assert_int_eq(get_int(w.a, w.ca, USTACK_TCP_FEATURES), v);
        }
        world_connect(&w);
        transfer(&w, 2u << 20);
        uint64_t rec = ustack_counter_get(w.a, "tcp_recoveries");
        uint64_t sack_rec = ustack_counter_get(w.a, "tcp_sack_recoveries");
        ck_assert_uint_gt(rec, 0);
        if (off) {
            ck_assert_uint_eq(sack_rec, 0);
            ck_assert_uint_eq(ustack_counter_get(w.b, "tcp_tx_sack_blocks"), 0); /* B was never permitted */
            ck_assert_uint_gt(ustack_counter_get(w.a, "tcp_dupack_marked_lost"), 0);
        } else {
            ck_assert_uint_eq(sack_rec, rec);
            ck_assert_uint_gt(ustack_counter_get(w.b, "tcp_tx_sack_blocks"), 0);
            ck_assert_uint_gt(ustack_counter_get(w.a, "tcp_rack_marked_lost"), 0);
        }
        cleanup();
    }
}
END_TEST

/* 8 MiB over a 100 ms RTT: with autotuning the receive buffer (256 KiB at
 * first) grows and the window with it; a socket with SO_RCVBUF fixed at
 * 64 KiB keeps its size, and the transfer takes at least 8 MiB / (64 KiB per
 * RTT). */
START_TEST(receive_buffer_grows_unless_fixed)
{
    ustack_time_t took[2];
    for (int fixed = 0; fixed <= 1; fixed++) {
        struct world w;
        world_new(&w, 3, USTACK_MS(50), 0);
        if (fixed) {
            int v = 32768; /* doubled, as Linux does: 64 KiB */
            ck_assert_int_eq(us_setsockopt(w.b, w.listener, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
        }
        world_connect(&w);
        took[fixed] = transfer(&w, 8u << 20);
        struct ustack_conn_info ci[2];
        size_t n = ustack_conn_list(w.b, ci, 2);
        ck_assert_uint_eq(n, 2);
        const struct ustack_conn_info *c = strcmp(ci[0].state, "LISTEN") ? &ci[0] : &ci[1];
        if (fixed) {
            ck_assert_uint_eq(ustack_counter_get(w.b, "tcp_rcvbuf_grown"), 0);
            ck_assert_uint_le(c->rcv_wnd, 65536);
            ck_assert_uint_ge(took[1], USTACK_MS(100) * ((8u << 20) / 65536) * 9 / 10);
        } else {
            ck_assert_uint_gt(ustack_counter_get(w.b, "tcp_rcvbuf_grown"), 0);
            ck_assert_uint_gt(ustack_counter_get(w.a, "tcp_sndbuf_grown"), 0);
        }
        cleanup();
    }
    ck_assert_uint_lt(took[0] * 3, took[1]); /* at least three times faster */
}
END_TEST

/* Each buffer is fixed on its own, as on Linux (SOCK_SNDBUF_LOCK and
 * SOCK_RCVBUF_LOCK): SO_SNDBUF on the receiving listener leaves its
 * connections' receive buffers to autotuning, SO_RCVBUF on the sender
 * leaves its send buffer growing; SO_SNDBUF on the sender fixes its send
 * buffer. */
START_TEST(each_buffer_is_fixed_on_its_own)
{
    struct world w;
    world_new(&w, 3, USTACK_MS(50), 0);
    int v = 32768;
    ck_assert_int_eq(us_setsockopt(w.b, w.listener, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    ck_assert_int_eq(us_setsockopt(w.a, w.ca, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
    world_connect(&w);
    transfer(&w, 8u << 20);
    ck_assert_uint_gt(ustack_counter_get(w.b, "tcp_rcvbuf_grown"), 0);
    ck_assert_uint_gt(ustack_counter_get(w.a, "tcp_sndbuf_grown"), 0);
    int got = 0;
    socklen_t l = sizeof got;
    ck_assert_int_eq(us_getsockopt(w.b, w.cb, SOL_SOCKET, SO_SNDBUF, &got, &l), 0);
    ck_assert_int_eq(got, 65536); /* the listener's, doubled as Linux reports it */
    ck_assert_int_eq(us_getsockopt(w.b, w.cb, SOL_SOCKET, SO_RCVBUF, &got, &l), 0);
    ck_assert_int_eq(got, 256 * 1024); /* the default, as set: autotuning is not reported */
    cleanup();

    world_new(&w, 3, USTACK_MS(50), 0);
    ck_assert_int_eq(us_setsockopt(w.a, w.ca, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    world_connect(&w);
    transfer(&w, 1u << 20);
    ck_assert_uint_eq(ustack_counter_get(w.a, "tcp_sndbuf_grown"), 0);
}
END_TEST

/* A new stream socket's options are the stack's defaults
 * (ustack_config.tcp), and getsockopt says so before anything is set. */
START_TEST(socket_options_default_to_the_config)
{
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.tcp.nodelay = true;
    cfg.tcp.keepalive = true;
    cfg.tcp.keepidle_us = USTACK_SEC(600);
    cfg.tcp.keepintvl_us = USTACK_SEC(20);
    cfg.tcp.keepcnt = 4;
    cfg.tcp.sndbuf = 100000;
    cfg.tcp.rcvbuf = 1000; /* below the smallest: raised to 2048 */
    cfg.tcp.features = USTACK_TCPF_DEFAULT & ~(unsigned)USTACK_TCPF_SACK;
    snprintf(cfg.tcp.congestion, sizeof cfg.tcp.congestion, "reno");
    struct h *t = h_new_cfg(&cfg, 0);
    ck_assert_str_eq(ustack_get_config(t->st)->tcp.congestion, "newreno");
    ck_assert_uint_eq(ustack_get_config(t->st)->tcp.rcvbuf, 2048);
    int s = us_socket(t->st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(get_int(t->st, s, TCP_NODELAY), 1);
    ck_assert_int_eq(get_int(t->st, s, TCP_KEEPIDLE), 600);
    ck_assert_int_eq(get_int(t->st, s, TCP_KEEPINTVL), 20);
    ck_assert_int_eq(get_int(t->st, s, TCP_KEEPCNT), 4);
    ck_assert_int_eq(get_int(t->st, s, USTACK_TCP_FEATURES), (int)cfg.tcp.features);
    int v = 0;
    socklen_t l = sizeof v;
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_KEEPALIVE, &v, &l), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_SNDBUF, &v, &l), 0);
    ck_assert_int_eq(v, 100000);
    ck_assert_int_eq(us_getsockopt(t->st, s, SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
    ck_assert_int_eq(v, 2048);
    char name[16];
    l = sizeof name;
    ck_assert_int_eq(us_getsockopt(t->st, s, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    ck_assert_str_eq(name, "newreno");
    ck_assert_int_eq(us_close(t->st, s), 0);
    /* An unknown algorithm is refused with the config. */
    snprintf(cfg.tcp.congestion, sizeof cfg.tcp.congestion, "vegas");
    struct ustack_link *a, *b;
    ck_assert_int_eq(ustack_link_mem_pair(&a, &b), 0);
    ck_assert_ptr_null(ustack_create(&cfg, a));
    ck_assert_int_eq(errno, EINVAL);
    ustack_link_close(a);
    ustack_link_close(b);
    h_done(t);
}
END_TEST

/* Events of the trace with all == 0, by connection. */
struct debug_trace {
    unsigned n;
    struct {
        char name[16], from[16], to[16], flags[16];
        uint16_t lport;
    } ev[32];
};

static void on_debug_trace(void *ctx, const struct ustack_trace_event *ev)
{
    struct debug_trace *d = ctx;
    if (d->n == sizeof d->ev / sizeof d->ev[0])
        return;
    snprintf(d->ev[d->n].name, sizeof d->ev[d->n].name, "%s", ev->name);
    d->ev[d->n].lport = ev->lport;
    for (unsigned i = 0; i < ev->nstrs; i++) {
        if (!strcmp(ev->strs[i].key, "from"))
            snprintf(d->ev[d->n].from, sizeof d->ev[d->n].from, "%s", ev->strs[i].value);
        if (!strcmp(ev->strs[i].key, "to"))
            snprintf(d->ev[d->n].to, sizeof d->ev[d->n].to, "%s", ev->strs[i].value);
        if (!strcmp(ev->strs[i].key, "flags"))
            snprintf(d->ev[d->n].flags, sizeof d->ev[d->n].flags, "%s", ev->strs[i].value);
    }
    d->n++;
}

/* SO_DEBUG picks the connections a trace with all == 0 follows; set before
 * connect(), it goes to the engine with the other options, so the SYN and
 * the state change that open the connection are traced too. */
START_TEST(so_debug_traces_its_connection_from_the_syn)
{
    struct h *t = h_new();
    struct debug_trace d = {0};
    ustack_set_trace(t->st, on_debug_trace, &d, 0);
    int on = 1;
    int a = us_socket(t->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int b = us_socket(t->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(us_setsockopt(t->st, a, SOL_SOCKET, SO_DEBUG, &on, sizeof on), 0);
    int v = 0;
    socklen_t l = sizeof v;
    ck_assert_int_eq(us_getsockopt(t->st, a, SOL_SOCKET, SO_DEBUG, &v, &l), 0);
    ck_assert_int_eq(v, 1);
    struct sockaddr_in to = sin_of(PEER_IP, 80);
    ck_assert_int_eq(us_connect(t->st, a, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    to = sin_of(PEER_IP, 81);
    ck_assert_int_eq(us_connect(t->st, b, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    struct pkt *p = malloc(sizeof *p);
    h_expect_ip(t, p, IPPROTO_TCP);
    h_expect_ip(t, p, IPPROTO_TCP);
    free(p);
    uint16_t pa = h_local_port(t, a);
    ck_assert_uint_ge(d.n, 2);
    ck_assert_str_eq(d.ev[0].name, "state");
    ck_assert_str_eq(d.ev[0].from, "CLOSED");
    ck_assert_str_eq(d.ev[0].to, "SYN-SENT");
    ck_assert_str_eq(d.ev[1].name, "seg_out");
    ck_assert_str_eq(d.ev[1].flags, "S"); /* the SYN */
    for (unsigned i = 0; i < d.n; i++)
        ck_assert_uint_eq(d.ev[i].lport, pa); /* nothing of b's connection */
    ck_assert_int_eq(us_close(t->st, a), 0);
    ck_assert_int_eq(us_close(t->st, b), 0);
    h_done(t);
}
END_TEST

Suite *suite_tcp_sockopt(void)
{
    Suite *s = suite_create("tcp_sockopt");
    TCase *tc = tcase_create("tcp_sockopt");
    tcase_add_checked_fixture(tc, NULL, cleanup);
    h_tcase(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tcp_congestion_names_an_algorithm);
    tcase_add_test(tc, features_parse_names_and_signs);
    tcase_add_test(tc, features_switch_sack_per_socket);
    tcase_add_test(tc, receive_buffer_grows_unless_fixed);
    tcase_add_test(tc, each_buffer_is_fixed_on_its_own);
    tcase_add_test(tc, socket_options_default_to_the_config);
    tcase_add_test(tc, so_debug_traces_its_connection_from_the_syn);
    suite_add_tcase(s, tc);
    return s;
}
