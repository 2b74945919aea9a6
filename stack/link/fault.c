/*
 * Fault injector: wraps a link and impairs each direction on its own (drop,
 * duplicate, reorder, corrupt, delay, jitter), driven only by the `now` it is
 * given and a seeded PRNG per direction, so a run replays exactly.
 *
 * Per frame and direction, six random numbers are always drawn (drop, dup,
 * reorder, corrupt, corrupt position, jitter), so changing one probability does
 * not shift the others' choices, and the drop decision is taken exactly once.
 * Order of effects: drop; then corrupt (one bit; both copies of a duplicate are
 * identical); duplicate; rate limit (each copy waits for the wire, or is
 * tail-dropped when the queue is full); delay + jitter (due = sent + delay +
 * U[0, jitter], sent = now without a rate limit); reorder. Frames are released
 * in due order (FIFO for equal due times), so jitter may reorder too, as with
 * netem.
 *
 * Rate limit: the direction keeps the time its wire becomes free, in
 * nanoseconds so that per-frame rounding does not add up. A frame starts when
 * the wire is free (or now, if later) and is sent len * 8e9 / rate ns later;
 * the bytes waiting are what the wire still has to send, (free - now) * rate /
 * 8e9. Nothing random is involved, so the limit keeps a run's replay exact.
 *
 * Reorder: the frame (with its duplicate) is held back until the next frame
 * delivered in that direction, then released right after it (at the later of
 * both due times). While one frame is held, the next frame always releases it
 * and is not itself held. If no frame follows within REORDER_MAX_HOLD (10 ms of
 * link time) the held frame is released on its own, so nothing is held forever.
 *
 * Out (stack -> inner): send() queues and forwards what is due; poll() releases
 * the rest; a frame the injector drops still "succeeds" (returns 0), as on a
 * wire. In (inner -> stack): recv() pulls frames from inner until one is due
 * and returns frames in due order. At most FAULT_MAX_HELD frames (both copies
 * count) are held per direction; excess frames are dropped and counted in
 * `dropped`. next_deadline() is the earliest of inner's and both directions'.
 *
 * On failure ustack_link_fault_new() returns NULL with errno set and leaves
 * `inner` open (the caller still owns it).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>

#define FAULT_MAX_HELD 4096u
#define REORDER_MAX_HOLD USTACK_MS(10)

enum { DIR_IN = 0, DIR_OUT = 1 };

struct fentry {
    struct fentry *prev, *next;
    ustack_time_t due;
    size_t len;
    uint8_t data[];
};

struct fqueue {
    struct fentry *head, *tail;
};

struct fdir {
    struct ustack_fault_dir cfg;
    uint64_t rng[4];            /* xoshiro256** state */
    struct fqueue q;            /* waiting frames, sorted by (due, arrival) */
    struct fqueue held;         /* the reordered frame (1 or 2 copies) */
    ustack_time_t held_until;   /* when `held` is released anyway; NEVER if empty */
    size_t count;               /* entries in q and held */
    uint64_t wire_free_ns;      /* rate limit: when the last accepted frame is sent */
    struct ustack_fault_stats stats;
};

struct fault_link {
    struct ustack_link link; /* first: the link pointer is the fault_link pointer */
    struct ustack_link *inner;
    struct fdir dir[2];
    uint8_t buf[USTACK_FRAME_MAX]; /* frames pulled from inner */
};

/* ------------------------------------------------------------------ PRNG */

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 bits: p == 0 never fires, p == 1 always does. */
static inline bool chance(uint64_t r, double p) { return (double)(r >> 11) * 0x1.0p-53 < p; }

static void seed_dir(struct fdir *d, uint64_t seed, int dir)
{
    /* Distinct, fixed tweaks give two independent streams from one seed. */
    uint64_t x = seed ^ (dir == DIR_OUT ? 0x6f75742d66617574ull : 0x696e2d2d66617574ull);
    for (int i = 0; i < 4; i++)
        d->rng[i] = ustack_rand64(&x);
}

/* ------------------------------------------------------------------ queues */

static ustack_time_t sat_add(ustack_time_t a, ustack_time_t b)
{
    return a > USTACK_TIME_NEVER - b ? USTACK_TIME_NEVER - 1 : a + b;
}

/* Inserts after every entry due no later than e (FIFO among equals). */
static void q_insert(struct fqueue *q, struct fentry *e)
{
    struct fentry *after = q->tail;
    while (after && after->due > e->due)
        after = after->prev;
    e->prev = after;
    e->next = after ? after->next : q->head;
    if (e->next)
        e->next->prev = e;
    else
        q->tail = e;
    if (after)
        after->next = e;
    else
        q->head = e;
}

static void q_append(struct fqueue *q, struct fentry *e)
{
    e->next = NULL;
    e->prev = q->tail;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
}

static struct fentry *q_pop(struct fqueue *q)
{
    struct fentry *e = q->head;
    if (!e)
        return NULL;
    q->head = e->next;
    if (q->head)
        q->head->prev = NULL;
    else
        q->tail = NULL;
    e->next = e->prev = NULL;
    return e;
}

static void q_free(struct fqueue *q)
{
    struct fentry *e;
    while ((e = q_pop(q)))
        free(e);
}

/* Moves the held frame into the queue; `min_due` places it after a frame. */
static void release_held(struct fdir *d, ustack_time_t min_due)
{
    struct fentry *e;
    while ((e = q_pop(&d->held))) {
        if (e->due < min_due)
            e->due = min_due;
        q_insert(&d->q, e);
    }
    d->held_until = USTACK_TIME_NEVER;
}

static void release_expired(struct fdir *d, ustack_time_t now)
{
    if (d->held.head && now >= d->held_until)
        release_held(d, 0);
}

static struct fentry *pop_due(struct fdir *d, ustack_time_t now)
{
    if (!d->q.head || d->q.head->due > now)
        return NULL;
    d->count--;
    return q_pop(&d->q);
}

static uint64_t to_ns(ustack_time_t us) { return us > UINT64_MAX / 1000 ? UINT64_MAX : us * 1000; }

/* Bytes the rate limit still has to send at now_ns (the wire's backlog). */
static uint64_t wire_backlog_bytes(const struct fdir *d, uint64_t now_ns)
{
    if (d->wire_free_ns <= now_ns)
        return 0;
    unsigned __int128 b = (unsigned __int128)(d->wire_free_ns - now_ns) * d->cfg.rate_bps / 8000000000u;
    return b > UINT64_MAX ? UINT64_MAX : (uint64_t)b;
}

/* Puts a frame of len bytes on the rate-limited wire; returns when it has been
 * sent, in microseconds (rounded up). */
static ustack_time_t wire_send(struct fdir *d, uint64_t now_ns, size_t len)
{
    if (d->wire_free_ns < now_ns)
        d->wire_free_ns = now_ns;
    unsigned __int128 bits = (unsigned __int128)len * 8u * 1000000000u;
    uint64_t tx_ns = (uint64_t)((bits + d->cfg.rate_bps - 1) / d->cfg.rate_bps);
    d->wire_free_ns = d->wire_free_ns > UINT64_MAX - tx_ns ? UINT64_MAX : d->wire_free_ns + tx_ns;
    return d->wire_free_ns / 1000 + (d->wire_free_ns % 1000 != 0);
}

/* Applies the impairments of direction d to one frame and queues the copies
 * that survive. */
static void impair(struct fdir *d, ustack_time_t now, const uint8_t *frame, size_t len)
{
    const struct ustack_fault_dir *c = &d->cfg;
    uint64_t r_drop = xoshiro_next(d->rng);
    uint64_t r_dup = xoshiro_next(d->rng);
    uint64_t r_reorder = xoshiro_next(d->rng);
    uint64_t r_corrupt = xoshiro_next(d->rng);
    uint64_t r_pos = xoshiro_next(d->rng);
    uint64_t r_jitter = xoshiro_next(d->rng);

    if (chance(r_drop, c->drop)) {
        d->stats.dropped++;
        return;
    }
    unsigned copies = chance(r_dup, c->dup) ? 2 : 1;
    if (d->count + copies > FAULT_MAX_HELD) {
        d->stats.dropped++;
        return;
    }
    uint64_t now_ns = to_ns(now);
    if (c->rate_bps && c->queue_bytes) {
        /* Tail drop: the copies that do not fit behind the backlog. */
        uint64_t backlog = wire_backlog_bytes(d, now_ns);
        unsigned fit = 0;
        while (fit < copies && backlog <= c->queue_bytes && len <= c->queue_bytes - backlog) {
            backlog += len;
            fit++;
        }
        d->stats.queue_dropped += copies - fit;
        if (fit == 0)
            return;
        copies = fit;
    }
    bool corrupt = len > 0 && chance(r_corrupt, c->corrupt);
    bool reorder = chance(r_reorder, c->reorder) && !d->held.head;

    ustack_time_t extra = c->delay_us;
    if (c->jitter_us) {
        uint64_t j = c->jitter_us == UINT64_MAX ? r_jitter : r_jitter % (c->jitter_us + 1);
        extra = sat_add(extra, j);
    }

    struct fentry *e[2] = {NULL, NULL};
    for (unsigned i = 0; i < copies; i++) {
        e[i] = malloc(sizeof(struct fentry) + len);
        if (!e[i]) {
            free(e[0]);
            d->stats.dropped++;
            return;
        }
        e[i]->len = len;
        if (len)
            memcpy(e[i]->data, frame, len);
        if (corrupt)
            e[i]->data[r_pos % len] ^= (uint8_t)(1u << (r_pos >> 61));
    }

    /* Only frames that were stored take the wire. */
    ustack_time_t due = now;
    for (unsigned i = 0; i < copies; i++) {
        if (c->rate_bps)
            due = wire_send(d, now_ns, len);
        e[i]->due = sat_add(due, extra);
    }
    due = e[copies - 1]->due;

    if (copies == 2)
        d->stats.duplicated++;
    if (corrupt)
        d->stats.corrupted++;
    if (extra > 0)
        d->stats.delayed++;
    d->count += copies;

    if (reorder) {
        d->stats.reordered++;
        for (unsigned i = 0; i < copies; i++)
            q_append(&d->held, e[i]);
        d->held_until = sat_add(now, REORDER_MAX_HOLD);
        return;
    }
    for (unsigned i = 0; i < copies; i++)
        q_insert(&d->q, e[i]);
    if (d->held.head)
        release_held(d, due);
}

/* ------------------------------------------------------------------ ops */

/* Nothing queued and nothing to do to a frame beyond the random draws. */
static bool pass_through(const struct fdir *d)
{
    const struct ustack_fault_dir *c = &d->cfg;
    return !d->q.head && !d->held.head && c->drop == 0 && c->dup == 0 && c->reorder == 0 && c->corrupt == 0 &&
           c->delay_us == 0 && c->jitter_us == 0 && c->rate_bps == 0;
}

static struct fault_link *fault_of(struct ustack_link *l) { return (struct fault_link *)l; }

/* Forwards every outgoing frame that is due. */
static void flush_out(struct fault_link *f, ustack_time_t now)
{
    struct fdir *d = &f->dir[DIR_OUT];
    struct fentry *e;
    while ((e = pop_due(d, now))) {
        /* A frame the inner link refuses now is lost, as on a busy wire. */
        (void)ustack_link_send(f->inner, now, e->data, e->len);
        free(e);
    }
}

static int fault_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct fault_link *f = fault_of(l);
    struct fdir *d = &f->dir[DIR_OUT];
    if (len > 0 && !frame)
        return -EINVAL;
    l->tx_frames++;
    l->tx_bytes += len;
    release_expired(d, now);

    /* Fast path: nothing queued and nothing to do to this frame beyond the
     * random draws; forwarding directly reports inner's errors (-EAGAIN). */
    if (pass_through(d)) {
        for (int i = 0; i < 6; i++)
            (void)xoshiro_next(d->rng); /* keep the stream aligned with the slow path */
        return ustack_link_send(f->inner, now, frame, len);
    }

    impair(d, now, frame, len);
    flush_out(f, now);
    return 0;
}

static int fault_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    struct fault_link *f = fault_of(l);
    struct fdir *d = &f->dir[DIR_IN];
    release_expired(d, now);
    for (;;) {
        struct fentry *e = pop_due(d, now);
        if (e) {
            size_t n = e->len < cap ? e->len : cap;
            if (n > USTACK_FRAME_MAX)
                n = USTACK_FRAME_MAX;
            if (n)
                memcpy(buf, e->data, n);
            free(e);
            l->rx_frames++;
            l->rx_bytes += n;
            return (int)n;
        }
        /* Fast path, as in fault_send(): an unimpaired direction hands the
         * frame over without storing it. */
        if (pass_through(d)) {
            int n = ustack_link_recv(f->inner, now, buf, cap);
            if (n > 0) {
                for (int i = 0; i < 6; i++)
                    (void)xoshiro_next(d->rng);
                l->rx_frames++;
                l->rx_bytes += (uint64_t)n;
            }
            return n;
        }
        /* Nothing due: pull from inner until a frame becomes due or inner runs
         * dry (so a readable fd is always drained and never spins a loop). */
        int n = ustack_link_recv(f->inner, now, f->buf, sizeof f->buf);
        if (n <= 0)
            return n;
        impair(d, now, f->buf, (size_t)n);
    }
}

static ustack_time_t fault_next_deadline(struct ustack_link *l)
{
    struct fault_link *f = fault_of(l);
    ustack_time_t dl = ustack_link_next_deadline(f->inner);
    for (int i = 0; i < 2; i++) {
        const struct fdir *d = &f->dir[i];
        if (d->q.head && d->q.head->due < dl)
            dl = d->q.head->due;
        if (d->held.head && d->held_until < dl)
            dl = d->held_until;
    }
    return dl;
}

static void fault_poll(struct ustack_link *l, ustack_time_t now)
{
    struct fault_link *f = fault_of(l);
    release_expired(&f->dir[DIR_OUT], now);
    flush_out(f, now);
    ustack_link_poll(f->inner, now);
}

static int fault_fd(struct ustack_link *l) { return ustack_link_fd(fault_of(l)->inner); }

static void fault_close(struct ustack_link *l)
{
    struct fault_link *f = fault_of(l);
    for (int i = 0; i < 2; i++) {
        q_free(&f->dir[i].q);
        q_free(&f->dir[i].held);
    }
    ustack_link_close(f->inner);
    free(f);
}

static const struct ustack_link_ops fault_ops = {
    .send = fault_send,
    .recv = fault_recv,
    .next_deadline = fault_next_deadline,
    .poll = fault_poll,
    .fd = fault_fd,
    .close = fault_close,
};

static bool prob_ok(double p) { return !isnan(p) && p >= 0.0 && p <= 1.0; }

static bool dir_ok(const struct ustack_fault_dir *d)
{
    return prob_ok(d->drop) && prob_ok(d->dup) && prob_ok(d->reorder) && prob_ok(d->corrupt);
}

struct ustack_link *ustack_link_fault_new(struct ustack_link *inner, const struct ustack_fault_config *cfg)
{
    static const struct ustack_fault_config none;
    if (!cfg)
        cfg = &none;
    if (!inner || !dir_ok(&cfg->in) || !dir_ok(&cfg->out)) {
        errno = EINVAL;
        return NULL;
    }
    struct fault_link *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->inner = inner;
    f->dir[DIR_IN].cfg = cfg->in;
    f->dir[DIR_OUT].cfg = cfg->out;
    for (int i = 0; i < 2; i++) {
        seed_dir(&f->dir[i], cfg->seed, i);
        f->dir[i].held_until = USTACK_TIME_NEVER;
    }
    f->link.ops = &fault_ops;
    f->link.name = "fault";
    return &f->link;
}

void ustack_link_fault_stats(struct ustack_link *fault, int out, struct ustack_fault_stats *s)
{
    if (!s)
        return;
    if (!fault || fault->ops != &fault_ops) {
        memset(s, 0, sizeof *s);
        return;
    }
    *s = fault_of(fault)->dir[out ? DIR_OUT : DIR_IN].stats;
}
