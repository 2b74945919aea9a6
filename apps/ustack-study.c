/*
 * ustack-study: runs one named TCP scenario in the simulator and writes what
 * happened, for study: the event trace of both stacks (trace.jsonl), a
 * capture of each stack's frames (capture.pcap for the client, which sends
 * the data, capture-server.pcap for the server) and a short text summary
 * (summary.txt). tools/ustack-plot turns the trace into graphs; `make study
 * SCENARIO=NAME` does both.
 *
 * Two stacks, a client (10.0.0.1) and a server (10.0.0.2, port 5001), sit on
 * the simulator's in-memory Ethernet segment. This program is the application
 * of both, through the socket API in non-blocking mode, and drives the
 * virtual clock. Between each stack and the segment is a path link (below)
 * that models the network: a bottleneck rate, a propagation delay, and
 * scripted impairments (drop or delay exactly the segment that carries a given
 * byte of the stream, on its first transmissions). Random impairments come
 * from the simulator's seeded fault injector. Everything is a function of the
 * scenario and the seed: two runs with the same seed write the same files,
 * byte for byte.
 *
 * A group of scenarios ("sack-recovery": "sack-recovery/sack" and
 * "sack-recovery/newreno") runs the same transfer and impairment with TCP
 * configured differently; `ustack-study GROUP -o DIR` runs each part into
 * DIR/PART and compares them in DIR/summary.txt. A part that needs what the
 * build lacks (CUBIC before it is merged) ends the run with status 77.
 *
 * --tcp-features LIST and --tcp-cc NAME replace the scenario's TCP
 * configuration in both stacks (for every part of a group); --modern is
 * ustack's default, "--tcp-features default --tcp-cc cubic". The first
 * seven scenarios pin classic TCP (features "none", NewReno) so that their
 * walk-throughs show it; these options rerun them with the modern mechanisms
 * to compare.
 *
 *   ustack-study SCENARIO [--seed N] [-o DIR] [-q] [--modern | --tcp-features LIST] [--tcp-cc NAME]
 *   ustack-study --list
 *   ustack-study --parts GROUP
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/ustack.h>
#include "study_synflood.h"
#include "util.h"

#define PORT 5001
#define T_START USTACK_SEC(1) /* virtual time of the start; the pcap shows it as 1970-01-01 00:00:01 */
#define MTU 1500
#define MSS (MTU - 40)
#define SEG_TS (MSS - 12) /* data in a full segment when timestamps are on (their option takes 12 bytes) */
#define CLIENT_IP "10.0.0.1"
#define SERVER_IP "10.0.0.2"
#define MAX_RULES 8
#define CHUNK 65536
#define FRAME_BUDGET 200000u           /* frames both stacks may send: beyond, something loops */
#define TRANSFER_LIMIT USTACK_SEC(1200) /* virtual time for the transfer */
#define CLOSE_LIMIT USTACK_SEC(600)     /* and for the closing (TIME-WAIT is 60 s) */

/* ------------------------------------------------------------ scenarios */

enum rule_kind { RULE_DROP, RULE_HOLD, RULE_DELAY };

/* A scripted impairment on one node's outgoing path: the segment carrying
 * byte `off` of the data stream (0 is the first data byte; a FIN counts as the
 * byte after the last) is dropped, held back until `hold` later frames have
 * gone out, or delayed by `delay` on top of the path's delay (it takes a
 * longer way: frames sent after it overtake it), on its first `count`
 * transmissions. */
struct rule {
    enum rule_kind kind;
    uint64_t off;
    unsigned count;
    unsigned hold;
    ustack_time_t delay;
};

/* A scenario named "GROUP/PART" is one part of GROUP: `ustack-study GROUP`
 * runs every part, each into DIR/PART, to compare them (the same path with
 * and without SACK, with CUBIC and NewReno, ...). */
struct scenario {
    const char *name;
    const char *desc;
    /* TCP of both stacks: ustack_tcp_features_parse() list and congestion
     * control. NULL: "none" and "newreno", the TCP of RFC 9293 and RFC 5681
     * with NewReno recovery, no window scaling, timestamps or SACK, which
     * the first seven walk-throughs describe. */
    const char *features;
    const char *cc;
    uint64_t rate_bps;          /* the path, each way; 0: PATH_RATE_BPS */
    ustack_time_t delay;        /* one way; 0: PATH_DELAY_US */
    size_t c2s;                 /* bytes the client sends (the data) */
    size_t s2c;                 /* bytes the server answers once it has them all */
    double loss;                /* random loss per frame, each direction (fault injector) */
    int srv_rcvbuf;             /* SO_RCVBUF on the server (0: default); the stack doubles it as Linux */
    size_t read_burst;          /* slow reader: the server reads this much, then pauses */
    ustack_time_t read_pause;
    struct rule rules[MAX_RULES]; /* on the client's outgoing path */
    unsigned nrules;
};

/* The path both ways: 10 Mbit/s, 50 ms one way (RTT 100 ms), no queue limit.
 * The bandwidth-delay product (125 kB) exceeds the largest window without
 * window scaling (64 KiB), so the transfers are window-limited and each round
 * trip shows as one burst of segments in the time-sequence graph. */
#define PATH_RATE_BPS 10000000u
#define PATH_DELAY_US USTACK_MS(50)

#define KB(x) ((size_t)(x) * 1024u)

static const struct scenario scenarios[] = {
    {
        .name = "handshake",
        .desc = "three-way handshake, a 2000-byte request and a 200-byte answer, then the close:"
                " the client's FIN first, so the client goes through TIME-WAIT",
        .c2s = 2000,
        .s2c = 200,
    },
    {
        .name = "slow-start",
        .desc = "256 KiB from the client, no loss: slow start from an initial window of 10 segments,"
                " cwnd + 1 MSS per ACK, until the receive window (64 KiB) limits the sender",
        .c2s = KB(256),
    },
    {
        .name = "loss-fast-retransmit",
        .desc = "256 KiB; the data segment carrying byte 73000 (the 51st segment) is dropped once:"
                " the segments after it bring duplicate ACKs, the third triggers a fast retransmit"
                " and fast recovery (no RTO)",
        .c2s = KB(256),
        .rules = {{RULE_DROP, 50u * MSS, 1, 0, 0}},
        .nrules = 1,
    },
    {
        .name = "loss-rto",
        .desc = "100 segments (146000 bytes); the last three are dropped and so is the first"
                " retransmission of the first of them: no duplicate ACKs can come, the RTO fires,"
                " backs off (doubles) and fires again, then go-back-N resends the tail",
        .c2s = 100u * MSS,
        .rules = {{RULE_DROP, 100u * MSS - 1, 1, 0, 0},
                  {RULE_DROP, 99u * MSS - 1, 1, 0, 0},
                  {RULE_DROP, 98u * MSS - 1, 2, 0, 0}},
        .nrules = 3,
    },
    {
        .name = "reorder",
        .desc = "256 KiB; the segment carrying byte 43800 arrives after the next 2 segments"
                " (fewer than 3 duplicate ACKs: nothing happens), the one carrying byte 175200 after"
                " the next 5 (enough duplicate ACKs for a fast retransmit, a spurious one)",
        .c2s = KB(256),
        .rules = {{RULE_HOLD, 30u * MSS, 1, 2, 0}, {RULE_HOLD, 120u * MSS, 1, 5, 0}},
        .nrules = 2,
    },
    {
        .name = "zero-window",
        .desc = "64 KiB to a slow reader with a 16 KiB receive buffer that reads 16 KiB every 4 s:"
                " the window closes, the sender probes it (persist timer, backing off),"
                " and the reader's window update reopens it",
        .c2s = KB(64),
        .srv_rcvbuf = 8192,
        .read_burst = KB(16),
        .read_pause = USTACK_SEC(4),
    },
    {
        .name = "lossy-5pct",
        .desc = "256 KiB with 5% random loss of frames in each direction (seeded):"
                " fast retransmits, RTOs with go-back-N, and their effect on cwnd",
        .c2s = KB(256),
        .loss = 0.05,
    },
    /* Groups: the same transfer and impairment, TCP configured differently.
     * These use the default TCP (window scaling, timestamps: 1448 bytes of
     * data a segment) but for what each part switches off. */
    {
        .name = "sack-recovery/sack",
        .desc = "256 KiB with window scaling, timestamps and SACK (RACK and TLP off: RFC 6675's scoreboard"
                " finds the losses); 3 segments of one flight dropped, the 41st, 45th and 49th:"
                " SACK blocks show every hole, all three are resent within one round trip",
        .features = "default,-rack,-tlp,-byte-counting",
        .c2s = KB(256),
        .rules = {{RULE_DROP, 40u * SEG_TS, 1, 0, 0}, {RULE_DROP, 44u * SEG_TS, 1, 0, 0},
                  {RULE_DROP, 48u * SEG_TS, 1, 0, 0}},
        .nrules = 3,
    },
    {
        .name = "sack-recovery/newreno",
        .desc = "the same without SACK: NewReno (RFC 6582) learns of one hole per round trip, from a partial ACK",
        .features = "default,-rack,-tlp,-sack,-byte-counting",
        .c2s = KB(256),
        .rules = {{RULE_DROP, 40u * SEG_TS, 1, 0, 0}, {RULE_DROP, 44u * SEG_TS, 1, 0, 0},
                  {RULE_DROP, 48u * SEG_TS, 1, 0, 0}},
        .nrules = 3,
    },
    {
        .name = "rack-tlp/reorder",
        .desc = "512 KiB with the default TCP (SACK, RACK, TLP, D-SACK); the 31st segment arrives behind the"
                " next 2, the 81st and the 261st 40 ms late: RACK waits out the first (reordering window),"
                " resends the second needlessly (D-SACK, undo, the window doubles) and waits out the third",
        .features = "default,-byte-counting",
        .c2s = KB(512),
        .rules = {{RULE_HOLD, 30u * SEG_TS, 1, 2, 0}, {RULE_DELAY, 80u * SEG_TS, 1, 0, USTACK_MS(40)},
                  {RULE_DELAY, 260u * SEG_TS, 1, 0, USTACK_MS(40)}},
        .nrules = 3,
    },
    {
        .name = "rack-tlp/tail-tlp",
        .desc = "a 100-segment request, then the client waits for a 200-byte answer; RTT 40 ms, the default"
                " TCP without timestamps; the last two segments are dropped: a tail loss probe 2 SRTT after"
                " the last ACK resends the last, its SACK lets RACK find the other, no RTO",
        .features = "default,-timestamps,-byte-counting",
        .delay = USTACK_MS(20),
        .c2s = 100u * MSS,
        .s2c = 200,
        .rules = {{RULE_DROP, 100u * MSS - 1, 1, 0, 0}, {RULE_DROP, 99u * MSS - 1, 1, 0, 0}},
        .nrules = 2,
    },
    {
        .name = "rack-tlp/tail-rto",
        .desc = "the same with TLP off: nothing comes back until the RTO (at least 200 ms) fires",
        .features = "default,-timestamps,-tlp,-byte-counting",
        .delay = USTACK_MS(20),
        .c2s = 100u * MSS,
        .s2c = 200,
        .rules = {{RULE_DROP, 100u * MSS - 1, 1, 0, 0}, {RULE_DROP, 99u * MSS - 1, 1, 0, 0}},
        .nrules = 2,
    },
    {
        .name = "cubic-vs-newreno/cubic",
        .desc = "16 MiB with CUBIC (RFC 9438) on a 100 Mbit/s path, RTT 200 ms; one segment dropped in slow start:"
                " cwnd falls to 0.7 of itself and climbs back on the cubic curve",
        .features = "default",
        .cc = "cubic",
        .rate_bps = 100000000u,
        .delay = USTACK_MS(100),
        .c2s = KB(16384),
        .rules = {{RULE_DROP, 150u * SEG_TS, 1, 0, 0}},
        .nrules = 1,
    },
    {
        .name = "cubic-vs-newreno/newreno",
        .desc = "the same with NewReno (RFC 5681, 6582): cwnd halves and climbs back one segment per round trip",
        .features = "default,-byte-counting",
        .cc = "newreno",
        .rate_bps = 100000000u,
        .delay = USTACK_MS(100),
        .c2s = KB(16384),
        .rules = {{RULE_DROP, 150u * SEG_TS, 1, 0, 0}},
        .nrules = 1,
    },
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* ------------------------------------------------------------ the path link */

/* Wraps a node's link: frames the stack sends are serialised at the rate,
 * delayed by the propagation delay and subjected to the rules; frames it
 * receives pass through (the peer's path already delayed them). */
struct pframe {
    struct pframe *next;
    ustack_time_t due;
    size_t len;
    uint8_t data[];
};

struct path_log {
    ustack_time_t t;
    enum rule_kind kind;
    uint64_t off;    /* the segment's first byte, stream offset */
    uint32_t len;
    unsigned xmit;   /* which transmission of it */
    unsigned hold;
    ustack_time_t delay;
};

struct path {
    struct ustack_link link; /* first */
    struct ustack_link *inner;
    const char *node;
    uint64_t rate_bps;
    ustack_time_t delay;
    struct rule rules[MAX_RULES];
    unsigned seen[MAX_RULES];
    unsigned nrules;
    struct pframe *head, *tail;
    ustack_time_t wire_free; /* when the bottleneck has sent what it holds */
    bool have_isn;
    uint32_t isn;
    struct pframe *held;     /* a frame held back by a hold rule */
    unsigned held_left;      /* frames still to pass it */
    ustack_time_t held_until;
    struct path_log log[16];
    unsigned nlog;
    uint64_t dropped, held_frames, delayed_frames;
};

static struct path *path_of(struct ustack_link *l) { return (struct path *)l; }

static void path_flush(struct path *p, ustack_time_t now)
{
    while (p->head && p->head->due <= now) {
        struct pframe *f = p->head;
        p->head = f->next;
        if (!p->head)
            p->tail = NULL;
        ustack_link_send(p->inner, now, f->data, f->len);
        free(f);
    }
    if (p->held && p->held_until <= now) {
        /* Nothing followed it in time: release it on its own. */
        ustack_link_send(p->inner, now, p->held->data, p->held->len);
        free(p->held);
        p->held = NULL;
    }
}

/* Queues a frame in the order of its due time, after those due at the same
 * time (so in sending order but for a delayed one). */
static void path_append(struct path *p, struct pframe *f)
{
    f->next = NULL;
    if (!p->tail || p->tail->due <= f->due) {
        if (p->tail)
            p->tail->next = f;
        else
            p->head = f;
        p->tail = f;
        return;
    }
    struct pframe **pp = &p->head;
    while ((*pp)->due <= f->due)
        pp = &(*pp)->next;
    f->next = *pp;
    *pp = f;
}

/* The stream offset range of a TCP segment with data or a FIN in `frame`;
 * false for anything else. Learns the ISN from the node's SYN. */
static bool path_segment(struct path *p, const uint8_t *fr, size_t len, uint64_t *off, uint32_t *dlen)
{
    if (len < 14 + 20 || fr[12] != 0x08 || fr[13] != 0x00)
        return false;
    const uint8_t *ip = fr + 14;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t tot = (size_t)ip[2] << 8 | ip[3];
    if ((ip[0] >> 4) != 4 || ip[9] != 6 || ihl < 20 || tot > len - 14 || tot < ihl + 20)
        return false;
    const uint8_t *tcp = ip + ihl;
    uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    uint8_t flags = tcp[13];
    if (doff < 20 || ihl + doff > tot)
        return false;
    if (flags & 0x02) { /* SYN */
        p->have_isn = true;
        p->isn = seq;
        return false;
    }
    uint32_t data = (uint32_t)(tot - ihl - doff) + ((flags & 0x01) ? 1u : 0u);
    if (!p->have_isn || data == 0 || (flags & 0x04))
        return false;
    *off = (uint32_t)(seq - p->isn - 1u);
    *dlen = data;
    return true;
}

static void path_note(struct path *p, ustack_time_t now, const struct rule *r, uint64_t off, uint32_t len,
                      unsigned xmit)
{
    if (p->nlog < sizeof p->log / sizeof p->log[0])
        p->log[p->nlog++] = (struct path_log){now, r->kind, off, len, xmit, r->hold, r->delay};
}

static int path_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct path *p = path_of(l);
    path_flush(p, now);
    l->tx_frames++;
    l->tx_bytes += len;
    const struct rule *hold = NULL;
    ustack_time_t extra = 0;
    uint64_t off;
    uint32_t dlen;
    if (p->nrules && path_segment(p, frame, len, &off, &dlen)) {
        for (unsigned i = 0; i < p->nrules; i++) {
            const struct rule *r = &p->rules[i];
            if (r->off < off || r->off >= off + dlen)
                continue;
            unsigned xmit = ++p->seen[i];
            if (xmit > r->count)
                continue;
            path_note(p, now, r, off, dlen, xmit);
            if (r->kind == RULE_DROP) {
                p->dropped++;
                return 0; /* lost on the way, as on a wire: the stack sees success */
            }
            if (r->kind == RULE_DELAY)
                extra += r->delay;
            else if (!p->held)
                hold = r;
        }
    }
    struct pframe *f = malloc(sizeof *f + len);
    if (!f)
        return -ENOBUFS;
    memcpy(f->data, frame, len);
    f->len = len;
    /* Serialisation at the bottleneck (8 bits per byte of the frame, plus
     * the Ethernet preamble and gap: 20 bytes), then propagation. */
    ustack_time_t start = p->wire_free > now ? p->wire_free : now;
    ustack_time_t ser = p->rate_bps ? ((uint64_t)(len + 20) * 8u * 1000000u + p->rate_bps - 1) / p->rate_bps : 0;
    p->wire_free = start + ser;
    f->due = p->wire_free + p->delay + extra;
    if (extra)
        p->delayed_frames++;
    if (hold) {
        p->held = f;
        p->held_left = hold->hold;
        p->held_until = f->due + USTACK_MS(100);
        p->held_frames++;
        return 0;
    }
    path_append(p, f);
    if (p->held && --p->held_left == 0) {
        /* Released right behind the frame that overtook it last. */
        p->held->due = f->due;
        path_append(p, p->held);
        p->held = NULL;
    }
    path_flush(p, now);
    return 0;
}

static int path_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    int n = ustack_link_recv(path_of(l)->inner, now, buf, cap);
    if (n > 0) {
        l->rx_frames++;
        l->rx_bytes += (uint64_t)n;
    }
    return n;
}

static ustack_time_t path_next_deadline(struct ustack_link *l)
{
    struct path *p = path_of(l);
    ustack_time_t d = ustack_link_next_deadline(p->inner);
    if (p->head && p->head->due < d)
        d = p->head->due;
    if (p->held && p->held_until < d)
        d = p->held_until;
    return d;
}

static void path_poll(struct ustack_link *l, ustack_time_t now)
{
    struct path *p = path_of(l);
    path_flush(p, now);
    ustack_link_poll(p->inner, now);
}

static int path_fd(struct ustack_link *l)
{
    (void)l;
    return -1;
}

static void path_close(struct ustack_link *l)
{
    struct path *p = path_of(l);
    while (p->head) {
        struct pframe *f = p->head;
        p->head = f->next;
        free(f);
    }
    free(p->held);
    ustack_link_close(p->inner);
    /* The struct itself belongs to the run (its log goes in the summary). */
    p->inner = NULL;
}

static const struct ustack_link_ops path_ops = {
    .send = path_send,
    .recv = path_recv,
    .next_deadline = path_next_deadline,
    .poll = path_poll,
    .fd = path_fd,
    .close = path_close,
};

/* ustack_sim_node_opts.wrap: ctx is the struct path, prepared by the caller. */
static struct ustack_link *path_wrap(void *ctx, struct ustack_link *inner)
{
    struct path *p = ctx;
    p->link.ops = &path_ops;
    p->link.name = "path";
    p->inner = inner;
    return &p->link;
}

/* ------------------------------------------------------------ the trace */

enum { WHY_RTO, WHY_FAST, WHY_SACK, WHY_TLP, WHY_OTHER, NWHY };
static const char *const why_names[NWHY] = {"rto", "fast_retransmit", "sack", "tlp", "other"};

/* Loss detection and recovery events (tcp_recovery.c), counted for the summary. */
static const char *const rec_names[] = {"recovery_start", "partial_ack", "limited_transmit", "mark_lost", "sack_lost",
                                        "rack_lost", "dsack", "tlp", "tlp_recovery", "spurious_rto", "undo"};
#define NREC (sizeof rec_names / sizeof rec_names[0])

/* What one stack's trace said, for the summary. */
struct tstats {
    const char *node;
    uint64_t events, seg_out, seg_in, data_segs, data_bytes, rexmit[NWHY], rto_fired, max_backoff;
    uint64_t rec[NREC];
    uint64_t dupacks, persist, window_updates, zero_windows, challenge, drops, states, cwnd_events;
    uint64_t rtt_samples, rtt_min, rtt_max, srtt, rttvar, rto;
    int64_t cwnd, ssthresh, max_cwnd, min_ssthresh;
    ustack_time_t first, last;
};

struct tracer {
    FILE *f;
    struct tstats s;
};

static int64_t ev_int(const struct ustack_trace_event *ev, const char *key)
{
    for (unsigned i = 0; i < ev->nints; i++)
        if (!strcmp(ev->ints[i].key, key))
            return ev->ints[i].value;
    return 0;
}

static const char *ev_str(const struct ustack_trace_event *ev, const char *key)
{
    for (unsigned i = 0; i < ev->nstrs; i++)
        if (!strcmp(ev->strs[i].key, key))
            return ev->strs[i].value;
    return "";
}

static void on_trace(void *ctx, const struct ustack_trace_event *ev)
{
    struct tracer *tr = ctx;
    char line[1024];
    int n = ustack_trace_format_json(ev, line, sizeof line);
    if (n > 0)
        fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, tr->f);

    struct tstats *s = &tr->s;
    const char *name = ev->name;
    if (!s->events++)
        s->first = ev->time;
    s->last = ev->time;
    for (unsigned k = 0; k < NREC; k++)
        if (!strcmp(name, rec_names[k]))
            s->rec[k]++;
    if (!strcmp(name, "seg_out")) {
        s->seg_out++;
        int64_t len = ev_int(ev, "len");
        if (len > 0) {
            s->data_segs++;
            s->data_bytes += (uint64_t)len;
        }
    } else if (!strcmp(name, "seg_in")) {
        s->seg_in++;
    } else if (!strcmp(name, "retransmit")) {
        const char *why = ev_str(ev, "why");
        unsigned w = 0;
        while (w < WHY_OTHER && strcmp(why, why_names[w]))
            w++;
        s->rexmit[w]++;
    } else if (!strcmp(name, "rto_fired")) {
        s->rto_fired++;
        uint64_t b = (uint64_t)ev_int(ev, "backoff");
        if (b > s->max_backoff)
            s->max_backoff = b;
    } else if (!strcmp(name, "dupack")) {
        s->dupacks++;
    } else if (!strcmp(name, "persist_probe")) {
        s->persist++;
    } else if (!strcmp(name, "window_update")) {
        s->window_updates++;
    } else if (!strcmp(name, "peer_window")) {
        if (ev_int(ev, "wnd") == 0)
            s->zero_windows++;
    } else if (!strcmp(name, "challenge_ack")) {
        s->challenge++;
    } else if (!strcmp(name, "drop")) {
        s->drops++;
    } else if (!strcmp(name, "state")) {
        s->states++;
    } else if (!strcmp(name, "cwnd")) {
        s->cwnd_events++;
        s->cwnd = ev_int(ev, "cwnd");
        s->ssthresh = ev_int(ev, "ssthresh");
        if (s->cwnd > s->max_cwnd)
            s->max_cwnd = s->cwnd;
        if (s->ssthresh >= 0 && (s->min_ssthresh < 0 || s->ssthresh < s->min_ssthresh))
            s->min_ssthresh = s->ssthresh;
    } else if (!strcmp(name, "rtt")) {
        uint64_t r = (uint64_t)ev_int(ev, "sample");
        if (!s->rtt_samples++ || r < s->rtt_min)
            s->rtt_min = r;
        if (r > s->rtt_max)
            s->rtt_max = r;
        s->srtt = (uint64_t)ev_int(ev, "srtt");
        s->rttvar = (uint64_t)ev_int(ev, "rttvar");
        s->rto = (uint64_t)ev_int(ev, "rto");
    }
}

/* ------------------------------------------------------------ the run */

struct end {
    const char *name;
    struct ustack *st;
    int fd;
    bool client, connected, shut, closed, eof;
    size_t tx_total, tx_done, rx_total, rx_done;
    size_t burst_left;
    ustack_time_t resume_at;
    ustack_time_t t_rx_done, t_closed;
};

struct run {
    const struct scenario *sc;
    uint64_t seed;
    struct ustack_sim *sim;
    struct ustack *st[2]; /* client, server */
    struct path path[2];
    struct tracer tr[2];
    int listener;
    struct end e[2];
    bool failed, over;
    char why[512];
    const char *features_spec, *cc;
    char features_desc[160];
    bool ts_on;
    ustack_time_t wakeup, until, t_connect;
    unsigned cport; /* the client's ephemeral port */
    uint8_t buf[CHUNK];
};

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

/* The chargen stream repeats every 95 lines of 74 bytes: a copy of its
 * start one period longer than a chunk holds any chunk of it (filling a chunk
 * for every attempt to send would cost more than the whole simulation). */
#define CHARGEN_PERIOD (95u * 74u)
static uint8_t chargen_copy[CHUNK + CHARGEN_PERIOD];

static const uint8_t *chargen_at(uint64_t off)
{
    if (!chargen_copy[0])
        chargen_fill(chargen_copy, sizeof chargen_copy, 0);
    return chargen_copy + off % CHARGEN_PERIOD;
}

static void end_send(struct run *r, struct end *e)
{
    while (e->tx_done < e->tx_total) {
        size_t n = e->tx_total - e->tx_done;
        if (n > CHUNK)
            n = CHUNK;
        ssize_t w = us_send(e->st, e->fd, chargen_at(e->tx_done), n, 0);
        if (w < 0) {
            if (errno != EAGAIN)
                fail(r, "%s: send: %s", e->name, strerror(errno));
            return;
        }
        e->tx_done += (size_t)w;
    }
}

static void end_recv(struct run *r, struct end *e, ustack_time_t now)
{
    const struct scenario *sc = r->sc;
    bool slow = !e->client && sc->read_burst;
    while (!e->eof) {
        if (slow && e->burst_left == 0) {
            if (now < e->resume_at) {
                if (e->resume_at < r->wakeup)
                    r->wakeup = e->resume_at;
                return;
            }
            e->burst_left = sc->read_burst;
        }
        size_t want = sizeof r->buf;
        if (slow && want > e->burst_left)
            want = e->burst_left;
        ssize_t n = us_recv(e->st, e->fd, r->buf, want, 0);
        if (n < 0) {
            if (errno != EAGAIN)
                fail(r, "%s: recv: %s", e->name, strerror(errno));
            return;
        }
        if (n == 0) {
            if (e->rx_done != e->rx_total)
                fail(r, "%s: EOF after %zu of %zu bytes", e->name, e->rx_done, e->rx_total);
            e->eof = true;
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (e->rx_done + (size_t)i >= e->rx_total || r->buf[i] != chargen_byte(e->rx_done + (size_t)i)) {
                fail(r, "%s: byte %zu is wrong or beyond the %zu sent", e->name, e->rx_done + (size_t)i,
                     e->rx_total);
                return;
            }
        }
        e->rx_done += (size_t)n;
        if (e->rx_done == e->rx_total)
            e->t_rx_done = now;
        if (slow) {
            e->burst_left -= (size_t)n;
            if (e->burst_left == 0)
                e->resume_at = now + sc->read_pause;
        }
    }
}

static void end_close(struct run *r, struct end *e, ustack_time_t now)
{
    if (us_close(e->st, e->fd) != 0)
        fail(r, "%s: close: %s", e->name, strerror(errno));
    e->fd = -1;
    e->closed = true;
    e->t_closed = now;
}

/* One side's application: everything it can do now without blocking. The
 * client sends its data, reads the answer, then half-closes (its FIN goes
 * first) and closes at EOF; the server reads everything, answers, and
 * closes at EOF. */
static void end_pump(struct run *r, struct end *e, ustack_time_t now)
{
    if (e->closed || e->fd < 0)
        return;
    if (e->client && !e->connected) {
        struct pollfd p = {.fd = e->fd, .events = POLLOUT};
        if (us_poll(e->st, &p, 1, 0) <= 0)
            return;
        int err = -1;
        socklen_t len = sizeof err;
        if (us_getsockopt(e->st, e->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            fail(r, "%s: connect: %s", e->name, strerror(err < 0 ? errno : err));
            return;
        }
        e->connected = true;
    }
    if (e->client || e->rx_done == e->rx_total)
        end_send(r, e);
    end_recv(r, e, now);
    if (r->failed)
        return;
    if (e->client && !e->shut && e->tx_done == e->tx_total && e->rx_done == e->rx_total) {
        if (us_shutdown(e->st, e->fd, SHUT_WR) != 0) {
            fail(r, "%s: shutdown: %s", e->name, strerror(errno));
            return;
        }
        e->shut = true;
    }
    if (e->eof && e->tx_done == e->tx_total)
        end_close(r, e, now);
}

static int pump(void *arg)
{
    struct run *r = arg;
    ustack_time_t now = ustack_sim_now(r->sim);
    r->wakeup = USTACK_TIME_NEVER;
    if (r->path[0].link.tx_frames + r->path[1].link.tx_frames > FRAME_BUDGET) {
        fail(r, "more than %u frames sent: something loops", FRAME_BUDGET);
        r->over = true;
        return 1;
    }
    if (now - T_START > TRANSFER_LIMIT) {
        fail(r, "not done after %.0f s of virtual time", (double)TRANSFER_LIMIT / 1e6);
        r->over = true;
        return 1;
    }
    struct end *srv = &r->e[1];
    if (srv->fd < 0 && !srv->closed) {
        int fd = us_accept(r->st[1], r->listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd >= 0) {
            srv->fd = fd;
            srv->connected = true;
            us_close(r->st[1], r->listener); /* one connection per scenario */
            r->listener = -1;
        } else if (errno != EAGAIN) {
            fail(r, "server: accept: %s", strerror(errno));
        }
    }
    for (int i = 0; i < 2 && !r->failed; i++)
        end_pump(r, &r->e[i], now);
    r->over = r->failed || (r->e[0].closed && r->e[1].closed);
    return r->over || r->wakeup < r->until;
}

static int all_gone(void *arg)
{
    struct run *r = arg;
    struct ustack_usage u0, u1;
    ustack_get_usage(r->st[0], &u0);
    ustack_get_usage(r->st[1], &u1);
    return u0.tcp_connections == 0 && u1.tcp_connections == 0;
}


static double ms(uint64_t us) { return (double)us / 1000.0; }

static void print_path_log(FILE *f, const struct path *p)
{
    for (unsigned i = 0; i < p->nlog; i++) {
        const struct path_log *l = &p->log[i];
        fprintf(f, "  at %.3f s %s's segment of bytes %" PRIu64 "..%" PRIu64 " (transmission %u): %s", ms(l->t - T_START) / 1e3,
                p->node, l->off, l->off + l->len - 1, l->xmit,
                l->kind == RULE_DROP ? "dropped" : l->kind == RULE_HOLD ? "held back" : "delayed");
        if (l->kind == RULE_HOLD)
            fprintf(f, " behind the next %u frames", l->hold);
        if (l->kind == RULE_DELAY)
            fprintf(f, " by %.1f ms more than the others", ms(l->delay));
        fprintf(f, "\n");
    }
}

static void write_summary(FILE *f, const struct run *r)
{
    const struct scenario *sc = r->sc;
    const struct tstats *c = &r->tr[0].s, *s = &r->tr[1].s;
    const struct end *cl = &r->e[0], *sv = &r->e[1];
    fprintf(f, "scenario      %s (seed %" PRIu64 ")\n", sc->name, r->seed);
    fprintf(f, "what          %s\n", sc->desc);
    fprintf(f, "path          %" PRIu64 " Mbit/s and %.0f ms each way (RTT %.0f ms), MTU %u (MSS %u)",
            r->path[0].rate_bps / 1000000u, ms(r->path[0].delay), 2 * ms(r->path[0].delay), MTU, MSS);
    if (sc->loss > 0)
        fprintf(f, ", %.0f%% random loss each way", sc->loss * 100);
    fprintf(f, "\n");
    fprintf(f, "tcp           both stacks: features %s (%s), congestion control %s%s\n", r->features_desc,
            r->features_spec, r->cc,
            r->ts_on ? "; the timestamp option leaves 1448 bytes of data in a full segment" : "");
    fprintf(f, "hosts         client %s (the data sender), server %s:%u", CLIENT_IP, SERVER_IP, PORT);
    if (sc->srv_rcvbuf)
        fprintf(f, ", server receive buffer %d bytes", sc->srv_rcvbuf * 2);
    if (sc->read_burst)
        fprintf(f, ", server reads %zu bytes every %.0f ms", sc->read_burst, ms(sc->read_pause));
    fprintf(f, "\n");
    fprintf(f, "clock         virtual: the client connects at t = %" PRIu64 " us in the trace, %.6f s in the pcaps;"
               " times below and in the plots count from there\n",
            (uint64_t)r->t_connect, (double)r->t_connect / 1e6);
    fprintf(f, "result        %s\n", r->failed ? r->why : "ok: every byte arrived in order and both sides closed");
    fprintf(f, "bytes         client -> server %zu of %zu, server -> client %zu of %zu\n", sv->rx_done, sc->c2s,
            cl->rx_done, sc->s2c);
    ustack_time_t t_data = sv->t_rx_done > cl->t_rx_done ? sv->t_rx_done : cl->t_rx_done;
    if (t_data > r->t_connect) {
        double dur = (double)(t_data - r->t_connect) / 1e6;
        fprintf(f, "duration      %.3f s from connect to the last byte read (%.2f Mbit/s of data)\n", dur,
                (double)sc->c2s * 8 / dur / 1e6);
    }
    ustack_time_t t_closed = cl->t_closed > sv->t_closed ? cl->t_closed : sv->t_closed;
    if (t_closed > r->t_connect)
        fprintf(f, "closed        %.3f s after connect both sockets were closed; trace ends at %.3f s (TIME-WAIT over)\n",
                (double)(t_closed - r->t_connect) / 1e6, (double)(c->last - r->t_connect) / 1e6);
    for (int i = 0; i < 2; i++) {
        const struct tstats *t = i ? s : c;
        fprintf(f, "%-13s %" PRIu64 " segments sent (%" PRIu64 " with data, %" PRIu64 " data bytes), %" PRIu64 " received\n",
                i ? "server" : "client", t->seg_out, t->data_segs, t->data_bytes, t->seg_in);
    }
    uint64_t nc = 0, ns = 0;
    for (int w = 0; w < NWHY; w++)
        nc += c->rexmit[w], ns += s->rexmit[w];
    fprintf(f, "retransmits   %" PRIu64 " by the client (rto %" PRIu64 ", fast_retransmit %" PRIu64, nc, c->rexmit[WHY_RTO],
            c->rexmit[WHY_FAST]);
    for (int w = WHY_SACK; w < WHY_OTHER; w++) /* only where they can occur */
        if (c->rexmit[w])
            fprintf(f, ", %s %" PRIu64, why_names[w], c->rexmit[w]);
    fprintf(f, ", other %" PRIu64 "), %" PRIu64 " by the server\n", c->rexmit[WHY_OTHER], ns);
    bool any = false;
    for (unsigned k = 0; k < NREC; k++)
        if (c->rec[k]) {
            fprintf(f, "%s%s %" PRIu64, any ? ", " : "recovery      client events: ", rec_names[k], c->rec[k]);
            any = true;
        }
    if (any)
        fprintf(f, "\n");
    fprintf(f, "rto expiries  %" PRIu64 " (largest backoff %" PRIu64 ") at the client, %" PRIu64 " at the server\n",
            c->rto_fired, c->max_backoff, s->rto_fired);
    fprintf(f, "dupacks       %" PRIu64 " duplicate ACKs reached the client\n", c->dupacks);
    fprintf(f, "cwnd          final %" PRId64 " bytes (%.1f MSS), largest %" PRId64, c->cwnd, (double)c->cwnd / MSS,
            c->max_cwnd);
    if (c->ssthresh >= 0)
        fprintf(f, "; ssthresh final %" PRId64 " bytes, lowest %" PRId64 "\n", c->ssthresh, c->min_ssthresh);
    else
        fprintf(f, "; ssthresh never set (infinite)\n");
    if (c->rtt_samples)
        fprintf(f, "rtt           %" PRIu64 " samples from %.1f to %.1f ms; final srtt %.1f ms, rttvar %.1f ms, rto %.1f ms\n",
                c->rtt_samples, ms(c->rtt_min), ms(c->rtt_max), ms(c->srtt), ms(c->rttvar), ms(c->rto));
    fprintf(f, "windows       %" PRIu64 " zero windows seen by the client, %" PRIu64 " persist probes; %" PRIu64
               " window updates sent by the server\n",
            c->zero_windows, c->persist, s->window_updates);
    struct ustack_fault_stats fs[2][2];
    uint64_t fdrop = 0;
    for (unsigned n = 0; n < 2; n++)
        for (int d = 0; d < 2; d++) {
            memset(&fs[n][d], 0, sizeof fs[n][d]);
            if (ustack_sim_fault_link(r->sim, n))
                ustack_link_fault_stats(ustack_sim_fault_link(r->sim, n), d, &fs[n][d]);
            fdrop += fs[n][d].dropped;
        }
    uint64_t delayed = r->path[0].delayed_frames + r->path[1].delayed_frames;
    fprintf(f, "impairments   %" PRIu64 " frames dropped by the scripted rules, %" PRIu64 " held back",
            r->path[0].dropped + r->path[1].dropped, r->path[0].held_frames + r->path[1].held_frames);
    if (delayed)
        fprintf(f, ", %" PRIu64 " delayed", delayed);
    fprintf(f, "; %" PRIu64 " dropped at random (client's out %" PRIu64 ", server's out %" PRIu64 ")\n", fdrop,
            fs[0][1].dropped, fs[1][1].dropped);
    print_path_log(f, &r->path[0]);
    print_path_log(f, &r->path[1]);
    fprintf(f, "counters      client: tcp_retransmit_segs %" PRIu64 " tcp_fast_retransmit %" PRIu64 " tcp_rto_expired %" PRIu64
               " tcp_rx_dup_ack %" PRIu64 " tcp_persist_probes %" PRIu64 "\n",
            ustack_counter_get(r->st[0], "tcp_retransmit_segs"), ustack_counter_get(r->st[0], "tcp_fast_retransmit"),
            ustack_counter_get(r->st[0], "tcp_rto_expired"), ustack_counter_get(r->st[0], "tcp_rx_dup_ack"),
            ustack_counter_get(r->st[0], "tcp_persist_probes"));
    fprintf(f, "trace         trace.jsonl: %" PRIu64 " events, %" PRIu64 " of the client (conn %s:%u>%s:%u) and %" PRIu64
               " of the server (conn %s:%u>%s:%u)\n",
            c->events + s->events, c->events, CLIENT_IP, r->cport, SERVER_IP, PORT, s->events, SERVER_IP, PORT,
            CLIENT_IP, r->cport);
    fprintf(f, "captures      capture.pcap: the client's frames, %" PRIu64 " out and %" PRIu64
               " in; capture-server.pcap: the server's, %" PRIu64 " out and %" PRIu64 " in\n",
            r->path[0].link.tx_frames, r->path[0].link.rx_frames, r->path[1].link.tx_frames,
            r->path[1].link.rx_frames);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ustack-study SCENARIO [--seed N] [-o DIR] [-q] [--modern | --tcp-features LIST] [--tcp-cc NAME]\n"
               "       ustack-study --list\n"
               "       ustack-study --parts GROUP\n"
               "Runs a TCP scenario between two simulated stacks and writes DIR/trace.jsonl (both\n"
               "stacks' TCP events), DIR/capture.pcap (the client's frames), DIR/capture-server.pcap\n"
               "and DIR/summary.txt. DIR defaults to build/study/SCENARIO; the seed to 1.\n"
               "A group (NAME/PART below) runs every part into DIR/PART and compares them in\n"
               "DIR/summary.txt; --parts GROUP lists its parts. Status 77: the build lacks what\n"
               "the scenario needs (a congestion control).\n"
               "--tcp-features LIST (as ustack_tcp_features_parse: \"default\", \"none\", \"default,-sack\", ...)\n"
               "and --tcp-cc NAME (newreno, cubic) replace the scenario's TCP in both stacks; --modern\n"
               "is ustack's default TCP, \"--tcp-features default --tcp-cc cubic\". The first seven\n"
               "scenarios run classic TCP (none, newreno) unless told otherwise.\n"
               "Scenarios:\n");
    for (size_t i = 0; i < NSCENARIOS; i++)
        fprintf(f, "  %-22s %s\n", scenarios[i].name, scenarios[i].desc);
    fprintf(f, "  %-22s %s\n", "syn-flood/cookies-off",
            "a server's port under a flood of spoofed SYNs (500 a second for 30 s) while a client connects"
            " once a second: the SYN queue fills and the client waits or fails");
    fprintf(f, "  %-22s %s\n", "syn-flood/cookies-on",
            "the same with SYN cookies (RFC 4987 3.6): the client connects in one round trip throughout"
            " (series.csv, connects.csv, capture-server.pcap; no trace)");
}

/* Length of the group part of a name ("sack-recovery" of "sack-recovery/sack"). */
static int group_len(const char *name)
{
    const char *slash = strchr(name, '/');
    return slash ? (int)(slash - name) : (int)strlen(name);
}

static bool same_group(const char *a, const char *b)
{
    return group_len(a) == group_len(b) && !strncmp(a, b, (size_t)group_len(a));
}

/* What the comparison of a group's parts shows. */
struct part_result {
    const char *name;
    bool ok;
    double duration, mbps;
    uint64_t rexmit, rto_fired, recoveries;
};

#define EXIT_UNAVAILABLE 77 /* a part needs what this build lacks (as automake's SKIP) */

static int run_scenario(const struct scenario *sc, uint64_t seed, const char *dir, bool quiet,
                        struct part_result *res);

/* --tcp-features, --tcp-cc (--modern): override every scenario's TCP. */
static const char *opt_features, *opt_cc;

int main(int argc, char **argv)
{
    const char *name = NULL, *dir = NULL;
    uint64_t seed = 1;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 0);
            if (errno || *end || !*argv[i]) {
                fprintf(stderr, "ustack-study: --seed wants a number, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(a, "-q")) {
            quiet = true;
        } else if (!strcmp(a, "--tcp-features") && i + 1 < argc) {
            opt_features = argv[++i];
            uint32_t f;
            if (ustack_tcp_features_parse(opt_features, &f) != 0) {
                fprintf(stderr, "ustack-study: --tcp-features: bad feature list '%s'\n", opt_features);
                return 2;
            }
        } else if (!strcmp(a, "--tcp-cc") && i + 1 < argc) {
            opt_cc = argv[++i];
        } else if (!strcmp(a, "--modern")) {
            opt_features = "default";
            opt_cc = "cubic";
        } else if (!strcmp(a, "--list")) {
            for (size_t k = 0; k < NSCENARIOS; k++)
                if (!k || !same_group(scenarios[k].name, scenarios[k - 1].name))
                    printf("%.*s\n", group_len(scenarios[k].name), scenarios[k].name);
            printf("syn-flood\n");
            return 0;
        } else if (!strcmp(a, "--parts") && i + 1 < argc) {
            /* The parts of a group, in order (nothing for a single scenario). */
            const char *g = argv[++i];
            if (!strcmp(g, "syn-flood")) {
                printf("cookies-off\ncookies-on\n");
                return 0;
            }
            for (size_t k = 0; k < NSCENARIOS; k++)
                if (strchr(scenarios[k].name, '/') && group_len(scenarios[k].name) == (int)strlen(g) &&
                    same_group(scenarios[k].name, g))
                    printf("%s\n", scenarios[k].name + strlen(g) + 1);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !name) {
            name = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (name && synflood_is(name)) {
        char sdir[256];
        if (!dir) {
            snprintf(sdir, sizeof sdir, "build/study/%s", name);
            dir = sdir;
        }
        return synflood_run(name, seed, dir, quiet);
    }
    /* NAME is a scenario, or a group: every "NAME/PART". */
    const struct scenario *first = NULL;
    for (size_t k = 0; name && k < NSCENARIOS; k++)
        if (!strcmp(scenarios[k].name, name) ||
            (group_len(scenarios[k].name) == (int)strlen(name) && same_group(scenarios[k].name, name))) {
            if (!first)
                first = &scenarios[k];
        }
    if (!first) {
        if (name)
            fprintf(stderr, "ustack-study: no scenario '%s'\n", name);
        usage(stderr);
        return 2;
    }
    char defdir[256];
    if (!dir) {
        snprintf(defdir, sizeof defdir, "build/study/%s", name);
        dir = defdir;
    }
    if (mkdirs(dir) != 0) {
        fprintf(stderr, "ustack-study: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    bool group = strchr(first->name, '/') && !strchr(name, '/');
    if (!group)
        return run_scenario(first, seed, dir, quiet, NULL);

    /* A group: each part in DIR/PART, then the comparison in DIR/summary.txt. */
    struct part_result res[8];
    int rc = 0;
    size_t n = 0;
    for (size_t k = 0; k < NSCENARIOS && n < sizeof res / sizeof res[0]; k++) {
        const struct scenario *sc = &scenarios[k];
        if (!same_group(sc->name, name))
            continue;
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/%s", dir, sc->name + group_len(sc->name) + 1);
        if (!quiet)
            printf("==== %s (in %s)\n", sc->name, sub);
        int prc = run_scenario(sc, seed, sub, quiet, &res[n]);
        if (prc == EXIT_UNAVAILABLE)
            return prc;
        if (prc)
            rc = prc;
        n++;
        if (!quiet)
            printf("\n");
    }
    char p_sum[4200];
    snprintf(p_sum, sizeof p_sum, "%s/summary.txt", dir);
    FILE *sf = fopen(p_sum, "w");
    if (!sf) {
        fprintf(stderr, "ustack-study: cannot write %s: %s\n", p_sum, strerror(errno));
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        FILE *f = pass ? stdout : sf;
        if (pass && quiet)
            break;
        fprintf(f, "scenario      %s (seed %" PRIu64 "): %zu runs, each in its directory\n", name, seed, n);
        for (size_t k = 0; k < n; k++)
            fprintf(f, "%-13s %s: %.3f s to the last byte (%.2f Mbit/s of data), %" PRIu64 " retransmissions, %" PRIu64
                       " recoveries, %" PRIu64 " RTO expiries\n",
                    res[k].name + group_len(res[k].name) + 1, res[k].ok ? "ok" : "FAILED", res[k].duration, res[k].mbps,
                    res[k].rexmit, res[k].recoveries, res[k].rto_fired);
    }
    fclose(sf);
    return rc;
}

/* One run: DIR/{trace.jsonl,capture.pcap,capture-server.pcap,summary.txt}.
 * Returns 0, 1 on failure, EXIT_UNAVAILABLE if the build lacks what the
 * scenario needs (a congestion control). */
static int run_scenario(const struct scenario *sc, uint64_t seed, const char *dir, bool quiet,
                        struct part_result *res)
{
    if (mkdirs(dir) != 0) {
        fprintf(stderr, "ustack-study: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char p_trace[4200], p_pcap[4200], p_pcap_srv[4200], p_sum[4200];
    snprintf(p_trace, sizeof p_trace, "%s/trace.jsonl", dir);
    snprintf(p_pcap, sizeof p_pcap, "%s/capture.pcap", dir);
    snprintf(p_pcap_srv, sizeof p_pcap_srv, "%s/capture-server.pcap", dir);
    snprintf(p_sum, sizeof p_sum, "%s/summary.txt", dir);

    static struct run run;
    struct run *r = &run;
    memset(r, 0, sizeof *r); /* a group runs its parts one after the other */
    r->sc = sc;
    r->seed = seed;
    r->listener = -1;
    FILE *tf = fopen(p_trace, "w");
    if (!tf) {
        fprintf(stderr, "ustack-study: cannot write %s: %s\n", p_trace, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        r->tr[i].f = tf;
        r->tr[i].s.node = i ? "server" : "client";
        r->tr[i].s.min_ssthresh = -1;
        r->tr[i].s.ssthresh = -1;
        r->path[i].node = i ? "server" : "client";
        r->path[i].rate_bps = sc->rate_bps ? sc->rate_bps : PATH_RATE_BPS;
        r->path[i].delay = sc->delay ? sc->delay : PATH_DELAY_US;
    }
    memcpy(r->path[0].rules, sc->rules, sizeof sc->rules);
    r->path[0].nrules = sc->nrules;

    r->sim = ustack_sim_new(seed, T_START);
    if (!r->sim) {
        fprintf(stderr, "ustack-study: out of memory\n");
        return 1;
    }
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.mtu = MTU;
    cfg.arp_gratuitous = 0; /* no announcements: the captures start with the ARP exchange */
    r->features_spec = opt_features ? opt_features : sc->features ? sc->features : "none";
    r->cc = opt_cc ? opt_cc : sc->cc ? sc->cc : "newreno";
    if (ustack_tcp_features_parse(r->features_spec, &cfg.tcp.features) != 0) {
        fprintf(stderr, "ustack-study: %s: bad feature list '%s'\n", sc->name, r->features_spec);
        return 1;
    }
    size_t fl = 0;
    r->features_desc[0] = 0;
    for (unsigned bit = 1; bit; bit <<= 1)
        if ((cfg.tcp.features & bit) && ustack_tcp_feature_name(bit))
            fl += (size_t)snprintf(r->features_desc + fl, fl < sizeof r->features_desc ? sizeof r->features_desc - fl : 0,
                                   "%s%s", fl ? " " : "", ustack_tcp_feature_name(bit));
    if (!cfg.tcp.features)
        snprintf(r->features_desc, sizeof r->features_desc, "none");
    snprintf(cfg.tcp.congestion, sizeof cfg.tcp.congestion, "%s", r->cc);
    r->ts_on = cfg.tcp.features & USTACK_TCPF_TIMESTAMPS;
    struct ustack_fault_config fault;
    memset(&fault, 0, sizeof fault);
    fault.out.drop = sc->loss; /* seed 0: derived from the simulation's seed and the node */
    const char *ips[2] = {CLIENT_IP, SERVER_IP}, *pcaps[2] = {p_pcap, p_pcap_srv};
    for (int i = 0; i < 2; i++) {
        ustack_ip_parse(ips[i], &cfg.addr, NULL);
        struct ustack_sim_node_opts o = {
            .fault = sc->loss > 0 ? &fault : NULL,
            .wrap = path_wrap,
            .wrap_ctx = &r->path[i],
            .pcap = pcaps[i],
            .pcap_time_offset_us = 0,
        };
        r->st[i] = ustack_sim_add_node(r->sim, &cfg, &o);
        if (!r->st[i] && errno == EINVAL && i == 0) {
            /* The configuration is the only thing that can be invalid: the
             * congestion control is not in this build (CUBIC before it is). */
            printf("ustack-study: %s: %s not available in this build (congestion control '%s' unknown to"
                   " ustack_create)\n", sc->name, r->cc, r->cc);
            fclose(tf);
            ustack_sim_free(r->sim);
            return EXIT_UNAVAILABLE;
        }
        if (!r->st[i]) {
            fprintf(stderr, "ustack-study: cannot add a stack (%s): %s\n", pcaps[i], strerror(errno));
            return 1;
        }
        ustack_set_trace(r->st[i], on_trace, &r->tr[i], 1);
    }

    r->e[0] = (struct end){.name = "client", .st = r->st[0], .client = true, .tx_total = sc->c2s, .rx_total = sc->s2c};
    r->e[1] = (struct end){.name = "server", .st = r->st[1], .fd = -1, .tx_total = sc->s2c, .rx_total = sc->c2s,
                           .burst_left = sc->read_burst};

    /* The server listens; the connection it accepts inherits the buffer size. */
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    r->listener = us_socket(r->st[1], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (r->listener < 0 || us_setsockopt(r->st[1], r->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (sc->srv_rcvbuf &&
         us_setsockopt(r->st[1], r->listener, SOL_SOCKET, SO_RCVBUF, &sc->srv_rcvbuf, sizeof sc->srv_rcvbuf)) ||
        us_bind(r->st[1], r->listener, (struct sockaddr *)&sin, sizeof sin) || us_listen(r->st[1], r->listener, 4)) {
        fprintf(stderr, "ustack-study: server: %s\n", strerror(errno));
        return 1;
    }
    int fd = us_socket(r->st[0], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ustack_ip_parse(SERVER_IP, &sin.sin_addr.s_addr, NULL);
    r->t_connect = ustack_sim_now(r->sim);
    if (fd < 0 || us_connect(r->st[0], fd, (struct sockaddr *)&sin, sizeof sin) != -1 || errno != EINPROGRESS) {
        fprintf(stderr, "ustack-study: client: connect: %s\n", strerror(errno));
        return 1;
    }
    r->e[0].fd = fd;
    struct sockaddr_in me;
    socklen_t melen = sizeof me;
    if (us_getsockname(r->st[0], fd, (struct sockaddr *)&me, &melen) == 0)
        r->cport = ntohs(me.sin_port);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The applications run before every step of the simulator; the slow
     * reader is woken at its time. */
    r->wakeup = USTACK_TIME_NEVER;
    for (;;) {
        r->until = r->wakeup;
        int rc = ustack_sim_run_until(r->sim, pump, r, r->until);
        if (r->over)
            break;
        if (rc)
            continue;
        if (r->until == USTACK_TIME_NEVER) {
            fail(r, "stalled at %.3f s with nothing left to do: client sent %zu of %zu, server read %zu",
                 (double)(ustack_sim_now(r->sim) - T_START) / 1e6, r->e[0].tx_done, r->e[0].tx_total,
                 r->e[1].rx_done);
            break;
        }
    }
    /* The close: both connections run out (TIME-WAIT is 2 MSL), so the
     * trace ends with both in CLOSED. */
    if (!r->failed && !ustack_sim_run_until(r->sim, all_gone, r, ustack_sim_now(r->sim) + CLOSE_LIMIT))
        fail(r, "connections still open %.0f s after both sockets were closed", (double)CLOSE_LIMIT / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    FILE *sf = fopen(p_sum, "w");
    if (!sf) {
        fprintf(stderr, "ustack-study: cannot write %s: %s\n", p_sum, strerror(errno));
        return 1;
    }
    write_summary(sf, r);
    fclose(sf);
    if (res) {
        const struct tstats *c = &r->tr[0].s;
        ustack_time_t t_data = r->e[1].t_rx_done > r->e[0].t_rx_done ? r->e[1].t_rx_done : r->e[0].t_rx_done;
        *res = (struct part_result){.name = sc->name, .ok = !r->failed, .rto_fired = c->rto_fired, .recoveries = c->rec[0]};
        for (int w = 0; w < NWHY; w++)
            res->rexmit += c->rexmit[w];
        if (t_data > r->t_connect) {
            res->duration = (double)(t_data - r->t_connect) / 1e6;
            res->mbps = (double)sc->c2s * 8 / res->duration / 1e6;
        }
    }
    if (!quiet)
        write_summary(stdout, r);
    ustack_sim_free(r->sim); /* closes the links: the captures are complete */
    if (fclose(tf) != 0) {
        fprintf(stderr, "ustack-study: writing %s: %s\n", p_trace, strerror(errno));
        return 1;
    }
    if (!quiet)
        printf("wrote %s/{trace.jsonl,capture.pcap,capture-server.pcap,summary.txt} in %.0f ms\n", dir,
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (r->failed) {
        fprintf(stderr, "ustack-study: %s: %s\n", sc->name, r->why);
        return 1;
    }
    return 0;
}
