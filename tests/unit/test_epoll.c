/*
 * us_epoll_*: level- and edge-triggered reports, EPOLLONESHOT, a socket
 * closed while registered, the errors of epoll_ctl(2), EPOLLRDHUP on a
 * connection, and a kernel epoll waiting on a pipe and on the instance's
 * descriptor (us_epoll_fd) together, with the runtime's threads.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <ustack/runtime.h>
#include <ustack/sim.h>
#include "harness.h"
#include "tcp_fixture.h"

static int udp_bound(struct ustack *st, uint16_t port)
{
    int fd = us_socket(st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    ck_assert_int_eq(us_bind(st, fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void add(struct ustack *st, int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    ck_assert_int_eq(us_epoll_ctl(st, ep, op, fd, &ev), 0);
}

/* One us_epoll_wait with timeout 0: the number of events, the first in *ev. */
static int wait0(struct ustack *st, int ep, struct epoll_event *ev, int max)
{
    return us_epoll_wait(st, ep, ev, max, 0);
}

static void drain(struct ustack *st, int fd)
{
    char buf[64];
    while (us_recv(st, fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
        ;
}

START_TEST(level_triggered_reports_while_ready_in_turn)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001), b = udp_bound(t->st, 7002);
    int ep = us_epoll_create(t->st, 0);
    ck_assert_int_ge(ep, 0);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN, 111);
    add(t->st, ep, EPOLL_CTL_ADD, b, EPOLLIN, 222);
    struct epoll_event ev[4];
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 0);

    h_inject_udp(t, 4000, 7001, "x", 1);
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 1);
    ck_assert_uint_eq(ev[0].events, EPOLLIN);
    ck_assert_uint_eq(ev[0].data.u64, 111);
    /* Level-triggered: again, as long as the datagram is there. */
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 1);
    ck_assert_uint_eq(ev[0].data.u64, 111);
    drain(t->st, a);
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 0);

    /* Both ready, one event at a time: they take turns. */
    h_inject_udp(t, 4000, 7001, "x", 1);
    h_inject_udp(t, 4000, 7002, "y", 1);
    uint64_t seen[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(wait0(t->st, ep, ev, 1), 1);
        seen[i] = ev[0].data.u64;
    }
    ck_assert_uint_ne(seen[0], seen[1]);
    ck_assert_uint_eq(seen[0], seen[2]);
    ck_assert_uint_eq(seen[1], seen[3]);
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 2);

    /* EPOLLOUT: a datagram socket can always send. */
    add(t->st, ep, EPOLL_CTL_MOD, b, EPOLLOUT, 333);
    drain(t->st, a);
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 1);
    ck_assert_uint_eq(ev[0].events, EPOLLOUT);
    ck_assert_uint_eq(ev[0].data.u64, 333);

    ck_assert_int_eq(us_close(t->st, ep), 0);
    ck_assert_int_eq(us_close(t->st, a), 0);
    ck_assert_int_eq(us_close(t->st, b), 0);
    h_done(t);
}
END_TEST

START_TEST(edge_triggered_reports_each_change_once)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001);
    int ep = us_epoll_create(t->st, EPOLL_CLOEXEC);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET, 1);
    struct epoll_event ev[2];
    h_inject_udp(t, 4000, 7001, "x", 1);
    h_inject_udp(t, 4000, 7001, "y", 1); /* one change as far as a wait is concerned */
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 1);
    ck_assert_uint_eq(ev[0].events, EPOLLIN);
    /* Data still unread, but nothing new: nothing. */
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    h_inject_udp(t, 4000, 7001, "z", 1);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 1);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    /* A change that leaves nothing to read by the time of the wait: no
     * report (the entry is dropped when the wait finds it not ready). */
    h_inject_udp(t, 4000, 7001, "w", 1);
    drain(t->st, a);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    /* Registering a socket that is ready reports it once. */
    h_inject_udp(t, 4000, 7001, "v", 1);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_DEL, a, NULL), 0);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET, 2);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 1);
    ck_assert_uint_eq(ev[0].data.u64, 2);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    ck_assert_int_eq(us_close(t->st, a), 0);
    ck_assert_int_eq(us_close(t->st, ep), 0);
    h_done(t);
}
END_TEST

START_TEST(oneshot_reports_once_until_rearmed)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001);
    int ep = us_epoll_create(t->st, 0);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLONESHOT, 5);
    struct epoll_event ev[2];
    h_inject_udp(t, 4000, 7001, "x", 1);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 1);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    h_inject_udp(t, 4000, 7001, "y", 1); /* disarmed: not even a change */
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    /* Still registered (ADD fails), re-armed by MOD: ready at once. */
    struct epoll_event again = {.events = EPOLLIN};
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_ADD, a, &again), -1);
    ck_assert_int_eq(errno, EEXIST);
    add(t->st, ep, EPOLL_CTL_MOD, a, EPOLLIN | EPOLLONESHOT, 6);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 1);
    ck_assert_uint_eq(ev[0].data.u64, 6);
    ck_assert_int_eq(wait0(t->st, ep, ev, 2), 0);
    ck_assert_int_eq(us_close(t->st, ep), 0);
    ck_assert_int_eq(us_close(t->st, a), 0);
    h_done(t);
}
END_TEST

START_TEST(a_socket_closed_while_registered_leaves_the_instance)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001), b = udp_bound(t->st, 7002);
    int ep = us_epoll_create(t->st, 0);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
    add(t->st, ep, EPOLL_CTL_ADD, b, EPOLLIN, 2);
    h_inject_udp(t, 4000, 7001, "x", 1);
    h_inject_udp(t, 4000, 7002, "y", 1);
    ck_assert_int_eq(us_close(t->st, a), 0); /* ready when closed */
    struct epoll_event ev[4];
    ck_assert_int_eq(wait0(t->st, ep, ev, 4), 1);
    ck_assert_uint_eq(ev[0].data.u64, 2);
    /* Its number, reused by a new socket, is not registered. */
    int c = udp_bound(t->st, 7003);
    ck_assert_int_eq(c, a);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_DEL, c, NULL), -1);
    ck_assert_int_eq(errno, ENOENT);
    add(t->st, ep, EPOLL_CTL_ADD, c, EPOLLIN, 3);
    /* Closing the instance with registrations left frees them (h_done and
     * ASan check); the sockets stay usable. */
    ck_assert_int_eq(us_close(t->st, ep), 0);
    h_inject_udp(t, 4000, 7003, "z", 1);
    char buf[4];
    ck_assert_int_eq(us_recv(t->st, c, buf, sizeof buf, MSG_DONTWAIT), 1);
    ck_assert_int_eq(us_close(t->st, b), 0);
    ck_assert_int_eq(us_close(t->st, c), 0);
    h_done(t);
}
END_TEST

START_TEST(errors_are_those_of_epoll)
{
    struct h *t = h_new();
    int a = udp_bound(t->st, 7001);
    int ep = us_epoll_create(t->st, 0);
    struct epoll_event ev = {.events = EPOLLIN}, out[1];
    ck_assert_int_eq(us_epoll_create(t->st, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_ADD, 99, &ev), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(us_epoll_ctl(t->st, 99, EPOLL_CTL_ADD, a, &ev), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(us_epoll_ctl(t->st, a, EPOLL_CTL_ADD, a, &ev), -1); /* not an instance */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_ADD, ep, &ev), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, 42, a, &ev), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_ADD, a, NULL), -1);
    ck_assert_int_eq(errno, EFAULT);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_MOD, a, &ev), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(us_epoll_ctl(t->st, ep, EPOLL_CTL_DEL, a, NULL), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(us_epoll_wait(t->st, ep, out, 0, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(us_epoll_wait(t->st, a, out, 1, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Without a runtime there is no kernel descriptor, and no waiting. */
    ck_assert_int_eq(us_epoll_fd(t->st, ep), -1);
    ck_assert_int_eq(errno, EOPNOTSUPP);
    add(t->st, ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
    ck_assert_int_eq(us_epoll_wait(t->st, ep, out, 1, 1000), 0);
    /* An instance is no socket. */
    char buf[4];
    ck_assert_int_eq(us_recv(t->st, ep, buf, sizeof buf, 0), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    ck_assert_int_eq(us_listen(t->st, ep, 1), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    struct pollfd p = {.fd = ep, .events = POLLIN};
    ck_assert_int_eq(us_poll(t->st, &p, 1, 0), 0);
    h_inject_udp(t, 4000, 7001, "x", 1);
    ustack_wake_waiters(t->st);
    ck_assert_int_eq(us_poll(t->st, &p, 1, 0), 1); /* readable: an entry is ready */
    ck_assert_int_eq(us_close(t->st, ep), 0);
    ck_assert_int_eq(us_close(t->st, ep), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(us_close(t->st, a), 0);
    h_done(t);
}
END_TEST

/* ------------------------------------------------------------ TCP */

#define PORT 5001

struct tw {
    struct ustack_sim *sim;
    struct ustack *a, *b;
    int ep, got;
    struct epoll_event ev[4];
};

static int got_event(void *arg)
{
    struct tw *w = arg;
    w->got = us_epoll_wait(w->b, w->ep, w->ev, 4, 0);
    return w->got > 0;
}

START_TEST(connections_report_accept_data_rdhup_and_hangup)
{
    struct tw w = {0};
    w.sim = fx_sim_pair(5, USTACK_SEC(1), NULL, NULL, &w.a, &w.b);
    int l = us_socket(w.b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    ck_assert_int_eq(us_bind(w.b, l, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(w.b, l, 4), 0);
    w.ep = us_epoll_create(w.b, 0);
    add(w.b, w.ep, EPOLL_CTL_ADD, l, EPOLLIN, 100);

    int c = us_socket(w.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = ip4(10, 0, 0, 2)};
    ck_assert_int_eq(us_connect(w.a, c, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, got_event, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    ck_assert_int_eq(w.got, 1);
    ck_assert_uint_eq(w.ev[0].events, EPOLLIN);
    ck_assert_uint_eq(w.ev[0].data.u64, 100);
    int s = us_accept(w.b, l, NULL, NULL, SOCK_NONBLOCK);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(wait0(w.b, w.ep, w.ev, 4), 0); /* the accept queue is empty */

    /* Edge-triggered on the connection: EPOLLOUT once (registered writable). */
    add(w.b, w.ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 200);
    ck_assert_int_eq(wait0(w.b, w.ep, w.ev, 4), 1);
    ck_assert_uint_eq(w.ev[0].events, EPOLLOUT);
    ck_assert_int_eq(wait0(w.b, w.ep, w.ev, 4), 0);

    /* Data, then the peer's FIN: EPOLLIN, then EPOLLRDHUP with it. */
    ck_assert_int_eq(us_send(w.a, c, "hello", 5, 0), 5);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, got_event, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    ck_assert_uint_eq(w.ev[0].events & (EPOLLIN | EPOLLRDHUP), EPOLLIN);
    ck_assert_uint_eq(w.ev[0].data.u64, 200);
    ck_assert_int_eq(us_close(w.a, c), 0);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, got_event, &w, ustack_sim_now(w.sim) + USTACK_SEC(5)), 1);
    ck_assert_uint_eq(w.ev[0].events & (EPOLLIN | EPOLLRDHUP), EPOLLIN | EPOLLRDHUP);
    char buf[8];
    ck_assert_int_eq(us_recv(w.b, s, buf, sizeof buf, 0), 5);
    ck_assert_int_eq(us_recv(w.b, s, buf, sizeof buf, 0), 0);

    /* Our close too, then the last ACK: the connection is gone, EPOLLHUP. */
    add(w.b, w.ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLRDHUP, 300);
    ck_assert_int_eq(us_shutdown(w.b, s, SHUT_WR), 0);
    ck_assert_int_eq(ustack_sim_run_until(w.sim, NULL, NULL, ustack_sim_now(w.sim) + USTACK_SEC(1)), 0);
    ck_assert_int_eq(wait0(w.b, w.ep, w.ev, 4), 1);
    ck_assert_uint_eq(w.ev[0].events, EPOLLIN | EPOLLRDHUP | EPOLLHUP);
    ck_assert_uint_eq(w.ev[0].data.u64, 300);

    ck_assert_int_eq(us_close(w.b, w.ep), 0);
    struct ustack *stacks[2] = {w.a, w.b};
    fx_sim_release(w.sim, stacks, 2);
    ustack_sim_free(w.sim);
}
END_TEST

/* ------------------------------------------------------------ the runtime */

struct frame {
    uint8_t buf[128];
    size_t len;
};

static void input_fn(struct ustack *st, void *arg)
{
    struct frame *f = arg;
    ustack_input(st, f->buf, f->len);
}

static void datagram_to(struct ustack_rt *rt, uint16_t port)
{
    struct frame f;
    uint8_t udp[64], ip[96];
    size_t ul = forge_udp(udp, PEER_IP, OUR_IP, 4000, port, "!", 1);
    size_t il = forge_ip(ip, &(struct ipspec){.proto = 17}, udp, ul);
    f.len = forge_eth(f.buf, OUR_MAC, PEER_MAC, 0x0800, ip, il);
    ustack_rt_locked(rt, input_fn, &f);
}

struct waiter {
    struct ustack *st;
    int ep, n, err;
    struct epoll_event ev;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->n = us_epoll_wait(w->st, w->ep, &w->ev, 1, -1);
    w->err = w->n < 0 ? errno : 0;
    return NULL;
}

static void usage_fn(struct ustack *st, void *arg) { ustack_get_usage(st, arg); }

static bool blocked(struct ustack_rt *rt, size_t n)
{
    for (int i = 0; i < 10000; i++) {
        struct ustack_usage u;
        ustack_rt_locked(rt, usage_fn, &u);
        if (u.sock_waiters == n)
            return true;
        usleep(1000);
    }
    return false;
}

START_TEST(a_kernel_epoll_waits_on_a_pipe_and_the_stack_together)
{
    struct ustack_link *a, *wire;
    ck_assert_int_eq(ustack_link_mem_pair(&a, &wire), 0);
    struct ustack_config cfg;
    h_config(&cfg);
    cfg.arp_gratuitous = 0;
    struct ustack_rt *rt = ustack_rt_start(&cfg, a);
    ck_assert_ptr_nonnull(rt);
    struct ustack *st = ustack_rt_stack(rt);
    int s = udp_bound(st, 7001);
    int ep = us_epoll_create(st, 0);
    add(st, ep, EPOLL_CTL_ADD, s, EPOLLIN, 77);
    int kfd = us_epoll_fd(st, ep);
    ck_assert_int_ge(kfd, 0);
    ck_assert_int_eq(us_epoll_fd(st, ep), kfd); /* one per instance */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    int kep = epoll_create1(0);
    struct epoll_event kev = {.events = EPOLLIN, .data.fd = kfd};
    ck_assert_int_eq(epoll_ctl(kep, EPOLL_CTL_ADD, kfd, &kev), 0);
    kev.data.fd = pfd[0];
    ck_assert_int_eq(epoll_ctl(kep, EPOLL_CTL_ADD, pfd[0], &kev), 0);

    struct epoll_event out[4];
    ck_assert_int_eq(epoll_wait(kep, out, 4, 0), 0);
    /* The pipe alone. */
    ck_assert_int_eq(write(pfd[1], "p", 1), 1);
    ck_assert_int_eq(epoll_wait(kep, out, 4, 5000), 1);
    ck_assert_int_eq(out[0].data.fd, pfd[0]);
    char c;
    ck_assert_int_eq(read(pfd[0], &c, 1), 1);
    /* The stack alone: a datagram makes the instance's descriptor readable;
     * the instance then reports the socket, and once the datagram is read
     * the descriptor is quiet again. */
    datagram_to(rt, 7001);
    ck_assert_int_eq(epoll_wait(kep, out, 4, 5000), 1);
    ck_assert_int_eq(out[0].data.fd, kfd);
    struct epoll_event uev;
    ck_assert_int_eq(us_epoll_wait(st, ep, &uev, 1, 0), 1);
    ck_assert_uint_eq(uev.data.u64, 77);
    char buf[4];
    ck_assert_int_eq(us_recv(st, s, buf, sizeof buf, MSG_DONTWAIT), 1);
    ck_assert_int_eq(us_epoll_wait(st, ep, &uev, 1, 0), 0);
    ck_assert_int_eq(epoll_wait(kep, out, 4, 0), 0);
    /* Both at once. */
    datagram_to(rt, 7001);
    ck_assert_int_eq(write(pfd[1], "q", 1), 1);
    ck_assert_int_eq(epoll_wait(kep, out, 4, 5000), 2);
    ck_assert_int_eq(read(pfd[0], &c, 1), 1);
    ck_assert_int_eq(us_recv(st, s, buf, sizeof buf, MSG_DONTWAIT), 1);
    ck_assert_int_eq(us_epoll_wait(st, ep, &uev, 1, 0), 0);

    /* A thread blocked in us_epoll_wait wakes for its socket's datagram. */
    struct waiter w = {.st = st, .ep = ep};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
    ck_assert(blocked(rt, 1));
    datagram_to(rt, 7001);
    pthread_join(th, NULL);
    ck_assert_int_eq(w.n, 1);
    ck_assert_uint_eq(w.ev.data.u64, 77);
    ck_assert_int_eq(us_recv(st, s, buf, sizeof buf, MSG_DONTWAIT), 1);
    /* ... and with EBADF when the instance is closed under it. */
    w = (struct waiter){.st = st, .ep = ep};
    ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
    ck_assert(blocked(rt, 1));
    ck_assert_int_eq(us_close(st, ep), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(w.n, -1);
    ck_assert_int_eq(w.err, EBADF);

    ck_assert_int_eq(us_close(st, s), 0);
    close(kep);
    close(pfd[0]);
    close(pfd[1]);
    ustack_rt_stop(rt);
    ustack_link_close(a);
    ustack_link_close(wire);
}
END_TEST

Suite *suite_epoll(void)
{
    Suite *s = suite_create("epoll");
    TCase *tc = tcase_create("instance");
    h_tcase(tc);
    tcase_add_test(tc, level_triggered_reports_while_ready_in_turn);
    tcase_add_test(tc, edge_triggered_reports_each_change_once);
    tcase_add_test(tc, oneshot_reports_once_until_rearmed);
    tcase_add_test(tc, a_socket_closed_while_registered_leaves_the_instance);
    tcase_add_test(tc, errors_are_those_of_epoll);
    tcase_add_test(tc, connections_report_accept_data_rdhup_and_hangup);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("runtime");
    tcase_set_timeout(tr, 30);
    tcase_add_test(tr, a_kernel_epoll_waits_on_a_pipe_and_the_stack_together);
    suite_add_tcase(s, tr);
    return s;
}
