/*
 * The syn-flood study scenario of ustack-study (study_synflood.c).
 */
#ifndef USTACK_APPS_STUDY_SYNFLOOD_H
#define USTACK_APPS_STUDY_SYNFLOOD_H

#include <stdbool.h>
#include <stdint.h>

/* Whether NAME is "syn-flood" or one of its parts ("syn-flood/cookies-off",
 * "syn-flood/cookies-on"). */
bool synflood_is(const char *name);
/* Runs NAME (both parts into DIR/PART, or one part into DIR). 0 or 1. */
int synflood_run(const char *name, uint64_t seed, const char *dir, bool quiet);

#endif
