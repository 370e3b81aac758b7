/* Bind mounts prepared by the runtime before the container exists
 * (runtime/idmap.py): plain clones of a source the init may not reach from
 * its user namespace, and idmapped ones.  The kernel lets only a caller
 * privileged over the filesystem's own user namespace (the host's) set
 * MOUNT_ATTR_IDMAP; a container init already inside its user namespace is
 * not.  So the init merely moves the prepared detached mount onto its
 * target (struct pyrunc_mount.detached_fd).
 *
 * Also fed to cffi's cdef (build_ffi.py): declarations only. */
#ifndef PYRUNC_IDMAP_H
#define PYRUNC_IDMAP_H

#include "error.h"

/* An fd of a new user namespace with these /proc/<pid>/uid_map and gid_map
 * texts, used only as an idmapping: no process is left in it. */
int pyrunc_idmap_userns(const char *uid_map, const char *gid_map, struct pyrunc_error *err);

/* A detached clone of the mount at source (its whole tree when recursive),
 * a slave of the original, opened with the caller's credentials; returns
 * the mount's fd, for move_mount. */
int pyrunc_clone_mount(const char *source, int recursive, struct pyrunc_error *err);

/* A detached clone of the mount at source (its whole tree when
 * recursive_tree), idmapped through userns_fd (every mount of the tree when
 * recursive_idmap); returns the mount's fd, for move_mount. */
int pyrunc_idmap_mount(const char *source, int userns_fd, int recursive_tree, int recursive_idmap,
                       struct pyrunc_error *err);

#endif
