/* Bind sources the runtime cloned on the host (runtime/idmap.py) arrive as
 * detached mounts whose flags are not locked: in the container's user
 * namespace its root could remount a host read-only (nosuid, nodev,
 * noexec) mount without those flags.  The kernel locks the flags of mounts
 * it copies into a mount namespace of a less privileged user namespace, so
 * the clones take that path: attached in a private mount namespace of the
 * intermediate before it leaves the host's user namespace, copied (and
 * locked) with it into the container's, and cloned again from there. */
#ifndef PYRUNC_STAGE_H
#define PYRUNC_STAGE_H

#include "plan.h"

/* Before any namespace is joined or created: when the plan makes a new
 * mount namespace in a user namespace and has detached mounts, attach
 * them under plan->staging_dir in a private mount namespace, and make that
 * directory the cwd (the only way back to them after the copy). */
int pyrunc_stage_detached_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* After the container's mount namespace is made: replace each detached
 * mount's fd (same number) with a clone of its locked copy. */
int pyrunc_take_staged_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
