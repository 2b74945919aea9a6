/*
 * In-memory hub: a shared Ethernet segment inside one process. Each port is a
 * link; a frame sent on a port is copied, in send order, into the bounded
 * receive queue of every other port (a full queue drops the copy and counts it).
 *
 * Lifetime rule: the hub lives as long as it has open ports and is freed when
 * its last port is closed; after that the hub pointer is dangling and no more
 * ports may be taken. (A hub that never got a port is never freed, so take a
 * port right after ustack_mem_hub_new().) A hub and its ports are not
 * thread-safe: use them from one thread, or under one lock. fd() is -1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>

#define MEM_DEFAULT_QUEUE 1024u /* queue_frames == 0 selects this */
#define MEM_PAIR_QUEUE 4096u

struct mem_frame {
    struct mem_frame *next;
    size_t len;
    uint8_t data[];
};

struct mem_port {
    struct ustack_link link; /* first: the link pointer is the port pointer */
    struct ustack_mem_hub *hub;
    struct mem_port *prev, *next; /* the hub's ports, in creation order */
    struct mem_frame *head, *tail;
    unsigned count;
    char name[24];
};

struct ustack_mem_hub {
    unsigned queue_frames;
    struct mem_port *first, *last;
    unsigned nports;
    unsigned next_id;
    uint64_t drops;
};

static struct mem_port *port_of(struct ustack_link *l) { return (struct mem_port *)l; }

static int mem_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct mem_port *self = port_of(l);
    struct ustack_mem_hub *hub = self->hub;
    (void)now;
    if (len > 0 && !frame)
        return -EINVAL;

    for (struct mem_port *p = hub->first; p; p = p->next) {
        if (p == self)
            continue;
        if (p->count >= hub->queue_frames) {
            hub->drops++;
            continue;
        }
        struct mem_frame *f = malloc(sizeof *f + len);
        if (!f) {
            hub->drops++;
            continue;
        }
        f->next = NULL;
        f->len = len;
        if (len)
            memcpy(f->data, frame, len);
        if (p->tail)
            p->tail->next = f;
        else
            p->head = f;
        p->tail = f;
        p->count++;
    }
    l->tx_frames++;
    l->tx_bytes += len;
    return 0;
}

static int mem_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    struct mem_port *p = port_of(l);
    (void)now;
    struct mem_frame *f = p->head;
    if (!f)
        return 0;
    p->head = f->next;
    if (!p->head)
        p->tail = NULL;
    p->count--;

    size_t n = f->len < cap ? f->len : cap;
    if (n > USTACK_FRAME_MAX)
        n = USTACK_FRAME_MAX; /* keeps the result within an int */
    if (n)
        memcpy(buf, f->data, n);
    free(f);
    l->rx_frames++;
    l->rx_bytes += n;
    return (int)n;
}

static void mem_close(struct ustack_link *l)
{
    struct mem_port *p = port_of(l);
    struct ustack_mem_hub *hub = p->hub;

    while (p->head) {
        struct mem_frame *f = p->head;
        p->head = f->next;
        free(f);
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        hub->first = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        hub->last = p->prev;
    hub->nports--;
    free(p);

    if (hub->nports == 0)
        free(hub);
}

static const struct ustack_link_ops mem_ops = {
    .send = mem_send,
    .recv = mem_recv,
    .next_deadline = NULL,
    .poll = NULL,
    .fd = NULL,
    .close = mem_close,
};

struct ustack_mem_hub *ustack_mem_hub_new(unsigned queue_frames)
{
    struct ustack_mem_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->queue_frames = queue_frames ? queue_frames : MEM_DEFAULT_QUEUE;
    return hub;
}

struct ustack_link *ustack_mem_hub_port(struct ustack_mem_hub *hub)
{
    if (!hub) {
        errno = EINVAL;
        return NULL;
    }
    struct mem_port *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->hub = hub;
    snprintf(p->name, sizeof p->name, "mem%u", hub->next_id++);
    p->link.ops = &mem_ops;
    p->link.name = p->name;

    p->prev = hub->last;
    if (hub->last)
        hub->last->next = p;
    else
        hub->first = p;
    hub->last = p;
    hub->nports++;
    return &p->link;
}

uint64_t ustack_mem_hub_drops(const struct ustack_mem_hub *hub) { return hub ? hub->drops : 0; }

int ustack_link_mem_pair(struct ustack_link **a, struct ustack_link **b)
{
    if (!a || !b) {
        errno = EINVAL;
        return -1;
    }
    struct ustack_mem_hub *hub = ustack_mem_hub_new(MEM_PAIR_QUEUE);
    if (!hub)
        return -1;
    struct ustack_link *pa = ustack_mem_hub_port(hub);
    if (!pa) {
        free(hub);
        return -1;
    }
    struct ustack_link *pb = ustack_mem_hub_port(hub);
    if (!pb) {
        ustack_link_close(pa); /* last port: frees the hub */
        return -1;
    }
    *a = pa;
    *b = pb;
    return 0;
}
