/* Signal arguments of `kill` as runtime/container.py parse_signal reads
 * them, for the forms the launcher takes. */
#ifndef PYRUNC_LAUNCHER_SIGNALS_H
#define PYRUNC_LAUNCHER_SIGNALS_H

/* `9`, `KILL`, `sigkill`, `SIGKILL` (and "" for SIGTERM): the number of a
 * signal the kernel takes, or FAST_DEFER for anything else (Python words
 * the error). */
int parse_signal(const char *text);

#endif
