/* The container side: from fork to execve, no Python involved. */
#ifndef PYRUNC_INIT_H
#define PYRUNC_INIT_H

#include <sys/types.h>

#include "plan.h"

/* Fork an intermediate process that joins/creates the plan's namespaces
 * and forks the container init as a sibling of itself (CLONE_PARENT), so
 * the init is the caller's child.  Returns the intermediate's pid; the
 * caller reads PID/READY/ERROR messages on its end of plan->sync_fd and
 * reaps the intermediate. */
pid_t pyrunc_spawn(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
