/* bench-spawn: run one program for bundles/bench.py and report what it cost.
 *
 *     bench-spawn REPORT_FD [--hide-cgroup2] PROGRAM [ARG...]
 *     bench-spawn --exec --hide-cgroup2 PROGRAM [ARG...]
 *
 * The first form forks, execs PROGRAM, waits for it with wait4 and writes
 * one line to REPORT_FD (closed in the child):
 *
 *     START_NS END_NS STATUS MAXRSS_KIB UTIME_US STIME_US
 *
 * (CLOCK_MONOTONIC around fork and wait4; STATUS as waitpid's).  A Python
 * parent cannot measure a child's peak RSS: the kernel records the resident
 * set of the mm a child leaves at exec, which after a fork or vfork from an
 * interpreter is the interpreter's.  This program is static and small, so
 * the peak it reports is the program's own (and its reaped children's).
 *
 * --hide-cgroup2 runs PROGRAM in a mount namespace of its own where the
 * cgroup2 mount of a hybrid host (/sys/fs/cgroup/unified) is detached:
 * crun 1.8 refuses to run on hybrid hosts and runs on pure cgroup v1.
 * --exec does only that and execs, for engines that call a runtime binary. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int hide_cgroup2(void)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return -errno;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-spawn REPORT_FD [--hide-cgroup2] PROGRAM [ARG...]\n"
                    "       bench-spawn --exec --hide-cgroup2 PROGRAM [ARG...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int report_fd = -1, hide = 0, arg = 1, status;
    long long start, end;
    struct rusage usage_;
    pid_t pid;

    if (argc < 3)
        usage();
    if (strcmp(argv[arg], "--exec") != 0) {
        char *rest;
        report_fd = (int)strtol(argv[arg], &rest, 10);
        if (*rest || report_fd < 0)
            usage();
    }
    arg++;
    if (strcmp(argv[arg], "--hide-cgroup2") == 0) {
        hide = 1;
        arg++;
    }
    if (arg >= argc)
        usage();
    if (report_fd < 0) {
        int ret = hide ? hide_cgroup2() : 0;
        if (ret < 0) {
            fprintf(stderr, "bench-spawn: hide cgroup2: %s\n", strerror(-ret));
            return 125;
        }
        execvp(argv[arg], argv + arg);
        fprintf(stderr, "bench-spawn: exec %s: %s\n", argv[arg], strerror(errno));
        return 127;
    }
    if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "bench-spawn: report fd %d: %s\n", report_fd, strerror(errno));
        return 2;
    }
    start = now_ns();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench-spawn: fork: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        int ret = hide ? hide_cgroup2() : 0;
        if (ret < 0) {
            fprintf(stderr, "bench-spawn: hide cgroup2: %s\n", strerror(-ret));
            _exit(125);
        }
        execvp(argv[arg], argv + arg);
        fprintf(stderr, "bench-spawn: exec %s: %s\n", argv[arg], strerror(errno));
        _exit(127);
    }
    while (wait4(pid, &status, 0, &usage_) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "bench-spawn: wait4: %s\n", strerror(errno));
            return 125;
        }
    end = now_ns();
    dprintf(report_fd, "%lld %lld %d %ld %lld %lld\n", start, end, status, usage_.ru_maxrss,
            (long long)usage_.ru_utime.tv_sec * 1000000 + usage_.ru_utime.tv_usec,
            (long long)usage_.ru_stime.tv_sec * 1000000 + usage_.ru_stime.tv_usec);
    return 0;
}
