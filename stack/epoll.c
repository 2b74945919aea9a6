/*
 * epoll(7) for the stack's sockets (ustack/socket.h, us_epoll_*).
 *
 * An instance is an entry of the socket table (its number is unique among
 * the stack's descriptors, us_close frees it) holding its registrations and
 * a ready list. A registration is a wait entry on the watched socket's wait
 * list (sock.h): when that socket changes, ustack_wake_waiters() runs
 * ep_item_changed(), which puts the registration on the ready list (once)
 * and marks the instance changed, so that the threads blocked in
 * us_epoll_wait on it are woken in the same round. us_epoll_wait looks at
 * the ready list only: level-triggered entries that are still ready go back
 * to its tail, edge-triggered ones wait for the socket's next change,
 * one-shot ones are disarmed until EPOLL_CTL_MOD. An entry on the list that
 * is no longer ready (another thread read the data) is dropped there.
 *
 * The kernel descriptor of us_epoll_fd() comes from the runtime (env.fd_*);
 * the instance keeps it readable exactly while its ready list is not empty.
 */
#include <stdlib.h>
#include <string.h>
#include "sock.h"

#define EP_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLERR | EPOLLHUP)
#define EP_FLAGS (EPOLLET | EPOLLONESHOT)

struct ep_item {
    struct sock_wq_entry wq; /* on the watched socket's wait list */
    struct sock_epoll *ep;
    uint32_t events;         /* EP_EVENTS and EP_FLAGS as registered */
    epoll_data_t data;
    bool armed;              /* false after a one-shot report, until MOD */
    bool ready;              /* on the ready list */
    struct ep_item *rprev, *rnext;
    struct ep_item *iprev, *inext; /* every registration of the instance */
};

struct sock_epoll {
    struct sock *self;
    struct ep_item *rhead, *rtail; /* the ready list */
    struct ep_item *items;
    size_t nready;
    int kfd;                       /* the runtime's descriptor, or -1 */
    bool kfd_readable;
};

/* ------------------------------------------------------------ ready list */

static void ready_push(struct sock_epoll *ep, struct ep_item *it)
{
    it->rnext = NULL;
    it->rprev = ep->rtail;
    if (ep->rtail)
        ep->rtail->rnext = it;
    else
        ep->rhead = it;
    ep->rtail = it;
    it->ready = true;
    ep->nready++;
}

static void ready_remove(struct sock_epoll *ep, struct ep_item *it)
{
    if (!it->ready)
        return;
    if (it->rprev)
        it->rprev->rnext = it->rnext;
    else
        ep->rhead = it->rnext;
    if (it->rnext)
        it->rnext->rprev = it->rprev;
    else
        ep->rtail = it->rprev;
    it->rprev = it->rnext = NULL;
    it->ready = false;
    ep->nready--;
}

/* The kernel descriptor follows the ready list. */
static void kfd_update(struct ustack *st, struct sock_epoll *ep)
{
    bool want = ep->nready > 0;
    if (ep->kfd < 0 || want == ep->kfd_readable)
        return;
    ep->kfd_readable = want;
    st->env.fd_set(st->env.ctx, ep->kfd, want);
}

/* What the registration's socket reports now, of what it asked for. */
static uint32_t item_revents(const struct ep_item *it)
{
    if (!it->wq.s)
        return 0;
    short asked = (short)(it->events & EP_EVENTS);
    return (uint32_t)(unsigned short)sock_revents(it->wq.s, asked) & (it->events | EPOLLERR | EPOLLHUP);
}

/* ------------------------------------------------------------ registrations */

static void item_free(struct ustack *st, struct ep_item *it)
{
    struct sock_epoll *ep = it->ep;
    sock_wq_del(&it->wq);
    ready_remove(ep, it);
    if (it->iprev)
        it->iprev->inext = it->inext;
    else
        ep->items = it->inext;
    if (it->inext)
        it->inext->iprev = it->iprev;
    kfd_update(st, ep);
    free(it);
}

/* The watched socket changed (or was closed: then it->wq.s is NULL). */
static void ep_item_changed(struct ustack *st, struct sock_wq_entry *e)
{
    struct ep_item *it = e->arg;
    if (!e->s) {
        item_free(st, it);
        return;
    }
    if (!it->armed || it->ready)
        return;
    ready_push(it->ep, it);
    kfd_update(st, it->ep);
    sock_wakeup(st, it->ep->self);
}

/* The registration of fd's socket s in ep, or NULL. */
static struct ep_item *item_find(struct sock_epoll *ep, struct sock *s)
{
    for (struct sock_wq_entry *e = s->wq; e; e = e->next) {
        if (e->fn == ep_item_changed && ((struct ep_item *)e->arg)->ep == ep)
            return e->arg;
    }
    return NULL;
}

/* On the ready list exactly if armed and ready now. */
static void item_recheck(struct ustack *st, struct ep_item *it)
{
    bool r = it->armed && item_revents(it) != 0;
    if (r && !it->ready) {
        ready_push(it->ep, it);
        sock_wakeup(st, it->ep->self);
    } else if (!r) {
        ready_remove(it->ep, it);
    }
    kfd_update(st, it->ep);
}

void epoll_release(struct ustack *st, struct sock *s)
{
    struct sock_epoll *ep = s->ep;
    while (ep->items)
        item_free(st, ep->items);
    if (ep->kfd >= 0)
        st->env.fd_close(st->env.ctx, ep->kfd);
    free(ep);
    s->ep = NULL;
}

short epoll_revents(const struct sock *s, short events)
{
    return (events & POLLIN) && s->ep->nready ? POLLIN : 0;
}

/* ------------------------------------------------------------ the calls */

int us_epoll_create(struct ustack *st, int flags)
{
    api_lock(st);
    if (flags & ~EPOLL_CLOEXEC)
        API_RETURN(st, -EINVAL);
    struct sock_epoll *ep = calloc(1, sizeof *ep);
    if (!ep)
        API_RETURN(st, -ENOMEM);
    int err;
    struct sock *s = sock_alloc(st, 0, 0, false, &err);
    if (!s) {
        free(ep);
        API_RETURN(st, err);
    }
    ep->self = s;
    ep->kfd = -1;
    s->ep = ep;
    API_RETURN(st, s->num);
}

static struct sock_epoll *epoll_get(struct ustack *st, int epfd, int *err)
{
    struct sock *s = sock_get(st, epfd);
    *err = !s ? -EBADF : !s->ep ? -EINVAL : 0;
    return s ? s->ep : NULL;
}

int us_epoll_ctl(struct ustack *st, int epfd, int op, int fd, struct epoll_event *ev)
{
    api_lock(st);
    int err;
    struct sock_epoll *ep = epoll_get(st, epfd, &err);
    if (err)
        API_RETURN(st, err);
    struct sock *s = sock_get(st, fd);
    if (!s)
        API_RETURN(st, -EBADF);
    if (s->ep)
        API_RETURN(st, -EINVAL); /* the instance itself, or another one */
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
        API_RETURN(st, -EINVAL);
    if (op != EPOLL_CTL_DEL && !ev)
        API_RETURN(st, -EFAULT);
    if (op != EPOLL_CTL_DEL && (ev->events & ~(uint32_t)(EP_EVENTS | EP_FLAGS)))
        API_RETURN(st, -EINVAL);
    struct ep_item *it = item_find(ep, s);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it)
            API_RETURN(st, -EEXIST);
        it = calloc(1, sizeof *it);
        if (!it)
            API_RETURN(st, -ENOMEM);
        it->ep = ep;
        sock_wq_add(s, &it->wq, ep_item_changed, it);
        it->inext = ep->items;
        if (ep->items)
            ep->items->iprev = it;
        ep->items = it;
        break;
    case EPOLL_CTL_MOD:
        if (!it)
            API_RETURN(st, -ENOENT);
        break;
    default:
        if (!it)
            API_RETURN(st, -ENOENT);
        item_free(st, it);
        API_RETURN(st, 0);
    }
    it->events = ev->events;
    it->data = ev->data;
    it->armed = true;
    item_recheck(st, it); /* what is ready already is reported, as Linux */
    API_RETURN(st, 0);
}

/* Moves up to max ready entries into out. */
static int ep_collect(struct sock_epoll *ep, struct epoll_event *out, int max)
{
    int n = 0;
    /* Each entry is looked at once: those put back go behind the rest. */
    for (size_t k = ep->nready; k && n < max; k--) {
        struct ep_item *it = ep->rhead;
        ready_remove(ep, it);
        uint32_t r = item_revents(it);
        if (!r)
            continue; /* no longer ready: until the socket's next change */
        out[n].events = r;
        out[n].data = it->data;
        n++;
        if (it->events & EPOLLONESHOT)
            it->armed = false;
        else if (!(it->events & EPOLLET))
            ready_push(ep, it); /* level-triggered: again while ready */
    }
    return n;
}

int us_epoll_wait(struct ustack *st, int epfd, struct epoll_event *events, int maxevents, int timeout_ms)
{
    api_lock(st);
    int err;
    struct sock_epoll *ep = epoll_get(st, epfd, &err);
    if (err)
        API_RETURN(st, err);
    if (maxevents <= 0)
        API_RETURN(st, -EINVAL);
    if (!events)
        API_RETURN(st, -EFAULT);
    /* Changes made since the last round (by a stack without a runtime,
     * fed frames directly) reach the ready list first. */
    ustack_wake_waiters(st);
    struct sock *self = ep->self;
    uint32_t gen = self->gen;
    ustack_time_t deadline = timeout_ms < 0 ? USTACK_TIME_NEVER : api_now(st) + USTACK_MS(timeout_ms);
    int n;
    for (;;) {
        n = ep_collect(ep, events, maxevents);
        kfd_update(st, ep);
        if (n || timeout_ms == 0 || !st->have_env || !st->env.wait)
            break;
        if (deadline != USTACK_TIME_NEVER && api_now(st) >= deadline)
            break;
        struct sock_waiter w = {0};
        struct sock_wq_entry e;
        sock_waiter_link(self, &e, &w);
        api_sleep(st, &w, deadline);
        sock_wq_del(&e);
        if (!self->used || self->gen != gen)
            API_RETURN(st, -EBADF);
    }
    API_RETURN(st, n);
}

int us_epoll_fd(struct ustack *st, int epfd)
{
    api_lock(st);
    int err;
    struct sock_epoll *ep = epoll_get(st, epfd, &err);
    if (err)
        API_RETURN(st, err);
    if (ep->kfd < 0) {
        if (!st->have_env || !st->env.fd_open || !st->env.fd_set || !st->env.fd_close)
            API_RETURN(st, -EOPNOTSUPP);
        int fd = st->env.fd_open(st->env.ctx);
        if (fd < 0)
            API_RETURN(st, fd);
        ep->kfd = fd;
        ep->kfd_readable = false;
        kfd_update(st, ep);
    }
    API_RETURN(st, ep->kfd);
}
