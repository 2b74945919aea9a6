/*
 * Clocks for the runtime: the monotonic clock that drives stacks and the wall
 * clock for pcap timestamps, both in microseconds.
 */
#include <time.h>

#include <ustack/runtime.h>

static ustack_time_t clock_us(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0; /* cannot happen for these clocks on Linux */
    return (ustack_time_t)ts.tv_sec * 1000000u + (ustack_time_t)ts.tv_nsec / 1000u;
}

ustack_time_t ustack_clock_now(void) { return clock_us(CLOCK_MONOTONIC); }

ustack_time_t ustack_clock_wall(void) { return clock_us(CLOCK_REALTIME); }
