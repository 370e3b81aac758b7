/* Resolving paths inside a container's root without ever leaving it:
 * openat2(RESOLVE_IN_ROOT) treats symlinks and ".." as if the root were
 * "/", so a hostile rootfs cannot point a mount target at the host. */
#ifndef PYRUNC_PATH_H
#define PYRUNC_PATH_H

#include <sys/types.h>

#include "error.h"

/* O_PATH fd of path inside rootfd; -errno (no message) when missing. */
int pyrunc_open_in_root(int rootfd, const char *path, int extra_flags);

/* O_PATH fd of path inside rootfd, creating it (and its parents) as a
 * directory or an empty file when missing. */
int pyrunc_create_in_root(int rootfd, const char *path, int want_dir, struct pyrunc_error *err);

/* O_PATH fd of the parent directory of path (created if missing) and a
 * pointer to the last component within path. */
int pyrunc_open_parent_in_root(int rootfd, const char *path, const char **base,
                               struct pyrunc_error *err);

/* A readable directory fd (not O_PATH) of path inside rootfd; -errno. */
int pyrunc_open_dir_in_root(int rootfd, const char *path);

/* Whether the last component of path (inside rootfd) is a symlink. */
int pyrunc_is_symlink_in_root(int rootfd, const char *path);

/* "/proc/self/fd/N": lets path-based syscalls (mount, ...) act on an fd. */
struct pyrunc_fd_path { char path[32]; };
struct pyrunc_fd_path pyrunc_fd_path(int fd);

/* Open what fd names anew (an O_PATH fd's file) with flags; -errno.
 * Through /proc/self/fd, or the one pyrunc_keep_fd_dir held open before
 * a chroot into a root that has no proc (it goes at execve: CLOEXEC). */
int pyrunc_reopen_fd(int fd, int flags);
int pyrunc_keep_fd_dir(struct pyrunc_error *err);

#endif
