#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "hooks.h"
#include "keyring.h"
#include "lsm.h"
#include "init.h"
#include "mount.h"
#include "ns.h"
#include "path.h"
#include "proc.h"
#include "placement.h"
#include "pty.h"
#include "seccomp_load.h"
#include "stage.h"
#include "sync.h"
#include "util.h"

/* The state JSON the hooks get on stdin (status "created"), sent by the
 * runtime with GO. */
static char hook_state[PYRUNC_SYNC_MAX_TEXT];

/* Set once `start` has received our error through the fifo. */
static int start_was_told;

static char program_cwd[PATH_MAX];

/* Set when clone3 could not clone the init into its cgroup v2 directory
 * (no clone3 before Linux 5.3 or under a seccomp profile that predates it,
 * no CLONE_INTO_CGROUP before 5.7): the init then joins it itself. */
static int init_joins_cgroup_dir;

/* The environment the program gets (HOME filled in inside the root). */
static const char *const *program_envp;

/* A no_new_privs filter comes as late as it can, yet before the
 * startContainer hooks: runc runs them under it.  As runc, the hooks run in
 * the program's working directory, with its environment. */
static int run_start_steps(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    const struct pyrunc_hook_run run = { "startContainer", hook_state, -1, program_envp };
    int ret = pyrunc_seccomp_load(plan, PYRUNC_SECCOMP_BEFORE_START_HOOKS, err);

    if (ret < 0)
        return ret;
    return pyrunc_run_hooks(&run, plan->start_container_hooks, plan->n_start_container_hooks, err);
}

/* Block until `start` opens exec.fifo for reading, load the filter and run
 * the startContainer hooks, then tell `start` how it went: "0", or "E" and
 * the error. */
static int wait_for_start(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int fd = -1;
    ssize_t written;
    int ret;

    if (plan->fifo_fd < 0)
        return run_start_steps(plan, err);
    /* Reopen through /proc: the fifo's host path is gone after pivot_root. */
    do
        fd = pyrunc_reopen_fd(plan->fifo_fd, O_WRONLY | O_CLOEXEC);
    while (fd == -EINTR);
    if (fd < 0)
        return pyrunc_fail_sys(err, -fd, "open exec fifo");
    ret = run_start_steps(plan, err);
    if (ret < 0) {
        pyrunc_write_all(fd, "E", 1);
        pyrunc_write_all(fd, err->msg, strlen(err->msg));
        start_was_told = 1;
        return ret;
    }
    written = pyrunc_write_all(fd, "0", 1);
    if (written < 0)
        return pyrunc_fail_sys(err, (int)-written, "write exec fifo");
    return 0;
}

static int setup_filesystem(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    struct pyrunc_hook_run run = { "createContainer", hook_state, -1, plan->process.envp };
    cleanup_close int rootfd = -1;
    cleanup_close int cwdfd = -1;
    int ret;

    rootfd = pyrunc_prepare_rootfs(plan, err);
    if (rootfd < 0)
        return rootfd;
    /* runc creates a missing cwd rather than failing the start. */
    if (plan->process.cwd && (cwdfd = pyrunc_create_in_root(rootfd, plan->process.cwd, 1, err)) < 0)
        return cwdfd;
    if (plan->runtime_hooks) {
        if ((ret = pyrunc_sync_send(plan->sync_fd, PYRUNC_SYNC_HOOKS, 0, NULL, err)) < 0)
            return ret;
        if ((ret = pyrunc_sync_expect(plan->sync_fd, PYRUNC_SYNC_GO, NULL, NULL, 0, err)) < 0)
            return ret;
    }
    /* In the container's namespaces, before pivot_root: host paths resolve.
     * As runc: in the container's root, with the program's environment. */
    run.cwd_fd = rootfd;
    ret = pyrunc_run_hooks(&run, plan->create_container_hooks, plan->n_create_container_hooks, err);
    if (ret < 0)
        return ret;
    if ((ret = pyrunc_enter_rootfs(plan, rootfd, err)) < 0)
        return ret;
    if ((ret = pyrunc_set_sysctls(plan, err)) < 0)
        return ret;
    /* Without a mount namespace of its own, a mount would be the host's. */
    return plan->rootfs_setup == PYRUNC_ROOTFS_BUILD ? pyrunc_finish_rootfs(plan, err) : 0;
}

/* chdir to the process's cwd: 1 when done, 0 when this identity may not
 * enter it and this is not the last try (runc tries while privileged, then
 * again as the user).  getcwd fails (ENOENT) for a directory outside our
 * root, such as a host directory reached through a leaked fd (CVE-2024-21626). */
static int enter_cwd(const char *cwd, int last_try, struct pyrunc_error *err)
{
    if (cwd && chdir(cwd) < 0) {
        if (!last_try)
            return 0;
        return pyrunc_fail_errno(err, "chdir to %s", cwd);
    }
    if (!getcwd(program_cwd, sizeof(program_cwd)))
        return pyrunc_fail_errno(err, "working directory %s is outside the container", cwd);
    return 1;
}

/* Into the container's cgroup v1 hierarchies, before anything else: "0"
 * moves the calling thread, which is all of us. */
static int join_cgroups(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    for (int i = 0; i < plan->n_cgroup_fds; i++) {
        ssize_t written = pyrunc_write_all(plan->cgroup_fds[i], "0", 1);
        close(plan->cgroup_fds[i]);
        if (written < 0)
            return pyrunc_fail_sys(err, (int)-written, "join the container's cgroup");
    }
    if (init_joins_cgroup_dir) {
        cleanup_close int procs = openat(plan->cgroup_dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (procs < 0)
            return pyrunc_fail_errno(err, "join the container's cgroup");
        ssize_t written = pyrunc_write_all(procs, "0", 1);
        if (written < 0)
            return pyrunc_fail_sys(err, (int)-written, "join the container's cgroup");
    }
    return 0;
}

/* Everything the init does before it may exec; returns the program path. */
static int setup_container(const struct pyrunc_plan *plan, char *program, size_t program_len,
                           struct pyrunc_error *err)
{
    const struct pyrunc_process *p = &plan->process;
    int new_flags = pyrunc_new_namespace_flags(plan);
    int entered_cwd, ret;

    if ((ret = pyrunc_sync_expect(plan->sync_fd, PYRUNC_SYNC_GO, NULL, hook_state,
                                  sizeof(hook_state), err)) < 0)
        return ret;
    if ((ret = join_cgroups(plan, err)) < 0)
        return ret;
    if ((new_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        return pyrunc_fail_errno(err, "create the cgroup namespace");
    if ((ret = pyrunc_set_cpu_affinity(&p->cpu_affinity_initial, err)) < 0)
        return ret;
    if (setsid() < 0)
        return pyrunc_fail_errno(err, "setsid");
    /* Keys of the host session must not be reachable from the container. */
    if ((ret = pyrunc_join_session_keyring(plan, err)) < 0)
        return ret;
    if ((new_flags & CLONE_NEWNET) && (ret = pyrunc_loopback_up(err)) < 0)
        return ret;
    if ((ret = pyrunc_set_names(plan, err)) < 0)
        return ret;
    /* A container gets its root built (in a new or joined mount namespace,
     * or by chroot without one); exec joins a view that has it already. */
    if (plan->rootfs_setup != PYRUNC_ROOTFS_KEEP && (ret = setup_filesystem(plan, err)) < 0)
        return ret;
    if (plan->terminal && (ret = pyrunc_setup_terminal(plan, err)) < 0)
        return ret;
    /* Read-only only now: /dev/console went into /dev above. */
    if (plan->rootfs_setup == PYRUNC_ROOTFS_BUILD && (ret = pyrunc_readonly_mounts(plan, err)) < 0)
        return ret;
    if ((ret = pyrunc_set_rlimits(p, err)) < 0)
        return ret;
    if ((ret = pyrunc_find_executable(p->argv[0], p->envp, program, program_len, err)) < 0)
        return ret;
    program_envp = pyrunc_exec_environment(p);
    /* While still privileged, and before a filter could forbid these. */
    if ((ret = pyrunc_set_scheduling(plan, err)) < 0)
        return ret;
    if ((ret = pyrunc_set_personality(p, err)) < 0)
        return ret;
    if ((ret = pyrunc_set_exec_labels(p, err)) < 0)
        return ret;
    /* The cwd and the fds before any filter could forbid getcwd or
     * close_range (profiles older than it do). */
    if ((entered_cwd = enter_cwd(p->cwd, 0, err)) < 0)
        return entered_cwd;
    if ((ret = pyrunc_close_fds_on_exec(p->preserve_fds, err)) < 0)
        return ret;
    /* The final affinity is the runtime's act (runc's parent sets it), so
     * the container's filter must not get a say: it is inherited by exec. */
    if ((ret = pyrunc_set_cpu_affinity(&p->cpu_affinity_final, err)) < 0)
        return ret;
    if ((ret = pyrunc_seccomp_load(plan, PYRUNC_SECCOMP_BEFORE_IDENTITY, err)) < 0)
        return ret;
    if ((ret = pyrunc_apply_identity(p, err)) < 0)
        return ret;
    if (!entered_cwd && (ret = enter_cwd(p->cwd, 1, err)) < 0)
        return ret;
    umask(p->umask >= 0 ? (mode_t)p->umask : 022);
    return pyrunc_seccomp_load(plan, PYRUNC_SECCOMP_BEFORE_READY, err);
}

static __attribute__((noreturn)) void run_init(const struct pyrunc_plan *plan)
{
    struct pyrunc_error err = { 0 };
    char program[PATH_MAX];
    int ret;

    /* Die with the runtime while it still owns us (until READY). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pyrunc_reset_signals();
    /* `kill ID` (SIGTERM) of a created container ends it, as with runc. */
    pyrunc_die_of_stop_signals();
    ret = setup_container(plan, program, sizeof(program), &err);
    if (ret >= 0 && prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        ret = pyrunc_fail_errno(&err, "clear the parent death signal");
    if (ret >= 0)
        ret = pyrunc_sync_send(plan->sync_fd, PYRUNC_SYNC_READY, 0, NULL, &err);
    if (ret >= 0)
        ret = wait_for_start(plan, &err);
    if (ret >= 0) {
        execve(program, (char *const *)plan->process.argv, (char *const *)program_envp);
        ret = pyrunc_fail_errno(&err, "exec %s", program);
    }
    /* Whoever still listens (run, or create before READY) gets the error;
     * when nobody does (after start), it goes to the container's stderr. */
    if (pyrunc_sync_report(plan->sync_fd, &err) < 0 && !start_was_told)
        dprintf(STDERR_FILENO, "pyrunc: %s\n", err.msg);
    _exit(ret == -ENOENT || ret == -EACCES ? 127 : 1);
}

/* Join and create namespaces, then fork the init; returns its pid. */
static long start_init(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    long init_pid;
    int later, ret;

    /* Nothing of ours may be ptraced or have /proc/<pid>/exe opened from
     * inside the container once we share its namespaces. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return pyrunc_fail_errno(err, "set non-dumpable");
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Time offsets can only be written while the time namespace has no
     * process, and only while /proc/self still belongs to us: before any
     * user namespace is entered (a non-dumpable process's /proc files are
     * the host root's).  Such a time namespace belongs to our user namespace. */
    if (plan->time_offsets) {
        if (unshare(CLONE_NEWTIME) < 0)
            return pyrunc_fail_errno(err, "create the time namespace");
        if ((ret = pyrunc_write_procfs("/proc/self/timens_offsets", plan->time_offsets, err)) < 0)
            return ret;
    }
    if ((ret = pyrunc_stage_detached_mounts(plan, err)) < 0)
        return ret;
    if ((ret = pyrunc_join_namespaces(plan, err)) < 0)
        return ret;
    /* A new user namespace comes first so that it owns the others. */
    if ((ret = pyrunc_enter_user_namespace(plan, err)) < 0)
        return ret;
    /* The cgroup namespace waits for the init: it must be rooted at the
     * container's cgroup, which the runtime moves the init into. */
    later = CLONE_NEWUSER | CLONE_NEWCGROUP | (plan->time_offsets ? CLONE_NEWTIME : 0);
    if (unshare(pyrunc_new_namespace_flags(plan) & ~later) < 0)
        return pyrunc_fail_errno(err, "create namespaces");
    if ((ret = pyrunc_take_staged_mounts(plan, err)) < 0)
        return ret;
    /* CLONE_PARENT: the init becomes the runtime's child, so `run` can
     * wait for it; the new pid namespace (if any) starts with it. */
    if (plan->cgroup_dir_fd >= 0) {
        /* Born in its cgroup v2.  With CLONE_PARENT the exit signal is
         * ours (SIGCHLD), and clone3 wants 0 for it. */
        struct clone_args args = { .flags = CLONE_PARENT | CLONE_INTO_CGROUP,
                                   .cgroup = (uint64_t)plan->cgroup_dir_fd };
        init_pid = syscall(SYS_clone3, &args, sizeof(args));
        /* ENOSYS: no clone3 (or a profile that hides it, as Docker's does);
         * E2BIG/EINVAL: a clone3 without CLONE_INTO_CGROUP; EPERM: a
         * profile that refuses what it does not know.  A real refusal of
         * the cgroup shows again when the init joins it. */
        if (init_pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL || errno == EPERM))
            init_joins_cgroup_dir = 1;
    }
    if (plan->cgroup_dir_fd < 0 || init_joins_cgroup_dir)
        init_pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
    if (init_pid < 0)
        return pyrunc_fail_errno(err, "fork the container init");
    if (init_pid == 0)
        run_init(plan);
    return init_pid;
}

void pyrunc_intermediate_main(const struct pyrunc_plan *plan)
{
    struct pyrunc_error err = { 0 };
    long init_pid = start_init(plan, &err);

    if (init_pid < 0 || pyrunc_sync_send(plan->sync_fd, PYRUNC_SYNC_PID, (int32_t)init_pid, NULL, &err) < 0) {
        pyrunc_sync_report(plan->sync_fd, &err);
        _exit(1);
    }
    _exit(0);
}
