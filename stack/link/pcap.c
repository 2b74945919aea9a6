/*
 * pcap writer: wraps any link and records every frame sent (accepted by the
 * inner link) and every frame received (as the inner link returned it) in a
 * classic pcap file, flushed after each record so even a killed process leaves
 * a readable capture. On failure ustack_link_pcap_new() leaves `inner` open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/link.h>

#define PCAP_MAGIC 0xa1b2c3d4u /* microsecond timestamps, written in host order */
#define PCAP_SNAPLEN 65535u
#define LINKTYPE_ETHERNET 1u

struct pcap_link {
    struct ustack_link link; /* first: the link pointer is the pcap_link pointer */
    struct ustack_link *inner;
    FILE *fp;
    ustack_time_t offset;
    bool failed; /* a write failed: stop writing, keep passing frames */
};

static struct pcap_link *pcap_of(struct ustack_link *l) { return (struct pcap_link *)l; }

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void pcap_record(struct pcap_link *p, ustack_time_t now, const uint8_t *frame, size_t len)
{
    if (p->failed)
        return;
    ustack_time_t ts = now + p->offset;
    size_t incl = len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN;
    uint8_t hdr[16];
    put32(hdr, (uint32_t)(ts / 1000000u));
    put32(hdr + 4, (uint32_t)(ts % 1000000u));
    put32(hdr + 8, (uint32_t)incl);
    put32(hdr + 12, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
    if (fwrite(hdr, sizeof hdr, 1, p->fp) != 1 || (incl && fwrite(frame, incl, 1, p->fp) != 1) ||
        fflush(p->fp) != 0)
        p->failed = true;
}

static int pcap_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct pcap_link *p = pcap_of(l);
    int rc = ustack_link_send(p->inner, now, frame, len);
    if (rc == 0) {
        l->tx_frames++;
        l->tx_bytes += len;
        pcap_record(p, now, frame, len);
    }
    return rc;
}

static int pcap_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    struct pcap_link *p = pcap_of(l);
    int n = ustack_link_recv(p->inner, now, buf, cap);
    if (n > 0) {
        l->rx_frames++;
        l->rx_bytes += (uint64_t)n;
        pcap_record(p, now, buf, (size_t)n);
    }
    return n;
}

static ustack_time_t pcap_next_deadline(struct ustack_link *l)
{
    return ustack_link_next_deadline(pcap_of(l)->inner);
}

static void pcap_poll(struct ustack_link *l, ustack_time_t now) { ustack_link_poll(pcap_of(l)->inner, now); }

static int pcap_fd(struct ustack_link *l) { return ustack_link_fd(pcap_of(l)->inner); }

static void pcap_close(struct ustack_link *l)
{
    struct pcap_link *p = pcap_of(l);
    fclose(p->fp);
    ustack_link_close(p->inner);
    free(p);
}

static const struct ustack_link_ops pcap_ops = {
    .send = pcap_send,
    .recv = pcap_recv,
    .next_deadline = pcap_next_deadline,
    .poll = pcap_poll,
    .fd = pcap_fd,
    .close = pcap_close,
};

struct ustack_link *ustack_link_pcap_new(struct ustack_link *inner, const char *path, ustack_time_t time_offset_us)
{
    if (!inner || !path) {
        errno = EINVAL;
        return NULL;
    }
    struct pcap_link *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    p->fp = fdopen(fd, "wb");
    if (!p->fp) {
        int e = errno;
        close(fd);
        errno = e;
        goto fail;
    }

    uint8_t hdr[24];
    put32(hdr, PCAP_MAGIC);
    put16(hdr + 4, 2);  /* version 2.4 */
    put16(hdr + 6, 4);
    put32(hdr + 8, 0);  /* thiszone: timestamps are UTC */
    put32(hdr + 12, 0); /* sigfigs */
    put32(hdr + 16, PCAP_SNAPLEN);
    put32(hdr + 20, LINKTYPE_ETHERNET);
    errno = 0;
    if (fwrite(hdr, sizeof hdr, 1, p->fp) != 1 || fflush(p->fp) != 0) {
        int e = errno ? errno : EIO;
        fclose(p->fp);
        errno = e;
        goto fail;
    }

    p->inner = inner;
    p->offset = time_offset_us;
    p->link.ops = &pcap_ops;
    p->link.name = "pcap";
    return &p->link;

fail:;
    int e = errno;
    free(p);
    errno = e;
    return NULL;
}
