/* Who the container process is: bounding set, uid/gid/groups,
 * capability sets, ambient capabilities, no_new_privs. */
#ifndef PYRUNC_CAPS_H
#define PYRUNC_CAPS_H

#include "plan.h"

int pyrunc_apply_identity(const struct pyrunc_process *process, struct pyrunc_error *err);

#endif
