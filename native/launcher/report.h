/* Errors of the verbs the launcher answers itself, reported as the Python
 * CLI reports them (runtime/cli/main.py main, runtime/log.py): the line
 * `pyrunc: MESSAGE` on stderr and, with --log, an error line in the log's
 * format. */
#ifndef PYRUNC_LAUNCHER_REPORT_H
#define PYRUNC_LAUNCHER_REPORT_H

#include <stdbool.h>

struct log_target {
    const char *path;       /* --log, or NULL: errors go to stderr only */
    bool json;              /* --log-format json */
};

/* Report message (printable ASCII: the caller's own words and a valid
 * container id) and return the CLI's status for an error, 1. */
int report_error(const struct log_target *log, const char *message);

#endif
