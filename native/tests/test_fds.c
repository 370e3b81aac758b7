/* Which fds pyrunc-init keeps: stdio, the preserved range and the plan's,
 * renumbered out of the preserved range; nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* The kept and closed fds of one pyrunc_keep_plan_fds call. */
static void check_keep_plan_fds(void)
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
}

/* As check_keep_plan_fds, then close-on-exec marking, in a child whose
 * close_range fails with errno (an engine's older seccomp profile). */
static void check_without_close_range(int errno_value)
{
    pid_t child = fork();
    int status;

    CHECK(child >= 0);
    if (child == 0) {
        scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);

        CHECK(filter != NULL);
        CHECK(seccomp_rule_add(filter, SCMP_ACT_ERRNO(errno_value), SCMP_SYS(close_range), 0) == 0);
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(seccomp_load(filter) == 0);
        CHECK(syscall(SYS_close_range, 50, 50, 0) < 0);   /* the filter is in force */
        check_keep_plan_fds();
        open_at(50);
        open_at(51);
        CHECK(pyrunc_mark_cloexec_from(51) == 0);
        CHECK(!is_cloexec(50) && is_cloexec(51));
        _exit(0);
    }
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    check_without_close_range(EPERM);
    check_without_close_range(ENOSYS);
    check_keep_plan_fds();
    return 0;
}
