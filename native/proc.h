/* Process attributes set just before execve: rlimits, OOM score,
 * sysctls, signal state, fds, and finding the program on PATH. */
#ifndef PYRUNC_PROC_H
#define PYRUNC_PROC_H

#include "plan.h"

int pyrunc_set_rlimits(const struct pyrunc_process *p, struct pyrunc_error *err);
int pyrunc_set_sysctls(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* Undo the runtime's signal state (Python ignores SIGPIPE and SIGXFSZ;
 * ignored signals survive execve). */
void pyrunc_reset_signals(void);

/* Until execve: die of SIGHUP, SIGINT, SIGQUIT and SIGTERM, as runc's init
 * does, even as pid 1 of a new pid namespace (which ignores a signal it has
 * no handler for).  execve puts them back to their defaults. */
void pyrunc_die_of_stop_signals(void);

/* Mark every fd from 3 + preserve_fds on close-on-exec. */
int pyrunc_close_fds_on_exec(int preserve_fds, struct pyrunc_error *err);

/* The environment to exec with: envp, plus HOME from the container's
 * /etc/passwd (or "/") when envp has none, as runc does.  Call inside
 * the container's root. */
const char *const *pyrunc_exec_environment(const struct pyrunc_process *p);

/* Find argv[0] on the PATH of envp (inside the container's root), as
 * execvp would; writes the full path to out. */
int pyrunc_find_executable(const char *file, const char *const *envp, char *out, size_t out_len,
                           struct pyrunc_error *err);

#endif
