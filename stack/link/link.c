/*
 * Link wrappers: the ustack_link_* helpers every caller goes through instead of
 * calling ops directly, so that links may leave optional ops NULL
 * (next_deadline -> NEVER, poll -> nothing, fd -> -1, close -> nothing).
 */
#include <errno.h>
#include <stddef.h>

#include <ustack/link.h>

int ustack_link_send(struct ustack_link *l, ustack_time_t now, const uint8_t *f, size_t len)
{
    if (!l || !l->ops || !l->ops->send)
        return -ENOSYS;
    return l->ops->send(l, now, f, len);
}

int ustack_link_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    if (!l || !l->ops || !l->ops->recv)
        return 0;
    return l->ops->recv(l, now, buf, cap);
}

ustack_time_t ustack_link_next_deadline(struct ustack_link *l)
{
    if (!l || !l->ops || !l->ops->next_deadline)
        return USTACK_TIME_NEVER;
    return l->ops->next_deadline(l);
}

void ustack_link_poll(struct ustack_link *l, ustack_time_t now)
{
    if (l && l->ops && l->ops->poll)
        l->ops->poll(l, now);
}

int ustack_link_fd(struct ustack_link *l)
{
    if (!l || !l->ops || !l->ops->fd)
        return -1;
    return l->ops->fd(l);
}

void ustack_link_close(struct ustack_link *l)
{
    if (l && l->ops && l->ops->close)
        l->ops->close(l);
}
