/*
 * The simulation matrix (docs/sim-matrix.md): TCP goodput over the
 * deterministic simulator for every combination of loss rate, round-trip time
 * and reordering, under three TCP configurations, as a table that is checked
 * against a snapshot and against the claims SACK and RACK are there for.
 *
 * A cell is (loss, RTT, reordering, configuration). Each of its runs puts two
 * stacks on the simulator's segment behind a path of this program's (a
 * bottleneck of --rate bit/s with a tail-drop queue of one bandwidth-delay
 * product, a one-way delay of RTT/2, and with reordering a share of frames
 * delayed by a few extra milliseconds) and the fault injector (random loss,
 * the same rate in both directions). The client sends --bytes to the server;
 * the server checks that the SHA-256 of what it read equals the SHA-256 of
 * what was sent, up to EOF. Goodput is the bytes over the virtual time from
 * connect() to the last byte read. A cell's figure is the median over --seeds
 * runs, each with its own seed; the runs of one row use the same seeds in
 * every configuration.
 *
 * Everything is a function of the seeds, and the table is printed from
 * integers only (goodput in units of 0.01 Mbit/s), so it is byte-identical
 * on every run and machine, however many --jobs share the work.
 *
 *   sim_matrix [--short] [--loss LIST] [--rtt LIST] [--reorder LIST] [--configs LIST]
 *              [--bytes N] [--seeds N] [--jobs N] [--snapshot FILE [--update]]
 *              [--tolerance PCT] [--no-claims] [-v]
 *
 * LISTs are comma-separated: loss in percent (0,1,2,5,10,20), RTT in ms
 * (10,100), reordering off/on, configurations by name (newreno,
 * newreno+sack, cubic+sack+rack). --short is the reduced matrix of `make
 * sim-matrix-short`. --snapshot compares the table with FILE (a cell more
 * than --tolerance percent away fails), --update rewrites FILE instead.
 * Unless --no-claims, SACK with RACK must beat plain NewReno at 5% loss and
 * under reordering, at each RTT. -v prints every run on stderr.
 *
 * Exit status: 0 if every run delivered its data intact, the snapshot
 * matched and the claims held; 1 otherwise; 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>

#include "util.h" /* apps/: SHA-256 */

#define PORT 5001
#define WARMUP_PORT 9
#define T_START USTACK_SEC(1)
#define FULL_BYTES (16u << 20)
#define SHORT_BYTES (4u << 20)
#define FULL_SEEDS 5
#define SHORT_SEEDS 3
#define DEFAULT_RATE 10000000u      /* bit/s at the bottleneck */
#define WIRE_OVERHEAD 24u           /* preamble + FCS + inter-frame gap, bytes */
#define QUEUE_MIN_FRAMES 16u        /* the bottleneck queue holds at least this many full frames */
#define REORDER_PER_MILLE 30u       /* with reordering: 3% of frames ... */
#define REORDER_EXTRA_MIN USTACK_MS(4) /* ... are delayed by 4 to 8 ms more */
#define REORDER_EXTRA_MAX USTACK_MS(8)
#define RUN_LIMIT USTACK_SEC(4 * 3600) /* virtual time a run may take */
#define FRAME_BUDGET 4000000u       /* frames both stacks may send in a run */
#define MAX_LEVELS 16
#define MAX_SEEDS 15

/* ------------------------------------------------------------ the matrix */

struct tcpconf {
    const char *name;
    const char *features; /* for ustack_tcp_features_parse() */
    const char *cc;
};

static const struct tcpconf tcpconfs[] = {
    {"newreno", "default,-sack,-dsack,-rack,-tlp", "newreno"},
    {"newreno+sack", "default,-rack,-tlp", "newreno"},
    {"cubic+sack+rack", "default", "cubic"},
};
#define NCONF (sizeof tcpconfs / sizeof tcpconfs[0])
enum { CONF_NEWRENO = 0, CONF_SACK = 1, CONF_RACK = 2 };

struct matrix {
    unsigned loss[MAX_LEVELS], nloss;      /* percent */
    unsigned rtt[MAX_LEVELS], nrtt;        /* ms */
    unsigned reorder[2], nreorder;         /* 0 off, 1 on */
    unsigned conf[NCONF], nconf;           /* indices into tcpconfs */
    size_t bytes;
    unsigned seeds;
    uint64_t rate;
};

static unsigned nrows(const struct matrix *m) { return m->nloss * m->nrtt * m->nreorder; }

/* Row r, in table order: loss, then RTT, then reordering. */
static void row_of(const struct matrix *m, unsigned r, unsigned *loss, unsigned *rtt, unsigned *reorder)
{
    *reorder = m->reorder[r % m->nreorder];
    r /= m->nreorder;
    *rtt = m->rtt[r % m->nrtt];
    *loss = m->loss[r / m->nrtt];
}

/* ------------------------------------------------------------ randomness */


/* The seed of run k of a row: a function of the row's parameters and k only,
 * so a row has the same seeds in every configuration and whatever else the
 * matrix holds. */
static uint64_t run_seed(unsigned loss, unsigned rtt, unsigned reorder, unsigned k)
{
    uint64_t x = 0x6d6174726978ull ^ ((uint64_t)loss << 40) ^ ((uint64_t)rtt << 20) ^ ((uint64_t)reorder << 16) ^ k;
    return ustack_rand64(&x) | 1; /* never 0 */
}

static void gen_fill(uint8_t *buf, size_t n, uint64_t seed)
{
    uint64_t x = seed ^ 0x73747265616dull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = ustack_rand64(&x);
        memcpy(buf + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = ustack_rand64(&x);
        memcpy(buf + i, &v, n - i);
    }
}

/* ------------------------------------------------------------ the path */

/* One direction of the path, as a link wrapped around a node's fault
 * injector (ustack_sim_node_opts.wrap): frames the stack sends wait in the
 * bottleneck's queue (tail drop when it holds more than queue_bytes,
 * counting the frame on the wire), are serialised at rate_bps, then
 * propagate for owd; with reordering, REORDER_PER_MILLE of them take 4-8 ms
 * longer and arrive after frames sent behind them. Frames then go to the
 * fault injector, which drops them at random, and to the segment. Frames
 * the stack receives pass through: the peer's path delayed them. */
struct pframe {
    struct pframe *prev, *next;
    ustack_time_t due;
    size_t len;
    uint8_t data[];
};

struct path {
    struct ustack_link link; /* first: the link pointer is the path pointer */
    struct ustack_link *inner;
    uint64_t rate_bps;
    ustack_time_t owd;
    uint64_t queue_bytes;
    bool reorder;
    uint64_t rng;
    ustack_time_t wire_free; /* when the bottleneck has sent what it holds */
    struct pframe *head, *tail; /* in flight, by due time (FIFO among equals) */
    uint64_t queue_drops, reordered;
};

static struct path *path_of(struct ustack_link *l) { return (struct path *)l; }

static void path_flush(struct path *p, ustack_time_t now)
{
    while (p->head && p->head->due <= now) {
        struct pframe *f = p->head;
        p->head = f->next;
        if (p->head)
            p->head->prev = NULL;
        else
            p->tail = NULL;
        (void)ustack_link_send(p->inner, now, f->data, f->len);
        free(f);
    }
}

static int path_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct path *p = path_of(l);
    path_flush(p, now);
    l->tx_frames++;
    l->tx_bytes += len;
    /* Two draws per frame whatever happens to it, so one decision never
     * shifts the next frame's. */
    uint64_t r_which = ustack_rand64(&p->rng), r_extra = ustack_rand64(&p->rng);
    uint64_t backlog_us = p->wire_free > now ? p->wire_free - now : 0;
    uint64_t backlog = backlog_us * p->rate_bps / 8000000u;
    if (backlog + len > p->queue_bytes) {
        p->queue_drops++;
        return 0; /* tail drop: lost, as on a wire */
    }
    struct pframe *f = malloc(sizeof *f + len);
    if (!f)
        return -ENOBUFS;
    memcpy(f->data, frame, len);
    f->len = len;
    ustack_time_t start = p->wire_free > now ? p->wire_free : now;
    uint64_t bits = (uint64_t)(len + WIRE_OVERHEAD) * 8u;
    p->wire_free = start + (bits * 1000000u + p->rate_bps - 1) / p->rate_bps;
    f->due = p->wire_free + p->owd;
    if (p->reorder && r_which % 1000u < REORDER_PER_MILLE) {
        f->due += REORDER_EXTRA_MIN + r_extra % (REORDER_EXTRA_MAX - REORDER_EXTRA_MIN + 1);
        p->reordered++;
    }
    /* Sorted insert from the tail: after every frame due no later. */
    struct pframe *after = p->tail;
    while (after && after->due > f->due)
        after = after->prev;
    f->prev = after;
    f->next = after ? after->next : p->head;
    if (f->next)
        f->next->prev = f;
    else
        p->tail = f;
    if (after)
        after->next = f;
    else
        p->head = f;
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

/* The struct belongs to the run; closing frees what it holds. */
static void path_close(struct ustack_link *l)
{
    struct path *p = path_of(l);
    while (p->head) {
        struct pframe *f = p->head;
        p->head = f->next;
        free(f);
    }
    p->tail = NULL;
    ustack_link_close(p->inner);
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

static struct ustack_link *path_wrap(void *ctx, struct ustack_link *inner)
{
    struct path *p = ctx;
    p->link.ops = &path_ops;
    p->link.name = "path";
    p->inner = inner;
    return &p->link;
}

/* ------------------------------------------------------------ one run */

enum status { ST_OK, ST_UNAVAILABLE, ST_FAILED };

struct result {
    unsigned job;
    enum status status;
    uint64_t goodput;      /* 0.01 Mbit/s */
    uint64_t elapsed_us;   /* connect() to the last byte read */
    uint64_t rexmits, rtos, lost, queue_drops;
    char why[200];
};

struct run {
    const struct matrix *m;
    struct ustack_sim *sim;
    struct ustack *a, *b;  /* client (sender), server (receiver) */
    struct path path[2];
    const uint8_t *data;
    size_t total;
    int udp_c, udp_s, listener, cfd, sfd;
    bool warm, connecting, shut, eof;
    size_t sent, got;
    ustack_time_t t_connect, t_last;
    struct sha256 rx_hash;
    bool failed;
    char why[200];
    uint8_t buf[65536];
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

static uint64_t frames_sent(struct run *r)
{
    return r->path[0].link.tx_frames + r->path[1].link.tx_frames;
}

/* Warm-up: ARP is resolved before the clock starts (the client's datagram
 * makes both stacks learn each other), so a lost ARP frame is not counted as
 * TCP's time. Done once the server has the datagram. */
static int warmup_done(void *arg)
{
    struct run *r = arg;
    ssize_t n = us_recv(r->b, r->udp_s, r->buf, sizeof r->buf, 0);
    if (n >= 0)
        r->warm = true;
    return r->warm;
}

/* The applications: the client writes everything, then half-closes; the
 * server reads to EOF. Non-zero when the run is over (or failed). */
static int pump(void *arg)
{
    struct run *r = arg;
    ustack_time_t now = ustack_sim_now(r->sim);
    if (frames_sent(r) > FRAME_BUDGET) {
        fail(r, "more than %u frames (a livelock?) after %" PRIu64 " ms; %zu/%zu bytes read", FRAME_BUDGET,
             (now - r->t_connect) / 1000, r->got, r->total);
        return 1;
    }
    if (r->connecting) {
        struct pollfd p = {.fd = r->cfd, .events = POLLOUT};
        if (us_poll(r->a, &p, 1, 0) < 0) {
            fail(r, "client: poll: %s", strerror(errno));
            return 1;
        }
        if (p.revents & (POLLERR | POLLHUP)) {
            fail(r, "client: connect failed");
            return 1;
        }
        if (p.revents & POLLOUT)
            r->connecting = false;
    }
    if (!r->connecting) {
        while (r->sent < r->total) {
            size_t n = r->total - r->sent;
            if (n > 65536)
                n = 65536;
            ssize_t w = us_send(r->a, r->cfd, r->data + r->sent, n, 0);
            if (w < 0) {
                if (errno != EAGAIN)
                    fail(r, "client: send at byte %zu: %s", r->sent, strerror(errno));
                break;
            }
            r->sent += (size_t)w;
        }
        if (r->failed)
            return 1;
        if (r->sent == r->total && !r->shut) {
            if (us_shutdown(r->a, r->cfd, SHUT_WR) != 0) {
                fail(r, "client: shutdown: %s", strerror(errno));
                return 1;
            }
            r->shut = true;
        }
    }
    if (r->sfd < 0) {
        r->sfd = us_accept(r->b, r->listener, NULL, NULL, SOCK_NONBLOCK);
        if (r->sfd < 0) {
            if (errno != EAGAIN)
                fail(r, "server: accept: %s", strerror(errno));
            return r->failed;
        }
    }
    while (!r->eof) {
        ssize_t n = us_recv(r->b, r->sfd, r->buf, sizeof r->buf, 0);
        if (n < 0) {
            if (errno != EAGAIN)
                fail(r, "server: recv at byte %zu: %s", r->got, strerror(errno));
            break;
        }
        if (n == 0) {
            r->eof = true;
            break;
        }
        if ((size_t)n > r->total - r->got) {
            fail(r, "server: %zu bytes beyond the %zu sent", r->got + (size_t)n - r->total, r->total);
            return 1;
        }
        sha256_update(&r->rx_hash, r->buf, (size_t)n);
        r->got += (size_t)n;
        if (r->got == r->total)
            r->t_last = now;
    }
    return r->failed || r->eof;
}

static void run_one(const struct matrix *m, unsigned loss, unsigned rtt, unsigned reorder, unsigned conf,
                    uint64_t seed, uint8_t *data, const char *tx_hex, struct result *res)
{
    static struct run run;
    struct run *r = &run;
    memset(r, 0, sizeof *r);
    r->m = m;
    r->data = data;
    r->total = m->bytes;
    r->udp_c = r->udp_s = r->listener = r->cfd = r->sfd = -1;
    sha256_init(&r->rx_hash);
    const struct tcpconf *tc = &tcpconfs[conf];

    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.tcp.features = 0;
    if (ustack_tcp_features_parse(tc->features, &cfg.tcp.features) != 0) {
        fail(r, "bad feature list \"%s\"", tc->features);
        goto out;
    }
    snprintf(cfg.tcp.congestion, sizeof cfg.tcp.congestion, "%s", tc->cc);
    cfg.tcp.rcvbuf_max = 4u << 20;
    cfg.tcp.sndbuf_max = 4u << 20;
    /* Giving up is not what is measured: at 20% loss each way, 15 RTOs in a
     * row do happen once in a while. */
    cfg.tcp.data_retries = 30;
    cfg.tcp.syn_retries = 12;
    cfg.arp_gratuitous = 0;

    struct ustack_fault_config f;
    memset(&f, 0, sizeof f);
    f.out.drop = (double)loss / 100.0; /* each direction, on what the stack sends; seed from the run's */
    uint64_t bdp = m->rate * rtt / 8000u;
    uint64_t qmin = (uint64_t)QUEUE_MIN_FRAMES * (1514u + WIRE_OVERHEAD);
    uint64_t x = seed;
    for (int i = 0; i < 2; i++) {
        r->path[i] = (struct path){.rate_bps = m->rate, .owd = USTACK_MS(rtt) / 2, .queue_bytes = bdp > qmin ? bdp : qmin,
                                   .reorder = reorder != 0, .rng = ustack_rand64(&x)};
    }
    r->sim = ustack_sim_new(seed, T_START);
    if (!r->sim) {
        fail(r, "out of memory");
        goto out;
    }
    struct ustack_sim_node_opts o = {.fault = &f, .wrap = path_wrap, .wrap_ctx = &r->path[0]};
    ustack_ip_parse("10.0.0.1", &cfg.addr, NULL);
    r->a = ustack_sim_add_node(r->sim, &cfg, &o);
    if (!r->a) {
        if (errno == EINVAL) {
            /* The configuration's congestion control is not in this build. */
            res->status = ST_UNAVAILABLE;
            snprintf(res->why, sizeof res->why, "ustack_create: %s (tcp_congestion \"%s\")", strerror(EINVAL), tc->cc);
            ustack_sim_free(r->sim);
            return;
        }
        fail(r, "ustack_create: %s", strerror(errno));
        goto out;
    }
    o.wrap_ctx = &r->path[1];
    ustack_ip_parse("10.0.0.2", &cfg.addr, NULL);
    r->b = ustack_sim_add_node(r->sim, &cfg, &o);
    if (!r->b) {
        fail(r, "ustack_create: %s", strerror(errno));
        goto out;
    }

    /* Sockets: the server's UDP and TCP listeners, the client's UDP socket. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(WARMUP_PORT)};
    r->udp_s = us_socket(r->b, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    r->udp_c = us_socket(r->a, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (r->udp_s < 0 || r->udp_c < 0 || us_bind(r->b, r->udp_s, (struct sockaddr *)&sin, sizeof sin)) {
        fail(r, "udp: %s", strerror(errno));
        goto out;
    }
    sin.sin_port = htons(PORT);
    r->listener = us_socket(r->b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (r->listener < 0 || us_bind(r->b, r->listener, (struct sockaddr *)&sin, sizeof sin) ||
        us_listen(r->b, r->listener, 4)) {
        fail(r, "server: listen: %s", strerror(errno));
        goto out;
    }
    ustack_ip_parse("10.0.0.2", &sin.sin_addr.s_addr, NULL);

    /* Warm-up: a datagram every second until one arrives. */
    sin.sin_port = htons(WARMUP_PORT);
    for (unsigned tries = 0; !r->warm; tries++) {
        if (tries == 600) {
            fail(r, "warm-up: no datagram arrived in 600 tries");
            goto out;
        }
        /* EHOSTUNREACH: ARP gave up on an earlier datagram; try again. */
        if (us_sendto(r->a, r->udp_c, "warm", 4, 0, (struct sockaddr *)&sin, sizeof sin) != 4 && errno != EAGAIN &&
            errno != EHOSTUNREACH) {
            fail(r, "warm-up: sendto: %s", strerror(errno));
            goto out;
        }
        ustack_sim_run_until(r->sim, warmup_done, r, ustack_sim_now(r->sim) + USTACK_SEC(1));
    }
    us_close(r->a, r->udp_c);
    us_close(r->b, r->udp_s);
    r->udp_c = r->udp_s = -1;

    /* The transfer, timed from connect(). */
    sin.sin_port = htons(PORT);
    r->cfd = us_socket(r->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r->t_connect = ustack_sim_now(r->sim);
    if (r->cfd < 0 || us_connect(r->a, r->cfd, (struct sockaddr *)&sin, sizeof sin) != -1 || errno != EINPROGRESS) {
        fail(r, "client: connect: %s", strerror(errno));
        goto out;
    }
    r->connecting = true;
    if (!ustack_sim_run_until(r->sim, pump, r, r->t_connect + RUN_LIMIT) && !r->failed)
        fail(r, "%zu of %zu bytes read: not done within %" PRIu64 " s of virtual time, or stalled", r->got,
             r->total, RUN_LIMIT / 1000000u);
    if (r->failed)
        goto out;
    if (r->got != r->total) {
        fail(r, "EOF after %zu of %zu bytes", r->got, r->total);
        goto out;
    }
    char rx_hex[65];
    sha256_final_hex(&r->rx_hash, rx_hex);
    if (strcmp(rx_hex, tx_hex) != 0) {
        fail(r, "sha256 of the data read %.16s... differs from the data sent %.16s...", rx_hex, tx_hex);
        goto out;
    }
    res->elapsed_us = r->t_last - r->t_connect;
    if (res->elapsed_us == 0)
        res->elapsed_us = 1;
    /* bytes * 8 / us is Mbit/s; in hundredths, rounded half up. */
    res->goodput = ((uint64_t)r->total * 800u * 2u + res->elapsed_us) / (2u * res->elapsed_us);

out:
    if (r->a && r->b) {
        res->rexmits = ustack_counter_get(r->a, "tcp_retransmit_segs");
        res->rtos = ustack_counter_get(r->a, "tcp_rto_expired");
        for (unsigned i = 0; i < 2; i++) {
            struct ustack_fault_stats fs;
            ustack_link_fault_stats(ustack_sim_fault_link(r->sim, i), 1, &fs);
            res->lost += fs.dropped;
            res->queue_drops += r->path[i].queue_drops;
        }
    }
    ustack_sim_free(r->sim);
    res->status = r->failed ? ST_FAILED : ST_OK;
    if (r->failed)
        memcpy(res->why, r->why, sizeof res->why);
}

/* ------------------------------------------------------------ table */

static void fmt_goodput(char *buf, size_t n, enum status st, uint64_t g)
{
    if (st == ST_UNAVAILABLE)
        snprintf(buf, n, "n/a");
    else if (st == ST_FAILED)
        snprintf(buf, n, "FAIL");
    else
        snprintf(buf, n, "%" PRIu64 ".%02" PRIu64, g / 100, g % 100);
}

/* One cell: the median of its runs (the lower middle for an even number). */
struct cell {
    enum status status;
    uint64_t goodput;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void params_line(const struct matrix *m, char *buf, size_t n)
{
    snprintf(buf, n,
             "Goodput in Mbit/s, median of %u seeds; %zu bytes per run; bottleneck %" PRIu64
             " bit/s, queue max(BDP, %u frames); loss both ways; reordering %u/1000 frames +%u-%u ms",
             m->seeds, m->bytes, m->rate, QUEUE_MIN_FRAMES, REORDER_PER_MILLE,
             (unsigned)(REORDER_EXTRA_MIN / 1000), (unsigned)(REORDER_EXTRA_MAX / 1000));
}

static void row_key(unsigned loss, unsigned rtt, unsigned reorder, char *buf, size_t n)
{
    snprintf(buf, n, "| %u%% | %u ms | %s |", loss, rtt, reorder ? "on" : "off");
}

/* The table as text (also the snapshot's contents). */
static char *table_text(const struct matrix *m, const struct cell *cells)
{
    size_t cap = 4096 + (size_t)nrows(m) * 256;
    char *t = malloc(cap), params[256];
    size_t len = 0;
    params_line(m, params, sizeof params);
    len += (size_t)snprintf(t + len, cap - len, "%s\n\n| loss | RTT | reorder |", params);
    for (unsigned c = 0; c < m->nconf; c++)
        len += (size_t)snprintf(t + len, cap - len, " %s |", tcpconfs[m->conf[c]].name);
    len += (size_t)snprintf(t + len, cap - len, "\n|---:|---:|:---:|");
    for (unsigned c = 0; c < m->nconf; c++)
        len += (size_t)snprintf(t + len, cap - len, "---:|");
    len += (size_t)snprintf(t + len, cap - len, "\n");
    for (unsigned r = 0; r < nrows(m); r++) {
        unsigned loss, rtt, reorder;
        row_of(m, r, &loss, &rtt, &reorder);
        char key[64];
        row_key(loss, rtt, reorder, key, sizeof key);
        len += (size_t)snprintf(t + len, cap - len, "%s", key);
        for (unsigned c = 0; c < m->nconf; c++) {
            char v[32];
            const struct cell *ce = &cells[r * m->nconf + c];
            fmt_goodput(v, sizeof v, ce->status, ce->goodput);
            len += (size_t)snprintf(t + len, cap - len, " %s |", v);
        }
        len += (size_t)snprintf(t + len, cap - len, "\n");
    }
    return t;
}

/* ------------------------------------------------------------ snapshot */

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    size_t k;
    while (s && (k = fread(s + len, 1, cap - len - 1, fp)) > 0) {
        len += k;
        if (cap - len < 2) {
            char *t = realloc(s, cap * 2);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(fp);
    if (s)
        s[len] = 0;
    return s;
}

/* Splits a table line "| a | b | c |" into at most max trimmed cells. */
static unsigned split_cells(const char *line, char cells[][40], unsigned max)
{
    unsigned n = 0;
    if (*line != '|')
        return 0;
    const char *p = line + 1;
    while (*p && *p != '\n' && n < max) {
        const char *e = strchr(p, '|');
        if (!e)
            break;
        const char *a = p, *b = e;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        snprintf(cells[n++], 40, "%.*s", (int)(b - a), a);
        p = e + 1;
    }
    return n;
}

/* Parses "12.34" (hundredths) or "n/a"/"FAIL"; returns false if neither. */
static bool parse_value(const char *s, struct cell *c)
{
    if (!strcmp(s, "n/a")) {
        c->status = ST_UNAVAILABLE;
        return true;
    }
    if (!strcmp(s, "FAIL")) {
        c->status = ST_FAILED;
        return true;
    }
    unsigned long long whole, frac;
    char tail;
    if (sscanf(s, "%llu.%2llu%c", &whole, &frac, &tail) != 2 || strlen(strchr(s, '.') + 1) != 2)
        return false;
    c->status = ST_OK;
    c->goodput = whole * 100 + frac;
    return true;
}

/* Compares the cells with the snapshot; prints every difference. Returns the
 * number of cells that differ (bad[] marks them), or -1 if the snapshot cannot
 * be used at all. */
static int compare_snapshot(const struct matrix *m, const struct cell *cells, const char *path, unsigned tol_pct,
                            bool *bad)
{
    char *s = read_file(path);
    if (!s) {
        printf("snapshot %s: %s (make sim-matrix-update writes it)\n", path, strerror(errno));
        return -1;
    }
    char params[256];
    params_line(m, params, sizeof params);
    size_t plen = strlen(params);
    if (strncmp(s, params, plen) != 0 || s[plen] != '\n') {
        printf("snapshot %s was made with other parameters:\n  snapshot: %.*s\n  this run: %s\n", path,
               (int)strcspn(s, "\n"), s, params);
        free(s);
        return -1;
    }
    /* Column order from the snapshot's header. */
    int col_of[NCONF + 3];
    bool header = false;
    unsigned diffs = 0;
    bool *seen = calloc(nrows(m), sizeof *seen);
    for (char *line = s; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char cl[NCONF + 3][40];
        unsigned n = split_cells(line, cl, NCONF + 3);
        if (n < 3 || cl[0][0] == '-' || cl[0][0] == ':')
            continue;
        if (!header) {
            header = true;
            for (unsigned i = 0; i < n; i++) {
                col_of[i] = -1;
                for (unsigned c = 0; c < m->nconf; c++)
                    if (i >= 3 && !strcmp(cl[i], tcpconfs[m->conf[c]].name))
                        col_of[i] = (int)c;
            }
            for (unsigned c = 0; c < m->nconf; c++) {
                bool has = false;
                for (unsigned i = 3; i < n; i++)
                    has |= col_of[i] == (int)c;
                if (!has) {
                    printf("snapshot %s has no column %s\n", path, tcpconfs[m->conf[c]].name);
                    free(seen);
                    free(s);
                    return -1;
                }
            }
            continue;
        }
        int row = -1;
        for (unsigned r = 0; r < nrows(m) && row < 0; r++) {
            unsigned loss, rtt, reorder;
            row_of(m, r, &loss, &rtt, &reorder);
            char a[40], b[40];
            snprintf(a, sizeof a, "%u%%", loss);
            snprintf(b, sizeof b, "%u ms", rtt);
            if (!strcmp(cl[0], a) && !strcmp(cl[1], b) && !strcmp(cl[2], reorder ? "on" : "off"))
                row = (int)r;
        }
        if (row < 0)
            continue; /* a row this (partial) matrix does not have */
        seen[row] = true;
        for (unsigned i = 3; i < n; i++) {
            if (col_of[i] < 0)
                continue;
            unsigned c = (unsigned)col_of[i];
            const struct cell *now = &cells[(unsigned)row * m->nconf + c];
            struct cell then = {ST_OK, 0};
            if (!parse_value(cl[i], &then)) {
                printf("snapshot %s: cannot read \"%s\"\n", path, cl[i]);
                free(seen);
                free(s);
                return -1;
            }
            char vn[32], vt[32];
            fmt_goodput(vn, sizeof vn, now->status, now->goodput);
            fmt_goodput(vt, sizeof vt, then.status, then.goodput);
            bool differ;
            if (now->status != ST_OK || then.status != ST_OK) {
                differ = now->status != then.status;
            } else {
                uint64_t d = now->goodput > then.goodput ? now->goodput - then.goodput : then.goodput - now->goodput;
                /* Beyond the tolerance, and beyond the last printed digit. */
                differ = d > 1 && d * 100 > (uint64_t)tol_pct * then.goodput;
            }
            if (differ) {
                unsigned loss, rtt, reorder;
                row_of(m, (unsigned)row, &loss, &rtt, &reorder);
                printf("  differs: loss %u%%, RTT %u ms, reorder %s, %s: snapshot %s, now %s", loss, rtt,
                       reorder ? "on" : "off", tcpconfs[m->conf[c]].name, vt, vn);
                if (now->status == ST_OK && then.status == ST_OK && then.goodput)
                    printf(" (%+.1f%%)", ((double)now->goodput - (double)then.goodput) * 100.0 / (double)then.goodput);
                else if (then.status == ST_UNAVAILABLE && now->status != ST_UNAVAILABLE)
                    printf(" (the configuration is available now)");
                else if (now->status == ST_UNAVAILABLE)
                    printf(" (the configuration is not in this build)");
                printf("\n");
                bad[(unsigned)row * m->nconf + c] = true;
                diffs++;
            }
        }
    }
    for (unsigned r = 0; r < nrows(m); r++) {
        if (!seen[r]) {
            unsigned loss, rtt, reorder;
            row_of(m, r, &loss, &rtt, &reorder);
            printf("  missing from the snapshot: loss %u%%, RTT %u ms, reorder %s\n", loss, rtt, reorder ? "on" : "off");
            for (unsigned c = 0; c < m->nconf; c++)
                bad[r * m->nconf + c] = true;
            diffs++;
        }
    }
    free(seen);
    free(s);
    return (int)diffs;
}

/* ------------------------------------------------------------ claims */

/* SACK with RACK (cubic+sack+rack, or newreno+sack while CUBIC is not in the
 * build) beats plain NewReno at 5% loss and under reordering (no loss), at
 * each RTT in the matrix. Returns the number of claims that failed. */
static unsigned check_claims(const struct matrix *m, const struct cell *cells, unsigned *checked)
{
    int ci[NCONF];
    for (unsigned c = 0; c < NCONF; c++)
        ci[c] = -1;
    for (unsigned c = 0; c < m->nconf; c++)
        ci[m->conf[c]] = (int)c;
    unsigned failed = 0;
    *checked = 0;
    if (ci[CONF_NEWRENO] < 0 || (ci[CONF_SACK] < 0 && ci[CONF_RACK] < 0)) {
        printf("claims: not checked (the matrix lacks newreno or the SACK configurations)\n");
        return 0;
    }
    /* The SACK column: cubic+sack+rack if every cell of it ran. */
    int sack = ci[CONF_RACK];
    if (sack >= 0)
        for (unsigned r = 0; r < nrows(m); r++)
            if (cells[r * m->nconf + (unsigned)sack].status == ST_UNAVAILABLE)
                sack = -1;
    if (sack < 0) {
        sack = ci[CONF_SACK];
        if (sack < 0) {
            printf("claims: not checked (cubic+sack+rack is unavailable and newreno+sack not in the matrix)\n");
            return 0;
        }
        if (ci[CONF_RACK] >= 0)
            printf("claims: cubic+sack+rack is unavailable; newreno+sack stands in for it\n");
    }
    for (unsigned r = 0; r < nrows(m); r++) {
        unsigned loss, rtt, reorder;
        row_of(m, r, &loss, &rtt, &reorder);
        const char *what;
        if (loss == 5 && !reorder)
            what = "at 5% loss";
        else if (loss == 0 && reorder)
            what = "under reordering";
        else
            continue;
        const struct cell *s = &cells[r * m->nconf + (unsigned)sack], *n = &cells[r * m->nconf + (unsigned)ci[CONF_NEWRENO]];
        char vs[32], vn[32];
        fmt_goodput(vs, sizeof vs, s->status, s->goodput);
        fmt_goodput(vn, sizeof vn, n->status, n->goodput);
        bool ok = s->status == ST_OK && n->status == ST_OK && s->goodput > n->goodput;
        (*checked)++;
        if (!ok)
            failed++;
        printf("claim %s: RTT %u ms, %s: %s %s Mbit/s %s newreno %s Mbit/s\n", ok ? "ok" : "FAILED", rtt, what,
               tcpconfs[m->conf[sack]].name, vs, ok ? "beats" : "does not beat", vn);
    }
    return failed;
}

/* ------------------------------------------------------------ driver */

static void usage(void)
{
    fprintf(stderr,
            "usage: sim_matrix [--short] [--loss LIST] [--rtt LIST] [--reorder LIST] [--configs LIST]\n"
            "                  [--bytes N] [--seeds N] [--jobs N] [--snapshot FILE [--update]]\n"
            "                  [--tolerance PCT] [--no-claims] [-v]\n");
    exit(2);
}

static unsigned parse_list(const char *s, unsigned *out, unsigned max)
{
    unsigned n = 0;
    while (*s && n < max) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || (*end && *end != ','))
            usage();
        out[n++] = (unsigned)v;
        s = *end ? end + 1 : end;
    }
    if (n == 0 || *s)
        usage();
    return n;
}

static unsigned parse_names(const char *s, unsigned *out, unsigned max, const char *const *names, unsigned nnames)
{
    unsigned n = 0;
    while (*s && n < max) {
        size_t len = strcspn(s, ",");
        unsigned i;
        for (i = 0; i < nnames; i++)
            if (strlen(names[i]) == len && !strncmp(names[i], s, len))
                break;
        if (i == nnames) {
            fprintf(stderr, "sim_matrix: unknown name \"%.*s\"\n", (int)len, s);
            usage();
        }
        out[n++] = i;
        s += len;
        if (*s == ',')
            s++;
    }
    if (n == 0 || *s)
        usage();
    return n;
}

int main(int argc, char **argv)
{
    static const unsigned full_loss[] = {0, 1, 2, 5, 10, 20}, short_loss[] = {0, 2, 5};
    struct matrix m = {.nrtt = 2, .rtt = {10, 100}, .nreorder = 2, .reorder = {0, 1},
                       .rate = DEFAULT_RATE};
    bool is_short = false, claims = true, update = false, verbose = false;
    const char *snapshot = NULL;
    unsigned jobs = 1, tol = 10;
    const char *loss_arg = NULL, *rtt_arg = NULL, *reo_arg = NULL, *conf_arg = NULL;
    size_t bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--short"))
            is_short = true;
        else if (!strcmp(a, "--loss") && more)
            loss_arg = argv[++i];
        else if (!strcmp(a, "--rtt") && more)
            rtt_arg = argv[++i];
        else if (!strcmp(a, "--reorder") && more)
            reo_arg = argv[++i];
        else if (!strcmp(a, "--configs") && more)
            conf_arg = argv[++i];
        else if (!strcmp(a, "--bytes") && more)
            bytes = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--seeds") && more) {
            if (!(m.seeds = (unsigned)strtoul(argv[++i], NULL, 0)))
                usage();
        }
        else if (!strcmp(a, "--jobs") && more)
            jobs = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--snapshot") && more)
            snapshot = argv[++i];
        else if (!strcmp(a, "--update"))
            update = true;
        else if (!strcmp(a, "--tolerance") && more)
            tol = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--no-claims"))
            claims = false;
        else if (!strcmp(a, "-v"))
            verbose = true;
        else
            usage();
    }
    const unsigned *dl = is_short ? short_loss : full_loss;
    m.nloss = is_short ? 3 : 6;
    memcpy(m.loss, dl, m.nloss * sizeof *dl);
    m.bytes = bytes ? bytes : is_short ? SHORT_BYTES : FULL_BYTES;
    if (!m.seeds)
        m.seeds = is_short ? SHORT_SEEDS : FULL_SEEDS;
    if (loss_arg)
        m.nloss = parse_list(loss_arg, m.loss, MAX_LEVELS);
    if (rtt_arg)
        m.nrtt = parse_list(rtt_arg, m.rtt, MAX_LEVELS);
    static const char *const onoff[] = {"off", "on"};
    if (reo_arg)
        m.nreorder = parse_names(reo_arg, m.reorder, 2, onoff, 2);
    const char *cnames[NCONF];
    for (unsigned c = 0; c < NCONF; c++)
        cnames[c] = tcpconfs[c].name;
    m.nconf = NCONF;
    for (unsigned c = 0; c < NCONF; c++)
        m.conf[c] = c;
    if (conf_arg)
        m.nconf = parse_names(conf_arg, m.conf, NCONF, cnames, NCONF);
    for (unsigned i = 0; i < m.nloss; i++)
        if (m.loss[i] > 100)
            usage();
    for (unsigned i = 0; i < m.nrtt; i++)
        if (m.rtt[i] == 0 || m.rtt[i] > 10000)
            usage();
    if (m.seeds > MAX_SEEDS || m.bytes == 0 || (update && !snapshot))
        usage();
    if (jobs < 1)
        jobs = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);

    unsigned ncells = nrows(&m) * m.nconf, njobs = ncells * m.seeds;
    if (jobs > njobs)
        jobs = njobs;
    struct result *res = calloc(njobs, sizeof *res);
    bool *have = calloc(njobs, sizeof *have);
    uint8_t *data = malloc(m.bytes);
    if (!res || !have || !data) {
        fprintf(stderr, "sim_matrix: out of memory\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fprintf(stderr, "sim_matrix: %u rows x %u configurations x %u seeds = %u runs of %zu bytes, %u job%s\n",
            nrows(&m), m.nconf, m.seeds, njobs, m.bytes, jobs, jobs > 1 ? "s" : "");

    /* Job j: cell j / seeds, run j % seeds; cell = row * nconf + conf. The
     * runs of one row and seed (a group: one per configuration) share their
     * data, a function of the seed, so a worker takes whole groups: worker k
     * takes groups k, k + jobs, ... and sends results through a pipe. */
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("pipe");
        return 2;
    }
    fflush(stdout);
    fflush(stderr);
    for (unsigned k = 0; k < jobs; k++) {
        pid_t pid = jobs == 1 ? 0 : fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid > 0)
            continue;
        uint64_t cur_seed = 0;
        char tx_hex[65];
        for (unsigned q = 0; q < njobs; q++) {
            unsigned group = q / m.nconf, c = q % m.nconf;
            if (group % jobs != k)
                continue;
            unsigned row = group / m.seeds, s = group % m.seeds, conf = m.conf[c];
            unsigned j = (row * m.nconf + c) * m.seeds + s;
            unsigned loss, rtt, reorder;
            row_of(&m, row, &loss, &rtt, &reorder);
            uint64_t seed = run_seed(loss, rtt, reorder, s);
            if (seed != cur_seed) {
                gen_fill(data, m.bytes, seed);
                struct sha256 h;
                sha256_init(&h);
                sha256_update(&h, data, m.bytes);
                sha256_final_hex(&h, tx_hex);
                cur_seed = seed;
            }
            struct result r;
            memset(&r, 0, sizeof r);
            r.job = j;
            run_one(&m, loss, rtt, reorder, conf, seed, data, tx_hex, &r);
            if (verbose) {
                char v[32];
                fmt_goodput(v, sizeof v, r.status, r.goodput);
                fprintf(stderr,
                        "run loss %u%% rtt %u ms reorder %s %-15s seed %016" PRIx64 ": %s Mbit/s in %" PRIu64
                        ".%03" PRIu64 " s, %" PRIu64 " segments retransmitted, %" PRIu64 " RTOs, %" PRIu64
                        " frames lost, %" PRIu64 " queue drops%s%s\n",
                        loss, rtt, reorder ? "on " : "off", tcpconfs[conf].name, seed, v, r.elapsed_us / 1000000,
                        r.elapsed_us / 1000 % 1000, r.rexmits, r.rtos, r.lost, r.queue_drops,
                        r.status == ST_OK ? "" : ": ", r.status == ST_OK ? "" : r.why);
            }
            if (jobs == 1) {
                res[j] = r;
                have[j] = true;
            } else if (write(pfd[1], &r, sizeof r) != (ssize_t)sizeof r) {
                _exit(3);
            }
        }
        if (jobs > 1) {
            free(res);
            free(have);
            free(data);
            exit(0);
        }
    }
    close(pfd[1]);
    struct result r;
    while (jobs > 1 && read(pfd[0], &r, sizeof r) == (ssize_t)sizeof r)
        if (r.job < njobs) {
            res[r.job] = r;
            have[r.job] = true;
        }
    close(pfd[0]);
    while (jobs > 1 && wait(NULL) > 0) {}

    /* Cells: the median of the runs; any failed run fails the cell, and a
     * configuration that cannot be created is unavailable. */
    struct cell *cells = calloc(ncells, sizeof *cells);
    bool *bad = calloc(ncells, sizeof *bad);
    unsigned n_fail = 0, n_unavail = 0, n_ok = 0;
    for (unsigned c = 0; c < ncells; c++) {
        uint64_t g[MAX_SEEDS];
        unsigned ng = 0;
        cells[c].status = ST_OK;
        for (unsigned s = 0; s < m.seeds; s++) {
            unsigned j = c * m.seeds + s;
            unsigned loss, rtt, reorder;
            row_of(&m, c / m.nconf, &loss, &rtt, &reorder);
            const char *name = tcpconfs[m.conf[c % m.nconf]].name;
            if (!have[j]) {
                printf("run FAILED: loss %u%%, RTT %u ms, reorder %s, %s, seed %u: no result (worker died)\n", loss,
                       rtt, reorder ? "on" : "off", name, s);
                cells[c].status = ST_FAILED;
            } else if (res[j].status == ST_FAILED) {
                printf("run FAILED: loss %u%%, RTT %u ms, reorder %s, %s, seed %016" PRIx64 ": %s\n", loss, rtt,
                       reorder ? "on" : "off", name, run_seed(loss, rtt, reorder, s), res[j].why);
                printf("  replay: %s --loss %u --rtt %u --reorder %s --configs %s --bytes %zu --seeds %u -v\n",
                       argv[0], loss, rtt, reorder ? "on" : "off", name, m.bytes, m.seeds);
                cells[c].status = ST_FAILED;
            } else if (res[j].status == ST_UNAVAILABLE) {
                if (cells[c].status == ST_OK)
                    cells[c].status = ST_UNAVAILABLE;
            } else {
                g[ng++] = res[j].goodput;
            }
        }
        if (cells[c].status == ST_OK) {
            qsort(g, ng, sizeof g[0], cmp_u64);
            cells[c].goodput = g[(ng - 1) / 2];
        }
    }
    /* Configurations that are not in this build, once each. */
    for (unsigned c = 0; c < m.nconf; c++) {
        for (unsigned j = 0; j < njobs; j++) {
            if (have[j] && res[j].status == ST_UNAVAILABLE && (j / m.seeds) % m.nconf == c) {
                printf("%s: unavailable in this build: %s\n", tcpconfs[m.conf[c]].name, res[j].why);
                break;
            }
        }
    }

    char *table = table_text(&m, cells);
    printf("\n%s\n", table);

    bool snap_failed = false;
    if (snapshot && update) {
        bool any_failed = false;
        for (unsigned c = 0; c < ncells; c++)
            any_failed |= cells[c].status == ST_FAILED;
        FILE *fp = any_failed ? NULL : fopen(snapshot, "w");
        if (any_failed) {
            printf("snapshot %s: not written, runs failed\n", snapshot);
            snap_failed = true;
        } else if (!fp || fputs(table, fp) == EOF || fclose(fp) != 0) {
            printf("snapshot %s: cannot write: %s\n", snapshot, strerror(errno));
            snap_failed = true;
        } else {
            printf("snapshot %s: written\n", snapshot);
        }
    } else if (snapshot) {
        int d = compare_snapshot(&m, cells, snapshot, tol, bad);
        if (d < 0) {
            snap_failed = true;
        } else if (d > 0) {
            printf("snapshot %s: %d difference%s beyond %u%%; if the change is intended: make sim-matrix-update\n",
                   snapshot, d, d > 1 ? "s" : "", tol);
            snap_failed = true;
        } else {
            printf("snapshot %s: every cell within %u%%\n", snapshot, tol);
        }
    }

    unsigned claims_checked = 0, claims_failed = 0;
    if (claims)
        claims_failed = check_claims(&m, cells, &claims_checked);

    for (unsigned c = 0; c < ncells; c++) {
        if (cells[c].status == ST_FAILED || bad[c])
            n_fail++;
        else if (cells[c].status == ST_UNAVAILABLE)
            n_unavail++;
        else
            n_ok++;
    }
    printf("sim-matrix: %u cells, %u ok, %u failed", ncells, n_ok, n_fail);
    if (n_unavail)
        printf(", %u unavailable", n_unavail);
    if (snap_failed && !n_fail)
        printf("; snapshot unusable");
    if (claims)
        printf("; claims: %u checked, %u failed", claims_checked, claims_failed);
    printf("\n");

    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru_self, ru_kids;
    getrusage(RUSAGE_SELF, &ru_self);
    getrusage(RUSAGE_CHILDREN, &ru_kids);
    double cpu = (double)(ru_self.ru_utime.tv_sec + ru_self.ru_stime.tv_sec + ru_kids.ru_utime.tv_sec +
                          ru_kids.ru_stime.tv_sec) +
                 (double)(ru_self.ru_utime.tv_usec + ru_self.ru_stime.tv_usec + ru_kids.ru_utime.tv_usec +
                          ru_kids.ru_stime.tv_usec) / 1e6;
    fprintf(stderr, "sim_matrix: %.1f s real, %.1f s CPU\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, cpu);

    bool fail_all = n_fail || snap_failed || claims_failed;
    free(table);
    free(cells);
    free(bad);
    free(res);
    free(have);
    free(data);
    return fail_all ? 1 : 0;
}
