/*
 * The runtime loop: one thread per stack that feeds it frames from the link
 * and the monotonic clock, and sleeps in poll() on the link's fd and an eventfd
 * until the next deadline. It installs the env hooks (mutex, condvar, eventfd)
 * that let the socket API run and block from any thread.
 *
 * The lock is a plain (non-recursive) mutex: the core must not call env.lock
 * from ustack_input()/ustack_poll(), and a function run by ustack_rt_locked()
 * must not call the socket API (it takes the lock itself). Links whose fd() is
 * -1 are only read when the loop wakes for a deadline or a kick.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/eventfd.h>

#include <ustack/runtime.h>

#define RT_RX_BATCH 64                    /* frames per iteration, then release the lock */
#define RT_LINK_ERR_BACKOFF USTACK_MS(100) /* stop polling a failing link fd this long */
#define RT_TRIM_SLEEP_MS 50               /* a sleep this long (or endless) counts as idle */
#define RT_TRIM_INTERVAL USTACK_SEC(1)    /* memory handed back at most this often */

struct ustack_rt {
    struct ustack *st;
    struct ustack_link *link;
    pthread_mutex_t mu;
    pthread_condattr_t cattr; /* CLOCK_MONOTONIC, for each waiter's condvar */
    int efd;
    pthread_t thread;
    /* Under mu. */
    bool stop;
    bool halted;                  /* loop thread joined */
    ustack_time_t sleep_deadline; /* what the loop sleeps until, once unlocked */
    uint8_t buf[USTACK_FRAME_MAX];
};

static inline ustack_time_t tmin(ustack_time_t a, ustack_time_t b) { return a < b ? a : b; }

static void wake_loop(struct ustack_rt *rt)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: the loop will wake anyway. */
    ssize_t r = write(rt->efd, &one, sizeof one);
    (void)r;
}

/* Called with the lock held by a thread other than the loop: if the stack or
 * the link now needs the loop earlier than it planned to wake (a timer armed,
 * a frame held by a delaying link), wake it. */
static void maybe_wake_loop(struct ustack_rt *rt)
{
    ustack_time_t dl = tmin(ustack_next_deadline(rt->st), ustack_link_next_deadline(rt->link));
    if (dl < rt->sleep_deadline) {
        rt->sleep_deadline = dl;
        wake_loop(rt);
    }
}

/* ------------------------------------------------------------- env hooks */

static void env_lock(void *ctx) { pthread_mutex_lock(&((struct ustack_rt *)ctx)->mu); }

static void env_unlock(void *ctx)
{
    struct ustack_rt *rt = ctx;
    maybe_wake_loop(rt);
    pthread_mutex_unlock(&rt->mu);
}

/* A blocked thread sleeps on a condition variable of its own, which lives
 * on its stack for the length of the wait: env_wake() signals exactly that
 * thread. */
static void env_wait(void *ctx, struct ustack_waiter *w, ustack_time_t deadline)
{
    struct ustack_rt *rt = ctx;
    maybe_wake_loop(rt);
    pthread_cond_t cv;
    if (pthread_cond_init(&cv, &rt->cattr) != 0)
        return; /* a spurious wake-up: the caller re-checks and waits again */
    w->os = &cv;
    uint64_t sec = deadline / 1000000u;
    if (deadline == USTACK_TIME_NEVER || (sizeof(time_t) < 8 && sec > (uint64_t)INT32_MAX) ||
        sec > (uint64_t)INT64_MAX) {
        pthread_cond_wait(&cv, &rt->mu);
    } else {
        struct timespec ts = {.tv_sec = (time_t)sec, .tv_nsec = (long)(deadline % 1000000u) * 1000L};
        pthread_cond_timedwait(&cv, &rt->mu, &ts);
    }
    w->os = NULL;
    pthread_cond_destroy(&cv);
}

static void env_wake(void *ctx, struct ustack_waiter *w)
{
    (void)ctx;
    if (w->os)
        pthread_cond_signal(w->os);
}

static void env_kick(void *ctx) { wake_loop(ctx); }

/* us_epoll_fd: an eventfd, readable while its counter is not zero. */
static int env_fd_open(void *ctx)
{
    (void)ctx;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static void env_fd_set(void *ctx, int fd, int readable)
{
    (void)ctx;
    uint64_t v = 1;
    ssize_t r = readable ? write(fd, &v, sizeof v) : read(fd, &v, sizeof v);
    (void)r; /* a read of a zero counter fails with EAGAIN: already clear */
}

static void env_fd_close(void *ctx, int fd)
{
    (void)ctx;
    close(fd);
}

static ustack_time_t env_now(void *ctx)
{
    (void)ctx;
    return ustack_clock_now();
}

/* ------------------------------------------------------------- the loop */

static void drain_eventfd(int efd)
{
    uint64_t v;
    ssize_t r = read(efd, &v, sizeof v); /* non-blocking; one read resets the counter */
    (void)r;
}

static void *loop_main(void *arg)
{
    struct ustack_rt *rt = arg;
    ustack_time_t link_backoff_until = 0;
    ustack_time_t last_trim = 0;

    for (;;) {
        pthread_mutex_lock(&rt->mu);
        if (rt->stop) {
            pthread_mutex_unlock(&rt->mu);
            break;
        }
        ustack_time_t now = ustack_clock_now();
        ustack_poll(rt->st, now);
        ustack_link_poll(rt->link, now);

        int got = 0;
        bool link_err = false;
        while (got < RT_RX_BATCH) {
            /* Time of arrival, not of the batch: RTT samples stay honest and
             * a capture's timestamps never run backwards. */
            now = ustack_clock_now();
            int n = ustack_link_recv(rt->link, now, rt->buf, sizeof rt->buf);
            if (n <= 0) {
                if (n < 0 && n != -EAGAIN && n != -EINTR)
                    link_err = true;
                break;
            }
            ustack_poll(rt->st, now);
            ustack_input(rt->st, rt->buf, (size_t)n);
            got++;
        }
        bool more = got == RT_RX_BATCH;
        if (link_err)
            link_backoff_until = now + RT_LINK_ERR_BACKOFF;
        bool link_backoff = now < link_backoff_until;

        /* The threads waiting on sockets that changed, each once. */
        ustack_wake_waiters(rt->st);

        ustack_time_t dl = tmin(ustack_next_deadline(rt->st), ustack_link_next_deadline(rt->link));
        if (link_backoff)
            dl = tmin(dl, link_backoff_until);
        if (more)
            dl = 0;
        rt->sleep_deadline = dl;
        pthread_mutex_unlock(&rt->mu);

        int timeout;
        if (dl == USTACK_TIME_NEVER) {
            timeout = -1;
        } else {
            ustack_time_t t = ustack_clock_now();
            if (dl <= t) {
                timeout = 0;
            } else {
                ustack_time_t us = dl - t;
                ustack_time_t ms = us / 1000u + (us % 1000u != 0);
                timeout = ms > (ustack_time_t)INT_MAX ? INT_MAX : (int)ms;
            }
        }

        /* Going idle: what closed connections and drained queues freed
         * goes back to the system (glibc keeps freed memory otherwise, so
         * a burst of 10 000 connections would leave its peak resident). */
        if (timeout < 0 || timeout >= RT_TRIM_SLEEP_MS) {
            ustack_time_t t = ustack_clock_now();
            if (t - last_trim >= RT_TRIM_INTERVAL) {
                malloc_trim(0);
                last_trim = t;
            } else {
                /* Too soon after the last one: wake when it is due, so
                 * that what was freed since is not kept for good by a
                 * loop that now sleeps without a deadline. One wake-up
                 * per idle spell at most: the next sleep trims. */
                ustack_time_t left = last_trim + RT_TRIM_INTERVAL - t;
                int ms = (int)(left / 1000u) + 1;
                if (timeout < 0 || timeout > ms)
                    timeout = ms;
            }
        }

        struct pollfd pfd[2];
        nfds_t nfds = 0;
        pfd[nfds++] = (struct pollfd){.fd = rt->efd, .events = POLLIN};
        /* The link is read by this thread only, so its fd is stable. */
        int lfd = link_backoff ? -1 : ustack_link_fd(rt->link);
        if (lfd >= 0)
            pfd[nfds++] = (struct pollfd){.fd = lfd, .events = POLLIN};

        int rc = poll(pfd, nfds, timeout);
        if (rc < 0)
            continue; /* EINTR (signals are blocked here, but be safe) */
        if (pfd[0].revents & POLLIN)
            drain_eventfd(rt->efd);
        if (nfds > 1 && (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)))
            link_backoff_until = ustack_clock_now() + RT_LINK_ERR_BACKOFF;
    }
    return NULL;
}

/* ------------------------------------------------------------- API */

struct ustack_rt *ustack_rt_start(const struct ustack_config *cfg, struct ustack_link *link)
{
    if (!cfg || !link) {
        errno = EINVAL;
        return NULL;
    }
    struct ustack_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->link = link;
    rt->efd = -1;
    int err;

    if ((err = pthread_condattr_init(&rt->cattr)) != 0)
        goto fail_free;
    if ((err = pthread_condattr_setclock(&rt->cattr, CLOCK_MONOTONIC)) != 0)
        goto fail_cond;
    if ((err = pthread_mutex_init(&rt->mu, NULL)) != 0)
        goto fail_cond;

    rt->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rt->efd < 0) {
        err = errno;
        goto fail_mutex;
    }

    errno = 0;
    rt->st = ustack_create(cfg, link);
    if (!rt->st) {
        err = errno ? errno : EINVAL;
        goto fail_efd;
    }

    /* Start the stack now (its announcement goes out first), before any
     * application thread can send through it. */
    ustack_poll(rt->st, ustack_clock_now());

    struct ustack_env env = {
        .ctx = rt,
        .lock = env_lock,
        .unlock = env_unlock,
        .wait = env_wait,
        .wake = env_wake,
        .kick = env_kick,
        .now = env_now,
        .fd_open = env_fd_open,
        .fd_set = env_fd_set,
        .fd_close = env_fd_close,
    };
    ustack_set_env(rt->st, &env);

    /* The loop thread takes no signals: they belong to the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&rt->thread, NULL, loop_main, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        goto fail_stack;
    return rt;

fail_stack:
    ustack_destroy(rt->st);
fail_efd:
    close(rt->efd);
fail_mutex:
    pthread_mutex_destroy(&rt->mu);
fail_cond:
    pthread_condattr_destroy(&rt->cattr);
fail_free:
    free(rt);
    errno = err;
    return NULL;
}

struct ustack *ustack_rt_stack(struct ustack_rt *rt) { return rt ? rt->st : NULL; }

void ustack_rt_halt(struct ustack_rt *rt)
{
    if (!rt || rt->halted)
        return;
    pthread_mutex_lock(&rt->mu);
    rt->stop = true;
    pthread_mutex_unlock(&rt->mu);
    wake_loop(rt);
    pthread_join(rt->thread, NULL);
    rt->halted = true;
}

void ustack_rt_stop(struct ustack_rt *rt)
{
    if (!rt)
        return;
    ustack_rt_halt(rt);

    ustack_destroy(rt->st);
    close(rt->efd);
    pthread_mutex_destroy(&rt->mu);
    pthread_condattr_destroy(&rt->cattr);
    free(rt);
}

void ustack_rt_locked(struct ustack_rt *rt, void (*fn)(struct ustack *st, void *arg), void *arg)
{
    if (!rt || !fn)
        return;
    pthread_mutex_lock(&rt->mu);
    fn(rt->st, arg);
    /* fn may have changed socket state or armed timers. */
    ustack_wake_waiters(rt->st);
    maybe_wake_loop(rt);
    pthread_mutex_unlock(&rt->mu);
}
