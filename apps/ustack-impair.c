/*
 * ustack-impair: a user-space netem. Bridges two TAP devices, frame for frame
 * and unchanged at layer 2, through the library's seeded fault injector: what
 * the kernel sends into TAP a comes out of TAP b and the other way round, with
 * loss, delay, jitter, reordering, duplication, corruption and a rate limit
 * applied per direction. On a kernel without sch_netem it lets one mechanism
 * impair the path between two hosts, whatever stacks they run.
 *
 * One fault injector wraps TAP b: frames read from a are sent through it (its
 * "out" direction, a->b), frames received through it come from b (its "in"
 * direction, b->a). A single thread poll()s both TAPs and a signalfd, and
 * sleeps until the injector's next deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <ustack/link.h>
#include <ustack/runtime.h>
#include "common.h"

#define BATCH 64 /* frames per direction and loop iteration */

static void usage(void)
{
    printf("usage: ustack-impair --a TAP --b TAP [impairments] [--seed N]\n"
           "A user-space netem: forwards every Ethernet frame from TAP a to TAP b and from b\n"
           "to a, unchanged except for the impairments (the TAPs must exist: ip tuntap add).\n"
           "Impairments apply to both directions, or to one with the -ab / -ba forms\n"
           "(e.g. --loss-ab 0.02; times: --delay-ab-ms 10). P is a probability 0..1:\n"
           "  --loss P, --drop P   drop a frame\n"
           "  --dup P              deliver a frame twice\n"
           "  --reorder P          hold a frame back and send it after the next one\n"
           "  --corrupt P          flip one random bit of a frame\n"
           "  --delay-ms N         fixed delay\n"
           "  --jitter-ms N        extra delay, uniform in [0, N] (reorders, as netem does)\n"
           "  --rate R             serialise at R bit/s (e.g. 100mbit, 1gbit, 512kbit), before\n"
           "                       the delay, in a FIFO queue; a frame that does not fit is\n"
           "                       dropped at the tail and counted\n"
           "  --queue BYTES        with --rate: the queue's size (e.g. 64k, 1M); default\n"
           "                       100 ms at the rate, at least 16 KiB\n"
           "  --seed N             seed of the random numbers (default 1): a seed replays\n"
           "                       the same choices for the same frames\n"
           "Prints 'ustack-impair: ready' when both TAPs are open; SIGINT/SIGTERM stop it\n"
           "and print the counters per direction (forwarded, dropped, queue_dropped,\n"
           "duplicated, reordered, corrupted, delayed).\n");
}

/* Fills in the queue for a direction with a rate and no --queue. */
static void default_queue(struct ustack_fault_dir *d)
{
    if (!d->rate_bps || d->queue_bytes)
        return;
    uint64_t q = d->rate_bps / 8 / 10; /* 100 ms */
    d->queue_bytes = (size_t)(q < 16384 ? 16384 : q);
}

struct dir_counts {
    uint64_t read, read_bytes, write_errors;
};

static void print_dir(const char *name, const struct dir_counts *c, const struct ustack_link *to,
                      const struct ustack_fault_stats *s)
{
    printf("%s read %" PRIu64 " bytes %" PRIu64 " forwarded %" PRIu64 " forwarded_bytes %" PRIu64
           " dropped %" PRIu64 " queue_dropped %" PRIu64 " duplicated %" PRIu64 " reordered %" PRIu64
           " corrupted %" PRIu64 " delayed %" PRIu64 " write_errors %" PRIu64 "\n",
           name, c->read, c->read_bytes, to->tx_frames, to->tx_bytes, s->dropped, s->queue_dropped, s->duplicated,
           s->reordered, s->corrupted, s->delayed, c->write_errors);
}

int main(int argc, char **argv)
{
    const char *prog = "ustack-impair";
    const char *tap_a = NULL, *tap_b = NULL;
    struct ustack_fault_config fc;
    memset(&fc, 0, sizeof fc);
    fc.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            app_usage_error(prog, "unknown argument '%s'", a);
        if (i + 1 >= argc)
            app_usage_error(prog, "%s needs a value", a);
        const char *v = argv[++i];
        const char *name = a + 2;
        if (strcmp(name, "a") == 0) {
            tap_a = v;
        } else if (strcmp(name, "b") == 0) {
            tap_b = v;
        } else if (strcmp(name, "seed") == 0) {
            char *end;
            errno = 0;
            fc.seed = strtoull(v, &end, 10);
            if (errno || *end || !*v || *v == '-')
                app_usage_error(prog, "--seed wants a whole number, not '%s'", v);
        } else {
            /* netem's word for drop; "in" is b->a, "out" is a->b (see above). */
            char alias[40];
            if (strncmp(name, "loss", 4) == 0) {
                snprintf(alias, sizeof alias, "drop%s", name + 4);
                name = alias;
            }
            if (!app_fault_option(prog, &fc, name, a, v, "-ba", "-ab"))
                app_usage_error(prog, "unknown option '%s'", a);
        }
    }
    if (!tap_a || !tap_b)
        app_usage_error(prog, "which TAPs? --a NAME --b NAME");
    if (strcmp(tap_a, tap_b) == 0)
        app_usage_error(prog, "--a and --b must be two different TAPs");
    default_queue(&fc.in);
    default_queue(&fc.out);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
        return 1;
    }

    struct ustack_link *la = ustack_link_tap_open(tap_a);
    if (!la) {
        fprintf(stderr, "%s: cannot open TAP '%s': %s\n", prog, tap_a, strerror(errno));
        return 1;
    }
    struct ustack_link *lb = ustack_link_tap_open(tap_b);
    if (!lb) {
        fprintf(stderr, "%s: cannot open TAP '%s': %s\n", prog, tap_b, strerror(errno));
        ustack_link_close(la);
        return 1;
    }
    struct ustack_link *fb = ustack_link_fault_new(lb, &fc);
    if (!fb) {
        fprintf(stderr, "%s: cannot create the fault injector: %s\n", prog, strerror(errno));
        ustack_link_close(lb);
        ustack_link_close(la);
        return 1;
    }
    printf("%s: ready\n", prog);
    fflush(stdout);

    static uint8_t buf[USTACK_FRAME_MAX];
    struct dir_counts ab = {0}, ba = {0};
    struct pollfd pfd[3] = {
        {.fd = ustack_link_fd(la), .events = POLLIN},
        {.fd = ustack_link_fd(fb), .events = POLLIN},
        {.fd = sfd, .events = POLLIN},
    };
    for (;;) {
        ustack_time_t now = ustack_clock_now();
        /* a -> b: through the injector's output side. */
        for (int k = 0; k < BATCH; k++) {
            int n = ustack_link_recv(la, now, buf, sizeof buf);
            if (n <= 0)
                break;
            ab.read++;
            ab.read_bytes += (uint64_t)n;
            if (ustack_link_send(fb, now, buf, (size_t)n) < 0)
                ab.write_errors++;
        }
        /* b -> a: the injector reads b and hands out what is due. */
        for (int k = 0; k < BATCH; k++) {
            int n = ustack_link_recv(fb, now, buf, sizeof buf);
            if (n <= 0)
                break;
            if (ustack_link_send(la, now, buf, (size_t)n) < 0)
                ba.write_errors++;
        }
        ustack_link_poll(fb, now);

        /* Microsecond sleeps: a rate limit releases frames every few us. A
         * TAP with frames left after a full batch is readable: poll returns
         * at once. */
        ustack_time_t dl = ustack_link_next_deadline(fb);
        struct timespec ts, *tsp = NULL;
        now = ustack_clock_now();
        if (dl != USTACK_TIME_NEVER) {
            ustack_time_t wait = dl <= now ? 0 : dl - now;
            ts.tv_sec = (time_t)(wait / 1000000);
            ts.tv_nsec = (long)(wait % 1000000) * 1000;
            tsp = &ts;
        }
        if (ppoll(pfd, 3, tsp, NULL) < 0 && errno != EINTR) {
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            break;
        }
        if (pfd[2].revents & POLLIN)
            break;
    }
    /* Frames read from b by the injector are counted on it. */
    ba.read = lb->rx_frames;
    ba.read_bytes = lb->rx_bytes;
    struct ustack_fault_stats s_ab, s_ba;
    ustack_link_fault_stats(fb, 1, &s_ab);
    ustack_link_fault_stats(fb, 0, &s_ba);
    print_dir("a->b", &ab, lb, &s_ab);
    print_dir("b->a", &ba, la, &s_ba);
    ustack_link_close(fb);
    ustack_link_close(la);
    close(sfd);
    return 0;
}
