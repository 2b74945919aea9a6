/*
 * Links: where frames enter and leave a stack. A link sends a frame and hands
 * out received frames when asked; it is given the current time on every call so
 * that links that hold frames (delay, reorder) need no clock of their own.
 *
 * Links stack like middleware: a pcap writer or a fault injector wraps any
 * other link. Implementations: TAP device, in-memory hub (two or more stacks in
 * one process), fault injector, pcap writer.
 */
#ifndef USTACK_LINK_H
#define USTACK_LINK_H

#include <stdint.h>
#include <stddef.h>
#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USTACK_FRAME_MAX 65536 /* larger than any frame a link will hand out */

struct ustack_link;

struct ustack_link_ops {
    /* Transmits one frame (borrowed: copied if kept). Returns 0 or -errno. */
    int (*send)(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len);
    /* Copies the next received frame into buf. Returns its length, 0 if none
     * is ready, or -errno. A frame longer than cap is truncated to cap. */
    int (*recv)(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap);
    /* When the link next has something to do (held frames), or NEVER. */
    ustack_time_t (*next_deadline)(struct ustack_link *l);
    /* Releases frames that the link holds for output and that are due. */
    void (*poll)(struct ustack_link *l, ustack_time_t now);
    /* A file descriptor that becomes readable when recv() may return a frame,
     * or -1 (memory links). */
    int (*fd)(struct ustack_link *l);
    void (*close)(struct ustack_link *l);
};

struct ustack_link {
    const struct ustack_link_ops *ops;
    const char *name;
    /* Frames and bytes through this link, maintained by each implementation. */
    uint64_t tx_frames, rx_frames, tx_bytes, rx_bytes;
};

/* Convenience wrappers that tolerate missing optional ops. */
int ustack_link_send(struct ustack_link *l, ustack_time_t now, const uint8_t *f, size_t len);
int ustack_link_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap);
ustack_time_t ustack_link_next_deadline(struct ustack_link *l);
void ustack_link_poll(struct ustack_link *l, ustack_time_t now);
int ustack_link_fd(struct ustack_link *l);
void ustack_link_close(struct ustack_link *l);

/* --- TAP: attaches to an existing persistent TAP by name (IFF_TAP|IFF_NO_PI,
 * non-blocking). Returns NULL with errno set on failure. */
struct ustack_link *ustack_link_tap_open(const char *ifname);

/* --- In-memory hub: every frame sent on one port is delivered to every other
 * port (a shared Ethernet segment). Each port queues at most `queue_frames`
 * frames (excess dropped and counted in `drops`). A pair is a hub with two
 * ports. The hub is freed when its last port is closed. */
struct ustack_mem_hub;
struct ustack_mem_hub *ustack_mem_hub_new(unsigned queue_frames);
struct ustack_link *ustack_mem_hub_port(struct ustack_mem_hub *hub);
uint64_t ustack_mem_hub_drops(const struct ustack_mem_hub *hub);
/* Creates two connected ports. Returns 0 or -1. */
int ustack_link_mem_pair(struct ustack_link **a, struct ustack_link **b);

/* --- Fault injector: wraps `inner` (taking ownership: closing the injector
 * closes inner). Each direction has its own impairment; probabilities are in
 * [0, 1]. Randomness comes from a PRNG seeded with `seed`, one stream per
 * direction, so the same seed gives the same faults every run.
 *
 * A rate limit makes the direction a wire of `rate_bps` bits per second in
 * front of the delay: frames are sent one after another, each taking
 * len * 8 / rate_bps seconds (the frame as the link carries it, without
 * preamble or FCS), and wait their turn in a FIFO queue of at most
 * `queue_bytes` bytes (counting the frame on the wire); a frame that does not
 * fit is dropped at the tail and counted in `queue_dropped`. */
struct ustack_fault_dir {
    double drop;       /* probability a frame is dropped */
    double dup;        /* probability a frame is delivered twice */
    double reorder;    /* probability a frame is held back and sent after the next one */
    double corrupt;    /* probability one random bit of the frame is flipped */
    ustack_time_t delay_us;  /* fixed extra delay */
    ustack_time_t jitter_us; /* uniform extra delay in [0, jitter] */
    uint64_t rate_bps;       /* 0: no limit; else serialisation at this many bits/s */
    size_t queue_bytes;      /* with rate_bps: bytes the queue holds at most
                              * (0: no byte limit, only the held-frame limit) */
};
struct ustack_fault_config {
    struct ustack_fault_dir in;  /* frames towards the stack */
    struct ustack_fault_dir out; /* frames from the stack */
    uint64_t seed;
};
struct ustack_fault_stats {
    uint64_t dropped, duplicated, reordered, corrupted, delayed;
    uint64_t queue_dropped; /* tail drops of the rate limit's full queue (not in `dropped`) */
};
struct ustack_link *ustack_link_fault_new(struct ustack_link *inner, const struct ustack_fault_config *cfg);
void ustack_link_fault_stats(struct ustack_link *fault, int out, struct ustack_fault_stats *s);

/* --- pcap writer: wraps `inner` (taking ownership) and writes every frame
 * sent and received to `path` in classic pcap format (LINKTYPE_ETHERNET,
 * microsecond timestamps taken from `now` plus `time_offset_us`). Returns NULL
 * with errno set if the file cannot be created. */
struct ustack_link *ustack_link_pcap_new(struct ustack_link *inner, const char *path, ustack_time_t time_offset_us);

#ifdef __cplusplus
}
#endif
#endif
