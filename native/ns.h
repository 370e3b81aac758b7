/* Namespaces: joining by path, creating new ones, and what a fresh
 * namespace needs before the container uses it (lo up, hostname). */
#ifndef PYRUNC_NS_H
#define PYRUNC_NS_H

#include "plan.h"

/* setns() into every namespace of the plan that has a path. */
int pyrunc_join_namespaces(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* CLONE_NEW* flags of the namespaces the plan creates. */
int pyrunc_new_namespace_flags(const struct pyrunc_plan *plan);

/* Bring the loopback interface of the current net namespace up. */
int pyrunc_loopback_up(struct pyrunc_error *err);

int pyrunc_set_names(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
