#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static int close_range_of(unsigned int first, unsigned int last)
{
    if (first > last || syscall(SYS_close_range, first, last, 0) == 0)
        return 0;
    if (errno != ENOSYS)
        return -errno;
    /* Kernels before 5.9: one by one, up to the fd limit. */
    for (long fd = first, max = sysconf(_SC_OPEN_MAX); fd <= (long)last && fd < max; fd++)
        close((int)fd);
    return 0;
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
