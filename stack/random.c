/*
 * The seeded pseudo-random generator (splitmix64) that every part of ustack
 * draws from: the stack's ports, IP ids and keys, the fault injector's
 * seeds, the simulator and the tests. A state and its seed are all there is,
 * so a run given the same seeds replays exactly.
 */
#include <ustack/ustack.h>

uint64_t ustack_rand64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
