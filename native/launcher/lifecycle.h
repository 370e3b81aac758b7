/* `start ID`, `kill ID [SIGNAL]` and `delete [--force] ID` answered in C
 * with the effects of runtime/container.py start, kill and delete, for
 * containers with nothing unusual: no hook for the verb to run (start:
 * poststart, delete: poststop), no network record, a cgroup pyrunc
 * made (or none).  Each returns the exit status, or
 * FAST_DEFER / -errno before it has changed anything the Python CLI would
 * then find different. */
#ifndef PYRUNC_LAUNCHER_LIFECYCLE_H
#define PYRUNC_LAUNCHER_LIFECYCLE_H

#include "report.h"

int run_start(const char *root, const struct log_target *log, int argc, char **argv);
int run_kill(const char *root, int argc, char **argv);
int run_delete(const char *root, int argc, char **argv);

#endif
