/* The container's terminal: a pty from the container's own devpts, the
 * slave as controlling terminal and stdio, the master sent to whoever
 * listens on the console socket (runc's wire format). */
#ifndef PYRUNC_PTY_H
#define PYRUNC_PTY_H

#include "plan.h"

/* Runs inside the container's root, after pivot_root, as root. */
int pyrunc_setup_terminal(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
