/*
 * Connection-churn soak: one server stack and several client stacks on the
 * simulator's segment, each behind a seeded fault injector (loss,
 * duplication, reordering, corruption, delay), open and close connections
 * through the socket API until a given number have been made (a million by
 * default: make soak), in virtual time. Then everything is let go and the
 * stacks must be back where they started:
 *   - every connection ended as its kind says: request and answer arrive byte
 *     for byte (client FIN first, or server FIN first), an abort (RST from
 *     SO_LINGER 0) ends the server's side with EOF, ECONNRESET or a keepalive
 *     timeout, a connect to a closed port fails with ECONNREFUSED;
 *   - once TIME-WAIT is over no stack holds a socket, a TCB, a packet buffer,
 *     a timer other than ARP's, a packet waiting on ARP or a reassembly;
 *   - the process's resident memory is back to what it was after start-up
 *     (within a slack for the allocator's own bookkeeping), so nothing grows
 *     with the number of connections made.
 * A run is a pure function of its seed.
 *
 *   sim_soak [--conns N] [--clients N] [--slots N] [--seed S] [--loss P] [-v]
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>

#define PORT 7000
#define CLOSED_PORT 7001
#define T_START USTACK_SEC(1)
#define MAX_CLIENTS 16
#define MAX_SLOTS 64
#define HDR 16            /* id (8), request length (4), answer length (4) */
#define REQ_MAX 3000
#define ANS_MAX 6000
#define RSS_SLACK (8u << 20) /* allocator bookkeeping, arenas of the heap */
/* Under AddressSanitizer freed memory sits in its quarantine, so the resident
 * size says nothing; ASan's own leak check takes its place. */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_RSS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_RSS 0
#endif
#endif
#ifndef CHECK_RSS
#define CHECK_RSS 1
#endif
/* After the last connection: TIME-WAIT (60 s), orphaned FINs backing off,
 * keepalive on aborted connections whose RST was lost (30 + 3 x 10 s). */
#define DRAIN_LIMIT USTACK_SEC(3600)
/* A connection in progress for longer than this is stuck: with 1% loss a
 * request and its answer take a few round trips, a few RTOs at worst. */
#define STUCK_LIMIT USTACK_SEC(600)

enum kind { K_CLIENT_FIN, K_SERVER_FIN, K_ABORT, K_REFUSED, K__N };
static const char *const kind_name[K__N] = {"client-fin", "server-fin", "abort", "refused"};

enum phase { P_IDLE, P_CONNECTING, P_SENDING, P_READING, P_DONE };

/* One client's connection in progress. */
struct slot {
    struct ustack *st;
    int fd;
    enum phase phase;
    enum kind kind;
    uint64_t id;
    uint8_t hdr[HDR];
    size_t req_len, ans_len, sent, got;
    ustack_time_t wake;       /* idle: when to open the next one */
    ustack_time_t since;      /* when this connection was opened */
};

/* A connection the server accepted. */
struct sconn {
    int fd;
    ustack_time_t since;      /* accepted at */
    uint8_t hdr[HDR];
    size_t hdr_got, req_len, ans_len, got, sent;
    uint64_t id;
    bool answering;
};

struct run {
    uint64_t seed, conns, started, finished;
    unsigned nclients, nslots;
    double loss;
    bool verbose;
    struct ustack_sim *sim;
    struct ustack *srv, *cli[MAX_CLIENTS];
    int listener;
    struct slot slots[MAX_CLIENTS * MAX_SLOTS];
    struct sconn *sc;
    size_t nsc, capsc;
    uint64_t rng;
    uint64_t by_kind[K__N], srv_done, srv_reset, srv_eof_early;
    ustack_time_t wakeup;     /* earliest time a client wants to run again */
    ustack_time_t until;      /* the limit of the current ustack_sim_run_until() */
    uint64_t shown;           /* -v: progress printed at this count */
    bool failed;
    char why[512];
    uint8_t buf[8192];
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

/* The bytes of connection `id`'s request (dir 0) or answer (dir 1) from
 * offset `off`: a function of both, so a misplaced byte is seen. */
static uint8_t body_byte(uint64_t id, int dir, size_t off)
{
    uint64_t x = (id << 1 | (uint64_t)dir) * 0x9e3779b97f4a7c15ull + (off >> 3);
    x = ustack_rand64(&x);
    return (uint8_t)(x >> ((off & 7) * 8));
}

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = v << 8 | p[i]; return v; }

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static void want_wake(struct run *r, ustack_time_t t)
{
    if (t < r->wakeup)
        r->wakeup = t;
}

/* ------------------------------------------------------------ the client */

static void slot_finish(struct run *r, struct slot *s, ustack_time_t now)
{
    if (s->fd >= 0 && us_close(s->st, s->fd) != 0)
        fail(r, "conn %" PRIu64 ": close: %s", s->id, strerror(errno));
    s->fd = -1;
    s->phase = P_IDLE;
    r->by_kind[s->kind]++;
    r->finished++;
    /* Think time before the next connection: the TIME-WAIT population then
     * stays well within the ephemeral ports. */
    s->wake = now + USTACK_MS(100 + ustack_rand64(&r->rng) % 400);
}

static void slot_open(struct run *r, struct slot *s, ustack_time_t now)
{
    if (r->started >= r->conns)
        return;
    if (now < s->wake) {
        want_wake(r, s->wake);
        return;
    }
    uint64_t pick = ustack_rand64(&r->rng) % 100;
    s->kind = pick < 65 ? K_CLIENT_FIN : pick < 85 ? K_SERVER_FIN : pick < 95 ? K_ABORT : K_REFUSED;
    s->id = r->started;
    s->req_len = HDR + ustack_rand64(&r->rng) % (REQ_MAX - HDR);
    s->ans_len = ustack_rand64(&r->rng) % ANS_MAX;
    s->sent = s->got = 0;
    put64(s->hdr, s->id);
    put32(s->hdr + 8, (uint32_t)s->req_len);
    put32(s->hdr + 12, (uint32_t)s->ans_len);
    s->fd = us_socket(s->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        fail(r, "conn %" PRIu64 ": socket: %s", s->id, strerror(errno));
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s->kind == K_REFUSED ? CLOSED_PORT : PORT)};
    ustack_ip_parse("10.0.0.2", &sa.sin_addr.s_addr, NULL);
    if (us_connect(s->st, s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        fail(r, "conn %" PRIu64 ": connect: %s", s->id, strerror(errno));
        return;
    }
    s->phase = P_CONNECTING;
    s->since = now;
    r->started++;
}

static void slot_pump(struct run *r, struct slot *s, ustack_time_t now)
{
    if (s->phase == P_IDLE) {
        slot_open(r, s, now);
        if (s->phase == P_IDLE)
            return;
    }
    if (now - s->since > STUCK_LIMIT) {
        fail(r, "conn %" PRIu64 " (%s) still in phase %d after %.0f s", s->id, kind_name[s->kind], (int)s->phase,
             (double)(now - s->since) / 1e6);
        return;
    }
    if (s->phase == P_CONNECTING) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (us_poll(s->st, &p, 1, 0) < 0) {
            fail(r, "conn %" PRIu64 ": poll: %s", s->id, strerror(errno));
            return;
        }
        if (p.revents & (POLLERR | POLLHUP)) {
            int err = 0;
            socklen_t len = sizeof err;
            us_getsockopt(s->st, s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (s->kind == K_REFUSED && err == ECONNREFUSED)
                slot_finish(r, s, now);
            else
                fail(r, "conn %" PRIu64 " (%s): connect: %s", s->id, kind_name[s->kind], strerror(err));
            return;
        }
        if (!(p.revents & POLLOUT))
            return;
        if (s->kind == K_REFUSED) {
            fail(r, "conn %" PRIu64 ": connected to a closed port", s->id);
            return;
        }
        if (s->kind == K_ABORT) {
            /* Half a header, then a reset (SO_LINGER 0). */
            us_send(s->st, s->fd, s->hdr, HDR / 2, 0);
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            us_setsockopt(s->st, s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            slot_finish(r, s, now);
            return;
        }
        s->phase = P_SENDING;
    }
    if (s->phase == P_SENDING) {
        while (s->sent < s->req_len) {
            uint8_t chunk[1024];
            size_t n = s->req_len - s->sent > sizeof chunk ? sizeof chunk : s->req_len - s->sent;
            for (size_t i = 0; i < n; i++) {
                size_t off = s->sent + i;
                chunk[i] = off < HDR ? s->hdr[off] : body_byte(s->id, 0, off);
            }
            ssize_t w = us_send(s->st, s->fd, chunk, n, 0);
            if (w < 0) {
                if (errno != EAGAIN)
                    fail(r, "conn %" PRIu64 ": send: %s", s->id, strerror(errno));
                return;
            }
            s->sent += (size_t)w;
        }
        if (s->kind == K_CLIENT_FIN && us_shutdown(s->st, s->fd, SHUT_WR) != 0) {
            fail(r, "conn %" PRIu64 ": shutdown: %s", s->id, strerror(errno));
            return;
        }
        s->phase = P_READING;
    }
    if (s->phase == P_READING) {
        for (;;) {
            ssize_t n = us_recv(s->st, s->fd, r->buf, sizeof r->buf, 0);
            if (n < 0) {
                if (errno != EAGAIN)
                    fail(r, "conn %" PRIu64 " (%s): recv at %zu of %zu: %s", s->id, kind_name[s->kind], s->got,
                         s->ans_len, strerror(errno));
                return;
            }
            if (n == 0) {
                if (s->got != s->ans_len)
                    fail(r, "conn %" PRIu64 ": EOF after %zu of %zu bytes", s->id, s->got, s->ans_len);
                else
                    slot_finish(r, s, now);
                return;
            }
            for (ssize_t i = 0; i < n; i++) {
                if (s->got + (size_t)i >= s->ans_len || r->buf[i] != body_byte(s->id, 1, s->got + (size_t)i)) {
                    fail(r, "conn %" PRIu64 ": answer byte %zu wrong", s->id, s->got + (size_t)i);
                    return;
                }
            }
            s->got += (size_t)n;
        }
    }
}

/* ------------------------------------------------------------ the server */

static void sconn_close(struct run *r, size_t i)
{
    if (us_close(r->srv, r->sc[i].fd) != 0)
        fail(r, "server: close: %s", strerror(errno));
    r->sc[i] = r->sc[--r->nsc];
}

/* Returns true when the connection is finished (and closed). */
static bool sconn_pump(struct run *r, size_t i)
{
    struct sconn *c = &r->sc[i];
    while (!c->answering) {
        ssize_t n = us_recv(r->srv, c->fd, r->buf, sizeof r->buf, 0);
        if (n < 0) {
            if (errno == EAGAIN)
                return false;
            if (errno != ECONNRESET && errno != ETIMEDOUT) {
                fail(r, "server: recv: %s", strerror(errno));
                return false;
            }
            /* An aborted client: its RST, or keepalive found it gone. */
            if (c->hdr_got == HDR && c->got == c->req_len) {
                fail(r, "server: conn %" PRIu64 " reset after its whole request", c->id);
                return false;
            }
            r->srv_reset++;
            sconn_close(r, i);
            return true;
        }
        if (n == 0) {
            if (c->hdr_got < HDR || c->got < c->req_len) {
                r->srv_eof_early++; /* a client gone before its request was whole */
                sconn_close(r, i);
                return true;
            }
            c->answering = true; /* client-fin: the whole request, then EOF */
            break;
        }
        for (ssize_t k = 0; k < n; k++) {
            uint8_t b = r->buf[k];
            if (c->hdr_got < HDR) {
                c->hdr[c->hdr_got++] = b;
                c->got++;
                if (c->hdr_got == HDR) {
                    c->id = get64(c->hdr);
                    c->req_len = get32(c->hdr + 8);
                    c->ans_len = get32(c->hdr + 12);
                    if (c->req_len < HDR || c->req_len > REQ_MAX || c->ans_len > ANS_MAX) {
                        fail(r, "server: bad header (conn %" PRIu64 ")", c->id);
                        return false;
                    }
                }
                continue;
            }
            if (c->got >= c->req_len || b != body_byte(c->id, 0, c->got)) {
                fail(r, "server: conn %" PRIu64 " request byte %zu wrong", c->id, c->got);
                return false;
            }
            c->got++;
        }
        /* server-fin: the client does not half-close; answer once it is all here. */
        if (c->hdr_got == HDR && c->got == c->req_len)
            c->answering = true;
    }
    while (c->sent < c->ans_len) {
        uint8_t chunk[2048];
        size_t n = c->ans_len - c->sent > sizeof chunk ? sizeof chunk : c->ans_len - c->sent;
        for (size_t k = 0; k < n; k++)
            chunk[k] = body_byte(c->id, 1, c->sent + k);
        ssize_t w = us_send(r->srv, c->fd, chunk, n, 0);
        if (w < 0) {
            if (errno != EAGAIN)
                fail(r, "server: conn %" PRIu64 " send: %s", c->id, strerror(errno));
            return false;
        }
        c->sent += (size_t)w;
    }
    r->srv_done++;
    sconn_close(r, i); /* the answer drains on its own after close */
    return true;
}

static void server_pump(struct run *r)
{
    for (;;) {
        int fd = us_accept(r->srv, r->listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN)
                fail(r, "server: accept: %s", strerror(errno));
            break;
        }
        if (r->nsc == r->capsc) {
            r->capsc = r->capsc ? 2 * r->capsc : 256;
            r->sc = realloc(r->sc, r->capsc * sizeof *r->sc);
            if (!r->sc) {
                fail(r, "out of memory");
                return;
            }
        }
        r->sc[r->nsc++] = (struct sconn){.fd = fd, .since = ustack_sim_now(r->sim)};
    }
    ustack_time_t now = ustack_sim_now(r->sim);
    for (size_t i = 0; i < r->nsc && !r->failed;) {
        if (now - r->sc[i].since > STUCK_LIMIT)
            fail(r, "server: conn %" PRIu64 " open for %.0f s", r->sc[i].id, (double)(now - r->sc[i].since) / 1e6);
        if (!sconn_pump(r, i))
            i++;
    }
}

static int pump(void *arg)
{
    struct run *r = arg;
    ustack_time_t now = ustack_sim_now(r->sim);
    r->wakeup = USTACK_TIME_NEVER;
    server_pump(r);
    for (unsigned i = 0; i < r->nclients * r->nslots && !r->failed; i++)
        slot_pump(r, &r->slots[i], now);
    if (r->verbose && r->finished >= r->shown + 100000) {
        r->shown = r->finished;
        fprintf(stderr, "%" PRIu64 " connections, %.0f s virtual\n", r->finished, (double)(now - T_START) / 1e6);
    }
    return r->failed || (r->finished == r->conns && r->nsc == 0) || r->wakeup < r->until;
}

/* ------------------------------------------------------------ the checks */

static int stack_clean(struct run *r, struct ustack *st, const char *who)
{
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    if (u.sockets || u.tcp_connections || u.pbufs || u.arp_queued || u.reasm_datagrams || u.timers > u.arp_entries) {
        if (r)
            fail(r,
                 "%s not clean: %zu sockets, %zu TCBs, %zu packet buffers, %zu timers (%zu ARP entries), %zu "
                 "queued on ARP, %zu reassemblies",
                 who, u.sockets, u.tcp_connections, u.pbufs, u.timers, u.arp_entries, u.arp_queued,
                 u.reasm_datagrams);
        return 0;
    }
    return 1;
}

static int all_clean(void *arg)
{
    struct run *r = arg;
    if (!stack_clean(NULL, r->srv, "server"))
        return 0;
    for (unsigned i = 0; i < r->nclients; i++)
        if (!stack_clean(NULL, r->cli[i], "client"))
            return 0;
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: sim_soak [--conns N] [--clients N] [--slots N] [--seed S] [--loss P] [-v]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct run run;
    struct run *r = &run;
    r->conns = 1000000;
    r->nclients = 4;
    r->nslots = 16;
    r->seed = 1;
    r->loss = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            r->verbose = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--conns"))
            r->conns = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--clients"))
            r->nclients = (unsigned)atoi(v);
        else if (!strcmp(a, "--slots"))
            r->nslots = (unsigned)atoi(v);
        else if (!strcmp(a, "--seed"))
            r->seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--loss"))
            r->loss = atof(v);
        else
            usage();
    }
    if (!r->nclients || r->nclients > MAX_CLIENTS || !r->nslots || r->nslots > MAX_SLOTS || r->loss < 0 ||
        r->loss > 0.2)
        usage();
    r->rng = r->seed ^ 0x736f616b;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    r->sim = ustack_sim_new(r->seed, T_START);
    struct ustack_fault_config fc;
    memset(&fc, 0, sizeof fc);
    fc.out.drop = fc.in.drop = r->loss;
    fc.out.dup = r->loss / 4;
    fc.out.reorder = r->loss;
    fc.out.corrupt = r->loss / 10;
    fc.out.delay_us = USTACK_MS(1);
    fc.out.jitter_us = 300;
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    cfg.arp_gratuitous = 0;
    ustack_ip_parse("10.0.0.2", &cfg.addr, NULL);
    r->srv = ustack_sim_add(r->sim, &cfg, &fc);
    for (unsigned i = 0; i < r->nclients; i++) {
        char ip[16];
        snprintf(ip, sizeof ip, "10.0.0.%u", 10 + i);
        ustack_ip_parse(ip, &cfg.addr, NULL);
        r->cli[i] = ustack_sim_add(r->sim, &cfg, &fc);
    }
    if (!r->srv || !r->cli[r->nclients - 1]) {
        fprintf(stderr, "sim_soak: cannot create the stacks\n");
        return 1;
    }
    r->listener = us_socket(r->srv, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    int one = 1, idle = 30, intvl = 10, cnt = 3;
    /* Keepalive finds the aborted clients whose RST was lost. */
    us_setsockopt(r->srv, r->listener, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    us_setsockopt(r->srv, r->listener, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    us_setsockopt(r->srv, r->listener, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    us_setsockopt(r->srv, r->listener, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    if (us_bind(r->srv, r->listener, (struct sockaddr *)&sa, sizeof sa) != 0 || us_listen(r->srv, r->listener, 1024) != 0) {
        fprintf(stderr, "sim_soak: listen: %s\n", strerror(errno));
        return 1;
    }
    for (unsigned c = 0; c < r->nclients; c++)
        for (unsigned k = 0; k < r->nslots; k++) {
            struct slot *s = &r->slots[c * r->nslots + k];
            s->st = r->cli[c];
            s->fd = -1;
            s->wake = T_START + USTACK_MS(k);
        }
    malloc_trim(0);
    size_t rss_start = rss_bytes(), rss_peak = rss_start;

    /* The applications run after every step; when they wait for a time of
     * their own (think time) the network runs alone up to it. */
    while (!r->failed && !(r->finished == r->conns && r->nsc == 0)) {
        r->until = ustack_sim_now(r->sim) + USTACK_SEC(10);
        ustack_sim_run_until(r->sim, pump, r, r->until);
        if (!r->failed && r->wakeup < r->until && r->wakeup > ustack_sim_now(r->sim)) {
            r->until = r->wakeup;
            ustack_sim_run_until(r->sim, pump, r, r->until);
        }
        if (r->finished % 4096 == 0) {
            size_t rss = rss_bytes();
            if (rss > rss_peak)
                rss_peak = rss;
        }
    }
    ustack_time_t t_conns = ustack_sim_now(r->sim);
    if (r->verbose) {
        struct ustack_usage u;
        for (unsigned i = 0; i <= r->nclients; i++) {
            ustack_get_usage(i ? r->cli[i - 1] : r->srv, &u);
            fprintf(stderr, "%s %u: %zu TCBs, %zu sockets, %zu packet buffers, %zu timers\n", i ? "client" : "server",
                    i, u.tcp_connections, u.sockets, u.pbufs, u.timers);
        }
    }
    if (!r->failed) {
        us_close(r->srv, r->listener);
        ustack_sim_run_until(r->sim, all_clean, r, t_conns + DRAIN_LIMIT);
        stack_clean(r, r->srv, "server");
        for (unsigned i = 0; i < r->nclients; i++)
            stack_clean(r, r->cli[i], "client");
    }
    uint64_t aborts = ustack_counter_get(r->srv, "tcp_aborts"), srv_timeouts = ustack_counter_get(r->srv, "tcp_timeout");
    uint64_t cli_timeouts = 0, refused = 0;
    for (unsigned i = 0; i < r->nclients; i++) {
        cli_timeouts += ustack_counter_get(r->cli[i], "tcp_timeout");
        refused += ustack_counter_get(r->cli[i], "tcp_conn_refused");
    }
    ustack_time_t t_end = ustack_sim_now(r->sim);
    ustack_sim_free(r->sim);
    free(r->sc);
    malloc_trim(0);
    size_t rss_end = rss_bytes();
    if (!r->failed && cli_timeouts)
        fail(r, "%" PRIu64 " client connections timed out", cli_timeouts);
    if (!r->failed && r->srv_done != r->by_kind[K_CLIENT_FIN] + r->by_kind[K_SERVER_FIN])
        fail(r, "server answered %" PRIu64 " connections, clients finished %" PRIu64, r->srv_done,
             r->by_kind[K_CLIENT_FIN] + r->by_kind[K_SERVER_FIN]);
    if (CHECK_RSS && !r->failed && rss_end > rss_start + RSS_SLACK)
        fail(r, "resident memory %zu KiB at the end, %zu KiB at the start", rss_end >> 10, rss_start >> 10);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double real = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("soak: %" PRIu64 " connections (%" PRIu64 " client-fin, %" PRIu64 " server-fin, %" PRIu64 " abort, %" PRIu64
           " refused) over %u clients x %u, loss %.1f%%, seed %" PRIu64 "\n",
           r->finished, r->by_kind[K_CLIENT_FIN], r->by_kind[K_SERVER_FIN], r->by_kind[K_ABORT], r->by_kind[K_REFUSED],
           r->nclients, r->nslots, r->loss * 100, r->seed);
    printf("soak: %.0f s of virtual time for the connections, %.0f s to drain; %.1f s real\n",
           (double)(t_conns - T_START) / 1e6, (double)(t_end - t_conns) / 1e6, real);
    printf("soak: server: %" PRIu64 " answered, %" PRIu64 " ended by a reset or keepalive (%" PRIu64
           " tcp_timeout, %" PRIu64 " tcp_aborts), %" PRIu64 " early EOF; clients: %" PRIu64 " refused\n",
           r->srv_done, r->srv_reset, srv_timeouts, aborts, r->srv_eof_early, refused);
    printf("soak: resident memory %zu KiB at the start, %zu KiB at the peak, %zu KiB at the end\n", rss_start >> 10,
           rss_peak >> 10, rss_end >> 10);
    if (r->failed) {
        printf("soak: FAILED: %s (replay: sim_soak --seed %" PRIu64 " --conns %" PRIu64 ")\n", r->why, r->seed, r->conns);
        return 1;
    }
    printf("soak: ok: every stack clean, no leaked TCB, buffer or timer\n");
    return 0;
}
