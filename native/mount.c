#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "copy.h"
#include "mount.h"
#include "oldroot.h"
#include "path.h"
#include "util.h"

#define PROPAGATION_FLAGS (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

/* The per-mount flags a bind remount would otherwise clear; the kernel
 * refuses to clear them when they are locked (EPERM). */
static unsigned long locked_flags(const char *target)
{
    struct statvfs st;
    unsigned long flags = 0;

    if (statvfs(target, &st) < 0)
        return 0;
    if (st.f_flag & ST_NOSUID)
        flags |= MS_NOSUID;
    if (st.f_flag & ST_NODEV)
        flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC)
        flags |= MS_NOEXEC;
    if (st.f_flag & ST_RDONLY)
        flags |= MS_RDONLY;
    /* In a user namespace the atime flags are locked too. */
    if (st.f_flag & ST_NOATIME)
        flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME)
        flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME)
        flags |= MS_RELATIME;
    return flags;
}

static int bind_remount(const char *target, const char *what, unsigned long flags,
                        struct pyrunc_error *err)
{
    unsigned long base = MS_BIND | MS_REMOUNT;

    if (mount(NULL, target, NULL, base | flags, NULL) == 0)
        return 0;
    if (errno == EPERM && mount(NULL, target, NULL, base | flags | locked_flags(target), NULL) == 0)
        return 0;
    return pyrunc_fail_errno(err, "remount %s", what);
}

static int set_recursive_readonly(int rootfd, const char *destination, struct pyrunc_error *err)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
    cleanup_close int fd = pyrunc_open_in_root(rootfd, destination, 0);

    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "reopen mount %s", destination);
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return pyrunc_fail_errno(err, "make %s recursively read-only", destination);
    return 0;
}

static int create_symlink(int rootfd, const struct pyrunc_mount *m, struct pyrunc_error *err)
{
    cleanup_close int parentfd = -1;
    const char *base;

    parentfd = pyrunc_open_parent_in_root(rootfd, m->destination, &base, err);
    if (parentfd < 0)
        return parentfd;
    if (symlinkat(m->source, parentfd, base) < 0 && errno != EEXIST)
        return pyrunc_fail_errno(err, "symlink %s -> %s", m->destination, m->source);
    return 0;
}

/* tmpcopyup: fill the fresh tmpfs with what lowerfd (the directory it
 * now covers) holds (a read-only one is made so at the end: readonly_later). */
static int copy_up(int rootfd, const struct pyrunc_mount *m, int lowerfd, struct pyrunc_error *err)
{
    cleanup_close int upperfd = pyrunc_open_dir_in_root(rootfd, m->destination);
    struct stat st;
    int ret;

    if (upperfd < 0)
        return pyrunc_fail_sys(err, -upperfd, "tmpcopyup: open the new %s", m->destination);
    if ((ret = pyrunc_copy_tree(lowerfd, upperfd, err)) < 0)
        return ret;
    /* The tmpfs root takes the covered directory's owner and mode too. */
    if (fstat(lowerfd, &st) < 0 || fchown(upperfd, st.st_uid, st.st_gid) < 0 ||
        fchmod(upperfd, st.st_mode & 07777) < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: give %s its owner and mode", m->destination);
    return 0;
}

/* The mode of the directory at destination, if there is one (-1 if not). */
static int covered_mode(int rootfd, const char *destination)
{
    cleanup_close int fd = pyrunc_open_in_root(rootfd, destination, 0);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
        return -1;
    return (int)(st.st_mode & 07777);
}

/* A tmpfs without mode= takes the mode of the directory it covers (runc). */
static int give_covered_mode(int rootfd, const struct pyrunc_mount *m, int mode, struct pyrunc_error *err)
{
    cleanup_close int fd = pyrunc_open_dir_in_root(rootfd, m->destination);

    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "reopen mount %s", m->destination);
    if (fchmod(fd, (mode_t)mode) < 0)
        return pyrunc_fail_errno(err, "chmod %s to %04o", m->destination, mode);
    return 0;
}

static int open_rootfs(const char *rootfs, struct pyrunc_error *err)
{
    int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? pyrunc_fail_errno(err, "open the rootfs %s", rootfs) : fd;
}

/* *rootfdp is replaced when the mount is onto "/": that is the new root. */
static int do_mount(int *rootfdp, const char *rootfs, const struct pyrunc_mount *m,
                    struct pyrunc_error *err)
{
    int rootfd = *rootfdp;
    int want_dir = m->kind != PYRUNC_MOUNT_BIND || m->source_is_dir;
    int mode = m->keep_covered_mode ? covered_mode(rootfd, m->destination) : -1;
    cleanup_close int targetfd = -1;
    cleanup_close int lowerfd = -1;
    struct pyrunc_fd_path target;
    int ret;

    if (m->kind == PYRUNC_MOUNT_SYMLINK)
        return create_symlink(rootfd, m, err);

    targetfd = pyrunc_create_in_root(rootfd, m->destination, want_dir, err);
    if (targetfd < 0)
        return targetfd;
    target = pyrunc_fd_path(targetfd);
    if (m->copy_up && (lowerfd = pyrunc_open_dir_in_root(rootfd, m->destination)) < 0)
        return pyrunc_fail_sys(err, -lowerfd, "tmpcopyup: open %s", m->destination);

    if (m->kind == PYRUNC_MOUNT_BIND && m->detached_fd >= 0) {
        if (syscall(SYS_move_mount, m->detached_fd, "", targetfd, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return pyrunc_fail_errno(err, "move the prepared mount of %s onto %s", m->source,
                                     m->destination);
    } else if (mount(m->source, target.path, m->fstype, m->flags, m->data) < 0) {
        return pyrunc_fail_errno(err, "mount %s on %s (type %s)", m->source ? m->source : "none",
                                 m->destination, m->fstype ? m->fstype : "bind");
    }
    /* The rest, and every later mount, goes onto a new root, not under it. */
    if (strcmp(m->destination, "/") == 0) {
        if ((ret = open_rootfs(rootfs, err)) < 0)
            return ret;
        close(*rootfdp);
        *rootfdp = rootfd = ret;
    }
    if (mode >= 0 && (ret = give_covered_mode(rootfd, m, mode, err)) < 0)
        return ret;
    if (m->copy_up && (ret = copy_up(rootfd, m, lowerfd, err)) < 0)
        return ret;
    if (m->remount_flags || m->propagation || m->recursive_readonly) {
        /* The old fd names the covered directory; reopen to reach the new mount. */
        close(targetfd);
        targetfd = pyrunc_open_in_root(rootfd, m->destination, 0);
        if (targetfd < 0)
            return pyrunc_fail_sys(err, -targetfd, "reopen mount %s", m->destination);
        target = pyrunc_fd_path(targetfd);
    }
    if (m->remount_flags) {
        ret = bind_remount(target.path, m->destination, m->remount_flags, err);
        if (ret < 0)
            return ret;
    }
    if (m->propagation && mount(NULL, target.path, NULL, m->propagation, NULL) < 0)
        return pyrunc_fail_errno(err, "set propagation of %s", m->destination);
    if (m->recursive_readonly)
        return set_recursive_readonly(rootfd, m->destination, err);
    return 0;
}

static int create_device(int rootfd, const struct pyrunc_device *dev, struct pyrunc_error *err)
{
    cleanup_close int parentfd = -1;
    cleanup_close int nodefd = -1;
    struct pyrunc_fd_path target;
    const char *base;
    struct stat st;

    parentfd = pyrunc_open_parent_in_root(rootfd, dev->path, &base, err);
    if (parentfd < 0)
        return parentfd;
    if (dev->bind_from_host) {
        nodefd = pyrunc_create_in_root(rootfd, dev->path, 0, err);
        if (nodefd < 0)
            return nodefd;
        target = pyrunc_fd_path(nodefd);
        if (mount(dev->path, target.path, NULL, MS_BIND, NULL) < 0)
            return pyrunc_fail_errno(err, "bind device %s", dev->path);
        return 0;
    }
    /* A node, fifo or symlink already there (from the image) is replaced;
     * a file or directory of the image is left alone, never deleted (as
     * runc, whose mknod fails with EEXIST and goes on). */
    if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return 0;
    if (unlinkat(parentfd, base, 0) < 0 && errno != ENOENT)
        return pyrunc_fail_errno(err, "replace %s", dev->path);
    if (mknodat(parentfd, base, dev->mode, makedev(dev->major, dev->minor)) < 0)
        return pyrunc_fail_errno(err, "mknod %s", dev->path);
    if (fchmodat(parentfd, base, dev->mode & 07777, 0) < 0)
        return pyrunc_fail_errno(err, "chmod %s", dev->path);
    if (fchownat(parentfd, base, dev->uid, dev->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return pyrunc_fail_errno(err, "chown %s", dev->path);
    return 0;
}

/* pivot_root refuses a new root whose parent mount is shared; with a
 * shared root propagation, make the mount holding the rootfs private.
 * The first ancestor directory that accepts MS_PRIVATE is that mount. */
static int make_rootfs_parent_private(const char *rootfs, struct pyrunc_error *err)
{
    char path[4096];
    char *slash;

    if (snprintf(path, sizeof(path), "%s", rootfs) >= (int)sizeof(path))
        return pyrunc_fail(err, ENAMETOOLONG, "rootfs path too long");
    while ((slash = strrchr(path, '/')) != NULL) {
        if (slash == path)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (mount(NULL, path, NULL, MS_PRIVATE, NULL) == 0)
            return 0;
        if (errno != EINVAL)
            return pyrunc_fail_errno(err, "make %s private", path);
        if (slash == path)
            break;
    }
    return pyrunc_fail(err, EINVAL, "no mount holds the rootfs %s", rootfs);
}

/* The rootfs bind of a private mount namespace, made before any mount. */
static int bind_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    unsigned long root_propagation = plan->rootfs_propagation;
    int ret;

    /* An unbindable tree could not be bound: the container's root is made
     * unbindable at the end (pyrunc_finish_rootfs). */
    if (!root_propagation || (root_propagation & MS_UNBINDABLE))
        root_propagation = MS_SLAVE | MS_REC;
    /* Keep our mounts from propagating back to the host. */
    if (mount(NULL, "/", NULL, root_propagation, NULL) < 0)
        return pyrunc_fail_errno(err, "set propagation of /");
    if ((root_propagation & MS_SHARED) && (ret = make_rootfs_parent_private(plan->rootfs, err)) < 0)
        return ret;
    if (mount(plan->rootfs, plan->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return pyrunc_fail_errno(err, "bind the rootfs %s", plan->rootfs);
    return 0;
}

int pyrunc_prepare_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int rootfd = -1;
    int i, ret;

    /* Without a mount namespace of its own the container gets files only:
     * a mount would be the host's (the plan has none). */
    if (plan->rootfs_setup == PYRUNC_ROOTFS_BUILD && (ret = bind_rootfs(plan, err)) < 0)
        return ret;
    if ((rootfd = open_rootfs(plan->rootfs, err)) < 0)
        return rootfd;
    for (i = 0; i < plan->n_mounts; i++) {
        ret = do_mount(&rootfd, plan->rootfs, &plan->mounts[i], err);
        if (ret < 0)
            return ret;
    }
    for (i = 0; i < plan->n_devices; i++) {
        ret = create_device(rootfd, &plan->devices[i], err);
        if (ret < 0)
            return ret;
    }
    ret = rootfd;
    rootfd = -1;
    return ret;
}

/* chroot into rootfd (leaves the working directory at the new "/"). */
int pyrunc_chroot_into(int rootfd, struct pyrunc_error *err)
{
    if (fchdir(rootfd) < 0)
        return pyrunc_fail_errno(err, "chdir to the rootfs");
    if (chroot(".") < 0)
        return pyrunc_fail_errno(err, "chroot");
    if (chdir("/") < 0)
        return pyrunc_fail_errno(err, "chdir /");
    return 0;
}

int pyrunc_enter_rootfs(const struct pyrunc_plan *plan, int rootfd, struct pyrunc_error *err)
{
    cleanup_close int oldroot = -1;
    cleanup_close int newroot = -1;

    /* No mount namespace: no proc can be mounted for the container, so
     * keep a way to reopen exec.fifo, then a plain chroot. */
    if (plan->rootfs_setup == PYRUNC_ROOTFS_CHROOT) {
        int ret = pyrunc_keep_fd_dir(err);
        return ret < 0 ? ret : pyrunc_chroot_into(rootfd, err);
    }
    if (plan->no_pivot)
        return pyrunc_move_root(plan, rootfd, err);
    oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0)
        return pyrunc_fail_errno(err, "open /");
    newroot = open(plan->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (newroot < 0)
        return pyrunc_fail_errno(err, "open the rootfs");
    if (fchdir(newroot) < 0)
        return pyrunc_fail_errno(err, "chdir to the rootfs");
    /* pivot_root(".", ".") stacks the old root on top of the new one;
     * no put_old directory is needed inside the image. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return pyrunc_fail_errno(err, "pivot_root");
    if (fchdir(oldroot) < 0)
        return pyrunc_fail_errno(err, "chdir to the old root");
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return pyrunc_fail_errno(err, "make the old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
        return pyrunc_fail_errno(err, "detach the old root");
    if (chdir("/") < 0)
        return pyrunc_fail_errno(err, "chdir /");
    return 0;
}

static int is_dev_null(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static int mask_path(int rootfd, const char *path, struct pyrunc_error *err)
{
    cleanup_close int fd = pyrunc_open_in_root(rootfd, path, O_NOFOLLOW);
    cleanup_close int nullfd = -1;
    struct pyrunc_fd_path target;
    struct stat st;

    if (fd == -ENOENT)      /* nothing to hide */
        return 0;
    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "resolve masked path %s", path);
    if (fstat(fd, &st) < 0)
        return pyrunc_fail_errno(err, "stat masked path %s", path);
    /* Mounting over it would hide the link, not what it points at. */
    if (S_ISLNK(st.st_mode))
        return pyrunc_fail(err, ELOOP, "masked path %s is a symlink", path);
    target = pyrunc_fd_path(fd);
    if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", target.path, "tmpfs", MS_RDONLY, NULL) < 0)
            return pyrunc_fail_errno(err, "mask %s", path);
        return 0;
    }
    /* Bind a verified /dev/null: a swapped-in symlink must not redirect it. */
    nullfd = pyrunc_open_in_root(rootfd, "/dev/null", O_NOFOLLOW);
    if (nullfd < 0 || !is_dev_null(nullfd))
        return pyrunc_fail(err, EINVAL, "mask %s: /dev/null is not the null device", path);
    if (mount(pyrunc_fd_path(nullfd).path, target.path, NULL, MS_BIND, NULL) < 0)
        return pyrunc_fail_errno(err, "mask %s", path);
    return 0;
}

static int make_readonly(int rootfd, const char *path, struct pyrunc_error *err)
{
    cleanup_close int fd = pyrunc_open_in_root(rootfd, path, O_NOFOLLOW);
    cleanup_close int mountfd = -1;
    struct pyrunc_fd_path target;

    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "resolve read-only path %s", path);
    if (pyrunc_is_symlink_in_root(rootfd, path))
        return pyrunc_fail(err, ELOOP, "read-only path %s is a symlink", path);
    target = pyrunc_fd_path(fd);
    if (mount(target.path, target.path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return pyrunc_fail_errno(err, "bind read-only path %s", path);
    mountfd = pyrunc_open_in_root(rootfd, path, O_NOFOLLOW);
    if (mountfd < 0)
        return pyrunc_fail_sys(err, -mountfd, "reopen read-only path %s", path);
    return bind_remount(pyrunc_fd_path(mountfd).path, path, MS_RDONLY | locked_flags(target.path), err);
}

/* After pivot_root: an O_PATH fd of the container's "/", to resolve in. */
static int open_root(struct pyrunc_error *err)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? pyrunc_fail_errno(err, "open /") : fd;
}

int pyrunc_finish_rootfs(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int rootfd = open_root(err);
    int i, ret;

    if (rootfd < 0)
        return rootfd;
    for (i = 0; i < plan->n_masked_paths; i++) {
        ret = mask_path(rootfd, plan->masked_paths[i], err);
        if (ret < 0)
            return ret;
    }
    for (i = 0; i < plan->n_readonly_paths; i++) {
        ret = make_readonly(rootfd, plan->readonly_paths[i], err);
        if (ret < 0)
            return ret;
    }
    if (plan->rootfs_readonly && (ret = bind_remount("/", "/", MS_RDONLY | locked_flags("/"), err)) < 0)
        return ret;
    if (plan->rootfs_propagation && mount(NULL, "/", NULL, plan->rootfs_propagation, NULL) < 0)
        return pyrunc_fail_errno(err, "set propagation of the container root");
    return 0;
}

int pyrunc_readonly_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int rootfd = open_root(err);
    int i, ret;

    if (rootfd < 0)
        return rootfd;
    for (i = 0; i < plan->n_mounts; i++) {
        const struct pyrunc_mount *m = &plan->mounts[i];
        cleanup_close int fd = -1;

        if (!m->readonly_later)
            continue;
        if ((fd = pyrunc_open_in_root(rootfd, m->destination, 0)) < 0)
            return pyrunc_fail_sys(err, -fd, "reopen mount %s", m->destination);
        /* A bind remount changes only this mount's flags, and works in a
         * user namespace too. */
        ret = bind_remount(pyrunc_fd_path(fd).path, m->destination,
                           (m->flags & ~(MS_REMOUNT | MS_BIND | MS_REC)) | MS_RDONLY, err);
        if (ret < 0)
            return ret;
    }
    return 0;
}
