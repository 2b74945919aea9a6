/*
 * Packet buffers: one allocation holding the bytes of a packet with headroom
 * in front, so each layer on the way out prepends its header in place. The
 * stack counts live buffers so tests can assert that nothing leaked.
 */
#include <stdlib.h>
#include "internal.h"

struct pbuf *pbuf_alloc(struct ustack *st, size_t headroom, size_t len)
{
    if (len > USTACK_FRAME_MAX * 2) {
        COUNT(st, pbuf_alloc_failed);
        return NULL;
    }
    struct pbuf *pb = malloc(sizeof *pb + headroom + len);
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
    return pb;
}

void pbuf_free(struct ustack *st, struct pbuf *pb)
{
    if (!pb)
        return;
    st->pbufs_live--;
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
