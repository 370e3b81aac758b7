/* A plan as one flat buffer: how the runtime hands it to the init binary
 * it executes from a sealed memfd (see initbin/main.c).  Every pointer is
 * stored as an offset into the buffer (+1, so NULL stays 0). */
#ifndef PYRUNC_PLAN_CODEC_H
#define PYRUNC_PLAN_CODEC_H

#include <stddef.h>

#include "plan.h"

/* Copy plan and everything it points to into buf; *len gets the size. */
int pyrunc_plan_flatten(const struct pyrunc_plan *plan, unsigned char *buf, size_t capacity,
                        size_t *len, struct pyrunc_error *err);

/* Turn a flattened buffer back into a plan, in place, checking every
 * offset and string against the buffer's bounds. */
int pyrunc_plan_unflatten(unsigned char *buf, size_t len, struct pyrunc_plan **plan,
                          struct pyrunc_error *err);

#endif
