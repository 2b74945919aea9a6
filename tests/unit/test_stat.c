/*
 * Live connection statistics (ustack/stat.h): ustack_conn_list() on two
 * simulated stacks. A listener and a connection are listed with the right
 * states, ports and sequence numbers; the two ends of a finished transfer
 * agree with each other (what A sent and had acknowledged is what B
 * received, A's view of B's window is B's advertised window); cwnd grew from
 * the initial window; the RTT estimate reflects the simulated delay; and the
 * per-connection retransmission counts add up to the stack's counter over a
 * lossy link.
 */
#include <errno.h>
#include <string.h>
#include <ustack/sim.h>
#include <ustack/stat.h>
#include "harness.h"

#define A_IP ip4(10, 0, 0, 1)
#define B_IP ip4(10, 0, 0, 2)
#define PORT 5001

struct world {
    struct ustack_sim *sim;
    struct ustack *a, *b;
    int listener, ca, cb; /* B's listener, A's and B's ends of the connection */
};

static struct ustack_sim *live_sim;

static void cleanup(void)
{
    if (live_sim) {
        ustack_sim_free(live_sim);
        live_sim = NULL;
    }
}

static int accepted(void *arg)
{
    struct world *w = arg;
    if (w->cb < 0)
        w->cb = us_accept(w->b, w->listener, NULL, NULL, SOCK_NONBLOCK);
    return w->cb >= 0;
}

/* A connects to B's listener; both ends non-blocking. The one-way delay is
 * delay_us each way (RTT 2 * delay_us); A's outgoing frames are dropped with
 * probability a_drop. */
static void world_new(struct world *w, uint64_t seed, ustack_time_t delay_us, double a_drop)
{
    memset(w, 0, sizeof *w);
    w->cb = -1;
    w->sim = ustack_sim_new(seed, USTACK_SEC(1));
    ck_assert_ptr_nonnull(w->sim);
    live_sim = w->sim;
    struct ustack_fault_config fa = {.out = {.delay_us = delay_us, .drop = a_drop}};
    struct ustack_fault_config fb = {.out = {.delay_us = delay_us}};
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    /* Delayed ACKs as Linux's (40 ms): with the default 200 ms, equal to the
     * minimum RTO, the ACK of a lone last segment arrives after the RTO has
     * fired and causes a spurious retransmission. */
    cfg.tcp.delack_us = USTACK_MS(40);
    cfg.addr = A_IP;
    w->a = ustack_sim_add(w->sim, &cfg, &fa);
    cfg.addr = B_IP;
    w->b = ustack_sim_add(w->sim, &cfg, &fb);
    ck_assert_ptr_nonnull(w->a);
    ck_assert_ptr_nonnull(w->b);

    w->listener = us_socket(w->b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = sin_of(0, PORT);
    ck_assert_int_eq(us_bind(w->b, w->listener, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(w->b, w->listener, 4), 0);
    struct ustack_conn_info ci;
    ck_assert_uint_eq(ustack_conn_list(w->b, &ci, 1), 1);
    ck_assert_str_eq(ci.state, "LISTEN");
    ck_assert_uint_eq(ci.lport, PORT);

    w->ca = us_socket(w->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sin_of(B_IP, PORT);
    ck_assert_int_eq(us_connect(w->a, w->ca, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, EINPROGRESS);
    ck_assert_uint_eq(ustack_conn_list(w->a, &ci, 1), 1);
    ck_assert_str_eq(ci.state, "SYN-SENT");
    ck_assert_int_eq(ustack_sim_run_until(w->sim, accepted, w, ustack_sim_now(w->sim) + USTACK_SEC(30)), 1);
}

struct xfer {
    struct world *w;
    const uint8_t *data;
    size_t len, sent;
};

/* Sends what fits; done when everything is written and acknowledged (the
 * send buffer holds unacknowledged bytes too). */
static int sent_and_acked(void *arg)
{
    struct xfer *x = arg;
    while (x->sent < x->len) {
        ssize_t n = us_send(x->w->a, x->w->ca, x->data + x->sent, x->len - x->sent, 0);
        if (n <= 0)
            break;
        x->sent += (size_t)n;
    }
    struct ustack_conn_info c;
    ustack_conn_list(x->w->a, &c, 1);
    return x->sent == x->len && c.sendq == 0;
}

/* A's connection: the one that is not B's listener in B's list. */
static const struct ustack_conn_info *find_conn(const struct ustack_conn_info *ci, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ci[i].state, "LISTEN") != 0)
            return &ci[i];
    return NULL;
}

static void world_done(struct world *w)
{
    us_close(w->a, w->ca);
    us_close(w->b, w->cb);
    us_close(w->b, w->listener);
    ustack_sim_run_until(w->sim, NULL, NULL, ustack_sim_now(w->sim) + USTACK_SEC(200));
    ck_assert_uint_eq(ustack_conn_list(w->a, NULL, 0), 0);
    ck_assert_uint_eq(ustack_conn_list(w->b, NULL, 0), 0);
    ustack_sim_free(w->sim);
    live_sim = NULL;
}

START_TEST(both_ends_of_a_transfer_agree)
{
    struct world w;
    world_new(&w, 7, USTACK_MS(5), 0);
    static uint8_t data[100000];
    h_fill(data, sizeof data, 3);
    struct xfer x = {&w, data, sizeof data, 0};
    ck_assert_int_eq(ustack_sim_run_until(w.sim, sent_and_acked, &x, ustack_sim_now(w.sim) + USTACK_SEC(60)), 1);

    struct ustack_conn_info a, bl[3];
    ck_assert_uint_eq(ustack_conn_list(w.a, &a, 1), 1);
    ck_assert_uint_eq(ustack_conn_list(w.b, bl, 3), 2); /* the listener and the connection */
    const struct ustack_conn_info *b = find_conn(bl, 2);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(a.state, "ESTABLISHED");
    ck_assert_str_eq(b->state, "ESTABLISHED");
    ck_assert_uint_eq(a.laddr, A_IP);
    ck_assert_uint_eq(a.raddr, B_IP);
    ck_assert_uint_eq(a.rport, PORT);
    ck_assert_uint_eq(b->lport, PORT);
    ck_assert_uint_eq(b->rport, a.lport);
    ck_assert_uint_eq(b->raddr, A_IP);
    /* Sequence numbers: everything sent, acknowledged and received. */
    ck_assert_uint_eq(a.iss, b->irs);
    ck_assert_uint_eq(b->iss, a.irs);
    ck_assert_uint_eq(a.snd_una - a.iss - 1, sizeof data);
    ck_assert_uint_eq(a.snd_nxt, a.snd_una);
    ck_assert_uint_eq(a.snd_max, a.snd_una);
    ck_assert_uint_eq(b->rcv_nxt, a.snd_nxt);
    ck_assert_uint_eq(a.rcv_nxt, b->snd_nxt);
    ck_assert_uint_eq(a.inflight, 0);
    ck_assert_uint_eq(a.sendq, 0);
    ck_assert_uint_eq(b->recvq, sizeof data); /* B has read nothing */
    ck_assert_uint_eq(a.recvq, 0);
    /* Windows: A knows what B offered last, to the scaling unit (RFC 7323:
     * the field carries the window >> 7, rounded down). */
    ck_assert_uint_le(a.snd_wnd, b->rcv_wnd);
    ck_assert_uint_lt(b->rcv_wnd - a.snd_wnd, 128);
    ck_assert_uint_le(b->snd_wnd, a.rcv_wnd);
    ck_assert_uint_lt(a.rcv_wnd - b->snd_wnd, 128);
    /* Timestamps were negotiated: 12 bytes of every segment are options. */
    ck_assert_uint_eq(a.mss, 1448);
    ck_assert_uint_eq(b->mss, 1448);
    /* Slow start all the way (no loss): cwnd grew from 10 * MSS. */
    ck_assert_uint_eq(a.ssthresh, USTACK_SSTHRESH_INF);
    ck_assert_uint_gt(a.cwnd, 10 * 1448);
    ck_assert_uint_eq(b->cwnd, 10 * 1448); /* B sent no data */
    /* RTT: 10 ms on the wire (plus B's delayed ACKs now and then). */
    ck_assert_uint_ge(a.srtt_us, USTACK_MS(10));
    ck_assert_uint_lt(a.srtt_us, USTACK_MS(60));
    ck_assert_uint_ge(a.rto_us, USTACK_MS(200));
    ck_assert_uint_eq(a.rto_backoff, 0);
    ck_assert_uint_eq(a.retrans, 0);

    /* Truncation: the total comes back, only `max` entries are written. */
    struct ustack_conn_info two[2];
    memset(two, 0xa5, sizeof two);
    ck_assert_uint_eq(ustack_conn_list(w.b, two, 1), 2);
    uint8_t pattern[sizeof two[1]];
    memset(pattern, 0xa5, sizeof pattern);
    ck_assert_mem_eq(&two[1], pattern, sizeof pattern);
    world_done(&w);
}
END_TEST

START_TEST(retransmissions_per_connection_add_up_to_the_counter)
{
    struct world w;
    world_new(&w, 11, USTACK_MS(1), 0.05);
    static uint8_t data[200000]; /* within B's receive buffer: B reads nothing */
    h_fill(data, sizeof data, 5);
    uint64_t before = ustack_counter_get(w.a, "tcp_retransmit_segs"); /* the SYN may have been lost */
    struct ustack_conn_info a0;
    ck_assert_uint_eq(ustack_conn_list(w.a, &a0, 1), 1);
    ck_assert_uint_eq(a0.retrans, before);
    struct xfer x = {&w, data, sizeof data, 0};
    ck_assert_int_eq(ustack_sim_run_until(w.sim, sent_and_acked, &x, ustack_sim_now(w.sim) + USTACK_SEC(600)), 1);
    struct ustack_conn_info a;
    ck_assert_uint_eq(ustack_conn_list(w.a, &a, 1), 1);
    uint64_t total = ustack_counter_get(w.a, "tcp_retransmit_segs");
    ck_assert_uint_gt(total, before);
    ck_assert_uint_eq(a.retrans, total);
    ck_assert_uint_ne(a.ssthresh, USTACK_SSTHRESH_INF); /* losses were seen */
    world_done(&w);
}
END_TEST

Suite *suite_stat(void)
{
    Suite *s = suite_create("stat");
    TCase *tc = tcase_create("conn_list");
    tcase_add_checked_fixture(tc, NULL, cleanup);
    tcase_add_test(tc, both_ends_of_a_transfer_agree);
    tcase_add_test(tc, retransmissions_per_connection_add_up_to_the_counter);
    suite_add_tcase(s, tc);
    return s;
}
