/*
 * The tables that grow with the number of connections: the TCP connection
 * table doubles as it fills and still finds every connection, and the socket
 * table hands out the lowest free number without walking the open sockets.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <ustack/sim.h>
#include "harness.h"
#include "sock.h"
#include "tcp.h"
#include "tcp_fixture.h"

#define NCONN 3000 /* almost three TCBs per chain of the first table */

START_TEST(the_connection_table_doubles_and_finds_every_connection)
{
    static struct tcb *c[NCONN];
    for (int i = 0; i < NCONN; i++) {
        c[i] = tcp_open_active(T.ts, 0, (uint16_t)(10000 + i), T.peer, PPORT, NULL, NULL);
        ck_assert_ptr_nonnull(c[i]);
    }
    /* 1024 chains -> 2048 at TCB 1025 -> 4096 at TCB 2049. */
    ck_assert_uint_eq(CNT(tcp_hash_grown), 2);
    for (int i = 0; i < NCONN; i++)
        ck_assert_ptr_eq(tcp_lookup(T.ts, T.us, (uint16_t)(10000 + i), T.peer, PPORT), c[i]);
    ck_assert_ptr_null(tcp_lookup(T.ts, T.us, 9999, T.peer, PPORT));
    /* Half of them gone: the others are still found, the gone ones not. */
    for (int i = 0; i < NCONN; i += 2)
        tcp_abort(c[i]);
    for (int i = 0; i < NCONN; i++) {
        struct tcb *t = tcp_lookup(T.ts, T.us, (uint16_t)(10000 + i), T.peer, PPORT);
        if (i % 2)
            ck_assert_ptr_eq(t, c[i]);
        else
            ck_assert_ptr_null(t);
    }
    for (int i = 1; i < NCONN; i += 2)
        tcp_abort(c[i]);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(sockets_get_the_lowest_free_number)
{
    struct h *t = h_new();
    int fd[200];
    for (int i = 0; i < 200; i++) {
        fd[i] = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
        ck_assert_int_eq(fd[i], i);
    }
    static const int gone[] = {199, 130, 65, 64, 3};
    for (unsigned k = 0; k < 5; k++)
        ck_assert_int_eq(us_close(t->st, gone[k]), 0);
    static const int want[] = {3, 64, 65, 130, 199, 200};
    for (unsigned k = 0; k < 6; k++)
        ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), want[k]);
    for (int i = 0; i <= 200; i++)
        ck_assert_int_eq(us_close(t->st, i), 0);
    ck_assert_uint_eq(h_usage(t).sockets, 0);
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(us_close(t->st, 0), 0);
    h_done(t);
}
END_TEST

/* ------------------------------------------------------------ buffers */

#define PORT 5001
#define XFER (300 * 1000)

struct pair {
    struct ustack_sim *sim;
    struct ustack *a, *b;
    int l, ca, cb;
    size_t sent, got;
    bool bad;
};

static int accepted(void *arg)
{
    struct pair *w = arg;
    if (w->cb < 0)
        w->cb = us_accept(w->b, w->l, NULL, NULL, SOCK_NONBLOCK);
    return w->cb >= 0;
}

/* A sends XFER pattern bytes, B reads them; done when all arrived. */
static int moved(void *arg)
{
    struct pair *w = arg;
    static uint8_t buf[32768];
    while (w->sent < XFER) {
        size_t n = XFER - w->sent < sizeof buf ? XFER - w->sent : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)((w->sent + i) * 13 + 1);
        ssize_t k = us_send(w->a, w->ca, buf, n, 0);
        if (k <= 0)
            break;
        w->sent += (size_t)k;
    }
    ssize_t k;
    while ((k = us_recv(w->b, w->cb, buf, sizeof buf, 0)) > 0) {
        for (ssize_t i = 0; i < k; i++)
            w->bad |= buf[i] != (uint8_t)((w->got + (size_t)i) * 13 + 1);
        w->got += (size_t)k;
    }
    return w->got == XFER;
}

static const struct tcb *tcb_of(struct ustack *st, int fd)
{
    return ((struct sock *)sock_get(st, fd))->tcb;
}

static int all_acked(void *arg)
{
    struct pair *w = arg;
    const struct tcb *t = tcb_of(w->a, w->ca);
    return t->snd_una == t->snd_max;
}

START_TEST(an_idle_connection_holds_no_buffer)
{
    struct pair w = {.l = -1, .ca = -1, .cb = -1};
    w.sim = fx_sim_pair(7, USTACK_SEC(1), NULL, NULL, &w.a, &w.b);
    struct ustack_usage u0;
    ustack_get_usage(w.b, &u0);
    w.l = us_socket(w.b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    ck_assert_int_eq(us_bind(w.b, w.l, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(w.b, w.l, 4), 0);
    w.ca = us_socket(w.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = ip4(10, 0, 0, 2)};
    us_connect(w.a, w.ca, (struct sockaddr *)&to, sizeof to);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, accepted, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    /* Established, nothing sent yet: no ring on either side. */
    ck_assert_ptr_null(tcb_of(w.a, w.ca)->sndq.buf);
    ck_assert_ptr_null(tcb_of(w.b, w.cb)->rcvq.buf);

    ck_assert_int_eq(ustack_sim_run_until(w.sim, moved, &w, ustack_sim_now(w.sim) + USTACK_SEC(60)), 1);
    ck_assert(!w.bad);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, all_acked, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    /* Everything delivered, read and acknowledged: the rings and the
     * transmit records are gone on both sides. */
    const struct tcb *ta = tcb_of(w.a, w.ca), *tb = tcb_of(w.b, w.cb);
    ck_assert_ptr_null(ta->sndq.buf);
    ck_assert_ptr_null(ta->txq.segs);
    ck_assert_ptr_null(tb->rcvq.buf);
    ck_assert_ptr_null(tb->sndq.buf);
    /* What B holds for the idle connection and its listener: within 4 KiB
     * each. */
    struct ustack_usage u1;
    ustack_get_usage(w.b, &u1);
    size_t per = (u1.tcp_mem_bytes - u0.tcp_mem_bytes) / 2;
    ck_assert_uint_le(per, 4096);

    /* And the connection still works both ways. */
    w.sent = w.got = 0;
    ck_assert_int_eq(ustack_sim_run_until(w.sim, moved, &w, ustack_sim_now(w.sim) + USTACK_SEC(60)), 1);
    ck_assert(!w.bad);
    ck_assert_int_eq(us_send(w.b, w.cb, "ok", 2, 0), 2);
    char back[2];
    ck_assert_int_eq(ustack_sim_run_until(w.sim, NULL, NULL, ustack_sim_now(w.sim) + USTACK_SEC(1)), 0);
    ck_assert_int_eq(us_recv(w.a, w.ca, back, 2, 0), 2);
    ck_assert_int_eq(memcmp(back, "ok", 2), 0);

    struct ustack *stacks[2] = {w.a, w.b};
    fx_sim_release(w.sim, stacks, 2);
    ustack_sim_free(w.sim);
}
END_TEST

START_TEST(the_default_socket_table_holds_65536)
{
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    ck_assert_uint_eq(cfg.max_sockets, 65536);
}
END_TEST

Suite *suite_tables(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, the_connection_table_doubles_and_finds_every_connection);
    tcase_add_test(tc, an_idle_connection_holds_no_buffer);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("sockets");
    h_tcase(ts);
    tcase_add_test(ts, sockets_get_the_lowest_free_number);
    tcase_add_test(ts, the_default_socket_table_holds_65536);
    suite_add_tcase(s, ts);
    return s;
}
