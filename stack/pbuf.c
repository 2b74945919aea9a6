/*
 * Packet buffers: one allocation holding the bytes of a packet with headroom
 * in front, so each layer on the way out prepends its header in place. The
 * stack counts live buffers and their bytes: tests assert that nothing
 * leaked, and cfg.mem_max bounds the bytes (an allocation beyond it fails,
 * and every caller treats that as it treats malloc failing: the work is
 * refused, the packet lost, a send gets ENOBUFS).
 */
#include <stdlib.h>
#include "internal.h"

/* The memory a buffer of cap bytes is charged: what malloc is asked for. */
static size_t pbuf_mem(size_t cap) { return sizeof(struct pbuf) + cap; }

struct pbuf *pbuf_alloc(struct ustack *st, size_t headroom, size_t len)
{
    if (len > USTACK_FRAME_MAX * 2) {
        COUNT(st, pbuf_alloc_failed);
        return NULL;
    }
    size_t mem = pbuf_mem(headroom + len);
    if (st->cfg.mem_max && st->pbuf_bytes + mem > st->cfg.mem_max) {
        COUNT(st, pbuf_drop_mem_limit);
        COUNT(st, pbuf_alloc_failed);
        return NULL;
    }
    struct pbuf *pb = malloc(mem);
    if (!pb) {
        COUNT(st, pbuf_alloc_failed);
        return NULL;
    }
    pb->next = NULL;
    pb->cap = headroom + len;
    pb->data = pb->buf + headroom;
    pb->len = len;
    pb->owner_sock = -1;
    pb->owner_gen = 0;
    pb->looped = false;
    pb->link_bcast = false;
    pb->src_addr = pb->dst_addr = 0;
    pb->src_port = 0;
    st->pbufs_live++;
    st->pbuf_bytes += mem;
    return pb;
}

void pbuf_free(struct ustack *st, struct pbuf *pb)
{
    if (!pb)
        return;
    st->pbufs_live--;
    st->pbuf_bytes -= pbuf_mem(pb->cap);
    free(pb);
}

size_t pbuf_headroom(const struct pbuf *pb)
{
    return (size_t)(pb->data - pb->buf);
}

uint8_t *pbuf_push(struct pbuf *pb, size_t n)
{
    if (pbuf_headroom(pb) < n)
        return NULL;
    pb->data -= n;
    pb->len += n;
    return pb->data;
}

uint8_t *pbuf_pull(struct pbuf *pb, size_t n)
{
    if (pb->len < n)
        return NULL;
    pb->data += n;
    pb->len -= n;
    return pb->data;
}

void pbuf_queue_push(struct pbuf_queue *q, struct pbuf *pb)
{
    pb->next = NULL;
    if (q->tail)
        q->tail->next = pb;
    else
        q->head = pb;
    q->tail = pb;
    q->count++;
    q->bytes += pb->len;
}

struct pbuf *pbuf_queue_pop(struct pbuf_queue *q)
{
    struct pbuf *pb = q->head;
    if (!pb)
        return NULL;
    q->head = pb->next;
    if (!q->head)
        q->tail = NULL;
    pb->next = NULL;
    q->count--;
    q->bytes -= pb->len;
    return pb;
}

void pbuf_queue_free(struct ustack *st, struct pbuf_queue *q)
{
    struct pbuf *pb;
    while ((pb = pbuf_queue_pop(q)))
        pbuf_free(st, pb);
}
