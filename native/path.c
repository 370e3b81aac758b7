#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "path.h"
#include "util.h"

static int openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    do
        fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    return fd < 0 ? -errno : (int)fd;
}

int pyrunc_open_in_root(int rootfd, const char *path, int extra_flags)
{
    return openat2_in_root(rootfd, path, O_PATH | extra_flags);
}

int pyrunc_open_dir_in_root(int rootfd, const char *path)
{
    return openat2_in_root(rootfd, path, O_RDONLY | O_DIRECTORY);
}

int pyrunc_is_symlink_in_root(int rootfd, const char *path)
{
    /* O_PATH|O_NOFOLLOW opens a symlink itself rather than failing. */
    int fd = openat2_in_root(rootfd, path, O_PATH | O_NOFOLLOW);
    struct stat st;
    int is_link;

    if (fd < 0)
        return 0;
    is_link = fstat(fd, &st) == 0 && S_ISLNK(st.st_mode);
    close(fd);
    return is_link;
}

struct pyrunc_fd_path pyrunc_fd_path(int fd)
{
    struct pyrunc_fd_path p;

    snprintf(p.path, sizeof(p.path), "/proc/self/fd/%d", fd);
    return p;
}

/* Our /proc/self/fd of the host's proc, for a root without a proc of its own. */
static int host_fd_dir = -1;

int pyrunc_keep_fd_dir(struct pyrunc_error *err)
{
    if (host_fd_dir < 0 && (host_fd_dir = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pyrunc_fail_errno(err, "open /proc/self/fd");
    return 0;
}

int pyrunc_reopen_fd(int fd, int flags)
{
    char name[16];
    int reopened;

    if (host_fd_dir < 0) {
        reopened = open(pyrunc_fd_path(fd).path, flags);
    } else {
        snprintf(name, sizeof(name), "%d", fd);
        reopened = openat(host_fd_dir, name, flags);
    }
    return reopened < 0 ? -errno : reopened;
}

/* Split path into a malloc'd parent ("/" at least) and a pointer to its
 * last component inside path. */
static char *split_parent(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    char *parent;

    if (!slash) {
        *base = path;
        return strdup("/");
    }
    *base = slash + 1;
    parent = strndup(path, (size_t)(slash - path));
    if (parent && parent[0] == '\0') {
        free(parent);
        parent = strdup("/");
    }
    return parent;
}

int pyrunc_open_parent_in_root(int rootfd, const char *path, const char **base,
                               struct pyrunc_error *err)
{
    cleanup_free char *parent = split_parent(path, base);

    if (!parent)
        return pyrunc_fail(err, ENOMEM, "resolve %s", path);
    if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
        return pyrunc_fail(err, EINVAL, "path %s has no usable last component", path);
    return pyrunc_create_in_root(rootfd, parent, 1, err);
}

static int create_in_root(int rootfd, const char *path, int want_dir, int depth,
                          struct pyrunc_error *err);

static int is_procfs(int fd)
{
    struct statfs fs;

    return fstatfs(fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

/* path is a dangling symlink in parentfd: create what it points at
 * (inside the root, as runc does), so that path then resolves. */
static int create_link_target(int rootfd, int parentfd, const char *base, const char *path,
                              int want_dir, int depth, struct pyrunc_error *err)
{
    char target[PATH_MAX], resolved[PATH_MAX * 2];
    const char *slash = strrchr(path, '/');
    ssize_t n = readlinkat(parentfd, base, target, sizeof(target) - 1);
    int fd;

    if (n < 0)
        return pyrunc_fail_errno(err, "create %s in the container root", path);
    if (is_procfs(parentfd))    /* /proc/<pid>/fd/N and kin: magic, never followed */
        return pyrunc_fail(err, ENOENT, "resolve %s in the container root: no such path", path);
    target[n] = '\0';
    if (target[0] == '/' || !slash)
        snprintf(resolved, sizeof(resolved), "%s", target);
    else
        snprintf(resolved, sizeof(resolved), "%.*s/%s", (int)(slash - path), path, target);
    fd = create_in_root(rootfd, resolved, want_dir, depth + 1, err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

static int create_in_root(int rootfd, const char *path, int want_dir, int depth,
                          struct pyrunc_error *err)
{
    cleanup_close int parentfd = -1;
    const char *base;
    int fd = openat2_in_root(rootfd, path, O_PATH);
    int exists = 0, ret;

    if (fd >= 0 || fd != -ENOENT) {
        if (fd < 0)
            return pyrunc_fail_sys(err, -fd, "resolve %s in the container root", path);
        return fd;
    }
    if (depth > 40)
        return pyrunc_fail_sys(err, ELOOP, "resolve %s in the container root", path);
    parentfd = pyrunc_open_parent_in_root(rootfd, path, &base, err);
    if (parentfd < 0)
        return parentfd;
    if (want_dir) {
        if (mkdirat(parentfd, base, 0755) < 0) {
            if (errno != EEXIST)
                return pyrunc_fail_errno(err, "mkdir %s in the container root", path);
            exists = 1;
        }
    } else {
        /* O_EXCL: never follow a (dangling) symlink placed at the target. */
        int filefd = openat(parentfd, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (filefd < 0 && errno != EEXIST)
            return pyrunc_fail_errno(err, "create %s in the container root", path);
        exists = filefd < 0;
        if (filefd >= 0)
            close(filefd);
    }
    /* Something was there yet did not resolve: a dangling symlink. */
    if (exists && (ret = create_link_target(rootfd, parentfd, base, path, want_dir, depth, err)) < 0)
        return ret;
    fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "resolve %s in the container root", path);
    return fd;
}

int pyrunc_create_in_root(int rootfd, const char *path, int want_dir, struct pyrunc_error *err)
{
    return create_in_root(rootfd, path, want_dir, 0, err);
}
