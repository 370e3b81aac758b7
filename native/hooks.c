#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fds.h"
#include "hooks.h"
#include "util.h"

static __attribute__((noreturn)) void exec_hook(const struct pyrunc_hook_run *run,
                                               const struct pyrunc_hook *hook, int stdin_fd)
{
    static const char *const no_env[] = { NULL };
    const char *const *envp = hook->envp ? hook->envp : run->default_envp;

    signal(SIGPIPE, SIG_DFL);   /* ignored signals would survive execve */
    if (stdin_fd == STDIN_FILENO ? fcntl(stdin_fd, F_SETFD, 0) < 0 : dup2(stdin_fd, STDIN_FILENO) < 0)
        _exit(126);
    if (run->cwd_fd >= 0 && fchdir(run->cwd_fd) < 0)
        _exit(126);
    pyrunc_close_all_but_stdio();
    execve(hook->path, (char *const *)hook->argv, (char *const *)(envp ? envp : no_env));
    _exit(127);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether pidfd became readable (the process exited) within timeout_ms;
 * poll(2) takes an int, so a long timeout is waited for in parts. */
static int exits_within(int pidfd, long long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms, left;
    struct pollfd p = { .fd = pidfd, .events = POLLIN };

    while ((left = deadline - now_ms()) > 0)
        if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) > 0)
            return 1;
    return 0;
}

/* Wait for pid, at most timeout seconds (0 = no limit); kill it on timeout. */
static int wait_hook(pid_t pid, int timeout, int *status, struct pyrunc_error *err)
{
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (pidfd >= 0 && timeout > 0) {
        if (!exits_within(pidfd, timeout * 1000LL)) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return pyrunc_fail(err, ETIMEDOUT, "timed out after %d s", timeout);
        }
    }
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return pyrunc_fail_errno(err, "wait for the hook");
    return 0;
}

static int run_hook(const struct pyrunc_hook_run *run, const struct pyrunc_hook *hook,
                    struct pyrunc_error *err)
{
    const char *kind = run->kind;
    cleanup_close int read_end = -1;
    cleanup_close int write_end = -1;
    int fds[2], status = 0, ret;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return pyrunc_fail_errno(err, "%s hook %s: pipe", kind, hook->path);
    read_end = fds[0];
    write_end = fds[1];
    pid = fork();
    if (pid < 0)
        return pyrunc_fail_errno(err, "%s hook %s: fork", kind, hook->path);
    if (pid == 0)
        exec_hook(run, hook, read_end);
    close(read_end);
    read_end = -1;
    /* A hook that does not read its stdin is fine: ignore EPIPE. */
    pyrunc_write_all(write_end, run->state_json, strlen(run->state_json));
    close(write_end);
    write_end = -1;
    ret = wait_hook(pid, hook->timeout, &status, err);
    if (ret < 0) {
        char why[sizeof(err->msg)];

        memcpy(why, err->msg, sizeof(why));   /* err->msg is rewritten below */
        return pyrunc_fail(err, -ret, "%s hook %s: %s", kind, hook->path, why);
    }
    if (WIFSIGNALED(status))
        return pyrunc_fail(err, ECANCELED, "%s hook %s: killed by signal %d", kind, hook->path,
                           WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        return pyrunc_fail(err, ECANCELED, "%s hook %s: exit status %d", kind, hook->path,
                           WEXITSTATUS(status));
    return 0;
}

int pyrunc_run_hooks(const struct pyrunc_hook_run *run, const struct pyrunc_hook *hooks, int n_hooks,
                     struct pyrunc_error *err)
{
    int ret = 0;

    if (n_hooks == 0)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < n_hooks && ret >= 0; i++)
        ret = run_hook(run, &hooks[i], err);
    signal(SIGPIPE, SIG_DFL);
    return ret;
}
