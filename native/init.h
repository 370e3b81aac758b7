/* The container side: from fork to execve, no Python involved. */
#ifndef PYRUNC_INIT_H
#define PYRUNC_INIT_H

#include <sys/types.h>

#include "plan.h"

/* The intermediate process (pyrunc-init, started by the runtime from a
 * sealed memfd): join/create the plan's namespaces and fork the container
 * init as a sibling of itself (CLONE_PARENT), so the init is the
 * runtime's child; report its pid (PID message) and exit.  The runtime
 * reads PID/READY/ERROR messages on its end of plan->sync_fd. */
void pyrunc_intermediate_main(const struct pyrunc_plan *plan) __attribute__((noreturn));

#endif
