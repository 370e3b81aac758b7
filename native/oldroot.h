/* --no-pivot: the rootfs moved onto "/" and chroot, with the old root's
 * mounts detached from the mount namespace first.
 *
 * A chroot leaves the old root in the mount namespace, and the kernel
 * lets a process of a user namespace mount a fresh proc or sysfs when the
 * namespace holds a fully visible one (mount_too_revealing): the host's
 * /proc under the old root would be that one.  runc hides the old proc
 * and sysfs mounts; we detach every mount of the old root but the mounts
 * that hold the rootfs, and cover what the kernel will not let go (a
 * locked mount, in a user namespace) with an empty tmpfs. */
#ifndef PYRUNC_OLDROOT_H
#define PYRUNC_OLDROOT_H

#include "plan.h"

int pyrunc_move_root(const struct pyrunc_plan *plan, int rootfd, struct pyrunc_error *err);

#endif
