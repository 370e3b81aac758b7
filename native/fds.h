/* The fds pyrunc-init keeps.  It inherits whatever its caller left open
 * (an engine's fd on "/", a held flock, ...); none of that may reach a
 * hook or the container (CVE-2024-21626), nor outlive `create`. */
#ifndef PYRUNC_FDS_H
#define PYRUNC_FDS_H

#include "plan.h"

/* Keep stdio, the --preserve-fds range (3 .. 3+n-1) and the fds the plan
 * names; close everything else.  A plan fd that sits inside the preserved
 * range is moved above it (the plan is updated), and all plan fds become
 * close-on-exec.  Run first thing, before the init runs anything. */
int pyrunc_keep_plan_fds(struct pyrunc_plan *plan, struct pyrunc_error *err);

/* Mark every fd from first up close-on-exec (with a fallback where
 * close_range is refused).  Returns 0 or -errno. */
int pyrunc_mark_cloexec_from(unsigned int first);

/* In a forked hook before execve: nothing but stdio survives. */
void pyrunc_close_all_but_stdio(void);

#endif
