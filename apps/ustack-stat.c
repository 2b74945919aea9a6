/*
 * ustack-stat: what a running ustackd's TCP is doing, like `ss -tin` and
 * `netstat -s`. It reads one snapshot from ustackd's control socket
 * (control.h, docs/stat.md) and prints every connection (state, addresses,
 * then a line of sequence numbers, windows, congestion control, RTT and
 * queues), then the counters. `-w N` repeats every N seconds.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "control.h"

#define READ_TIMEOUT_S 5

static void usage(void)
{
    printf("usage: ustack-stat [--tap NAME | --control PATH] [-w SECONDS] [-c | -n] [-a] [--raw]\n"
           "Shows a running ustackd's TCP connections (like ss -tin) and counters (like netstat -s),\n"
           "read from its control socket.\n"
           "  --tap NAME      the ustackd on this TAP (default tap0): its socket is\n"
           "                  " CONTROL_RUN_DIR "/NAME.sock or /tmp/ustack-NAME.sock\n"
           "  --control PATH  the socket given to ustackd --control\n"
           "  -w SECONDS      refresh every SECONDS (decimals allowed) until interrupted\n"
           "  -c              counters only\n"
           "  -n              connections only\n"
           "  -a              all: listening sockets too, and counters that are zero\n"
           "  --raw           print the snapshot as ustackd sent it (docs/stat.md)\n"
           "Exit status: 0, 1 if ustackd cannot be reached, 2 on a usage error.\n");
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ustack-stat: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ustack-stat --help'.\n");
    exit(2);
}

/* ------------------------------------------------------------ fetching */

/* Connects to path and reads the whole snapshot into a NUL-terminated
 * buffer; on failure prints why (naming the TAP when given) and exits 1. */
static char *fetch(const char *path, const char *tap)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "ustack-stat: %s: path too long for a Unix socket\n", path);
        exit(1);
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "ustack-stat: socket: %s\n", strerror(errno));
        exit(1);
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        int err = errno;
        if (err == ENOENT || err == ECONNREFUSED) {
            const char *what = err == ENOENT ? "no such control socket" : "nobody listens on the control socket";
            if (tap)
                fprintf(stderr,
                        "ustack-stat: %s %s: ustackd is not running on %s\n"
                        "(or it was started with --control PATH: then use ustack-stat --control PATH)\n",
                        what, path, tap);
            else
                fprintf(stderr, "ustack-stat: %s %s: ustackd is not running with --control %s\n", what, path,
                        path);
        } else {
            fprintf(stderr, "ustack-stat: cannot connect to %s: %s\n", path, strerror(err));
        }
        exit(1);
    }
    struct timeval tv = {.tv_sec = READ_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "ustack-stat: out of memory\n");
            exit(1);
        }
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
            continue;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "ustack-stat: reading %s: %s\n", path,
                    errno == EAGAIN ? "no answer from ustackd" : strerror(errno));
            exit(1);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    char magic[32];
    int version;
    if (sscanf(buf, "%31s %d", magic, &version) != 2 || strcmp(magic, CONTROL_MAGIC) != 0) {
        fprintf(stderr, "ustack-stat: %s does not speak the ustack control protocol\n", path);
        exit(1);
    }
    if (version != CONTROL_VERSION) {
        fprintf(stderr, "ustack-stat: %s speaks version %d of the control protocol, this is version %d\n", path,
                version, CONTROL_VERSION);
        exit(1);
    }
    if (len < 4 || strcmp(buf + len - 4, "end\n") != 0 || (len > 4 && buf[len - 5] != '\n')) {
        const char *e = strstr(buf, "\nerror ");
        fprintf(stderr, "ustack-stat: %s: incomplete snapshot%s%s", path, e ? ":" : "\n", e ? e + 6 : "");
        exit(1);
    }
    return buf;
}

/* ------------------------------------------------------------ parsing */

#define MAX_KV 40
struct conn {
    char *kv[MAX_KV][2];
    unsigned n;
};

static const char *get(const struct conn *c, const char *key)
{
    for (unsigned i = 0; i < c->n; i++)
        if (strcmp(c->kv[i][0], key) == 0)
            return c->kv[i][1];
    return "";
}

static unsigned long long num(const struct conn *c, const char *key) { return strtoull(get(c, key), NULL, 10); }

struct endpoint_key {
    uint32_t addr;
    unsigned port;
};

static struct endpoint_key endpoint(const char *s)
{
    unsigned a, b, c, d, p;
    struct endpoint_key k = {0, 0};
    if (sscanf(s, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &p) == 5) {
        k.addr = a << 24 | b << 16 | c << 8 | d;
        k.port = p;
    }
    return k;
}

/* Listeners last; then by local port, remote address, remote port. */
static int conn_cmp(const void *pa, const void *pb)
{
    const struct conn *a = pa, *b = pb;
    int la = strcmp(get(a, "state"), "LISTEN") == 0, lb = strcmp(get(b, "state"), "LISTEN") == 0;
    if (la != lb)
        return la - lb;
    struct endpoint_key al = endpoint(get(a, "local")), bl = endpoint(get(b, "local"));
    struct endpoint_key ar = endpoint(get(a, "remote")), br = endpoint(get(b, "remote"));
    if (al.port != bl.port)
        return al.port < bl.port ? -1 : 1;
    if (ar.addr != br.addr)
        return ar.addr < br.addr ? -1 : 1;
    if (ar.port != br.port)
        return ar.port < br.port ? -1 : 1;
    return 0;
}

struct snapshot {
    const char *tap, *addr;
    double now_s;
    struct conn *conns;
    size_t nconns;
    char **counter_name, **counter_value;
    size_t ncounters;
    char **usage_name, **usage_value;
    size_t nusage;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "ustack-stat: out of memory\n");
        exit(1);
    }
    return q;
}

/* Splits the text in place; unknown records are ignored (control.h). */
static void parse(char *text, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->tap = s->addr = "?";
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *rest = strchr(line, ' ');
        if (rest)
            *rest++ = 0;
        else
            rest = line + strlen(line);
        if (strcmp(line, "tap") == 0) {
            s->tap = rest;
        } else if (strcmp(line, "addr") == 0) {
            s->addr = rest;
        } else if (strcmp(line, "now_us") == 0) {
            s->now_s = strtoull(rest, NULL, 10) / 1e6;
        } else if (strcmp(line, "conn") == 0) {
            s->conns = xrealloc(s->conns, (s->nconns + 1) * sizeof *s->conns);
            struct conn *c = &s->conns[s->nconns++];
            c->n = 0;
            char *fs;
            for (char *f = strtok_r(rest, " ", &fs); f && c->n < MAX_KV; f = strtok_r(NULL, " ", &fs)) {
                char *eq = strchr(f, '=');
                if (!eq)
                    continue;
                *eq = 0;
                c->kv[c->n][0] = f;
                c->kv[c->n][1] = eq + 1;
                c->n++;
            }
        } else if (strcmp(line, "counter") == 0 || strcmp(line, "usage") == 0) {
            char *val = strchr(rest, ' ');
            if (!val)
                continue;
            *val++ = 0;
            bool counter = line[0] == 'c';
            char ***names = counter ? &s->counter_name : &s->usage_name;
            char ***vals = counter ? &s->counter_value : &s->usage_value;
            size_t *n = counter ? &s->ncounters : &s->nusage;
            *names = xrealloc(*names, (*n + 1) * sizeof **names);
            *vals = xrealloc(*vals, (*n + 1) * sizeof **vals);
            (*names)[*n] = rest;
            (*vals)[*n] = val;
            (*n)++;
        }
    }
    if (s->nconns > 1)
        qsort(s->conns, s->nconns, sizeof *s->conns, conn_cmp);
}

static void snapshot_free(struct snapshot *s)
{
    free(s->conns);
    free(s->counter_name);
    free(s->counter_value);
    free(s->usage_name);
    free(s->usage_value);
}

/* ------------------------------------------------------------ printing */

/* Microseconds as milliseconds with three decimals ("0.123"). */
static void ms(char *buf, size_t cap, unsigned long long us)
{
    snprintf(buf, cap, "%llu.%03llu", us / 1000, us % 1000);
}

static void print_conns(const struct snapshot *s, bool all)
{
    size_t listening = 0;
    for (size_t i = 0; i < s->nconns; i++)
        listening += strcmp(get(&s->conns[i], "state"), "LISTEN") == 0;
    printf("TCP: %zu connection%s", s->nconns - listening, s->nconns - listening == 1 ? "" : "s");
    if (listening)
        printf(", %zu listening%s", listening, all ? "" : " (-a shows them)");
    printf("\n%-12s %8s %8s %-21s %-21s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
           "Peer Address:Port");
    for (size_t i = 0; i < s->nconns; i++) {
        const struct conn *c = &s->conns[i];
        const char *state = get(c, "state");
        bool listen = strcmp(state, "LISTEN") == 0;
        if (listen && !all)
            continue;
        char remote[32];
        snprintf(remote, sizeof remote, "%s", listen ? "*:*" : get(c, "remote"));
        printf("%-12s %8s %8s %-21s %-21s\n", state, get(c, "recvq"), get(c, "sendq"), get(c, "local"), remote);
        if (listen)
            continue;
        /* Data bytes acknowledged and received, counted from the ISNs (as
         * ss's bytes_acked/bytes_received; modulo 2^32). */
        uint32_t iss = (uint32_t)num(c, "iss"), irs = (uint32_t)num(c, "irs");
        uint32_t una = (uint32_t)num(c, "snd_una"), rnxt = (uint32_t)num(c, "rcv_nxt");
        uint32_t acked = (int32_t)(una - iss) > 1 ? una - iss - 1 : 0;
        uint32_t rcvd = (int32_t)(rnxt - irs) > 1 ? rnxt - irs - 1 : 0;
        char srtt[80], rto[32];
        unsigned long long srtt_us = num(c, "srtt_us");
        if (srtt_us) {
            char a[32], b[32];
            ms(a, sizeof a, srtt_us);
            ms(b, sizeof b, num(c, "rttvar_us"));
            snprintf(srtt, sizeof srtt, "%s/%sms", a, b);
        } else {
            snprintf(srtt, sizeof srtt, "-");
        }
        ms(rto, sizeof rto, num(c, "rto_us"));
        printf("\t snd_una:%s snd_nxt:%s rcv_nxt:%s inflight:%s cwnd:%s ssthresh:%s srtt:%s rto:%sms", get(c, "snd_una"),
               get(c, "snd_nxt"), get(c, "rcv_nxt"), get(c, "inflight"), get(c, "cwnd"), get(c, "ssthresh"), srtt,
               rto);
        if (num(c, "rto_backoff"))
            printf(" backoff:%s", get(c, "rto_backoff"));
        printf(" retrans:%s sendq:%s recvq:%s snd_wnd:%s rcv_wnd:%s mss:%s bytes_acked:%u bytes_received:%u\n",
               get(c, "retrans"), get(c, "sendq"), get(c, "recvq"), get(c, "snd_wnd"), get(c, "rcv_wnd"),
               get(c, "mss"), acked, rcvd);
    }
}

static void print_counters(const struct snapshot *s, bool all)
{
    printf("Counters%s:\n", all ? "" : " (non-zero; -a shows all)");
    for (size_t i = 0; i < s->ncounters; i++)
        if (all || strcmp(s->counter_value[i], "0") != 0)
            printf("    %-36s %s\n", s->counter_name[i], s->counter_value[i]);
    printf("In use:\n");
    for (size_t i = 0; i < s->nusage; i++)
        printf("    %-36s %s\n", s->usage_name[i], s->usage_value[i]);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    const char *tap = NULL, *path = NULL;
    double interval = 0;
    bool only_counters = false, only_conns = false, all = false, raw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (strcmp(a, "--tap") == 0 || strcmp(a, "--control") == 0 || strcmp(a, "-w") == 0) {
            if (i + 1 >= argc)
                usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'w') {
                char *end;
                interval = strtod(v, &end);
                if (*end || !(interval > 0) || interval > 86400 || isnan(interval))
                    usage_error("-w wants a number of seconds, not '%s'", v);
            } else if (a[2] == 't') {
                tap = v;
            } else {
                path = v;
            }
            continue;
        }
        if (a[0] == '-' && a[1] != '-' && a[1]) {
            for (const char *f = a + 1; *f; f++) {
                switch (*f) {
                case 'c': only_counters = true; break;
                case 'n': only_conns = true; break;
                case 'a': all = true; break;
                default: usage_error("unknown option '%s'", a);
                }
            }
            continue;
        }
        if (strcmp(a, "--raw") == 0) {
            raw = true;
            continue;
        }
        usage_error("unknown argument '%s'", a);
    }
    if (tap && path)
        usage_error("%s", "--tap and --control exclude each other");
    if (only_counters && only_conns)
        usage_error("%s", "-c and -n exclude each other");

    char run[sizeof(((struct sockaddr_un *)0)->sun_path) + 32], tmp[sizeof run];
    if (!path) {
        /* ustackd's default: the first of these two that exists. */
        if (!tap)
            tap = "tap0";
        control_default_path(tap, 0, run, sizeof run);
        control_default_path(tap, 1, tmp, sizeof tmp);
        struct stat sb;
        if (lstat(run, &sb) == 0) {
            path = run;
        } else if (lstat(tmp, &sb) == 0) {
            path = tmp;
        } else {
            fprintf(stderr,
                    "ustack-stat: no control socket %s (nor %s): ustackd is not running on %s\n"
                    "(or it was started with --control PATH: then use ustack-stat --control PATH)\n",
                    run, tmp, tap);
            return 1;
        }
    }

    bool tty = isatty(STDOUT_FILENO);
    for (unsigned round = 0;; round++) {
        char *text = fetch(path, tap);
        if (interval > 0) {
            if (tty)
                printf("\033[H\033[2J");
            else if (round > 0)
                printf("--------\n");
        }
        if (raw) {
            fputs(text, stdout);
        } else {
            struct snapshot s;
            parse(text, &s);
            printf("ustack-stat: %s on %s, stack time %.6f s\n", s.addr, s.tap, s.now_s);
            if (!only_counters)
                print_conns(&s, all);
            if (!only_counters && !only_conns)
                printf("\n");
            if (!only_conns)
                print_counters(&s, all);
            snapshot_free(&s);
        }
        free(text);
        fflush(stdout);
        if (!(interval > 0))
            return 0;
        struct timespec ts = {.tv_sec = (time_t)interval,
                              .tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
}
