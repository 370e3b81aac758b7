/* Where and how the container's process runs: CPU affinity, scheduler,
 * I/O priority, NUMA memory policy, personality. */
#ifndef PYRUNC_PLACEMENT_H
#define PYRUNC_PLACEMENT_H

#include "plan.h"

int pyrunc_set_cpu_affinity(const struct pyrunc_mask *cpus, struct pyrunc_error *err);

/* Scheduler, I/O priority and memory policy: set while still privileged. */
int pyrunc_set_scheduling(const struct pyrunc_plan *plan, struct pyrunc_error *err);

int pyrunc_set_personality(const struct pyrunc_process *p, struct pyrunc_error *err);

#endif
