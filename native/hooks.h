/* OCI hooks that run inside the container's namespaces (createContainer,
 * startContainer): forked and exec'd by the init itself, so no Python is
 * ever in the container, with the state JSON on stdin and a timeout. */
#ifndef PYRUNC_HOOKS_H
#define PYRUNC_HOOKS_H

#include "plan.h"

int pyrunc_run_hooks(const char *kind, const struct pyrunc_hook *hooks, int n_hooks,
                     const char *state_json, struct pyrunc_error *err);

#endif
