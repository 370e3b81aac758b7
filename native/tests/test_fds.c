/* Which fds pyrunc-init keeps: stdio, the preserved range and the plan's,
 * renumbered out of the preserved range; nothing else. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fds.h"

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int is_cloexec(int fd)
{
    return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/* Open /dev/null at exactly fd, not close-on-exec (as a caller leaves it). */
static void open_at(int fd)
{
    int tmp = open("/dev/null", O_RDONLY);

    CHECK(tmp >= 0);
    if (tmp != fd) {
        CHECK(dup2(tmp, fd) == fd);
        close(tmp);
    }
}

int main(void)
{
    struct pyrunc_error err = { 0 };
    struct pyrunc_mount mounts[2];
    struct pyrunc_plan plan;

    for (int fd = 3; fd < 64; fd++)
        close(fd);
    memset(&plan, 0, sizeof(plan));
    memset(mounts, 0, sizeof(mounts));
    /* The caller: fd 3 preserved, fds 9 and 40 stray.  The runtime's fds:
     * 4 (in the gap of a 3-fd preserved range), 20, 30, 31 (a mount). */
    for (int fd = 3; fd <= 40; fd++)
        if (fd == 3 || fd == 4 || fd == 9 || fd == 20 || fd == 30 || fd == 31 || fd == 40)
            open_at(fd);
    plan.process.preserve_fds = 3;
    plan.sync_fd = 4;
    plan.fifo_fd = 20;
    plan.console_socket_fd = -1;
    mounts[0].detached_fd = 30;
    mounts[1].detached_fd = -1;
    plan.mounts = mounts;
    plan.n_mounts = 2;

    CHECK(pyrunc_keep_plan_fds(&plan, &err) == 0);
    CHECK(is_open(0) && is_open(1) && is_open(2));
    CHECK(is_open(3) && !is_cloexec(3));            /* the program's */
    CHECK(!is_open(4) && !is_open(5));              /* the gap stays a gap */
    CHECK(plan.sync_fd >= 6 && is_open(plan.sync_fd) && is_cloexec(plan.sync_fd));
    CHECK(plan.fifo_fd == 20 && is_cloexec(20));
    CHECK(mounts[0].detached_fd == 30 && is_cloexec(30));
    CHECK(mounts[1].detached_fd == -1 && plan.console_socket_fd == -1);
    CHECK(!is_open(9) && !is_open(31) && !is_open(40));   /* strays */
    return 0;
}
