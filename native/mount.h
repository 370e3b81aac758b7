/* The container's filesystem view: propagation, the rootfs bind, every
 * planned mount, device nodes, pivot_root, masked and read-only paths. */
#ifndef PYRUNC_MOUNT_H
#define PYRUNC_MOUNT_H

#include "plan.h"

/* Everything before pivot_root: runs in the new mount namespace with the
 * host's paths still visible.  Returns an O_PATH fd of the new root. */
int pyrunc_prepare_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* pivot_root into rootfd (with no_pivot: move it onto "/" and chroot,
 * see oldroot.h; without a mount namespace: chroot only); the old root is
 * detached so no host path stays reachable. */
int pyrunc_enter_rootfs(const struct pyrunc_plan *plan, int rootfd, struct pyrunc_error *err);

/* chroot into rootfd, working directory "/". */
int pyrunc_chroot_into(int rootfd, struct pyrunc_error *err);

/* After pivot_root: masked paths, read-only paths, read-only root,
 * final root propagation. */
int pyrunc_finish_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err);

/* The mounts planned readonly_later (a tmpfs, /dev) made read-only, once
 * the init has put everything in them (device nodes, /dev/console). */
int pyrunc_readonly_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err);

#endif
