/* Linux security modules: the AppArmor profile or SELinux label the
 * container's program is exec'd into. */
#ifndef PYRUNC_LSM_H
#define PYRUNC_LSM_H

#include "plan.h"

int pyrunc_set_exec_labels(const struct pyrunc_process *p, struct pyrunc_error *err);

#endif
