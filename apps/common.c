/*
 * Shared option parsing and start-up for the ustack programs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <ustack/stat.h>
#include <ustack/trace.h>
#include "common.h"
#include "control.h"

const char app_net_usage[] =
    "network options:\n"
    "  --tap NAME           TAP device to attach to (persistent, see tools/netns.sh up)\n"
    "  --addr A.B.C.D/LEN   this stack's address and subnet\n"
    "  --gw A.B.C.D         default gateway\n"
    "  --mac MAC            MAC address (default 02:00 + the IPv4 address)\n"
    "  --mtu N              link MTU (default 1500)\n"
    "  --pcap FILE          write every frame in and out to FILE (pcap)\n"
    "  --stats FILE         write the counters to FILE on exit\n"
    "  --trace FILE         write TCP's events to FILE, one JSON line each (docs/trace.md)\n"
    "  --mem-max BYTES      packet buffer memory of the stack (default 64 MiB; 0: no limit)\n"
    "  --icmp-echo-per-sec N  echo replies per second (default 0: unlimited, as Linux)\n"
    "  --accept-source-route 0|1  accept datagrams whose source route ended here (default 0)\n"
    "  --ip-reasm-timeout-ms N  give up an IPv4 reassembly after N ms (default 30000)\n"
    "  --max-sockets N      size the socket table may grow to (default 65536)\n"
    "fault injection (P is a probability 0..1; each applies to both directions,\n"
    "or to one with the -in / -out forms, e.g. --drop-in 0.1):\n"
    "  --drop P  --dup P  --reorder P  --corrupt P  --delay-ms N  --jitter-ms N\n"
    "  --rate R             serialise frames at R bit/s (e.g. 100mbit, 1gbit) before the delay\n"
    "  --queue BYTES        with --rate: bytes waiting at most (e.g. 64k); more are dropped\n"
    "  --seed N             seed of the fault injector's random numbers (default 1)\n"
    "TCP tunables (struct ustack_tcp_config in ustack/ustack.h has each default):\n"
    "  --tcp-rto-min-ms N --tcp-rto-max-ms N --tcp-rto-initial-ms N\n"
    "  --tcp-syn-retries N --tcp-synack-retries N --tcp-data-retries N\n"
    "  --tcp-persist-probes N --tcp-delack-ms N --tcp-msl-ms N --tcp-fin-wait2-ms N\n"
    "  --tcp-challenge-acks N (per second) --tcp-iw N (segments) --tcp-dupthresh N\n"
    "  --tcp-sndbuf BYTES --tcp-rcvbuf BYTES (initial sizes; autotuning grows them\n"
    "  up to --tcp-sndbuf-max BYTES --tcp-rcvbuf-max BYTES, default 4 MiB)\n"
    "  --tcp-ooo-ranges N --tcp-syn-backlog N --tcp-max-backlog N\n"
    "  --tcp-syncookies 0|1|2  SYN cookies: never, when a SYN queue is full (default), always\n"
    "  --tcp-abort-on-overflow 0|1  RST a handshake the full accept queue cannot take\n"
    "  --tcp-max-half-open N --tcp-max-connections N  per stack (default 1024, 16384)\n"
    "  --tcp-nodelay 0|1 --tcp-keepalive 0|1 --tcp-keepidle-ms N --tcp-keepintvl-ms N\n"
    "  --tcp-keepcnt N      defaults of the socket options of the same names\n"
    "  --tcp-cc NAME        congestion control: cubic (default), newreno\n"
    "  --tcp-features LIST  switch mechanisms on (+name) or off (-name), e.g. -sack,-rack:\n"
    "                       wscale timestamps sack dsack limited-transmit rack tlp eifel\n"
    "                       hystart autotune ecn byte-counting; also all, none, default\n";

void app_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

void app_net_init(struct app_net *n, const char *prog, const char *tap, const char *addr)
{
    memset(n, 0, sizeof *n);
    n->prog = prog;
    n->tap = tap;
    ustack_config_default(&n->cfg);
    ustack_ip_parse(addr, &n->cfg.addr, &n->cfg.prefix_len);
    n->fault.seed = 1;
}

static unsigned long long parse_num(struct app_net *n, const char *opt, const char *v, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || !*v || *v == '-' || x > max)
        app_usage_error(n->prog, "%s wants a whole number up to %llu, not '%s'", opt, max, v);
    return x;
}

/* "100mbit", "1.5gbit", "64kbit", "2000000" (bit/s); 0 on a bad value. */
static uint64_t parse_rate(const char *v)
{
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (errno || end == v || !(r > 0))
        return 0;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1}, {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        if (strcasecmp(end, units[k].unit) == 0) {
            r *= units[k].mult;
            return r >= 1 && r < 1e15 ? (uint64_t)r : 0;
        }
    }
    return 0;
}

/* "1500", "64k", "2M" (powers of 1024); -1 on a bad value. */
static long long parse_bytes(const char *v)
{
    char *end;
    errno = 0;
    long long b = strtoll(v, &end, 10);
    if (errno || end == v || b < 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        b <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        b <<= 20, end++;
    if (*end || b > (1ll << 32))
        return -1;
    return b;
}

int app_fault_option(const char *prog, struct ustack_fault_config *f, const char *name, const char *opt,
                     const char *v, const char *in_suffix, const char *out_suffix)
{
    static const char *const kinds[] = {"drop", "dup", "reorder", "corrupt", "delay", "jitter", "rate", "queue"};
    const char *const dirs_suffix[] = {"", in_suffix, out_suffix};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int d = 0; d < 3; d++) {
            char want[32];
            snprintf(want, sizeof want, "%s%s%s", kinds[k], dirs_suffix[d], k == 4 || k == 5 ? "-ms" : "");
            if (strcmp(name, want) != 0)
                continue;
            double p = 0;
            unsigned long long x = 0;
            if (k < 4) {
                char *end;
                errno = 0;
                p = strtod(v, &end);
                if (errno || end == v || *end || !(p >= 0 && p <= 1))
                    app_usage_error(prog, "%s wants a probability between 0 and 1, not '%s'", opt, v);
            } else if (k < 6) {
                char *end;
                errno = 0;
                x = strtoull(v, &end, 10);
                if (errno || *end || !*v || *v == '-' || x > 3600000)
                    app_usage_error(prog, "%s wants milliseconds up to 3600000, not '%s'", opt, v);
                x *= 1000;
            } else if (k == 6) {
                if (!(x = parse_rate(v)))
                    app_usage_error(prog, "%s wants a rate such as 100mbit, 1gbit, 512kbit, not '%s'", opt, v);
            } else {
                long long b = parse_bytes(v);
                if (b < 0)
                    app_usage_error(prog, "%s wants a byte count such as 64k or 1M, not '%s'", opt, v);
                x = (unsigned long long)b;
            }
            struct ustack_fault_dir *targets[2] = {d != 2 ? &f->in : NULL, d != 1 ? &f->out : NULL};
            for (int t = 0; t < 2; t++) {
                struct ustack_fault_dir *fd = targets[t];
                if (!fd)
                    continue;
                switch (k) {
                case 0: fd->drop = p; break;
                case 1: fd->dup = p; break;
                case 2: fd->reorder = p; break;
                case 3: fd->corrupt = p; break;
                case 4: fd->delay_us = x; break;
                case 5: fd->jitter_us = x; break;
                case 6: fd->rate_bps = x; break;
                default: fd->queue_bytes = (size_t)x; break;
                }
            }
            return 1;
        }
    }
    return 0;
}

/* The TCP tunables of struct ustack_config; times in milliseconds. */
static int tcp_option(struct app_net *n, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *name = a + 6;
    struct ustack_config *c = &n->cfg;
    struct ustack_tcp_config *t = &c->tcp;
    struct {
        const char *name;
        ustack_time_t *ms;
        unsigned *count;
        size_t *bytes;
        bool *flag;
    } opts[] = {
        {"rto-min-ms", &t->rto_min_us, NULL, NULL, NULL},
        {"rto-max-ms", &t->rto_max_us, NULL, NULL, NULL},
        {"rto-initial-ms", &t->rto_initial_us, NULL, NULL, NULL},
        {"delack-ms", &t->delack_us, NULL, NULL, NULL},
        {"msl-ms", &t->msl_us, NULL, NULL, NULL},
        {"fin-wait2-ms", &t->fin_wait2_us, NULL, NULL, NULL},
        {"keepidle-ms", &t->keepidle_us, NULL, NULL, NULL},
        {"keepintvl-ms", &t->keepintvl_us, NULL, NULL, NULL},
        {"syn-retries", NULL, &t->syn_retries, NULL, NULL},
        {"synack-retries", NULL, &t->synack_retries, NULL, NULL},
        {"data-retries", NULL, &t->data_retries, NULL, NULL},
        {"persist-probes", NULL, &t->persist_max_probes, NULL, NULL},
        {"challenge-acks", NULL, &t->challenge_ack_per_sec, NULL, NULL},
        {"iw", NULL, &t->initial_window_segs, NULL, NULL},
        {"dupthresh", NULL, &t->dupthresh, NULL, NULL},
        {"ooo-ranges", NULL, &t->ooo_max_ranges, NULL, NULL},
        {"syn-backlog", NULL, &t->syn_backlog, NULL, NULL},
        {"max-backlog", NULL, &t->max_backlog, NULL, NULL},
        {"max-half-open", NULL, &t->max_half_open, NULL, NULL},
        {"max-connections", NULL, &t->max_connections, NULL, NULL},
        {"keepcnt", NULL, &t->keepcnt, NULL, NULL},
        {"sndbuf", NULL, NULL, &t->sndbuf, NULL},
        {"rcvbuf", NULL, NULL, &t->rcvbuf, NULL},
        {"rcvbuf-max", NULL, NULL, &t->rcvbuf_max, NULL},
        {"sndbuf-max", NULL, NULL, &t->sndbuf_max, NULL},
        {"nodelay", NULL, NULL, NULL, &t->nodelay},
        {"keepalive", NULL, NULL, NULL, &t->keepalive},
        {"abort-on-overflow", NULL, NULL, NULL, &t->abort_on_overflow},
    };
    if (strcmp(name, "syncookies") == 0) {
        if (*i + 1 >= argc)
            app_usage_error(n->prog, "%s needs a value", a);
        t->syncookies = (unsigned)parse_num(n, a, argv[++*i], 2);
        return 1;
    }
    if (strcmp(name, "cc") == 0 || strcmp(name, "features") == 0) {
        if (*i + 1 >= argc)
            app_usage_error(n->prog, "%s needs a value", a);
        const char *v = argv[++*i];
        if (name[0] == 'c') {
            if (strcmp(v, "cubic") != 0 && strcmp(v, "newreno") != 0 && strcmp(v, "reno") != 0)
                app_usage_error(n->prog, "--tcp-cc wants cubic, newreno or reno, not '%s'", v);
            snprintf(t->congestion, sizeof t->congestion, "%s", v);
        } else if (ustack_tcp_features_parse(v, &t->features) < 0) {
            app_usage_error(n->prog, "--tcp-features: unknown name in '%s'", v);
        }
        return 1;
    }
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (strcmp(name, opts[k].name) != 0)
            continue;
        if (*i + 1 >= argc)
            app_usage_error(n->prog, "%s needs a value", a);
        const char *v = argv[++*i];
        if (opts[k].ms)
            *opts[k].ms = USTACK_MS(parse_num(n, a, v, 86400000));
        else if (opts[k].count)
            *opts[k].count = (unsigned)parse_num(n, a, v, 100000);
        else if (opts[k].bytes)
            *opts[k].bytes = (size_t)parse_num(n, a, v, 64u << 20);
        else
            *opts[k].flag = parse_num(n, a, v, 1) != 0;
        return 1;
    }
    return 0;
}

int app_net_option(struct app_net *n, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0)
        return 0;
    const char *name = a + 2;
    static const char *const with_value[] = {"tap", "addr", "gw", "mac", "mtu", "pcap", "stats", "seed", "trace",
                                             "mem-max", "icmp-echo-per-sec", "accept-source-route",
                                             "ip-reasm-timeout-ms", "max-sockets"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        known |= strcmp(name, with_value[k]) == 0;
    if (!known && strncmp(name, "tcp-", 4) == 0)
        return tcp_option(n, argc, argv, i);
    bool is_fault = !known && (strncmp(name, "drop", 4) == 0 || strncmp(name, "dup", 3) == 0 ||
                               strncmp(name, "reorder", 7) == 0 || strncmp(name, "corrupt", 7) == 0 ||
                               strncmp(name, "delay", 5) == 0 || strncmp(name, "jitter", 6) == 0 ||
                               strncmp(name, "rate", 4) == 0 || strncmp(name, "queue", 5) == 0);
    if (!known && !is_fault)
        return 0;
    if (*i + 1 >= argc)
        app_usage_error(n->prog, "%s needs a value", a);
    const char *v = argv[++*i];
    if (is_fault) {
        if (!app_fault_option(n->prog, &n->fault, name, a, v, "-in", "-out"))
            app_usage_error(n->prog, "unknown option %s", a);
        n->have_fault = true;
        return 1;
    }
    if (strcmp(name, "tap") == 0) {
        n->tap = v;
    } else if (strcmp(name, "addr") == 0) {
        uint8_t len = 24;
        if (ustack_ip_parse(v, &n->cfg.addr, &len) < 0 || n->cfg.addr == 0)
            app_usage_error(n->prog, "--addr wants A.B.C.D/LEN, not '%s'", v);
        n->cfg.prefix_len = strchr(v, '/') ? len : 24;
    } else if (strcmp(name, "gw") == 0) {
        uint8_t len;
        if (ustack_ip_parse(v, &n->cfg.gateway, &len) < 0 || strchr(v, '/'))
            app_usage_error(n->prog, "--gw wants A.B.C.D, not '%s'", v);
    } else if (strcmp(name, "mac") == 0) {
        if (ustack_mac_parse(v, n->cfg.mac) < 0)
            app_usage_error(n->prog, "--mac wants a unicast aa:bb:cc:dd:ee:ff, not '%s'", v);
    } else if (strcmp(name, "mtu") == 0) {
        n->cfg.mtu = (uint16_t)parse_num(n, a, v, 65000);
        if (n->cfg.mtu < 68)
            app_usage_error(n->prog, "--mtu must be at least 68");
    } else if (strcmp(name, "pcap") == 0) {
        n->pcap = v;
    } else if (strcmp(name, "stats") == 0) {
        n->stats = v;
    } else if (strcmp(name, "trace") == 0) {
        n->trace = v;
    } else if (strcmp(name, "mem-max") == 0) {
        n->cfg.mem_max = (size_t)parse_num(n, a, v, (size_t)1 << 40);
    } else if (strcmp(name, "icmp-echo-per-sec") == 0) {
        n->cfg.icmp_echo_per_sec = (unsigned)parse_num(n, a, v, 1000000);
    } else if (strcmp(name, "accept-source-route") == 0) {
        n->cfg.ip_accept_source_route = parse_num(n, a, v, 1) != 0;
    } else if (strcmp(name, "ip-reasm-timeout-ms") == 0) {
        n->cfg.reasm_timeout_us = USTACK_MS(parse_num(n, a, v, 3600000));
        if (n->cfg.reasm_timeout_us == 0)
            app_usage_error(n->prog, "--ip-reasm-timeout-ms must be at least 1");
    } else if (strcmp(name, "max-sockets") == 0) {
        n->cfg.max_sockets = (unsigned)parse_num(n, a, v, 1u << 24);
        if (n->cfg.max_sockets == 0)
            app_usage_error(n->prog, "--max-sockets must be at least 1");
    } else if (strcmp(name, "seed") == 0) {
        n->fault.seed = parse_num(n, a, v, UINT64_MAX);
        n->seed_given = true;
    }
    return 1;
}

/* Runs under the stack's lock (the loop thread or a socket call), so lines
 * never interleave. */
static void trace_to_file(void *ctx, const struct ustack_trace_event *ev)
{
    char line[512];
    int len = ustack_trace_format_json(ev, line, sizeof line);
    if (len > 0)
        fwrite(line, 1, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1, ctx);
}

static void trace_install(struct ustack *st, void *arg)
{
    struct app_net *n = arg;
    ustack_set_trace(st, trace_to_file, n->trace_file, 1);
}

void app_net_start(struct app_net *n)
{
    if (n->trace && !(n->trace_file = fopen(n->trace, "w"))) {
        fprintf(stderr, "%s: cannot write %s: %s\n", n->prog, n->trace, strerror(errno));
        exit(1);
    }
    n->tap_link = ustack_link_tap_open(n->tap);
    if (!n->tap_link) {
        fprintf(stderr,
                "%s: cannot open TAP device '%s': %s\n"
                "Create the default topology first (as root): tools/netns.sh up\n"
                "and run this program inside its namespace: ip netns exec ustack %s ...\n",
                n->prog, n->tap, strerror(errno), n->prog);
        exit(1);
    }
    n->top = n->tap_link;
    if (n->have_fault) {
        n->fault_link = ustack_link_fault_new(n->top, &n->fault);
        if (!n->fault_link) {
            fprintf(stderr, "%s: cannot create the fault injector\n", n->prog);
            exit(1);
        }
        n->top = n->fault_link;
    }
    if (n->pcap) {
        /* Outermost, next to the stack: the capture shows exactly what the
         * stack received and sent, after inbound faults and before outbound. */
        struct ustack_link *p = ustack_link_pcap_new(n->top, n->pcap, ustack_clock_wall() - ustack_clock_now());
        if (!p) {
            fprintf(stderr, "%s: cannot write %s: %s\n", n->prog, n->pcap, strerror(errno));
            exit(1);
        }
        n->top = p;
    }
    if (getrandom(&n->cfg.random_seed, sizeof n->cfg.random_seed, 0) != sizeof n->cfg.random_seed)
        n->cfg.random_seed = (uint64_t)ustack_clock_wall();
    n->rt = ustack_rt_start(&n->cfg, n->top);
    if (!n->rt) {
        fprintf(stderr, "%s: cannot start the stack: %s\n", n->prog, strerror(errno));
        exit(1);
    }
    n->st = ustack_rt_stack(n->rt);
    if (n->trace_file)
        ustack_rt_locked(n->rt, trace_install, n);
}

struct drain_state {
    size_t queued, busy;
    uint64_t failed;
};

static void drain_probe(struct ustack *st, void *arg)
{
    struct drain_state *d = arg;
    struct ustack_usage u;
    ustack_get_usage(st, &u);
    d->queued = u.arp_queued;
    d->busy = u.tcp_busy;
    d->failed = ustack_counter_get(st, "arp_resolve_failed");
}

int app_net_drain(struct app_net *n, int max_ms)
{
    struct drain_state d;
    ustack_rt_locked(n->rt, drain_probe, &d);
    uint64_t failed0 = d.failed;
    for (int waited = 0; (d.queued > 0 || d.busy > 0) && waited < max_ms; waited += 5) {
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
        ustack_rt_locked(n->rt, drain_probe, &d);
    }
    return d.queued == 0 && d.failed == failed0 ? 0 : -1;
}

/* ------------------------------------------------- live snapshot (control.h) */

struct snapshot {
    struct ustack_link *fault; /* in: the fault injector, or NULL */
    ustack_time_t now;
    uint32_t addr;
    struct ustack_conn_info *conns;
    size_t nconns;
    uint64_t *counters;
    size_t ncounters;
    struct ustack_usage usage;
    bool have_fault;
    struct ustack_fault_stats fault_in, fault_out;
    bool nomem;
};

/* Under the stack's lock: copy only; no I/O. */
static void snapshot_take(struct ustack *st, void *arg)
{
    struct snapshot *s = arg;
    /* The fault injector is used by the loop thread under the same lock. */
    if (s->fault) {
        s->have_fault = true;
        ustack_link_fault_stats(s->fault, 0, &s->fault_in);
        ustack_link_fault_stats(s->fault, 1, &s->fault_out);
    }
    s->now = ustack_now(st);
    s->addr = ustack_get_config(st)->addr;
    size_t n = ustack_conn_list(st, NULL, 0);
    s->conns = n ? calloc(n, sizeof *s->conns) : NULL;
    s->ncounters = ustack_counter_count();
    s->counters = calloc(s->ncounters, sizeof *s->counters);
    if ((n && !s->conns) || !s->counters) {
        s->nomem = true;
        return;
    }
    s->nconns = ustack_conn_list(st, s->conns, n);
    if (s->nconns > n)
        s->nconns = n;
    for (size_t i = 0; i < s->ncounters; i++)
        s->counters[i] = ustack_counter_value(st, i);
    ustack_get_usage(st, &s->usage);
}

static void put_endpoint(FILE *f, const char *key, uint32_t addr, uint16_t port)
{
    char ip[16];
    fprintf(f, " %s=%s:%u", key, ustack_ip_str(addr, ip), port);
}

static void snapshot_format(FILE *f, const struct snapshot *s, const char *tap)
{
    char ip[16];
    fprintf(f, "%s %d\ntap %s\naddr %s\nnow_us %llu\n", CONTROL_MAGIC, CONTROL_VERSION, tap,
            ustack_ip_str(s->addr, ip), (unsigned long long)s->now);
    for (size_t i = 0; i < s->nconns; i++) {
        const struct ustack_conn_info *ci = &s->conns[i];
        fprintf(f, "conn state=%s", ci->state);
        put_endpoint(f, "local", ci->laddr, ci->lport);
        put_endpoint(f, "remote", ci->raddr, ci->rport);
        fprintf(f, " iss=%u irs=%u snd_una=%u snd_nxt=%u snd_max=%u rcv_nxt=%u inflight=%u cwnd=%u", ci->iss,
                ci->irs, ci->snd_una, ci->snd_nxt, ci->snd_max, ci->rcv_nxt, ci->inflight, ci->cwnd);
        if (ci->ssthresh == USTACK_SSTHRESH_INF)
            fprintf(f, " ssthresh=inf");
        else
            fprintf(f, " ssthresh=%u", ci->ssthresh);
        fprintf(f,
                " srtt_us=%llu rttvar_us=%llu rto_us=%llu rto_backoff=%u retrans=%llu sendq=%zu recvq=%zu"
                " snd_wnd=%u rcv_wnd=%u mss=%u\n",
                (unsigned long long)ci->srtt_us, (unsigned long long)ci->rttvar_us,
                (unsigned long long)ci->rto_us, ci->rto_backoff, (unsigned long long)ci->retrans, ci->sendq,
                ci->recvq, ci->snd_wnd, ci->rcv_wnd, (unsigned)ci->mss);
    }
    for (size_t i = 0; i < s->ncounters; i++)
        fprintf(f, "counter %s %llu\n", ustack_counter_name(i), (unsigned long long)s->counters[i]);
    if (s->have_fault) {
        const struct ustack_fault_stats *d[2] = {&s->fault_in, &s->fault_out};
        for (int k = 0; k < 2; k++) {
            const char *dir = k ? "out" : "in";
            fprintf(f,
                    "counter fault_%s_dropped %llu\ncounter fault_%s_duplicated %llu\n"
                    "counter fault_%s_reordered %llu\ncounter fault_%s_corrupted %llu\n"
                    "counter fault_%s_delayed %llu\n",
                    dir, (unsigned long long)d[k]->dropped, dir, (unsigned long long)d[k]->duplicated, dir,
                    (unsigned long long)d[k]->reordered, dir, (unsigned long long)d[k]->corrupted, dir,
                    (unsigned long long)d[k]->delayed);
        }
    }
    const struct ustack_usage *u = &s->usage;
    fprintf(f,
            "usage pbufs %zu\nusage pbuf_bytes %zu\nusage timers %zu\nusage arp_entries %zu\n"
            "usage arp_queued %zu\nusage reasm_datagrams %zu\nusage reasm_bytes %zu\nusage sockets %zu\n"
            "usage tcp_connections %zu\nusage tcp_busy %zu\nusage pmtu_entries %zu\nusage sock_waiters %zu\n"
            "usage tcp_mem_bytes %zu\nusage sock_mem_bytes %zu\nend\n",
            u->pbufs, u->pbuf_bytes, u->timers, u->arp_entries, u->arp_queued, u->reasm_datagrams, u->reasm_bytes,
            u->sockets, u->tcp_connections, u->tcp_busy, u->pmtu_entries, u->sock_waiters, u->tcp_mem_bytes,
            u->sock_mem_bytes);
}

int app_net_snapshot(struct app_net *n, FILE *f)
{
    struct snapshot s;
    memset(&s, 0, sizeof s);
    s.fault = n->fault_link;
    ustack_rt_locked(n->rt, snapshot_take, &s);
    int r = 0;
    if (s.nomem) {
        fprintf(f, "%s %d\nerror out of memory\n", CONTROL_MAGIC, CONTROL_VERSION);
        r = -1;
    } else {
        snapshot_format(f, &s, n->tap);
    }
    free(s.conns);
    free(s.counters);
    return r;
}

static void write_counters(struct app_net *n, FILE *f)
{
    for (size_t i = 0; i < ustack_counter_count(); i++)
        fprintf(f, "%s %llu\n", ustack_counter_name(i), (unsigned long long)ustack_counter_value(n->st, i));
    /* What is still held at exit: after the program closed its sockets,
     * anything here besides connections in TIME-WAIT would be a leak. */
    struct ustack_usage u;
    ustack_get_usage(n->st, &u);
    fprintf(f, "usage_sockets %zu\nusage_tcp_connections %zu\nusage_tcp_busy %zu\nusage_pbufs %zu\n"
               "usage_pbuf_bytes %zu\nusage_arp_queued %zu\nusage_reasm_datagrams %zu\nusage_reasm_bytes %zu\n"
               "usage_pmtu_entries %zu\n",
            u.sockets, u.tcp_connections, u.tcp_busy, u.pbufs, u.pbuf_bytes, u.arp_queued, u.reasm_datagrams,
            u.reasm_bytes, u.pmtu_entries);
    if (n->fault_link) {
        struct ustack_fault_stats in, out;
        ustack_link_fault_stats(n->fault_link, 0, &in);
        ustack_link_fault_stats(n->fault_link, 1, &out);
        fprintf(f, "fault_in_dropped %llu\nfault_in_duplicated %llu\nfault_in_reordered %llu\n"
                   "fault_in_corrupted %llu\nfault_in_delayed %llu\n",
                (unsigned long long)in.dropped, (unsigned long long)in.duplicated,
                (unsigned long long)in.reordered, (unsigned long long)in.corrupted,
                (unsigned long long)in.delayed);
        fprintf(f, "fault_out_dropped %llu\nfault_out_duplicated %llu\nfault_out_reordered %llu\n"
                   "fault_out_corrupted %llu\nfault_out_delayed %llu\n",
                (unsigned long long)out.dropped, (unsigned long long)out.duplicated,
                (unsigned long long)out.reordered, (unsigned long long)out.corrupted,
                (unsigned long long)out.delayed);
    }
}

void app_net_stop(struct app_net *n, FILE *out)
{
    ustack_rt_halt(n->rt);
    if (out)
        write_counters(n, out);
    if (n->stats) {
        FILE *f = fopen(n->stats, "w");
        if (f) {
            write_counters(n, f);
            fclose(f);
        } else {
            fprintf(stderr, "%s: cannot write %s: %s\n", n->prog, n->stats, strerror(errno));
        }
    }
    ustack_rt_stop(n->rt);
    ustack_link_close(n->top);
    if (n->trace_file)
        fclose(n->trace_file);
    n->rt = NULL;
    n->st = NULL;
}
