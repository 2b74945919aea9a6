/*
 * TCP simulation test: two ustack instances on the
 * simulator's in-memory Ethernet segment (ustack_sim), each behind its own
 * seeded fault injector, move 10 MiB through the socket API in non-blocking
 * mode (no runtime: the program is the application of both stacks and drives
 * virtual time with ustack_sim_run_until), then close.
 *
 * Every seed chooses, deterministically, its impairments (loss 0-20% per frame
 * in each direction, duplication, reordering, single-bit corruption, delay and
 * jitter), the MTU, the direction of the transfer (client to server, server to
 * client after a short request, or both at once), how each side closes
 * (shutdown + read to EOF + close, close straight after the last write with
 * data still in flight, or the receiving side half-closing first), buffer
 * sizes, Nagle, write and read sizes and a reader that pauses. Checked for
 * every seed:
 *   - every byte arrives, in order, equal to the generator's (byte for byte,
 *     which is stronger than comparing sha256 digests);
 *   - no socket call fails other than with EAGAIN/EINPROGRESS; EOF comes
 *     exactly after the last byte; both sockets and the listener close;
 *   - both stacks end clean once TIME-WAIT is over: no socket, no TCB
 *     (ustack_usage.tcp_connections == 0), no packet buffer, nothing waiting
 *     on ARP or reassembly; no abort, timeout or refusal was counted;
 *   - nothing stalls or loops: the transfer never waits with nothing left to
 *     do, finishes within a virtual-time bound, and within a frame budget.
 * Leaks beyond the stack's own accounting are ASan's job (make asan builds
 * this program with ASan/UBSan and runs fewer seeds).
 *
 * A run is a pure function of its seed: a failure prints the seed, its
 * scenario and the command that replays it exactly (make sim SEED=N).
 *
 *   sim_tcp [--seeds N | --seed S] [--first S] [--bytes N] [--jobs N] [-v]
 *           [--replay-check] [--trace[=SECONDS]]
 *
 * --seeds N runs seeds first..first+N-1 (default 1..200) in --jobs processes;
 * --seed S runs one seed verbosely; --replay-check runs the first seed twice
 * and compares a fingerprint of everything both stacks counted; --trace
 * prints every frame each stack (C client, S server) sends and receives, from
 * SECONDS of virtual time on (make sim SEED=N SIM_ARGS=--trace=12.5).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>

#define DEFAULT_BYTES (10u << 20)
#define DEFAULT_SEEDS 200
#define PORT 5001
#define T_START USTACK_SEC(1)
/* Frames both stacks may send for one seed: a normal run sends well under
 * 100 000 (10 MiB is 7 200 full-sized segments); beyond this something is
 * looping (an ACK war, a retransmission storm), and the seed fails instead of
 * running for ever. Checked before every step of the applications, and the
 * simulator hands over at most a million frames per step. */
#define FRAME_BUDGET 2000000u
/* After both sockets are closed: TIME-WAIT is 2 MSL (60 s); a LAST-ACK side
 * whose FIN keeps being lost backs off up to 60 s per retry. */
#define CLOSE_LIMIT USTACK_SEC(1800)

/* ------------------------------------------------------------ randomness */


/* Uniform in [0, n). */
static uint64_t pick(uint64_t *r, uint64_t n) { return ustack_rand64(r) % n; }
/* Uniform in [lo, hi]. */
static double urange(uint64_t *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(ustack_rand64(r) >> 11) * 0x1.0p-53;
}

/* The byte stream a side sends: pseudo-random, a function of (seed, stream). */
static void gen_fill(uint8_t *buf, size_t n, uint64_t seed, unsigned stream)
{
    uint64_t x = seed * 0x100000001b3ull ^ (0x5354524541ull + stream);
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

/* ------------------------------------------------------------ frame trace */

/* --trace: every frame a stack sends or receives, one line each, from a given
 * virtual time on. The fault link in front of each stack is wrapped by
 * swapping its ops for ones that print and call the originals. */
static struct {
    bool on;
    ustack_time_t from;
    struct ustack_sim *sim;
    struct ustack_link *link[2];
    const struct ustack_link_ops *orig[2];
    struct ustack_link_ops ops[2];
} tr;

static void trace_frame(int node, const char *dir, const uint8_t *f, size_t len)
{
    ustack_time_t now = ustack_sim_now(tr.sim);
    if (now < tr.from)
        return;
    printf("%12.6f %c %s ", (double)(now - T_START) / 1e6, node ? 'S' : 'C', dir);
    uint16_t type = len >= 14 ? (uint16_t)(f[12] << 8 | f[13]) : 0;
    if (type == 0x0806 && len >= 42) {
        const uint8_t *a = f + 14;
        printf("ARP %s %u.%u.%u.%u is-at %02x:%02x:%02x:%02x:%02x:%02x (to %u.%u.%u.%u)\n",
               a[7] == 1 ? "request" : "reply", a[14], a[15], a[16], a[17], a[8], a[9], a[10], a[11], a[12], a[13],
               a[24], a[25], a[26], a[27]);
        return;
    }
    const uint8_t *ip = f + 14;
    if (type != 0x0800 || len < 34 || ip[9] != 6 || len < 14 + (size_t)(ip[0] & 15) * 4 + 20) {
        printf("frame type 0x%04x, %zu bytes\n", type, len);
        return;
    }
    size_t ihl = (size_t)(ip[0] & 15) * 4, tot = (size_t)(ip[2] << 8 | ip[3]);
    const uint8_t *t = ip + ihl;
    size_t thl = (size_t)(t[12] >> 4) * 4;
    uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    uint32_t ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
    uint8_t fl = t[13];
    printf("%u > %u [%s%s%s%s%s] seq %u ack %u win %u len %zu%s\n", t[0] << 8 | t[1], t[2] << 8 | t[3],
           fl & 0x02 ? "S" : "", fl & 0x01 ? "F" : "", fl & 0x04 ? "R" : "", fl & 0x08 ? "P" : "",
           fl & 0x10 ? "." : "", seq, ack, t[14] << 8 | t[15], tot >= ihl + thl ? tot - ihl - thl : 0,
           (f[0] & 1) || f[5] == ((node == (dir[0] == 'i')) ? 2 : 1) ? "" : " (to another MAC)");
}

static int trace_send(struct ustack_link *l, ustack_time_t now, const uint8_t *f, size_t len)
{
    int i = l == tr.link[1];
    trace_frame(i, "out", f, len);
    return tr.orig[i]->send(l, now, f, len);
}

static int trace_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    int i = l == tr.link[1];
    int n = tr.orig[i]->recv(l, now, buf, cap);
    if (n > 0)
        trace_frame(i, "in ", buf, (size_t)n);
    return n;
}

static void trace_attach(struct ustack_sim *sim)
{
    tr.sim = sim;
    for (int i = 0; i < 2; i++) {
        tr.link[i] = ustack_sim_fault_link(sim, (unsigned)i);
        tr.orig[i] = tr.link[i]->ops;
        tr.ops[i] = *tr.orig[i];
        tr.ops[i].send = trace_send;
        tr.ops[i].recv = trace_recv;
        tr.link[i]->ops = &tr.ops[i];
    }
}

/* The fault links' own ops again (their statistics check them). */
static void trace_detach(void)
{
    for (int i = 0; i < 2; i++)
        if (tr.link[i])
            tr.link[i]->ops = tr.orig[i];
    tr.link[0] = tr.link[1] = NULL;
}

/* ------------------------------------------------------------ scenario */

enum dir { C2S, S2C, BOTH };
enum close_style {
    CLOSE_SHUTDOWN, /* sender: shutdown(SHUT_WR), read to EOF, close; receiver: close after EOF */
    CLOSE_ORPHAN,   /* sender: close() right after the last write (unidirectional only) */
    CLOSE_RX_FIRST, /* receiver: shutdown(SHUT_WR) once it has nothing (more) to send, keeps reading */
};
static const char *dir_name[] = {"c2s", "s2c", "both"};
static const char *close_name[] = {"shutdown", "orphan", "rx-first"};

struct scenario {
    uint64_t seed;
    size_t bytes;
    size_t request;            /* s2c: what the client sends before the server answers */
    double loss;               /* the seed's loss level */
    double loss_ab, loss_ba;   /* per frame, client -> server and back: the level, or 0 */
    double dup, reorder, corrupt;
    ustack_time_t delay, jitter;
    uint16_t mtu;
    enum dir dir;
    enum close_style close;
    bool early_write;          /* client writes before the handshake completes */
    bool close_listener_early; /* server closes its listener right after accept */
    bool nodelay[2];           /* [0] client, [1] server */
    int sndbuf[2], rcvbuf[2];  /* SO_SNDBUF/SO_RCVBUF values (0: default) */
    size_t wchunk[2], rchunk[2];
    size_t read_burst;         /* 0: read whenever possible; else pause after this many bytes */
    ustack_time_t read_pause;
    ustack_time_t limit;       /* virtual-time bound of the transfer */
};

/* The loss level by seed: every 20 consecutive seeds cover 0-20%. Heavy
 * loss costs virtual time (Reno without SACK recovers much of it by RTO and
 * go-back-N), which is free, and little real time: each seed takes tens of
 * milliseconds either way. */
static const double loss_mix[20] = {
    0.0,  0.0,  0.001, 0.005, 0.01, 0.01, 0.02, 0.02, 0.03, 0.04,
    0.05, 0.06, 0.07,  0.08,  0.10, 0.12, 0.14, 0.16, 0.18, 0.20,
};

static void scenario_make(struct scenario *sc, uint64_t seed, size_t bytes)
{
    memset(sc, 0, sizeof *sc);
    uint64_t r = seed ^ 0x73696d2d746370ull;
    sc->seed = seed;
    sc->bytes = bytes;
    sc->loss = loss_mix[seed % 20];
    /* Mostly the same loss both ways; one seed in four has one direction
     * lossless (only data, or only ACKs, lost). */
    sc->loss_ab = sc->loss_ba = sc->loss;
    unsigned asym = (unsigned)pick(&r, 8);
    if (asym == 0)
        sc->loss_ab = 0;
    else if (asym == 1)
        sc->loss_ba = 0;
    /* Other impairments: off for some seeds, so that each is also seen alone. */
    sc->dup = pick(&r, 4) ? urange(&r, 0, 0.05) : 0;
    sc->reorder = pick(&r, 4) ? urange(&r, 0, 0.10) : 0;
    sc->corrupt = pick(&r, 4) ? urange(&r, 0, 0.01) : 0;
    sc->delay = pick(&r, 5) ? USTACK_MS(pick(&r, 21)) : 0;
    sc->jitter = pick(&r, 3) ? 0 : (ustack_time_t)pick(&r, 3001);
    static const uint16_t mtus[8] = {1500, 1500, 1500, 1500, 1280, 1006, 576, 9000};
    sc->mtu = mtus[pick(&r, 8)];
    static const enum dir dirs[8] = {C2S, C2S, C2S, S2C, S2C, S2C, BOTH, BOTH};
    sc->dir = dirs[pick(&r, 8)];
    unsigned cs = (unsigned)pick(&r, 8);
    sc->close = cs < 5 ? CLOSE_SHUTDOWN : cs < 7 ? CLOSE_ORPHAN : CLOSE_RX_FIRST;
    if (sc->dir == BOTH)
        sc->close = CLOSE_SHUTDOWN; /* both send: both must read to EOF first */
    sc->early_write = pick(&r, 2);
    sc->close_listener_early = pick(&r, 2);
    for (int i = 0; i < 2; i++) {
        sc->nodelay[i] = pick(&r, 3) == 0;
        static const int bufs[6] = {0, 0, 0, 4096, 16384, 65536};
        sc->sndbuf[i] = bufs[pick(&r, 6)];
        sc->rcvbuf[i] = bufs[pick(&r, 6)];
        static const size_t chunks[6] = {65536, 65536, 16384, 4000, 1460, 777};
        sc->wchunk[i] = chunks[pick(&r, 6)];
        sc->rchunk[i] = chunks[pick(&r, 6)];
    }
    if (pick(&r, 6) == 0) {
        sc->read_burst = 16384u << pick(&r, 5); /* 16 KiB .. 256 KiB */
        sc->read_pause = USTACK_MS(10 + pick(&r, 490));
    }
    sc->request = 1 + (size_t)pick(&r, 2000);
    /* Generous: the slowest seeds need about an hour of virtual time. */
    sc->limit = USTACK_SEC(600) + (ustack_time_t)(sc->loss * 100 * 3600) * USTACK_SEC(1);
}

static void scenario_print(FILE *f, const struct scenario *sc)
{
    char req[48] = "";
    if (sc->dir == S2C)
        snprintf(req, sizeof req, " after a %zu-byte request", sc->request);
    fprintf(f,
            "seed %" PRIu64 ": loss %.1f%%/%.1f%% dup %.1f%% reorder %.1f%% corrupt %.2f%% delay %" PRIu64
            " ms jitter %" PRIu64 " us mtu %u; %s%s, close %s%s%s; nodelay %d/%d sndbuf %d/%d rcvbuf %d/%d"
            " write %zu/%zu read %zu/%zu",
            sc->seed, sc->loss_ab * 100, sc->loss_ba * 100, sc->dup * 100, sc->reorder * 100, sc->corrupt * 100, sc->delay / 1000,
            sc->jitter, sc->mtu, dir_name[sc->dir], req, close_name[sc->close], sc->early_write ? ", early write" : "",
            sc->close_listener_early ? ", listener closed at accept" : "", sc->nodelay[0], sc->nodelay[1],
            sc->sndbuf[0], sc->sndbuf[1], sc->rcvbuf[0], sc->rcvbuf[1], sc->wchunk[0], sc->wchunk[1],
            sc->rchunk[0], sc->rchunk[1]);
    if (sc->read_burst)
        fprintf(f, ", reader pauses %" PRIu64 " ms every %zu KiB", sc->read_pause / 1000, sc->read_burst >> 10);
    fprintf(f, "\n");
}

/* ------------------------------------------------------------ the run */

struct end {
    const char *name;
    struct ustack *st;
    int fd;                     /* the connection, -1 before accept / after close */
    bool client, connected, closed, shut;
    bool main_sender;           /* sends the bulk (else: receives it, sends at most a request) */
    const uint8_t *tx;          /* what this side sends */
    size_t tx_total, tx_done;
    const uint8_t *rx;          /* what it must receive */
    size_t rx_total, rx_done;
    bool eof;
    size_t wchunk, rchunk;
    size_t burst_left;          /* slow reader: bytes before the next pause */
    ustack_time_t resume_at;    /* slow reader: paused until */
};

struct run {
    const struct scenario *sc;
    struct ustack_sim *sim;
    struct ustack *a, *b;       /* client, server */
    int listener;
    struct end e[2];            /* [0] client on a, [1] server on b */
    bool failed;
    char why[512];
    ustack_time_t wakeup;       /* earliest time the application wants to run again */
    ustack_time_t until;        /* the limit of the current ustack_sim_run_until() */
    ustack_time_t limit;        /* virtual-time bound of the transfer */
    uint64_t frames;            /* sent by both stacks so far */
    bool over;                  /* both connections closed (or failed) */
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

static void end_close(struct run *r, struct end *e)
{
    if (us_close(e->st, e->fd) != 0)
        fail(r, "%s: close: %s", e->name, strerror(errno));
    e->fd = -1;
    e->closed = true;
}

static void end_send(struct run *r, struct end *e)
{
    while (e->tx_done < e->tx_total) {
        size_t n = e->tx_total - e->tx_done;
        if (n > e->wchunk)
            n = e->wchunk;
        ssize_t w = us_send(e->st, e->fd, e->tx + e->tx_done, n, 0);
        if (w < 0) {
            if (errno != EAGAIN)
                fail(r, "%s: send at byte %zu: %s", e->name, e->tx_done, strerror(errno));
            return;
        }
        if (w == 0 || (size_t)w > n) {
            fail(r, "%s: send returned %zd for %zu bytes", e->name, w, n);
            return;
        }
        e->tx_done += (size_t)w;
    }
}

static void end_recv(struct run *r, struct end *e, ustack_time_t now)
{
    const struct scenario *sc = r->sc;
    while (!e->eof) {
        if (sc->read_burst && e->burst_left == 0) {
            if (now < e->resume_at) {
                if (e->resume_at < r->wakeup)
                    r->wakeup = e->resume_at;
                return;
            }
            e->burst_left = sc->read_burst;
        }
        size_t want = e->rchunk;
        if (sc->read_burst && want > e->burst_left)
            want = e->burst_left;
        ssize_t n = us_recv(e->st, e->fd, r->buf, want, 0);
        if (n < 0) {
            if (errno != EAGAIN)
                fail(r, "%s: recv at byte %zu of %zu: %s", e->name, e->rx_done, e->rx_total, strerror(errno));
            return;
        }
        if (n == 0) {
            if (e->rx_done != e->rx_total)
                fail(r, "%s: EOF after %zu of %zu bytes", e->name, e->rx_done, e->rx_total);
            e->eof = true;
            return;
        }
        if ((size_t)n > e->rx_total - e->rx_done) {
            fail(r, "%s: %zu bytes beyond the %zu sent", e->name, e->rx_done + (size_t)n - e->rx_total,
                 e->rx_total);
            return;
        }
        if (memcmp(r->buf, e->rx + e->rx_done, (size_t)n) != 0) {
            size_t k = 0;
            while (r->buf[k] == e->rx[e->rx_done + k])
                k++;
            fail(r, "%s: byte %zu differs (got 0x%02x, sent 0x%02x)", e->name, e->rx_done + k, r->buf[k],
                 e->rx[e->rx_done + k]);
            return;
        }
        e->rx_done += (size_t)n;
        if (sc->read_burst) {
            e->burst_left -= (size_t)n;
            if (e->burst_left == 0)
                e->resume_at = now + sc->read_pause;
        }
    }
}

/* One side's application: everything it can do now without blocking. */
static void end_pump(struct run *r, struct end *e, ustack_time_t now)
{
    const struct scenario *sc = r->sc;
    if (e->closed || e->fd < 0)
        return;
    if (e->client && !e->connected) {
        /* The non-blocking connect: done once there is a peer; failed if
         * poll() reports an error (then SO_ERROR says which). */
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        if (us_getpeername(e->st, e->fd, (struct sockaddr *)&peer, &plen) == 0) {
            e->connected = true;
        } else {
            struct pollfd p = {.fd = e->fd, .events = POLLOUT};
            if (us_poll(e->st, &p, 1, 0) < 0) {
                fail(r, "%s: poll: %s", e->name, strerror(errno));
                return;
            }
            if (p.revents & (POLLERR | POLLHUP)) {
                int err = -1;
                socklen_t len = sizeof err;
                us_getsockopt(e->st, e->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                fail(r, "%s: connect: %s", e->name, err > 0 ? strerror(err) : "failed without SO_ERROR");
                return;
            }
            if (!sc->early_write)
                return;
        }
    }
    /* A server that answers a request sends once it has all of it. */
    bool waits_for_request = !e->client && sc->dir == S2C && e->rx_done < e->rx_total;
    if (!waits_for_request)
        end_send(r, e);
    if (r->failed)
        return;
    if (e->tx_done == e->tx_total && !e->shut) {
        if (e->main_sender && sc->close == CLOSE_ORPHAN) {
            end_close(r, e); /* data may still be in flight: the stack finishes on its own */
            return;
        }
        /* The sender half-closes after its data; the receiver only in the
         * "rx-first" style, else its FIN comes with close() after EOF. */
        if (e->main_sender || sc->close == CLOSE_RX_FIRST) {
            if (us_shutdown(e->st, e->fd, SHUT_WR) != 0) {
                fail(r, "%s: shutdown: %s", e->name, strerror(errno));
                return;
            }
            e->shut = true;
        }
    }
    end_recv(r, e, now);
    if (r->failed)
        return;
    if (e->eof && e->tx_done == e->tx_total && (e->shut || !e->main_sender))
        end_close(r, e);
}

/* The applications of both stacks. Non-zero when the transfer is over, or
 * when a reader wants to wake up before the simulator would stop anyway. */
static int pump(void *arg)
{
    struct run *r = arg;
    ustack_time_t now = ustack_sim_now(r->sim);
    r->wakeup = USTACK_TIME_NEVER;
    r->frames = ustack_sim_fault_link(r->sim, 0)->tx_frames + ustack_sim_fault_link(r->sim, 1)->tx_frames;
    if (r->frames > FRAME_BUDGET) {
        fail(r, "livelock: %" PRIu64 " frames sent by %.6f s of virtual time (budget %u); client sent %zu/%zu got "
                "%zu/%zu, server sent %zu/%zu got %zu/%zu",
             r->frames, (double)(now - T_START) / 1e6, FRAME_BUDGET, r->e[0].tx_done, r->e[0].tx_total,
             r->e[0].rx_done, r->e[0].rx_total, r->e[1].tx_done, r->e[1].tx_total, r->e[1].rx_done,
             r->e[1].rx_total);
        r->over = true;
        return 1;
    }
    if (now >= r->limit) {
        fail(r, "not done after %.0f s of virtual time: client sent %zu/%zu got %zu/%zu, server sent "
                "%zu/%zu got %zu/%zu",
             (double)(now - T_START) / 1e6, r->e[0].tx_done, r->e[0].tx_total, r->e[0].rx_done,
             r->e[0].rx_total, r->e[1].tx_done, r->e[1].tx_total, r->e[1].rx_done, r->e[1].rx_total);
        r->over = true;
        return 1;
    }
    struct end *srv = &r->e[1];
    if (srv->fd < 0 && !srv->closed) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        int fd = us_accept(r->b, r->listener, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK);
        if (fd >= 0) {
            srv->fd = fd;
            srv->connected = true;
            if (r->sc->close_listener_early) {
                us_close(r->b, r->listener);
                r->listener = -1;
            }
        } else if (errno != EAGAIN) {
            fail(r, "server: accept: %s", strerror(errno));
        }
    }
    for (int i = 0; i < 2 && !r->failed; i++)
        end_pump(r, &r->e[i], now);
    if (!r->failed && r->e[0].closed && r->e[1].closed && r->listener >= 0) {
        us_close(r->b, r->listener);
        r->listener = -1;
    }
    r->over = r->failed || (r->e[0].closed && r->e[1].closed);
    return r->over || r->wakeup < r->until;
}

struct result {
    uint64_t seed;
    int ok;
    double loss;
    double vtime_s;        /* virtual time of the transfer */
    double real_ms;
    uint64_t rexmits, rtos, frames_dropped, frames_corrupted;
    uint64_t frames;       /* sent by both stacks */
    uint64_t fingerprint;  /* every counter of both stacks, the clock */
    char why[512];
};

static int all_gone(void *arg)
{
    struct run *r = arg;
    struct ustack_usage ua, ub;
    ustack_get_usage(r->a, &ua);
    ustack_get_usage(r->b, &ub);
    return ua.tcp_connections == 0 && ub.tcp_connections == 0;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Counters that must stay zero. Some ends of a connection are legitimate
 * after both sockets are closed and are not among them:
 *   - RSTs: a TIME-WAIT side may answer a reordered old ACK with an ACK, the
 *     peer (CLOSED by then) answers that with a RST, and the RST ends
 *     TIME-WAIT early (RFC 9293 3.10.7.4, as Linux without tcp_rfc1337);
 *   - tcp_fin_wait2_timeout: an orphan in FIN-WAIT-2 gives up after 60 s if
 *     every retransmission of the peer's FIN was lost meanwhile (as Linux's
 *     tcp_fin_timeout); the peer's next retransmission then meets a RST.
 * A RST or timeout while a socket is open shows as an error of a socket
 * call, or as missing data, instead. */
static const char *const must_be_zero[] = {
    "tcp_aborts", "tcp_timeout", "tcp_conn_refused", "tcp_drop_nomem",
};

static void run_seed(const struct scenario *sc, uint8_t *gen[2], bool verbose, struct result *res)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    res->seed = sc->seed;
    res->loss = sc->loss;

    static struct run run;
    struct run *r = &run;
    memset(r, 0, sizeof *r);
    r->sc = sc;
    r->listener = -1;

    /* gen[0]: client -> server, gen[1]: server -> client. A client that
     * only downloads sends a request first, as applications do: a client
     * with nothing to send could never learn that the server dropped the
     * connection in SYN-RECEIVED after every ACK of the handshake was lost
     * (as Linux does, after 5 SYN-ACKs), and would wait for ever. */
    size_t c2s = sc->dir != S2C ? sc->bytes : sc->request, s2c = sc->dir != C2S ? sc->bytes : 0;
    gen_fill(gen[0], c2s, sc->seed, 0);
    gen_fill(gen[1], s2c, sc->seed, 1);

    r->sim = ustack_sim_new(sc->seed, T_START);
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.mtu = sc->mtu;
    /* Giving up is not what is tested here (the unit tests time it): at 20%
     * loss each way a round trip fails one time in three, and the default 15
     * data / 6 SYN retries in a row do run out once in a few million
     * exchanges, i.e. within some thousands of seeds. Twice as many make
     * that negligible (1e-13). */
    cfg.tcp.data_retries = 30;
    cfg.tcp.syn_retries = 12;
    struct ustack_fault_config f;
    memset(&f, 0, sizeof f);
    /* Each frame meets one drop and one duplication point (the sender's
     * out) and one reorder, corruption and delay point (the receiver's in). */
    f.out.drop = sc->loss_ab;
    f.out.dup = sc->dup;
    f.in.reorder = sc->reorder;
    f.in.corrupt = sc->corrupt;
    f.in.delay_us = sc->delay;
    f.in.jitter_us = sc->jitter;
    ustack_ip_parse("10.0.0.1", &cfg.addr, NULL);
    r->a = ustack_sim_add(r->sim, &cfg, &f);
    ustack_ip_parse("10.0.0.2", &cfg.addr, NULL);
    f.out.drop = sc->loss_ba;
    r->b = ustack_sim_add(r->sim, &cfg, &f);
    if (!r->sim || !r->a || !r->b) {
        fail(r, "cannot create the simulation");
        goto out;
    }
    if (tr.on)
        trace_attach(r->sim);

    r->e[0] = (struct end){.name = "client", .st = r->a, .client = true, .main_sender = sc->dir != S2C,
                           .tx = gen[0], .tx_total = c2s,
                           .rx = gen[1], .rx_total = s2c, .wchunk = sc->wchunk[0], .rchunk = sc->rchunk[0]};
    r->e[1] = (struct end){.name = "server", .st = r->b, .fd = -1, .main_sender = sc->dir != C2S,
                           .tx = gen[1], .tx_total = s2c,
                           .rx = gen[0], .rx_total = c2s, .wchunk = sc->wchunk[1], .rchunk = sc->rchunk[1]};
    for (int i = 0; i < 2; i++)
        r->e[i].burst_left = sc->read_burst;

    /* Server: listen; the accepted socket inherits the listener's options. */
    r->listener = us_socket(r->b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    if (r->listener < 0 || us_setsockopt(r->b, r->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (sc->nodelay[1] && us_setsockopt(r->b, r->listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) ||
        (sc->sndbuf[1] && us_setsockopt(r->b, r->listener, SOL_SOCKET, SO_SNDBUF, &sc->sndbuf[1], sizeof(int))) ||
        (sc->rcvbuf[1] && us_setsockopt(r->b, r->listener, SOL_SOCKET, SO_RCVBUF, &sc->rcvbuf[1], sizeof(int))) ||
        us_bind(r->b, r->listener, (struct sockaddr *)&sin, sizeof sin) ||
        us_listen(r->b, r->listener, 4)) {
        fail(r, "server: listen: %s", strerror(errno));
        goto out;
    }
    /* Client: options, then a non-blocking connect. */
    int fd = us_socket(r->a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r->e[0].fd = fd;
    if (fd < 0 || (sc->nodelay[0] && us_setsockopt(r->a, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) ||
        (sc->sndbuf[0] && us_setsockopt(r->a, fd, SOL_SOCKET, SO_SNDBUF, &sc->sndbuf[0], sizeof(int))) ||
        (sc->rcvbuf[0] && us_setsockopt(r->a, fd, SOL_SOCKET, SO_RCVBUF, &sc->rcvbuf[0], sizeof(int)))) {
        fail(r, "client: socket: %s", strerror(errno));
        goto out;
    }
    ustack_ip_parse("10.0.0.2", &sin.sin_addr.s_addr, NULL);
    if (us_connect(r->a, fd, (struct sockaddr *)&sin, sizeof sin) != -1 || errno != EINPROGRESS) {
        fail(r, "client: connect: expected EINPROGRESS, got %s", strerror(errno));
        goto out;
    }

    /* The transfer: the applications run before every step of the simulator;
     * a pausing reader is woken at its time. Nothing left to do while the
     * transfer is not over is a stall. */
    r->limit = T_START + sc->limit;
    r->wakeup = USTACK_TIME_NEVER;
    for (;;) {
        r->until = r->wakeup;
        int rc = ustack_sim_run_until(r->sim, pump, r, r->until);
        if (r->over)
            break;
        if (rc)
            continue; /* a reader wants to run earlier than planned */
        if (r->until == USTACK_TIME_NEVER) {
            fail(r, "stalled at %.3f s: nothing left to do; client sent %zu/%zu got %zu/%zu, server sent "
                    "%zu/%zu got %zu/%zu",
                 (double)(ustack_sim_now(r->sim) - T_START) / 1e6, r->e[0].tx_done, r->e[0].tx_total,
                 r->e[0].rx_done, r->e[0].rx_total, r->e[1].tx_done, r->e[1].tx_total, r->e[1].rx_done,
                 r->e[1].rx_total);
            break;
        }
    }
    res->vtime_s = (double)(ustack_sim_now(r->sim) - T_START) / 1e6;
    if (r->failed)
        goto out;

    /* The close: TIME-WAIT (2 MSL) and any LAST-ACK retransmission run out. */
    if (!ustack_sim_run_until(r->sim, all_gone, r, ustack_sim_now(r->sim) + CLOSE_LIMIT)) {
        fail(r, "connections still open %.0f s after both sockets were closed",
             (double)CLOSE_LIMIT / 1e6);
        goto out;
    }
    /* Let whatever is still in flight land. */
    ustack_sim_run_until(r->sim, NULL, NULL, ustack_sim_now(r->sim) + USTACK_SEC(1));
    struct ustack *sts[2] = {r->a, r->b};
    for (int i = 0; i < 2 && !r->failed; i++) {
        struct ustack_usage u;
        ustack_get_usage(sts[i], &u);
        if (u.tcp_connections || u.pbufs || u.sockets || u.arp_queued || u.reasm_datagrams)
            fail(r, "%s not clean: %zu TCBs, %zu pbufs, %zu sockets, %zu ARP-queued, %zu reassemblies",
                 r->e[i].name, u.tcp_connections, u.pbufs, u.sockets, u.arp_queued, u.reasm_datagrams);
        for (size_t k = 0; k < sizeof must_be_zero / sizeof must_be_zero[0]; k++) {
            uint64_t v = ustack_counter_get(sts[i], must_be_zero[k]);
            if (v)
                fail(r, "%s: %s = %" PRIu64, r->e[i].name, must_be_zero[k], v);
        }
    }

out:
    trace_detach();
    if (r->a && r->b) {
        res->rexmits = ustack_counter_get(r->a, "tcp_retransmit_segs") + ustack_counter_get(r->b, "tcp_retransmit_segs");
        res->rtos = ustack_counter_get(r->a, "tcp_rto_expired") + ustack_counter_get(r->b, "tcp_rto_expired");
        res->frames = ustack_sim_fault_link(r->sim, 0)->tx_frames + ustack_sim_fault_link(r->sim, 1)->tx_frames;
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t k = 0; k < ustack_counter_count(); k++) {
            h = fnv(h, ustack_counter_value(r->a, k));
            h = fnv(h, ustack_counter_value(r->b, k));
        }
        h = fnv(h, ustack_sim_now(r->sim));
        for (unsigned n = 0; n < 2; n++) {
            for (int d = 0; d < 2; d++) {
                struct ustack_fault_stats fs;
                ustack_link_fault_stats(ustack_sim_fault_link(r->sim, n), d, &fs);
                res->frames_dropped += fs.dropped;
                res->frames_corrupted += fs.corrupted;
                h = fnv(fnv(fnv(fnv(h, fs.dropped), fs.duplicated), fs.reordered), fs.corrupted);
            }
        }
        res->fingerprint = h;
        if (verbose) {
            fprintf(stderr, "  counters (client / server) after %.1f s virtual:\n",
                    (double)(ustack_sim_now(r->sim) - T_START) / 1e6);
            for (size_t k = 0; k < ustack_counter_count(); k++) {
                const char *name = ustack_counter_name(k);
                uint64_t va = ustack_counter_value(r->a, k), vb = ustack_counter_value(r->b, k);
                if (strncmp(name, "tcp_", 4) == 0 && (va || vb))
                    fprintf(stderr, "    %-28s %10" PRIu64 " %10" PRIu64 "\n", name, va, vb);
            }
        }
    }
    ustack_sim_free(r->sim);
    res->ok = !r->failed;
    memcpy(res->why, r->why, sizeof res->why);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->real_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* ------------------------------------------------------------ driver */

static void print_result(const struct scenario *sc, const struct result *res, bool show_scenario)
{
    if (show_scenario || !res->ok)
        scenario_print(stdout, sc);
    printf("seed %" PRIu64 " %s: loss %.1f%%, %.1f s virtual, %.0f ms real, %" PRIu64 " segments retransmitted, %" PRIu64
           " RTOs, %" PRIu64 " frames dropped, %" PRIu64 " corrupted, fingerprint %016" PRIx64 "%s%s\n",
           res->seed, res->ok ? "ok" : "FAILED", res->loss * 100, res->vtime_s, res->real_ms, res->rexmits,
           res->rtos, res->frames_dropped, res->frames_corrupted, res->fingerprint, res->ok ? "" : ": ", res->why);
}

static void print_replay(const struct scenario *sc)
{
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
    printf("  replay: make sim SEED=%" PRIu64 "%s", sc->seed, sc->bytes != DEFAULT_BYTES ? " SIM_ARGS=\"--bytes " : "");
    if (sc->bytes != DEFAULT_BYTES)
        printf("%zu\"", sc->bytes);
#ifdef SANITIZED
    printf("   (under ASan/UBSan: make asan SEED=%" PRIu64 ")", sc->seed);
#endif
    printf("\n");
}

static void usage(void)
{
    fprintf(stderr, "usage: sim_tcp [--seeds N | --seed S] [--first S] [--bytes N] [--jobs N] [-v] [--replay-check]\n"
                    "               [--trace[=SECONDS]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t first = 1, nseeds = DEFAULT_SEEDS;
    size_t bytes = DEFAULT_BYTES;
    unsigned jobs = 1;
    bool verbose = false, one = false, replay_check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed") && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
            nseeds = 1;
            one = true;
        } else if (!strcmp(a, "--seeds") && i + 1 < argc) {
            nseeds = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--first") && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--bytes") && i + 1 < argc) {
            bytes = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--jobs") && i + 1 < argc) {
            jobs = (unsigned)strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(a, "-v")) {
            verbose = true;
        } else if (!strcmp(a, "--replay-check")) {
            replay_check = true;
        } else if (!strncmp(a, "--trace", 7) && (a[7] == 0 || a[7] == '=')) {
            tr.on = true;
            tr.from = T_START + (ustack_time_t)(a[7] ? atof(a + 8) * 1e6 : 0);
        } else {
            usage();
        }
    }
    if (nseeds == 0 || bytes == 0)
        usage();
    if (one)
        verbose = true;
    if (jobs < 1)
        jobs = 1;
    if (jobs > nseeds)
        jobs = (unsigned)nseeds;
    setvbuf(stdout, NULL, _IOLBF, 0);

    uint8_t *gen[2] = {malloc(bytes), malloc(bytes)};
    if (!gen[0] || !gen[1]) {
        fprintf(stderr, "sim_tcp: out of memory\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("sim_tcp: seeds %" PRIu64 "..%" PRIu64 ", %zu bytes each, %u job%s\n", first, first + nseeds - 1, bytes,
           jobs, jobs > 1 ? "s" : "");

    /* Workers take seeds first + k, first + k + jobs, ... and send their
     * results back through a pipe; the parent prints them in seed order. */
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("pipe");
        return 2;
    }
    size_t n = 0, failed = 0;
    struct result *all = calloc(nseeds, sizeof *all);
    fflush(stdout);
    for (unsigned k = 0; k < jobs; k++) {
        pid_t pid = jobs == 1 ? 0 : fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid > 0)
            continue;
        for (uint64_t s = first + k; s < first + nseeds; s += jobs) {
            struct scenario sc;
            scenario_make(&sc, s, bytes);
            if (verbose)
                scenario_print(stderr, &sc);
            struct result res;
            run_seed(&sc, gen, verbose, &res);
            if (replay_check && s == first) {
                struct result again;
                run_seed(&sc, gen, false, &again);
                if (again.fingerprint != res.fingerprint || again.ok != res.ok) {
                    res.ok = 0;
                    snprintf(res.why, sizeof res.why, "replay differs: fingerprint %016" PRIx64 " then %016" PRIx64,
                             res.fingerprint, again.fingerprint);
                }
            }
            if (jobs == 1) {
                print_result(&sc, &res, verbose);
                if (!res.ok)
                    print_replay(&sc);
                all[s - first] = res;
                n++;
            } else if (write(pfd[1], &res, sizeof res) != (ssize_t)sizeof res) {
                _exit(3);
            }
        }
        if (jobs > 1) {
            /* exit(), not _exit(): LeakSanitizer checks at exit. */
            free(all);
            free(gen[0]);
            free(gen[1]);
            exit(0);
        }
    }
    close(pfd[1]);

    struct result res;
    while (jobs > 1 && n < nseeds && read(pfd[0], &res, sizeof res) == (ssize_t)sizeof res)
        all[res.seed - first] = res, n++;
    close(pfd[0]);
    while (jobs > 1 && wait(NULL) > 0) {}

    /* Summary by loss level. */
    double worst_ms = 0, worst_v = 0;
    uint64_t worst_seed = 0, slowest_v_seed = 0, most_frames = 0, most_frames_seed = 0;
    for (size_t i = 0; i < nseeds; i++) {
        struct scenario sc;
        scenario_make(&sc, first + i, bytes);
        if (all[i].seed != first + i) {
            printf("seed %" PRIu64 " FAILED: no result (worker died)\n", first + i);
            print_replay(&sc);
            failed++;
            continue;
        }
        if (!all[i].ok) {
            if (jobs > 1) {
                print_result(&sc, &all[i], false);
                print_replay(&sc);
            }
            failed++;
        }
        if (all[i].real_ms > worst_ms)
            worst_ms = all[i].real_ms, worst_seed = all[i].seed;
        if (all[i].vtime_s > worst_v)
            worst_v = all[i].vtime_s, slowest_v_seed = all[i].seed;
        if (all[i].frames > most_frames)
            most_frames = all[i].frames, most_frames_seed = all[i].seed;
    }
    if (!one) {
        printf("  loss   seeds  virtual s (mean/max)  real ms (mean/max)  rexmit segs (mean)\n");
        double levels[20];
        size_t nl = 0;
        for (size_t i = 0; i < 20; i++) {
            bool seen = false;
            for (size_t j = 0; j < nl; j++)
                seen |= levels[j] == loss_mix[i];
            if (!seen)
                levels[nl++] = loss_mix[i];
        }
        for (size_t j = 0; j < nl; j++) {
            size_t cnt = 0;
            double vs = 0, vmax = 0, rs = 0, rmax = 0, rx = 0;
            for (size_t i = 0; i < nseeds; i++) {
                if (all[i].seed != first + i || all[i].loss != levels[j])
                    continue;
                cnt++;
                vs += all[i].vtime_s;
                rs += all[i].real_ms;
                rx += (double)all[i].rexmits;
                if (all[i].vtime_s > vmax)
                    vmax = all[i].vtime_s;
                if (all[i].real_ms > rmax)
                    rmax = all[i].real_ms;
            }
            if (cnt)
                printf("  %4.1f%%  %5zu  %9.1f / %-9.1f  %8.0f / %-8.0f  %10.0f\n", levels[j] * 100, cnt, vs / cnt,
                       vmax, rs / cnt, rmax, rx / cnt);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("sim_tcp: %zu/%" PRIu64 " seeds ok, %zu failed; %.1f s real; slowest seed %" PRIu64 " (%.0f ms), longest in "
           "virtual time seed %" PRIu64 " (%.0f s), most frames seed %" PRIu64 " (%" PRIu64 ")\n",
           nseeds - failed, nseeds, failed, wall, worst_seed, worst_ms, slowest_v_seed, worst_v, most_frames_seed,
           most_frames);
    free(all);
    free(gen[0]);
    free(gen[1]);
    return failed ? 1 : 0;
}
