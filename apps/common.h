/*
 * What every ustack program shares: the network options (--tap, --addr, --gw,
 * --mac, --mtu, --pcap, fault injection, --seed, --stats), bringing a stack up
 * on a TAP with the runtime, printing its counters, and a live snapshot of it
 * (connections, counters, usage) for ustackd's control socket. Built on the
 * public API only.
 */
#ifndef USTACK_APPS_COMMON_H
#define USTACK_APPS_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include <ustack/ustack.h>
#include <ustack/link.h>
#include <ustack/runtime.h>

struct app_net {
    const char *prog;
    const char *tap;
    struct ustack_config cfg;
    const char *pcap;
    const char *stats;
    const char *trace;
    FILE *trace_file;
    struct ustack_fault_config fault;
    bool have_fault;
    bool seed_given;
    /* Filled by app_net_start(). */
    struct ustack_link *tap_link, *fault_link, *top;
    struct ustack_rt *rt;
    struct ustack *st;
};

/* Defaults: the TAP and address a program uses in the default topology. */
void app_net_init(struct app_net *n, const char *prog, const char *tap, const char *addr);
/* If argv[*i] is a network option, consumes it (and its value) and returns 1;
 * returns 0 if it is not one; on a bad value prints a message and exits 2. */
int app_net_option(struct app_net *n, int argc, char **argv, int *i);
/* A fault-injection option, NAME being the option without its leading "--":
 * KIND applies to both directions of f, KIND + in_suffix to f->in and KIND +
 * out_suffix to f->out (before "-ms" for the times: delay-in-ms). KIND is
 * drop, dup, reorder, corrupt (probabilities), delay-ms, jitter-ms
 * (milliseconds), rate (bit/s: 100mbit, 1gbit, 512kbit) or queue (bytes: 64k,
 * 1M). Returns 1 if NAME is one (value in f), 0 if not; on a bad value prints
 * a message and exits 2. */
int app_fault_option(const char *prog, struct ustack_fault_config *f, const char *name, const char *opt,
                     const char *v, const char *in_suffix, const char *out_suffix);
/* Help text for the network options. */
extern const char app_net_usage[];
/* Opens the TAP (exit 1 with a hint if it cannot), wraps it, starts the
 * runtime. */
void app_net_start(struct app_net *n);
/* Waits (at most max_ms) until no packet waits for address resolution and no
 * TCP connection still has data or a FIN of ours unacknowledged, so that what
 * was sent has arrived before the program exits (the kernel would finish it
 * after exit; a user-space stack ends with its process). Returns 0, or -1 if
 * resolution failed or time ran out. */
int app_net_drain(struct app_net *n, int max_ms);
/* Writes one snapshot of the running stack to f in the control protocol's
 * text format (control.h, docs/stat.md): connections, counters (with the
 * fault injector's), usage. Everything is copied in one ustack_rt_locked()
 * call and formatted after it. Returns 0, or -1 when out of memory (an
 * "error" record is written instead). */
int app_net_snapshot(struct app_net *n, FILE *f);
/* Stops the loop, writes counters to `out` (if not NULL) and to --stats,
 * destroys the stack and closes the links. */
void app_net_stop(struct app_net *n, FILE *out);

/* Exits 2 after printing "PROG: msg" and a hint to --help. */
void app_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
