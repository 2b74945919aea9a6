/*
 * The simulator: several stacks on one in-memory hub, each port optionally
 * behind its own seeded fault injector, driven by a virtual clock that jumps to
 * the next deadline. Everything is visited in node order, so a run is a pure
 * function of the seed and the calls made. A node may also have a link of the
 * caller's (ustack_sim_add_node: e.g. a slow path, scripted losses) and a pcap
 * capture stamped with virtual time.
 *
 * The hub queues up to SIM_HUB_QUEUE frames per port (memory is only used per
 * queued frame); ustack_sim_run_until() leaves the clock at `limit` when it
 * returns 0 because nothing is left to do before it.
 */
#include <errno.h>
#include <stdlib.h>

#include <ustack/sim.h>

#define SIM_HUB_QUEUE 65536u
#define SIM_STEP_MAX_FRAMES 1000000u /* frames delivered by one step at most */
#define SIM_STUCK_STEPS 10000u       /* idle steps without the clock moving */

struct sim_node {
    struct ustack *st;
    struct ustack_link *link;  /* what the stack uses: the fault link or the port */
    struct ustack_link *fault; /* NULL for a perfect link */
};

struct ustack_sim {
    uint64_t seed;
    ustack_time_t now;
    struct ustack_mem_hub *hub; /* created with the first node; freed with the last port */
    struct sim_node *nodes;
    unsigned n, cap;
    unsigned stuck;             /* consecutive steps that neither delivered nor advanced */
    uint8_t buf[USTACK_FRAME_MAX];
};


struct ustack_sim *ustack_sim_new(uint64_t seed, ustack_time_t start)
{
    struct ustack_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return NULL;
    sim->seed = seed;
    sim->now = start;
    return sim;
}

struct ustack *ustack_sim_add(struct ustack_sim *sim, const struct ustack_config *cfg,
                              const struct ustack_fault_config *fault)
{
    struct ustack_sim_node_opts o = {.fault = fault};
    return ustack_sim_add_node(sim, cfg, &o);
}

struct ustack *ustack_sim_add_node(struct ustack_sim *sim, const struct ustack_config *cfg,
                                   const struct ustack_sim_node_opts *opts)
{
    static const struct ustack_sim_node_opts none;
    if (!sim || !cfg) {
        errno = EINVAL;
        return NULL;
    }
    if (!opts)
        opts = &none;
    if (sim->n == sim->cap) {
        unsigned cap = sim->cap ? sim->cap * 2 : 8;
        struct sim_node *nodes = realloc(sim->nodes, cap * sizeof *nodes);
        if (!nodes)
            return NULL;
        sim->nodes = nodes;
        sim->cap = cap;
    }
    if (!sim->hub) {
        sim->hub = ustack_mem_hub_new(SIM_HUB_QUEUE);
        if (!sim->hub)
            return NULL;
    }
    struct ustack_link *port = ustack_mem_hub_port(sim->hub);
    if (!port)
        return NULL; /* a port-less hub is kept for the next try (or freed by ustack_sim_free) */

    /* Each layer takes over the one below it; on failure it leaves it open,
     * and closing node.link (the top so far) closes the whole chain. */
    struct sim_node node = {.link = port};
    struct ustack_link *l;
    if (opts->fault) {
        struct ustack_fault_config fc = *opts->fault;
        if (fc.seed == 0) {
            uint64_t x = sim->seed + sim->n;
            fc.seed = ustack_rand64(&x);
        }
        node.fault = ustack_link_fault_new(node.link, &fc);
        if (!node.fault)
            goto fail_link;
        node.link = node.fault;
    }
    if (opts->wrap) {
        if (!(l = opts->wrap(opts->wrap_ctx, node.link)))
            goto fail_link;
        node.link = l;
    }
    if (opts->pcap) {
        if (!(l = ustack_link_pcap_new(node.link, opts->pcap, opts->pcap_time_offset_us)))
            goto fail_link;
        node.link = l;
    }

    /* A stack without a seed of its own draws one from the simulation's, so a
     * run stays a function of the simulation seed alone. */
    struct ustack_config c = *cfg;
    if (c.random_seed == 0) {
        uint64_t x = sim->seed ^ (0x5eedULL + sim->n);
        c.random_seed = ustack_rand64(&x);
    }
    node.st = ustack_create(&c, node.link);
    if (!node.st)
        goto fail_link;

    sim->nodes[sim->n++] = node;
    ustack_poll(node.st, sim->now);
    return node.st;

fail_link:;
    /* The hub survives: it has at least one other port unless this was the
     * first, in which case closing the port frees it. */
    int e = errno;
    ustack_link_close(node.link);
    if (sim->n == 0)
        sim->hub = NULL;
    errno = e ? e : ENOMEM;
    return NULL;
}

struct ustack_link *ustack_sim_fault_link(struct ustack_sim *sim, unsigned i)
{
    if (!sim || i >= sim->n)
        return NULL;
    return sim->nodes[i].fault;
}

ustack_time_t ustack_sim_now(const struct ustack_sim *sim) { return sim ? sim->now : 0; }

/* Hands every frame in flight to its stack; returns how many. */
static unsigned deliver(struct ustack_sim *sim)
{
    unsigned total = 0;
    for (;;) {
        unsigned pass = 0;
        for (unsigned i = 0; i < sim->n; i++) {
            struct sim_node *nd = &sim->nodes[i];
            int len;
            while ((len = ustack_link_recv(nd->link, sim->now, sim->buf, sizeof sim->buf)) > 0) {
                ustack_input(nd->st, sim->buf, (size_t)len);
                pass++;
                if (total + pass >= SIM_STEP_MAX_FRAMES)
                    return total + pass; /* the rest goes in the next step */
            }
        }
        total += pass;
        if (pass == 0)
            return total;
    }
}

static ustack_time_t next_deadline(struct ustack_sim *sim)
{
    ustack_time_t dl = USTACK_TIME_NEVER;
    for (unsigned i = 0; i < sim->n; i++) {
        ustack_time_t s = ustack_next_deadline(sim->nodes[i].st);
        ustack_time_t l = ustack_link_next_deadline(sim->nodes[i].link);
        if (s < dl)
            dl = s;
        if (l < dl)
            dl = l;
    }
    return dl;
}

static void poll_all(struct ustack_sim *sim)
{
    for (unsigned i = 0; i < sim->n; i++)
        ustack_poll(sim->nodes[i].st, sim->now);
    for (unsigned i = 0; i < sim->n; i++)
        ustack_link_poll(sim->nodes[i].link, sim->now);
}

int ustack_sim_step(struct ustack_sim *sim, ustack_time_t limit)
{
    if (!sim)
        return -1;
    if (deliver(sim) > 0) {
        sim->stuck = 0;
        return 0;
    }
    ustack_time_t dl = next_deadline(sim);
    if (dl == USTACK_TIME_NEVER || dl > limit)
        return -1;
    if (dl > sim->now) {
        sim->now = dl;
        sim->stuck = 0;
    } else if (++sim->stuck > SIM_STUCK_STEPS) {
        /* Something keeps reporting a past deadline without acting on it:
         * stop rather than spin forever at one instant. */
        return -1;
    }
    poll_all(sim);
    return 0;
}

int ustack_sim_run_until(struct ustack_sim *sim, int (*done)(void *arg), void *arg, ustack_time_t limit)
{
    if (!sim)
        return 0;
    for (;;) {
        if (done && done(arg))
            return 1;
        if (ustack_sim_step(sim, limit) != 0)
            break;
    }
    /* Nothing left before `limit`: let the time pass up to it. */
    if (limit != USTACK_TIME_NEVER && limit > sim->now) {
        sim->now = limit;
        poll_all(sim);
    }
    return 0;
}

void ustack_sim_free(struct ustack_sim *sim)
{
    if (!sim)
        return;
    for (unsigned i = 0; i < sim->n; i++)
        ustack_destroy(sim->nodes[i].st);
    /* Closing the last port frees the hub. */
    for (unsigned i = 0; i < sim->n; i++)
        ustack_link_close(sim->nodes[i].link);
    if (sim->n == 0 && sim->hub) {
        /* The hub never kept a port (failed adds): take one and close it. */
        struct ustack_link *l = ustack_mem_hub_port(sim->hub);
        ustack_link_close(l);
    }
    free(sim->nodes);
    free(sim);
}
