#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "error.h"
#include "fds.h"
#include "util.h"

/* The plan's fd fields, as pointers so that a moved fd can be renumbered. */
static int plan_fd_fields(struct pyrunc_plan *plan, int ***fields)
{
    int n = 0;

    *fields = calloc(4 + (size_t)(plan->n_mounts > 0 ? plan->n_mounts : 0)
                     + (size_t)(plan->n_cgroup_fds > 0 ? plan->n_cgroup_fds : 0), sizeof(**fields));
    if (!*fields)
        return -ENOMEM;
    (*fields)[n++] = &plan->sync_fd;
    (*fields)[n++] = &plan->fifo_fd;
    (*fields)[n++] = &plan->console_socket_fd;
    (*fields)[n++] = &plan->cgroup_dir_fd;
    /* The unflattened plan is one writable buffer; const only guards the init's use. */
    for (int i = 0; i < plan->n_mounts; i++)
        (*fields)[n++] = (int *)&plan->mounts[i].detached_fd;
    for (int i = 0; i < plan->n_cgroup_fds; i++)
        (*fields)[n++] = (int *)&plan->cgroup_fds[i];
    return n;
}

static int compare_ints(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* close_range refused: kernels before 5.9 have none (ENOSYS), and a
 * seccomp profile older than it, under which an engine may run us, denies
 * it (EPERM or ENOSYS).  Walk the open fds instead: /proc/self/fd when
 * mounted, else every number below the hard fd limit. */
static int for_each_open_fd(unsigned int first, unsigned int last, int (*act)(int fd))
{
    struct rlimit limit = { 0 };
    DIR *fds = opendir("/proc/self/fd");

    if (fds) {
        int own = dirfd(fds), ret = 0;
        struct dirent *entry;

        while ((entry = readdir(fds)) != NULL && ret == 0) {
            char *end;
            unsigned long fd = strtoul(entry->d_name, &end, 10);

            if (entry->d_name[0] == '.' || *end || (int)fd == own || fd < first || fd > last)
                continue;
            ret = act((int)fd);
        }
        closedir(fds);
        return ret;
    }
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_max == RLIM_INFINITY)
        limit.rlim_max = 1u << 20;   /* the kernel's own ceiling, fs.nr_open's default */
    for (unsigned long fd = first; fd <= last && fd < limit.rlim_max; fd++)
        act((int)fd);
    return 0;
}

static int close_one(int fd)
{
    close(fd);
    return 0;
}

static int mark_one_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    if (flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

static int close_range_refused(int error)
{
    return error == ENOSYS || error == EPERM || error == EINVAL;
}

static int close_range_of(unsigned int first, unsigned int last)
{
    if (first > last || syscall(SYS_close_range, first, last, 0) == 0)
        return 0;
    if (!close_range_refused(errno))
        return -errno;
    return for_each_open_fd(first, last, close_one);
}

int pyrunc_mark_cloexec_from(unsigned int first)
{
    if (syscall(SYS_close_range, first, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    if (!close_range_refused(errno))
        return -errno;
    return for_each_open_fd(first, ~0u, mark_one_cloexec);
}

/* Move fd above the preserved range (or just mark it close-on-exec);
 * every field naming it is renumbered.  Returns the fd kept. */
static int keep_fd(int **fields, int n, int i, int first_free, struct pyrunc_error *err)
{
    int fd = *fields[i], moved;

    if (fd >= first_free) {
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            return pyrunc_fail_errno(err, "pyrunc-init: fd %d of the plan", fd);
        return fd;
    }
    /* A gap in the caller's range that the runtime filled: the container
     * would get our fd in its place. */
    moved = fcntl(fd, F_DUPFD_CLOEXEC, first_free);
    if (moved < 0)
        return pyrunc_fail_errno(err, "pyrunc-init: move fd %d above the preserved fds", fd);
    for (int j = i; j < n; j++)
        if (*fields[j] == fd)
            *fields[j] = moved;
    close(fd);
    return moved;
}

int pyrunc_keep_plan_fds(struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    int first_free = 3 + (plan->process.preserve_fds > 0 ? plan->process.preserve_fds : 0);
    cleanup_free int **fields = NULL;
    cleanup_free int *kept = NULL;
    unsigned int from = (unsigned int)first_free;
    int n, n_kept = 0, ret = 0;

    n = plan_fd_fields(plan, &fields);
    kept = n > 0 ? calloc((size_t)n, sizeof(*kept)) : NULL;
    if (!kept)
        return pyrunc_fail(err, ENOMEM, "pyrunc-init: no memory for the fd list");
    for (int i = 0; i < n; i++) {
        if (*fields[i] < 3)
            continue;
        if ((ret = keep_fd(fields, n, i, first_free, err)) < 0)
            return ret;
        kept[n_kept++] = ret;
    }
    qsort(kept, (size_t)n_kept, sizeof(*kept), compare_ints);
    ret = 0;
    for (int i = 0; i < n_kept && ret == 0; i++) {
        ret = close_range_of(from, (unsigned int)kept[i] - 1);
        from = (unsigned int)kept[i] + 1;
    }
    if (ret == 0)
        ret = close_range_of(from, ~0u);
    if (ret < 0)
        return pyrunc_fail_sys(err, -ret, "pyrunc-init: close inherited fds");
    return 0;
}

void pyrunc_close_all_but_stdio(void)
{
    close_range_of(3, ~0u);
}
