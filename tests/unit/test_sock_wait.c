/*
 * Who wakes whom: a socket's state change wakes the waiters of that socket
 * and nobody else, once per round of ustack_wake_waiters() however many
 * times the socket changed; a closed socket's waiters are told at once. The
 * first tests watch the socket layer's wait lists directly (deterministic,
 * one thread); the last blocks real threads in the runtime and counts whom
 * the stack woke (sock_wakeups).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <ustack/runtime.h>
#include <ustack/sim.h>
#include "harness.h"
#include "sock.h"
#include "tcp_fixture.h"

/* A wait entry that counts how often the stack ran it. */
struct probe {
    struct sock_wq_entry e;
    unsigned runs;
    bool linked_when_run; /* e.s at the last run */
};

static void probe_fn(struct ustack *st, struct sock_wq_entry *e)
{
    (void)st;
    struct probe *p = e->arg;
    p->runs++;
    p->linked_when_run = e->s != NULL;
}

static void probe_on(struct ustack *st, int fd, struct probe *p)
{
    memset(p, 0, sizeof *p);
    struct sock *s = sock_get(st, fd);
    ck_assert_ptr_nonnull(s);
    sock_wq_add(s, &p->e, probe_fn, p);
}

static int udp_bound(struct ustack *st, uint16_t port)
{
    int fd = us_socket(st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    ck_assert_int_eq(us_bind(st, fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

START_TEST(a_datagram_wakes_only_the_waiters_of_its_socket)
{
    struct h *t = h_new();
    int fd[3];
    struct probe p[3], p1b;
    for (int i = 0; i < 3; i++) {
        fd[i] = udp_bound(t->st, (uint16_t)(7001 + i));
        probe_on(t->st, fd[i], &p[i]);
    }
    probe_on(t->st, fd[1], &p1b); /* a second waiter on the same socket */

    h_inject_udp(t, 4000, 7002, "x", 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p[0].runs, 0);
    ck_assert_uint_eq(p[1].runs, 1);
    ck_assert_uint_eq(p1b.runs, 1);
    ck_assert_uint_eq(p[2].runs, 0);

    /* Three datagrams for one socket and one for another in a batch: each
     * waiter once. */
    h_inject_udp(t, 4000, 7002, "y", 1);
    h_inject_udp(t, 4000, 7002, "z", 1);
    h_inject_udp(t, 4000, 7003, "w", 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p[0].runs, 0);
    ck_assert_uint_eq(p[1].runs, 2);
    ck_assert_uint_eq(p1b.runs, 2);
    ck_assert_uint_eq(p[2].runs, 1);

    /* Nothing changed: nobody. A datagram for no socket: nobody. */
    ustack_wake_waiters(t->st);
    h_inject_udp(t, 4000, 7999, "v", 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p[0].runs + p[1].runs + p1b.runs + p[2].runs, 5);

    /* Reading changes nothing a waiter waits for. */
    char buf[4];
    ck_assert_int_eq(us_recv(t->st, fd[1], buf, sizeof buf, MSG_DONTWAIT), 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p[1].runs, 2);

    /* Closing a socket tells its waiters at once, unlinked. */
    ck_assert_int_eq(us_close(t->st, fd[0]), 0);
    ck_assert_uint_eq(p[0].runs, 1);
    ck_assert(!p[0].linked_when_run);
    ck_assert_ptr_null(p[0].e.s);

    for (int i = 1; i < 3; i++)
        sock_wq_del(&p[i].e);
    sock_wq_del(&p1b.e);
    ck_assert_ptr_null(p[1].e.s);
    h_inject_udp(t, 4000, 7002, "u", 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p[1].runs, 2);
    for (int i = 1; i < 3; i++)
        ck_assert_int_eq(us_close(t->st, fd[i]), 0);
    h_done(t);
}
END_TEST

START_TEST(a_reused_slot_wakes_its_new_waiters_for_nothing_of_the_old_socket)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001);
    h_inject_udp(t, 4000, 7001, "x", 1); /* a is now pending */
    ck_assert_int_eq(us_close(t->st, a), 0);
    int b = udp_bound(t->st, 7002);
    ck_assert_int_eq(b, a); /* the same slot */
    struct probe p;
    probe_on(t->st, b, &p);
    /* The old socket's change was dealt with by the close itself: the new
     * socket's waiter sees nothing of it, then its own datagram. */
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p.runs, 0);
    h_inject_udp(t, 4000, 7002, "y", 1);
    ustack_wake_waiters(t->st);
    ck_assert_uint_eq(p.runs, 1);
    sock_wq_del(&p.e);
    ck_assert_int_eq(us_close(t->st, b), 0);
    h_done(t);
}
END_TEST

/* ------------------------------------------------------------ TCP */

#define NCONN 4
#define PORT 5001

struct conns {
    struct ustack_sim *sim;
    struct ustack *a, *b;
    int listener, ca[NCONN], cb[NCONN];
    int naccepted;
};

static int all_accepted(void *arg)
{
    struct conns *w = arg;
    while (w->naccepted < NCONN) {
        int fd = us_accept(w->b, w->listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            break;
        w->cb[w->naccepted++] = fd;
    }
    return w->naccepted == NCONN;
}

struct until_readable {
    struct ustack *st;
    int fd;
};

static int readable(void *arg)
{
    struct until_readable *u = arg;
    struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
    return us_poll(u->st, &pfd, 1, 0) == 1;
}

START_TEST(a_segment_wakes_only_its_connections_waiters)
{
    struct conns w = {.listener = -1};
    w.sim = fx_sim_pair(3, USTACK_SEC(1), NULL, NULL, &w.a, &w.b);
    w.listener = us_socket(w.b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    ck_assert_int_eq(us_bind(w.b, w.listener, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(w.b, w.listener, NCONN), 0);
    struct probe pl;
    probe_on(w.b, w.listener, &pl);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = ip4(10, 0, 0, 2)};
    for (int i = 0; i < NCONN; i++) {
        w.ca[i] = us_socket(w.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_eq(us_connect(w.a, w.ca[i], (struct sockaddr *)&to, sizeof to), -1);
        ck_assert_int_eq(errno, EINPROGRESS);
    }
    /* Connections arriving wake the listener's waiter (once per round). */
    ck_assert_int_eq(ustack_sim_run_until(w.sim, NULL, NULL, ustack_sim_now(w.sim) + USTACK_SEC(1)), 0);
    ustack_wake_waiters(w.b);
    ck_assert_uint_eq(pl.runs, 1);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, all_accepted, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    sock_wq_del(&pl.e);

    struct probe p[NCONN];
    for (int i = 0; i < NCONN; i++)
        probe_on(w.b, w.cb[i], &p[i]);
    ustack_wake_waiters(w.b);
    for (int i = 0; i < NCONN; i++)
        p[i].runs = 0;

    /* One byte on connection 2: only its waiter on B. */
    ck_assert_int_eq(us_send(w.a, w.ca[2], "!", 1, 0), 1);
    struct until_readable u = {w.b, w.cb[2]};
    ck_assert_int_eq(ustack_sim_run_until(w.sim, readable, &u, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    ustack_wake_waiters(w.b);
    for (int i = 0; i < NCONN; i++)
        ck_assert_uint_eq(p[i].runs, i == 2 ? 1 : 0);

    /* A's close of connection 0 (its FIN): only connection 0's waiter. */
    ck_assert_int_eq(us_close(w.a, w.ca[0]), 0);
    w.ca[0] = -1;
    struct until_readable u0 = {w.b, w.cb[0]};
    ck_assert_int_eq(ustack_sim_run_until(w.sim, readable, &u0, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    ustack_wake_waiters(w.b);
    for (int i = 0; i < NCONN; i++)
        ck_assert_uint_eq(p[i].runs, i == 0 || i == 2 ? 1 : 0);

    for (int i = 0; i < NCONN; i++)
        sock_wq_del(&p[i].e);
    struct ustack *stacks[2] = {w.a, w.b};
    fx_sim_release(w.sim, stacks, 2);
    ustack_sim_free(w.sim);
}
END_TEST

/* ------------------------------------------------------------ threads */

#define NTHREADS 24

struct blocked {
    struct ustack *st;
    int fd;
    ssize_t got;
    int err;
    char byte;
    pthread_t th;
};

static void *recv_thread(void *arg)
{
    struct blocked *b = arg;
    b->got = us_recv(b->st, b->fd, &b->byte, 1, 0);
    b->err = b->got < 0 ? errno : 0;
    return NULL;
}

struct peek {
    struct ustack_usage u;
    uint64_t wakeups;
};

static void peek_fn(struct ustack *st, void *arg)
{
    struct peek *p = arg;
    ustack_get_usage(st, &p->u);
    p->wakeups = ustack_counter_get(st, "sock_wakeups");
}

static struct peek peek(struct ustack_rt *rt)
{
    struct peek p;
    ustack_rt_locked(rt, peek_fn, &p);
    return p;
}

/* Polls the stack's state every millisecond until `waiters` threads are
 * blocked, or 10 s pass. */
static bool wait_for_waiters(struct ustack_rt *rt, size_t waiters)
{
    for (int i = 0; i < 10000; i++) {
        if (peek(rt).u.sock_waiters == waiters)
            return true;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return false;
}

struct frame {
    uint8_t buf[128];
    size_t len;
};

static void input_fn(struct ustack *st, void *arg)
{
    struct frame *f = arg;
    ustack_input(st, f->buf, f->len);
}

START_TEST(a_datagram_wakes_one_blocked_thread_of_many)
{
    struct ustack_link *a, *wire;
    ck_assert_int_eq(ustack_link_mem_pair(&a, &wire), 0);
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_gratuitous = 0;
    struct ustack_rt *rt = ustack_rt_start(&cfg, a);
    ck_assert_ptr_nonnull(rt);
    struct ustack *st = ustack_rt_stack(rt);

    static struct blocked b[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        b[i] = (struct blocked){.st = st, .fd = udp_bound(st, (uint16_t)(7000 + i))};
        ck_assert_int_eq(pthread_create(&b[i].th, NULL, recv_thread, &b[i]), 0);
    }
    ck_assert(wait_for_waiters(rt, NTHREADS));
    uint64_t w0 = peek(rt).wakeups;

    /* One datagram for thread 5's socket, fed as the loop feeds frames. */
    struct frame f;
    uint8_t udp[64], ip[96];
    size_t ul = forge_udp(udp, PEER_IP, OUR_IP, 4000, 7005, "!", 1);
    size_t il = forge_ip(ip, &(struct ipspec){.proto = 17}, udp, ul);
    f.len = forge_eth(f.buf, OUR_MAC, PEER_MAC, 0x0800, ip, il);
    ustack_rt_locked(rt, input_fn, &f);
    pthread_join(b[5].th, NULL);
    ck_assert_int_eq(b[5].got, 1);
    ck_assert_int_eq(b[5].byte, '!');

    struct peek p = peek(rt);
    ck_assert_uint_eq(p.wakeups - w0, 1);
    ck_assert_uint_eq(p.u.sock_waiters, NTHREADS - 1);

    /* Closing the sockets wakes each remaining thread once, with EBADF. */
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(us_close(st, b[i].fd), 0);
    for (int i = 0; i < NTHREADS; i++) {
        if (i == 5)
            continue;
        pthread_join(b[i].th, NULL);
        ck_assert_int_eq(b[i].got, -1);
        ck_assert_int_eq(b[i].err, EBADF);
    }
    p = peek(rt);
    ck_assert_uint_eq(p.wakeups - w0, NTHREADS);
    ck_assert_uint_eq(p.u.sock_waiters, 0);
    ustack_rt_stop(rt);
    ustack_link_close(a);
    ustack_link_close(wire);
}
END_TEST

Suite *suite_sock_wait(void)
{
    Suite *s = suite_create("sock_wait");
    TCase *tc = tcase_create("core");
    h_tcase(tc);
    tcase_add_test(tc, a_datagram_wakes_only_the_waiters_of_its_socket);
    tcase_add_test(tc, a_reused_slot_wakes_its_new_waiters_for_nothing_of_the_old_socket);
    tcase_add_test(tc, a_segment_wakes_only_its_connections_waiters);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("runtime");
    tcase_set_timeout(tr, 30);
    tcase_add_test(tr, a_datagram_wakes_one_blocked_thread_of_many);
    suite_add_tcase(s, tr);
    return s;
}
