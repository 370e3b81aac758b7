/* OCI hooks that run inside the container's namespaces (createContainer,
 * startContainer): forked and exec'd by the init itself, so no Python is
 * ever in the container, with the state JSON on stdin and a timeout.
 * A hook gets stdio only: no fd of the runtime, its caller or the
 * preserved range. */
#ifndef PYRUNC_HOOKS_H
#define PYRUNC_HOOKS_H

#include "plan.h"

/* What one kind of hook runs with. */
struct pyrunc_hook_run {
    const char *kind;                   /* for messages */
    const char *state_json;             /* on the hook's stdin */
    int cwd_fd;                         /* working directory; -1 = the init's */
    const char *const *default_envp;    /* for hooks without "env" */
};

int pyrunc_run_hooks(const struct pyrunc_hook_run *run, const struct pyrunc_hook *hooks, int n_hooks,
                     struct pyrunc_error *err);

#endif
