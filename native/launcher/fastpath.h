/* `state ID` and `list` answered in C, without starting the interpreter,
 * byte for byte as runtime/cli/state.py and list.py would; `start`,
 * `kill` and `delete` with their effects (lifecycle.h); `features`
 * (features_doc.h). */
#ifndef PYRUNC_LAUNCHER_FASTPATH_H
#define PYRUNC_LAUNCHER_FASTPATH_H

/* The exit status when answered; FAST_DEFER (status.h) or -errno when the
 * Python CLI must run instead (nothing has been written then). */
int fast_path(int argc, char **argv);

#endif
