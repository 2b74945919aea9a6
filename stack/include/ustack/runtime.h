/*
 * The runtime: runs a stack for real. One loop thread poll()s the link's file
 * descriptor and a wake-up eventfd, reads frames, feeds them to the stack with
 * the monotonic clock, and sleeps until the stack's next deadline. It installs
 * the environment hooks (a mutex, a condition variable, the clock) so that the
 * socket API (ustack/socket.h) can be used from any number of threads, with
 * blocking calls that sleep until the loop changes a socket's state.
 */
#ifndef USTACK_RUNTIME_H
#define USTACK_RUNTIME_H

#include <ustack/ustack.h>
#include <ustack/link.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustack_rt;

/* Microseconds from CLOCK_MONOTONIC. */
ustack_time_t ustack_clock_now(void);
/* Microseconds from CLOCK_REALTIME (for pcap timestamps). */
ustack_time_t ustack_clock_wall(void);

/* Creates the stack on `link` and starts its loop thread. The runtime owns
 * neither the link nor the config; ustack_rt_stop() destroys the stack. */
struct ustack_rt *ustack_rt_start(const struct ustack_config *cfg, struct ustack_link *link);
struct ustack *ustack_rt_stack(struct ustack_rt *rt);
/* Stops the loop thread and leaves the stack as it is, so that its counters
 * can be read without anything changing them. Idempotent. */
void ustack_rt_halt(struct ustack_rt *rt);
/* Stops the loop thread (if still running), destroys the stack and frees the
 * runtime. */
void ustack_rt_stop(struct ustack_rt *rt);

/* Runs fn(st, arg) with the stack locked, from any thread. */
void ustack_rt_locked(struct ustack_rt *rt, void (*fn)(struct ustack *st, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif
