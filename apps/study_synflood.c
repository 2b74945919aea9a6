/*
 * The syn-flood study scenario (ustack-study syn-flood, docs/study/syn-flood.md):
 * an attacker built on the stack's own raw sockets (IP_HDRINCL) sends SYNs
 * from random, spoofed source addresses at a server's listening port while a
 * legitimate client opens one connection a second. Run twice, with the
 * server's SYN cookies off and on (ustack_config.tcp.syncookies 0 and 1),
 * into DIR/cookies-off and DIR/cookies-on.
 *
 * Four stacks on the simulator's segment, each sending with a 10 ms delay
 * (client-server RTT 20 ms):
 *   10.0.0.2   the server: port 80, backlog 128, its default route 10.0.0.1;
 *              each connection gets a 100-byte request and a 1000-byte answer
 *   10.0.0.3   the client: a connection every second from 1 s to 60 s
 *   10.0.0.66  the attacker: SYN_RATE SYNs a second from ATTACK_START to
 *              ATTACK_END, sources in 198.18.0.0/15 (RFC 2544's benchmarking
 *              range), random ports and sequence numbers
 *   10.0.0.1   the gateway to the spoofed sources: it answers ARP and drops
 *              every IP packet, as the Internet does for addresses that do not
 *              answer, so the server's SYN-ACKs are never answered and each
 *              half-open connection holds its place in the SYN queue until
 *              its SYN-ACK retransmissions run out
 * Every SAMPLE_US the run records the server's SYN queue (its SYN-RECEIVED
 * connections) and counters in series.csv; each client connection's times go
 * to connects.csv; summary.txt says what happened; capture-server.pcap has
 * the server's frames. tools/ustack-plot --synflood DIR draws both runs in
 * DIR/synflood.png. Everything is a function of the seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/stat.h>
#include <ustack/ustack.h>
#include "study_synflood.h"
#include "util.h"

#define T0 USTACK_SEC(1)               /* virtual time of the start */
#define PORT 80
#define BACKLOG 128
#define PATH_DELAY USTACK_MS(10)        /* each stack's frames take this long */
#define SYN_RATE 500                    /* attack SYNs a second */
#define ATTACK_START USTACK_SEC(5)
#define ATTACK_END USTACK_SEC(35)
#define CLIENT_FIRST USTACK_SEC(1)
#define CLIENT_EVERY USTACK_SEC(1)
#define CLIENT_CONNS 60
#define RUN_END USTACK_SEC(130)         /* the client's last SYN gives up within 63 s */
#define SAMPLE_US USTACK_MS(100)
#define REQUEST 100
#define ANSWER 1000
#define MAX_SRV 64

enum { N_SERVER, N_CLIENT, N_ATTACKER, N_GATEWAY };

struct attempt {
    ustack_time_t start, connected, done; /* 0: not (yet) */
    int fd, err;
    size_t sent, got;
};

struct srv_conn {
    int fd;
    size_t got, sent;
};

struct flood {
    struct ustack_sim *sim;
    struct ustack *st[4];
    int listener, raw;
    uint64_t rng;
    ustack_time_t next_syn, next_sample, next_client;
    uint64_t syns_sent;
    struct attempt at[CLIENT_CONNS];
    unsigned nat;
    struct srv_conn sc[MAX_SRV];
    unsigned nsc;
    FILE *series;
    ustack_time_t wakeup, until;
    unsigned synq_max;
    bool failed;
    char why[256];
};

/* ------------------------------------------------------ the gateway */

/* Wraps the gateway's link: received frames other than ARP are dropped. */
struct sink_link {
    struct ustack_link link;
    struct ustack_link *inner;
};

static int sink_send(struct ustack_link *l, ustack_time_t now, const uint8_t *f, size_t len)
{
    struct sink_link *s = (struct sink_link *)l;
    return ustack_link_send(s->inner, now, f, len);
}

static int sink_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    struct sink_link *s = (struct sink_link *)l;
    for (;;) {
        int n = ustack_link_recv(s->inner, now, buf, cap);
        if (n <= 0)
            return n;
        if (n >= 14 && buf[12] == 0x08 && buf[13] == 0x06)
            return n; /* ARP */
    }
}

static ustack_time_t sink_deadline(struct ustack_link *l) { return ustack_link_next_deadline(((struct sink_link *)l)->inner); }
static void sink_poll(struct ustack_link *l, ustack_time_t now) { ustack_link_poll(((struct sink_link *)l)->inner, now); }
static int sink_fd(struct ustack_link *l) { (void)l; return -1; }
static void sink_close(struct ustack_link *l)
{
    struct sink_link *s = (struct sink_link *)l;
    ustack_link_close(s->inner);
    free(s);
}

static const struct ustack_link_ops sink_ops = {sink_send, sink_recv, sink_deadline, sink_poll, sink_fd, sink_close};

static struct ustack_link *sink_wrap(void *ctx, struct ustack_link *inner)
{
    (void)ctx;
    struct sink_link *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->link.ops = &sink_ops;
    s->link.name = "sink";
    s->inner = inner;
    return &s->link;
}

/* ------------------------------------------------------ the attacker */

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)(p[n - 1] << 8);
    return sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* One spoofed SYN with an MSS option, as a SYN flood tool sends it. */
static void attack_syn(struct flood *f)
{
    uint8_t d[44];
    memset(d, 0, sizeof d);
    uint64_t r = ustack_rand64(&f->rng);
    uint32_t src = 0xc6120000u | (uint32_t)(r & 0x1ffff); /* 198.18.0.0/15 */
    uint32_t dst = 0x0a000002u;
    d[0] = 0x45;
    put16(d + 2, sizeof d);
    put16(d + 4, (uint16_t)(r >> 20));
    d[8] = 64;
    d[9] = IPPROTO_TCP;
    put32(d + 12, src);
    put32(d + 16, dst);
    put16(d + 10, csum_fold(csum_add(0, d, 20)));
    uint8_t *t = d + 20;
    put16(t, (uint16_t)(1024 + (r >> 40) % 64000));
    put16(t + 2, PORT);
    put32(t + 4, (uint32_t)ustack_rand64(&f->rng));
    t[12] = 6 << 4;
    t[13] = 0x02; /* SYN */
    put16(t + 14, 64240);
    t[20] = 2, t[21] = 4;
    put16(t + 22, 1460);
    uint8_t ph[12];
    memcpy(ph, d + 12, 8);
    ph[8] = 0, ph[9] = IPPROTO_TCP;
    put16(ph + 10, 24);
    put16(t + 16, csum_fold(csum_add(csum_add(0, ph, 12), t, 24)));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(dst)};
    if (us_sendto(f->st[N_ATTACKER], f->raw, d, sizeof d, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)sizeof d)
        f->syns_sent++;
}

/* ------------------------------------------------------ client and server */

static void client_pump(struct flood *f, ustack_time_t now)
{
    struct ustack *st = f->st[N_CLIENT];
    if (f->nat < CLIENT_CONNS && now >= f->next_client) {
        struct attempt *a = &f->at[f->nat++];
        a->start = now;
        a->fd = us_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(0x0a000002u)};
        if (a->fd < 0 || (us_connect(st, a->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
            snprintf(f->why, sizeof f->why, "client: socket/connect: %s", strerror(errno));
            f->failed = true;
            return;
        }
        f->next_client += CLIENT_EVERY;
    }
    if (f->nat < CLIENT_CONNS && f->next_client < f->wakeup)
        f->wakeup = f->next_client;
    uint8_t buf[2048];
    for (unsigned i = 0; i < f->nat; i++) {
        struct attempt *a = &f->at[i];
        if (a->fd < 0)
            continue;
        struct pollfd p = {.fd = a->fd, .events = POLLIN | POLLOUT};
        us_poll(st, &p, 1, 0);
        if (!a->connected) {
            if (p.revents & (POLLERR | POLLHUP)) {
                socklen_t len = sizeof a->err;
                us_getsockopt(st, a->fd, SOL_SOCKET, SO_ERROR, &a->err, &len);
                us_close(st, a->fd);
                a->fd = -1;
                continue;
            }
            if (!(p.revents & POLLOUT))
                continue;
            a->connected = now;
        }
        while (a->sent < REQUEST) {
            memset(buf, 'q', REQUEST);
            ssize_t w = us_send(st, a->fd, buf, REQUEST - a->sent, 0);
            if (w <= 0)
                break;
            a->sent += (size_t)w;
        }
        for (;;) {
            ssize_t n = us_recv(st, a->fd, buf, sizeof buf, 0);
            if (n > 0) {
                a->got += (size_t)n;
                continue;
            }
            if (n == 0 || errno != EAGAIN) {
                if (n < 0)
                    a->err = errno;
                else if (a->got == ANSWER)
                    a->done = now;
                us_close(st, a->fd);
                a->fd = -1;
            }
            break;
        }
    }
}

static void server_pump(struct flood *f)
{
    struct ustack *st = f->st[N_SERVER];
    while (f->nsc < MAX_SRV) {
        int fd = us_accept(st, f->listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            break;
        f->sc[f->nsc++] = (struct srv_conn){.fd = fd};
    }
    uint8_t buf[ANSWER];
    for (unsigned i = 0; i < f->nsc;) {
        struct srv_conn *c = &f->sc[i];
        ssize_t n;
        while (c->got < REQUEST && (n = us_recv(st, c->fd, buf, sizeof buf, 0)) > 0)
            c->got += (size_t)n;
        if (c->got >= REQUEST) {
            memset(buf, 'a', sizeof buf);
            ssize_t w = us_send(st, c->fd, buf, ANSWER - c->sent, 0);
            if (w > 0)
                c->sent += (size_t)w;
        }
        if (c->sent == ANSWER) {
            us_close(st, c->fd);
            f->sc[i] = f->sc[--f->nsc];
            continue;
        }
        i++;
    }
}

static unsigned synq_len(struct flood *f)
{
    struct ustack_conn_info ci[256];
    size_t n = ustack_conn_list(f->st[N_SERVER], ci, 256);
    unsigned q = 0;
    for (size_t i = 0; i < n && i < 256; i++)
        q += !strcmp(ci[i].state, "SYN-RECEIVED");
    return q;
}

static void sample(struct flood *f, ustack_time_t now)
{
    struct ustack *s = f->st[N_SERVER];
    unsigned q = synq_len(f);
    if (q > f->synq_max)
        f->synq_max = q;
    fprintf(f->series, "%.1f,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", (double)(now - T0) / 1e6,
            q, f->syns_sent, ustack_counter_get(s, "tcp_drop_syn_queue_full"), ustack_counter_get(s, "tcp_syncookies_sent"),
            ustack_counter_get(s, "tcp_syncookies_recv"), ustack_counter_get(s, "tcp_syncookies_failed"));
}

static int pump(void *arg)
{
    struct flood *f = arg;
    ustack_time_t now = ustack_sim_now(f->sim);
    f->wakeup = USTACK_TIME_NEVER;
    while (now >= f->next_sample && f->next_sample <= T0 + RUN_END) {
        sample(f, f->next_sample);
        f->next_sample += SAMPLE_US;
    }
    if (f->next_sample <= T0 + RUN_END)
        f->wakeup = f->next_sample;
    while (now >= f->next_syn && f->next_syn < T0 + ATTACK_END) {
        attack_syn(f);
        f->next_syn += USTACK_SEC(1) / SYN_RATE;
    }
    if (f->next_syn < T0 + ATTACK_END && f->next_syn < f->wakeup)
        f->wakeup = f->next_syn;
    server_pump(f);
    client_pump(f, now);
    return f->failed || f->wakeup < f->until;
}

/* ------------------------------------------------------ one run */

static int run_part(bool cookies, uint64_t seed, const char *dir, bool quiet)
{
    if (mkdirs(dir) != 0) {
        fprintf(stderr, "ustack-study: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[4400];
    static struct flood fl;
    struct flood *f = &fl;
    memset(f, 0, sizeof *f);
    f->rng = seed ^ 0x73796e666c6f6f64ull;
    f->sim = ustack_sim_new(seed, T0);
    static const char *const addr[4] = {"10.0.0.2", "10.0.0.3", "10.0.0.66", "10.0.0.1"};
    for (int i = 0; i < 4; i++) {
        struct ustack_config cfg;
        ustack_config_default(&cfg);
        cfg.arp_gratuitous = 0;
        ustack_ip_parse(addr[i], &cfg.addr, NULL);
        cfg.random_seed = seed * 4 + (uint64_t)i + 1;
        if (i == N_SERVER || i == N_ATTACKER)
            ustack_ip_parse("10.0.0.1", &cfg.gateway, NULL);
        if (i == N_SERVER)
            cfg.tcp.syncookies = cookies ? 1 : 0;
        struct ustack_fault_config fc;
        memset(&fc, 0, sizeof fc);
        fc.out.delay_us = PATH_DELAY;
        struct ustack_sim_node_opts o = {.fault = &fc};
        if (i == N_SERVER) {
            snprintf(path, sizeof path, "%s/capture-server.pcap", dir);
            o.pcap = path;
        }
        if (i == N_GATEWAY)
            o.wrap = sink_wrap;
        f->st[i] = ustack_sim_add_node(f->sim, &cfg, &o);
        if (!f->st[i]) {
            fprintf(stderr, "ustack-study: cannot create the stacks: %s\n", strerror(errno));
            return 1;
        }
    }
    f->listener = us_socket(f->st[N_SERVER], AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    f->raw = us_socket(f->st[N_ATTACKER], AF_INET, SOCK_RAW, IPPROTO_TCP);
    int one = 1;
    if (f->listener < 0 || us_bind(f->st[N_SERVER], f->listener, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        us_listen(f->st[N_SERVER], f->listener, BACKLOG) != 0 || f->raw < 0 ||
        us_setsockopt(f->st[N_ATTACKER], f->raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) != 0) {
        fprintf(stderr, "ustack-study: sockets: %s\n", strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/series.csv", dir);
    f->series = fopen(path, "w");
    if (!f->series) {
        fprintf(stderr, "ustack-study: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f->series, "t,synq,attack_syns,syn_queue_full_drops,syncookies_sent,syncookies_recv,syncookies_failed\n");
    f->next_syn = T0 + ATTACK_START;
    f->next_sample = T0;
    f->next_client = T0 + CLIENT_FIRST;
    for (unsigned i = 0; i < CLIENT_CONNS; i++)
        f->at[i].fd = -1;

    while (!f->failed && ustack_sim_now(f->sim) < T0 + RUN_END) {
        f->until = T0 + RUN_END;
        ustack_sim_run_until(f->sim, pump, f, f->until);
        if (!f->failed && f->wakeup < f->until && f->wakeup > ustack_sim_now(f->sim)) {
            f->until = f->wakeup;
            ustack_sim_run_until(f->sim, pump, f, f->until);
        }
    }
    fclose(f->series);

    /* connects.csv and the summary. */
    snprintf(path, sizeof path, "%s/connects.csv", dir);
    FILE *c = fopen(path, "w");
    snprintf(path, sizeof path, "%s/summary.txt", dir);
    FILE *s = fopen(path, "w");
    if (!c || !s) {
        fprintf(stderr, "ustack-study: cannot write in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    fprintf(c, "start,connect_s,done_s,result\n");
    unsigned ok = 0, failed = 0, during = 0, during_ok = 0, fast = 0;
    double worst = 0, worst_during = 0;
    for (unsigned i = 0; i < f->nat; i++) {
        struct attempt *a = &f->at[i];
        double cs = a->connected ? (double)(a->connected - a->start) / 1e6 : -1;
        double ds = a->done ? (double)(a->done - a->start) / 1e6 : -1;
        const char *res = a->done ? "ok" : a->err ? strerror(a->err) : "unfinished";
        fprintf(c, "%.1f,%.6f,%.6f,%s\n", (double)(a->start - T0) / 1e6, cs, ds, res);
        bool in_attack = a->start >= T0 + ATTACK_START && a->start < T0 + ATTACK_END;
        during += in_attack;
        if (a->done) {
            ok++;
            fast += cs <= 1.0;
            during_ok += in_attack;
            if (cs > worst)
                worst = cs;
            if (in_attack && cs > worst_during)
                worst_during = cs;
        } else {
            failed++;
        }
    }
    fclose(c);
    struct ustack *srv = f->st[N_SERVER];
    for (int pass = 0; pass < 2; pass++) {
        FILE *o = pass ? stdout : s;
        if (pass && quiet)
            break;
        fprintf(o, "scenario      syn-flood/%s (seed %" PRIu64 ")\n", cookies ? "cookies-on" : "cookies-off", seed);
        fprintf(o, "attack        %" PRIu64 " spoofed SYNs from %.0f s to %.0f s (%u a second) at port %u, backlog %u\n",
                f->syns_sent, (double)ATTACK_START / 1e6, (double)ATTACK_END / 1e6, SYN_RATE, PORT, BACKLOG);
        fprintf(o, "syn queue     at most %u half-open connections\n", f->synq_max);
        fprintf(o, "client        %u of %u connections answered (%u connected within 1 s), %u failed; during the"
                   " attack %u of %u; slowest connect %.3f s (%.3f s during the attack)\n",
                ok, f->nat, fast, failed, during_ok, during, worst, worst_during);
        fprintf(o, "counters      tcp_drop_syn_queue_full %" PRIu64 ", tcp_syncookies_sent %" PRIu64
                   ", tcp_syncookies_recv %" PRIu64 ", tcp_syncookies_failed %" PRIu64 ", tcp_passive_opens %" PRIu64 "\n",
                ustack_counter_get(srv, "tcp_drop_syn_queue_full"), ustack_counter_get(srv, "tcp_syncookies_sent"),
                ustack_counter_get(srv, "tcp_syncookies_recv"), ustack_counter_get(srv, "tcp_syncookies_failed"),
                ustack_counter_get(srv, "tcp_passive_opens"));
        fprintf(o, "files         series.csv, connects.csv, capture-server.pcap\n");
    }
    fclose(s);
    ustack_sim_free(f->sim);
    if (f->failed) {
        fprintf(stderr, "ustack-study: syn-flood: %s\n", f->why);
        return 1;
    }
    return 0;
}

bool synflood_is(const char *name) { return !strncmp(name, "syn-flood", 9) && (!name[9] || name[9] == '/'); }

int synflood_run(const char *name, uint64_t seed, const char *dir, bool quiet)
{
    char sub[4200];
    int rc = 0;
    for (int on = 0; on < 2; on++) {
        const char *part = on ? "cookies-on" : "cookies-off";
        if (name[9] == '/' && strcmp(name + 10, part))
            continue;
        if (name[9] == '/')
            snprintf(sub, sizeof sub, "%s", dir);
        else
            snprintf(sub, sizeof sub, "%s/%s", dir, part);
        if (!quiet)
            printf("==== syn-flood/%s (in %s)\n", part, sub);
        if (run_part(on, seed, sub, quiet))
            rc = 1;
    }
    return rc;
}
