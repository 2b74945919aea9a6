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
/* Per-node options of ustack_sim_add_node(); zero-initialise, then set what
 * is needed. A node's links, from the stack down to the segment:
 *     stack -> pcap (optional) -> wrap (optional) -> fault (optional) -> hub port
 * so the capture shows what the stack itself sent and received, like tcpdump
 * on its host: frames before the wrap and the injector impair them on the way
 * out, after they did on the way in. */
struct ustack_sim_node_opts {
    const struct ustack_fault_config *fault; /* as for ustack_sim_add(); NULL: none */
    /* A link of the caller's: called once with the link below it (the fault
     * injector or the hub port), which it takes over (closing it when it is
     * itself closed); returns the new link, or NULL, leaving `inner` open, on
     * failure. The simulator drives it like its own links (recv, poll,
     * next_deadline), so it may hold frames, e.g. to model a slow path. */
    struct ustack_link *(*wrap)(void *ctx, struct ustack_link *inner);
    void *wrap_ctx;
    /* If set, a pcap file of every frame the stack sends and receives, with
     * the virtual time plus pcap_time_offset_us as timestamps. */
    const char *pcap;
    ustack_time_t pcap_time_offset_us;
};
/* As ustack_sim_add(), with the options above (opts may be NULL). Returns NULL
 * with errno set on failure (e.g. the pcap file cannot be created). */
struct ustack *ustack_sim_add_node(struct ustack_sim *sim, const struct ustack_config *cfg,
                                   const struct ustack_sim_node_opts *opts);
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
