/*
 * Timers: a binary min-heap of the armed timers, keyed by expiry. Every timer
 * in the stack (ARP retry and aging, reassembly timeout, TCP's
 * retransmission, persist, keepalive, delayed-ACK, RACK and TIME-WAIT timers) is a
 * `struct timer` embedded in its object; ustack_poll() runs the due ones and
 * ustack_next_deadline() reads the top of the heap.
 */
#include <errno.h>
#include <stdlib.h>
#include "internal.h"

void timer_init(struct timer *t, timer_fn fn)
{
    t->when = USTACK_TIME_NEVER;
    t->fn = fn;
    t->heap_index = TIMER_IDLE;
}

static void heap_set(struct timer_heap *h, size_t i, struct timer *t)
{
    h->items[i] = t;
    t->heap_index = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->when <= t->when)
            break;
        heap_set(h, i, h->items[parent]);
        i = parent;
    }
    heap_set(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        ustack_time_t mw = t->when;
        if (l < h->len && h->items[l]->when < mw) {
            m = l;
            mw = h->items[l]->when;
        }
        if (r < h->len && h->items[r]->when < mw)
            m = r;
        if (m == i)
            break;
        heap_set(h, i, h->items[m]);
        i = m;
    }
    heap_set(h, i, t);
}

static void heap_remove(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    h->len--;
    if (i != h->len) {
        struct timer *last = h->items[h->len];
        heap_set(h, i, last);
        if (last->when < t->when)
            sift_up(h, i);
        else
            sift_down(h, i);
    }
    t->heap_index = TIMER_IDLE;
}

int timer_arm(struct ustack *st, struct timer *t, ustack_time_t when)
{
    struct timer_heap *h = &st->timers;
    if (timer_armed(t)) {
        ustack_time_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(h, t->heap_index);
        else
            sift_down(h, t->heap_index);
        goto armed;
    }
    if (h->len == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        struct timer **n = realloc(h->items, ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        h->items = n;
        h->cap = ncap;
    }
    t->when = when;
    heap_set(h, h->len++, t);
    sift_up(h, t->heap_index);
armed:
    /* A new earliest deadline: a runtime sleeping on the old one must wake. */
    if (t->heap_index == 0 && st->have_env && st->env.kick)
        st->env.kick(st->env.ctx);
    return 0;
}

void timer_cancel(struct ustack *st, struct timer *t)
{
    if (timer_armed(t))
        heap_remove(&st->timers, t->heap_index);
}

void timer_run_due(struct ustack *st, ustack_time_t now)
{
    struct timer_heap *h = &st->timers;
    while (h->len && h->items[0]->when <= now) {
        struct timer *t = h->items[0];
        heap_remove(h, 0);
        t->fn(st, t);
    }
}

void timer_heap_free(struct timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
