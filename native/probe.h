/* Kernel feature probes: 1 when the running kernel has the feature.
 * `features` and the planner ask these instead of guessing. */
#ifndef PYRUNC_PROBE_H
#define PYRUNC_PROBE_H

int pyrunc_probe_openat2(void);
int pyrunc_probe_mount_setattr(void);

#endif
