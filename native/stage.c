#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

#include "error.h"
#include "ns.h"
#include "stage.h"
#include "util.h"

static int staged(const struct pyrunc_plan *plan)
{
    int has_user = 0, has_detached = 0;

    if (!plan->staging_dir || !(pyrunc_new_namespace_flags(plan) & CLONE_NEWNS))
        return 0;
    for (int i = 0; i < plan->n_namespaces; i++)
        has_user |= plan->namespaces[i].type == CLONE_NEWUSER;
    for (int i = 0; i < plan->n_mounts; i++)
        has_detached |= plan->mounts[i].detached_fd >= 0;
    return has_user && has_detached;
}

static void staged_name(int index, char *name, size_t size)
{
    snprintf(name, size, "%d", index);
}

static int stage_one(int index, int detached_fd, struct pyrunc_error *err)
{
    struct stat st;
    char name[16];
    int made;

    staged_name(index, name, sizeof(name));
    if (fstat(detached_fd, &st) < 0)
        return pyrunc_fail_errno(err, "stage a bind source: stat it");
    if (S_ISDIR(st.st_mode))
        made = mkdirat(AT_FDCWD, name, 0700);
    else
        made = mknodat(AT_FDCWD, name, S_IFREG | 0600, 0);
    if (made < 0)
        return pyrunc_fail_errno(err, "stage a bind source: make its mount point");
    if (syscall(SYS_move_mount, detached_fd, "", AT_FDCWD, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return pyrunc_fail_errno(err, "stage a bind source: attach it");
    return 0;
}

int pyrunc_stage_detached_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int dirfd = -1;
    int ret;

    if (!staged(plan))
        return 0;
    if (unshare(CLONE_NEWNS) < 0)
        return pyrunc_fail_errno(err, "stage bind sources: create a mount namespace");
    /* Slave, not private: the container's copy still receives the host's
     * mount events; nothing here reaches the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return pyrunc_fail_errno(err, "stage bind sources: make / a slave");
    /* 0711: the container's root, an unmapped "other" here, may only pass. */
    if (mount("tmpfs", plan->staging_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=64k") < 0)
        return pyrunc_fail_errno(err, "stage bind sources: mount a tmpfs on %s", plan->staging_dir);
    dirfd = open(plan->staging_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || fchdir(dirfd) < 0)
        return pyrunc_fail_errno(err, "stage bind sources: enter %s", plan->staging_dir);
    for (int i = 0; i < plan->n_mounts; i++)
        if (plan->mounts[i].detached_fd >= 0 && (ret = stage_one(i, plan->mounts[i].detached_fd, err)) < 0)
            return ret;
    return 0;
}

int pyrunc_take_staged_mounts(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    if (!staged(plan))
        return 0;
    for (int i = 0; i < plan->n_mounts; i++) {
        const struct pyrunc_mount *m = &plan->mounts[i];
        unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((m->flags & MS_REC) ? AT_RECURSIVE : 0);
        cleanup_close int clone = -1;
        char name[16];

        if (m->detached_fd < 0)
            continue;
        staged_name(i, name, sizeof(name));
        /* The cwd is the staging tmpfs's copy in this namespace. */
        clone = (int)syscall(SYS_open_tree, AT_FDCWD, name, flags);
        if (clone < 0)
            return pyrunc_fail_errno(err, "clone the staged source of %s", m->destination);
        if (dup3(clone, m->detached_fd, O_CLOEXEC) < 0)
            return pyrunc_fail_errno(err, "renumber the staged source of %s", m->destination);
    }
    if (chdir("/") < 0)
        return pyrunc_fail_errno(err, "leave the staging directory");
    return 0;
}
