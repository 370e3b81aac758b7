/* Loading the compiled seccomp filter in the container init: a raw
 * seccomp(2) of the bytes the runtime compiled (seccomp_compile.c), at the point
 * of the init's sequence the plan names (runc's order). */
#ifndef PYRUNC_SECCOMP_LOAD_H
#define PYRUNC_SECCOMP_LOAD_H

#include "plan.h"

/* Load the plan's filter if plan->seccomp_load_at is `stage`
 * (PYRUNC_SECCOMP_BEFORE_*); with SECCOMP_FILTER_FLAG_NEW_LISTENER the
 * listener fd goes to the runtime as a PYRUNC_SYNC_SECCOMP_FD message. */
int pyrunc_seccomp_load(const struct pyrunc_plan *plan, int stage, struct pyrunc_error *err);

#endif
