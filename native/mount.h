/* The container's filesystem view: propagation, the rootfs bind, every
 * planned mount, device nodes, pivot_root, masked and read-only paths. */
#ifndef PYRUNC_MOUNT_H
#define PYRUNC_MOUNT_H

#include "plan.h"

/* Everything before pivot_root: runs in the new mount namespace with the
 * host's paths still visible.  Returns an O_PATH fd of the new root. */
int pyrunc_prepare_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* pivot_root (or chroot with no_pivot) into rootfd; the old root is
 * detached so no host path stays reachable. */
int pyrunc_enter_rootfs(const struct pyrunc_plan *plan, int rootfd, struct pyrunc_error *err);

/* After pivot_root: masked paths, read-only paths, read-only root,
 * final root propagation. */
int pyrunc_finish_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
