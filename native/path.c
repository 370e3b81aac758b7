#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

struct pyrunc_fd_path pyrunc_fd_path(int fd)
{
    struct pyrunc_fd_path p;

    snprintf(p.path, sizeof(p.path), "/proc/self/fd/%d", fd);
    return p;
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

int pyrunc_create_in_root(int rootfd, const char *path, int want_dir, struct pyrunc_error *err)
{
    cleanup_close int parentfd = -1;
    const char *base;
    int fd = openat2_in_root(rootfd, path, O_PATH);

    if (fd >= 0 || fd != -ENOENT) {
        if (fd < 0)
            return pyrunc_fail(err, -fd, "resolve %s in the container root", path);
        return fd;
    }
    parentfd = pyrunc_open_parent_in_root(rootfd, path, &base, err);
    if (parentfd < 0)
        return parentfd;
    if (want_dir) {
        if (mkdirat(parentfd, base, 0755) < 0 && errno != EEXIST)
            return pyrunc_fail_errno(err, "mkdir %s in the container root", path);
    } else {
        /* O_EXCL: never follow a (dangling) symlink placed at the target. */
        int filefd = openat(parentfd, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (filefd < 0 && errno != EEXIST)
            return pyrunc_fail_errno(err, "create %s in the container root", path);
        if (filefd >= 0)
            close(filefd);
    }
    fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return pyrunc_fail(err, -fd, "resolve %s in the container root", path);
    return fd;
}
