/*
 * ustackd's TCP services. Echo, discard and chargen run on one event loop
 * thread: poll(2) on the kernel descriptor of a ustack epoll instance
 * (us_epoll_fd) and on an eventfd that asks it to stop; every connection is
 * a small struct and non-blocking calls, idle ones are closed after
 * --idle-timeout. The HTTP server still has an acceptor thread and a thread
 * per connection (http.c, blocking calls), at most MAX_CONNS of them.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <ustack/socket.h>
#include "services.h"
#include "util.h"

#define SVC_ECHO 1u
#define SVC_DISCARD 2u
#define SVC_CHARGEN 4u
#define SVC_HTTP 8u
#define MAX_CONNS 1024 /* HTTP connection threads */
#define EV_BATCH 64

static const struct {
    const char *name;
    unsigned bit;
    uint16_t port;
} svc_table[] = {
    {"echo", SVC_ECHO, 7}, {"discard", SVC_DISCARD, 9}, {"chargen", SVC_CHARGEN, 19}, {"http", SVC_HTTP, 80},
};
#define NSVC (sizeof svc_table / sizeof svc_table[0])

struct conn {
    struct services *sv;
    int fd;
    unsigned kind;
    pthread_t thread;
    struct conn *next;
};

struct listener {
    struct services *sv;
    int fd;
    unsigned kind;
    pthread_t thread;
    bool running;
};

/* A connection of the event loop: echo's bytes not yet sent back wait in
 * pend; everything else is the socket's. On the loop's list in order of
 * last activity, oldest first, for the idle timeout. */
struct evconn {
    int fd;
    unsigned kind;
    struct listener *listener; /* set for a listening socket's entry */
    uint64_t chargen_off;
    uint8_t *pend;
    size_t pend_len, pend_off;
    uint32_t watching;
    uint64_t last_ms;
    struct evconn *prev, *next;
};

struct evloop {
    struct ustack *st;
    int ep, kfd, stop_fd;
    struct evconn lentry[NSVC]; /* the listeners' entries */
    unsigned nlentries;
    unsigned idle_ms;           /* 0: never */
    struct evconn *oldest, *newest;
    size_t nconns;
    pthread_t thread;
    bool running;
};

struct services {
    struct ustack *st;
    const char *http_root;
    struct evloop ev;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    bool stopping;
    unsigned nconns;
    struct conn *conns;
    struct listener listeners[NSVC];
    unsigned nlisteners;
};

int services_parse(const char *list, unsigned *mask)
{
    *mask = 0;
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            *mask |= SVC_ECHO | SVC_DISCARD | SVC_CHARGEN | SVC_HTTP;
            continue;
        }
        size_t i;
        for (i = 0; i < NSVC; i++)
            if (strcmp(tok, svc_table[i].name) == 0)
                break;
        if (i == NSVC)
            return -1;
        *mask |= svc_table[i].bit;
    }
    return *mask ? 0 : -1;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct services *sv = c->sv;
    /* The idle timeout: a keep-alive connection that sends no request, or
     * a peer that stops reading, for that long ends the connection (the
     * blocking calls give up with EAGAIN). */
    if (sv->ev.idle_ms) {
        struct timeval tv = {.tv_sec = (time_t)(sv->ev.idle_ms / 1000u)};
        us_setsockopt(sv->st, c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        us_setsockopt(sv->st, c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    http_serve(sv->st, c->fd, sv->http_root);
    pthread_mutex_lock(&sv->mu);
    /* Unlink; the socket is closed here unless services_stop took it. */
    for (struct conn **p = &sv->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->fd >= 0)
        us_close(sv->st, c->fd);
    sv->nconns--;
    pthread_cond_broadcast(&sv->idle);
    pthread_mutex_unlock(&sv->mu);
    free(c);
    return NULL;
}

static void *listener_main(void *arg)
{
    struct listener *l = arg;
    struct services *sv = l->sv;
    for (;;) {
        int fd = us_accept(sv->st, l->fd, NULL, NULL, 0);
        if (fd < 0) {
            if (errno == EBADF || errno == EINVAL)
                return NULL; /* listening socket closed: stopping */
            continue;
        }
        pthread_mutex_lock(&sv->mu);
        if (sv->stopping || sv->nconns >= MAX_CONNS) {
            pthread_mutex_unlock(&sv->mu);
            us_close(sv->st, fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&sv->mu);
            us_close(sv->st, fd);
            continue;
        }
        c->sv = sv;
        c->fd = fd;
        c->kind = l->kind;
        c->next = sv->conns;
        sv->conns = c;
        sv->nconns++;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&c->thread, &attr, conn_main, c) != 0) {
            sv->conns = c->next;
            sv->nconns--;
            us_close(sv->st, fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&sv->mu);
    }
}

/* ------------------------------------------------------------ the event loop */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ev_unlink(struct evloop *ev, struct evconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ev->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        ev->newest = c->prev;
    c->prev = c->next = NULL;
}

static void ev_touch(struct evloop *ev, struct evconn *c)
{
    c->last_ms = now_ms();
    if (ev->newest == c)
        return;
    if (c->prev || c->next || ev->oldest == c)
        ev_unlink(ev, c);
    c->prev = ev->newest;
    if (ev->newest)
        ev->newest->next = c;
    else
        ev->oldest = c;
    ev->newest = c;
}

/* Closing a socket takes it out of the epoll instance too. */
static void ev_close(struct evloop *ev, struct evconn *c)
{
    ev_unlink(ev, c);
    us_close(ev->st, c->fd);
    free(c->pend);
    free(c);
    ev->nconns--;
}

static int ev_watch(struct evloop *ev, struct evconn *c, uint32_t want)
{
    if (want == c->watching)
        return 0;
    struct epoll_event e = {.events = want, .data.ptr = c};
    int op = c->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    c->watching = want;
    return us_epoll_ctl(ev->st, ev->ep, op, c->fd, &e);
}

/* Sends echo's pending bytes. 0: all sent; 1: some wait for room; -1: the
 * connection failed. */
static int echo_flush(struct evloop *ev, struct evconn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t n = us_send(ev->st, c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->pend_off += (size_t)n;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    return 0;
}

/* Echo: what arrives goes back; while some of it waits for room, nothing
 * more is read (the peer's window closes, as with a blocking echo). */
static int serve_echo_ev(struct evloop *ev, struct evconn *c)
{
    uint8_t buf[16384];
    int r = echo_flush(ev, c);
    while (r == 0) {
        ssize_t n = us_recv(ev->st, c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return -1; /* the peer's EOF or an error: done (close is graceful) */
        if (n < 0)
            break;
        ssize_t k = us_send(ev->st, c->fd, buf, (size_t)n, MSG_DONTWAIT);
        if (k < 0 && errno != EAGAIN)
            return -1;
        size_t sent = k < 0 ? 0 : (size_t)k;
        if (sent < (size_t)n) {
            c->pend = malloc((size_t)n - sent);
            if (!c->pend)
                return -1;
            memcpy(c->pend, buf + sent, (size_t)n - sent);
            c->pend_len = (size_t)n - sent;
            r = 1;
        }
    }
    return ev_watch(ev, c, r ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
}

static int serve_discard_ev(struct evloop *ev, struct evconn *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = us_recv(ev->st, c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            return -1;
        if (n < 0)
            return 0;
    }
}

/* Chargen sends until the peer goes away (RFC 864). */
static int serve_chargen_ev(struct evloop *ev, struct evconn *c)
{
    uint8_t buf[16384];
    for (;;) {
        chargen_fill(buf, sizeof buf, c->chargen_off);
        ssize_t n = us_send(ev->st, c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->chargen_off += (uint64_t)n;
    }
}

static void ev_accept(struct evloop *ev, struct listener *l)
{
    for (;;) {
        int fd = us_accept(ev->st, l->fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or the table is full (counted by the stack) */
        struct evconn *c = calloc(1, sizeof *c);
        if (!c) {
            us_close(ev->st, fd);
            continue;
        }
        c->fd = fd;
        c->kind = l->kind;
        ev->nconns++;
        ev_touch(ev, c);
        int rc;
        if (c->kind == SVC_CHARGEN) {
            us_shutdown(ev->st, fd, SHUT_RD); /* what the peer sends is discarded */
            rc = ev_watch(ev, c, EPOLLOUT);
        } else {
            rc = ev_watch(ev, c, EPOLLIN | EPOLLRDHUP);
        }
        if (rc < 0)
            ev_close(ev, c);
    }
}

static void ev_handle(struct evloop *ev, struct evconn *c, uint32_t events)
{
    int rc;
    switch (c->kind) {
    case SVC_ECHO: rc = serve_echo_ev(ev, c); break;
    case SVC_DISCARD: rc = serve_discard_ev(ev, c); break;
    default: rc = serve_chargen_ev(ev, c); break;
    }
    /* Done, failed, or the connection is over (an error, a reset, both
     * directions closed): the socket goes. */
    if (rc < 0 || (events & (EPOLLERR | EPOLLHUP))) {
        ev_close(ev, c);
        return;
    }
    ev_touch(ev, c);
}

/* Closes the connections idle for idle_ms; returns the poll timeout until
 * the next one would be (-1: none). */
static int ev_idle_sweep(struct evloop *ev)
{
    if (!ev->idle_ms)
        return -1;
    uint64_t now = now_ms();
    while (ev->oldest && now - ev->oldest->last_ms >= ev->idle_ms)
        ev_close(ev, ev->oldest);
    if (!ev->oldest)
        return -1;
    uint64_t left = ev->oldest->last_ms + ev->idle_ms - now;
    return left > 60000 ? 60000 : (int)left + 1;
}

static void *ev_main(void *arg)
{
    struct evloop *ev = arg;
    struct epoll_event evs[EV_BATCH];
    for (;;) {
        struct pollfd pfd[2] = {{.fd = ev->kfd, .events = POLLIN}, {.fd = ev->stop_fd, .events = POLLIN}};
        int timeout = ev_idle_sweep(ev);
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents)
            break;
        int n = us_epoll_wait(ev->st, ev->ep, evs, EV_BATCH, 0);
        for (int i = 0; i < n; i++) {
            struct evconn *c = evs[i].data.ptr;
            if (c->listener)
                ev_accept(ev, c->listener);
            else
                ev_handle(ev, c, evs[i].events);
        }
    }
    while (ev->oldest)
        ev_close(ev, ev->oldest);
    return NULL;
}

struct services *services_start(struct ustack *st, const char *list, const char *http_root,
                                unsigned idle_timeout_s)
{
    unsigned mask;
    if (services_parse(list, &mask) < 0) {
        fprintf(stderr, "ustackd: --services wants a list of echo,discard,chargen,http (or all), not '%s'\n", list);
        return NULL;
    }
    struct services *sv = calloc(1, sizeof *sv);
    if (!sv)
        return NULL;
    sv->st = st;
    sv->http_root = http_root;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->idle, NULL);
    sv->ev.ep = sv->ev.kfd = sv->ev.stop_fd = -1;
    sv->ev.st = st;
    sv->ev.idle_ms = idle_timeout_s * 1000u;
    sv->ev.ep = us_epoll_create(st, 0);
    sv->ev.kfd = sv->ev.ep < 0 ? -1 : us_epoll_fd(st, sv->ev.ep);
    sv->ev.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (sv->ev.kfd < 0 || sv->ev.stop_fd < 0) {
        fprintf(stderr, "ustackd: services: event loop: %s\n", strerror(errno));
        services_stop(sv);
        return NULL;
    }
    for (size_t i = 0; i < NSVC; i++) {
        if (!(mask & svc_table[i].bit))
            continue;
        struct listener *l = &sv->listeners[sv->nlisteners];
        l->sv = sv;
        l->kind = svc_table[i].bit;
        l->fd = us_socket(st, AF_INET, SOCK_STREAM, 0);
        int on = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(svc_table[i].port)};
        if (l->fd < 0 || us_setsockopt(st, l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
            us_bind(st, l->fd, (struct sockaddr *)&sin, sizeof sin) < 0 || us_listen(st, l->fd, 128) < 0) {
            fprintf(stderr, "ustackd: %s service on port %u: %s\n", svc_table[i].name, svc_table[i].port,
                    strerror(errno));
            if (l->fd >= 0)
                us_close(st, l->fd);
            services_stop(sv);
            return NULL;
        }
        sv->nlisteners++;
        if (l->kind != SVC_HTTP) {
            /* The event loop's: accepted until EAGAIN when it is ready. */
            struct evconn *le = &sv->ev.lentry[sv->ev.nlentries++];
            le->fd = l->fd;
            le->listener = l;
            us_set_nonblocking(st, l->fd, 1);
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = le};
            if (us_epoll_ctl(st, sv->ev.ep, EPOLL_CTL_ADD, l->fd, &e) < 0) {
                fprintf(stderr, "ustackd: %s service: epoll: %s\n", svc_table[i].name, strerror(errno));
                services_stop(sv);
                return NULL;
            }
            continue;
        }
        if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
            services_stop(sv);
            return NULL;
        }
        l->running = true;
    }
    if (sv->ev.nlentries) {
        if (pthread_create(&sv->ev.thread, NULL, ev_main, &sv->ev) != 0) {
            services_stop(sv);
            return NULL;
        }
        sv->ev.running = true;
    }
    return sv;
}

void services_stop(struct services *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    sv->stopping = true;
    pthread_mutex_unlock(&sv->mu);
    /* The event loop first: it closes its connections on the way out. */
    if (sv->ev.running) {
        uint64_t one = 1;
        ssize_t r = write(sv->ev.stop_fd, &one, sizeof one);
        (void)r;
        pthread_join(sv->ev.thread, NULL);
    }
    if (sv->ev.stop_fd >= 0)
        close(sv->ev.stop_fd);
    if (sv->ev.ep >= 0)
        us_close(sv->st, sv->ev.ep);
    for (unsigned i = 0; i < sv->nlisteners; i++) {
        us_close(sv->st, sv->listeners[i].fd);
        if (sv->listeners[i].running)
            pthread_join(sv->listeners[i].thread, NULL);
    }
    /* Abort the connections still open: their threads wake with an error
     * and finish on their own. */
    pthread_mutex_lock(&sv->mu);
    for (struct conn *c = sv->conns; c; c = c->next) {
        us_close(sv->st, c->fd);
        c->fd = -1;
    }
    while (sv->nconns)
        pthread_cond_wait(&sv->idle, &sv->mu);
    pthread_mutex_unlock(&sv->mu);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->idle);
    free(sv);
}
