/* The session keyring: a process of the container never holds the keys of
 * its caller's session. */
#ifndef PYRUNC_KEYRING_H
#define PYRUNC_KEYRING_H

#include "error.h"
#include "plan.h"

int pyrunc_join_session_keyring(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
