/*
 * The simulator: N stacks in one process on one in-memory Ethernet segment,
 * each behind its own seeded fault injector, driven by a virtual clock that
 * jumps straight to the next deadline. A run is a pure function of its seed,
 * so any run can be replayed exactly.
 */
#ifndef USTACK_SIM_H
#define USTACK_SIM_H

#include <ustack/ustack.h>
#include <ustack/link.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustack_sim;

/* Virtual time starts at `start` (microseconds). */
struct ustack_sim *ustack_sim_new(uint64_t seed, ustack_time_t start);
/* Adds a stack on the shared segment. `fault` may be NULL (a perfect link);
 * a fault seed of 0 is replaced by one derived from the simulation seed and the
 * node's index. Returns the stack, owned by the simulator. */
struct ustack *ustack_sim_add(struct ustack_sim *sim, const struct ustack_config *cfg,
                              const struct ustack_fault_config *fault);
/* The fault link in front of node i (for its statistics), or NULL. */
struct ustack_link *ustack_sim_fault_link(struct ustack_sim *sim, unsigned i);
ustack_time_t ustack_sim_now(const struct ustack_sim *sim);

/* Delivers every frame in flight, then advances the clock to the earliest
 * deadline no later than `limit` and runs the timers. Returns 0 if something
 * happened, -1 if nothing is left to do before `limit`. */
int ustack_sim_step(struct ustack_sim *sim, ustack_time_t limit);
/* Steps until done(arg) returns non-zero (returns 1) or the clock would pass
 * `limit` / nothing is left to do (returns 0). done may be NULL. */
int ustack_sim_run_until(struct ustack_sim *sim, int (*done)(void *arg), void *arg, ustack_time_t limit);
void ustack_sim_free(struct ustack_sim *sim);

#ifdef __cplusplus
}
#endif
#endif
