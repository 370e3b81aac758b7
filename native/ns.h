/* Namespaces: joining by path, creating new ones, and what a fresh
 * namespace needs before the container uses it (lo up, hostname). */
#ifndef PYRUNC_NS_H
#define PYRUNC_NS_H

#include "plan.h"

/* setns() into every namespace of the plan that has a path. */
int pyrunc_join_namespaces(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* The config's name of a CLONE_NEW* type. */
const char *pyrunc_namespace_name(int type);

/* CLONE_NEW* flags of the namespaces the plan creates. */
int pyrunc_new_namespace_flags(const struct pyrunc_plan *plan);

/* Bring the loopback interface of the current net namespace up. */
int pyrunc_loopback_up(struct pyrunc_error *err);

/* Create the plan's new user namespace (the runtime writes its id maps
 * meanwhile: USERNS message, then GO), and become root in whichever user
 * namespace the process is now in. */
int pyrunc_enter_user_namespace(const struct pyrunc_plan *plan, struct pyrunc_error *err);

int pyrunc_set_names(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
