#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idmap.h"
#include "util.h"

/* The child's whole life: wait until the parent closes its end of the
 * pipe (done with us, or dead), then exit. */
static __attribute__((noreturn)) void hold_namespace(int pipefd[2])
{
    char byte;

    close(pipefd[1]);
    while (read(pipefd[0], &byte, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

static int write_maps_and_open(pid_t pid, const char *uid_map, const char *gid_map,
                               struct pyrunc_error *err)
{
    char path[64];
    int fd, ret;

    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    if ((ret = pyrunc_write_file(path, uid_map, err)) < 0)
        return ret;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    if ((ret = pyrunc_write_file(path, gid_map, err)) < 0)
        return ret;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pyrunc_fail_errno(err, "open the id-mapping user namespace");
    return fd;
}

int pyrunc_idmap_userns(const char *uid_map, const char *gid_map, struct pyrunc_error *err)
{
    cleanup_close int hold_r = -1;
    cleanup_close int hold_w = -1;
    int pipefd[2];
    long pid;
    int ret;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return pyrunc_fail_errno(err, "pipe");
    hold_r = pipefd[0];
    hold_w = pipefd[1];
    /* A bare clone, like fork without its handlers: the child only reads and exits. */
    pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);
    if (pid < 0)
        return pyrunc_fail_errno(err, "create an id-mapping user namespace");
    if (pid == 0)
        hold_namespace(pipefd);
    ret = write_maps_and_open((pid_t)pid, uid_map, gid_map, err);
    close(hold_w);
    hold_w = -1;
    while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return ret;
}

int pyrunc_clone_mount(const char *source, int recursive, struct pyrunc_error *err)
{
    unsigned int tree_flag = recursive ? AT_RECURSIVE : 0;
    struct mount_attr slave = { .propagation = MS_SLAVE };
    cleanup_close int fd = -1;
    int ret;

    fd = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | tree_flag);
    if (fd < 0)
        return pyrunc_fail_errno(err, "clone the mount at %s", source);
    /* Like a plain bind in the container's slave mount namespace: host
     * mount events may come in, none of the container's may go out. */
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | tree_flag, &slave, sizeof(slave)) < 0)
        return pyrunc_fail_errno(err, "make the clone of %s a slave", source);
    ret = fd;
    fd = -1;
    return ret;
}

int pyrunc_idmap_mount(const char *source, int userns_fd, int recursive_tree, int recursive_idmap,
                       struct pyrunc_error *err)
{
    struct mount_attr idmap = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)userns_fd };
    cleanup_close int fd = pyrunc_clone_mount(source, recursive_tree, err);
    int ret;

    if (fd < 0)
        return fd;
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive_idmap ? AT_RECURSIVE : 0),
                &idmap, sizeof(idmap)) < 0)
        return pyrunc_fail_errno(err, "idmap the mount of %s", source);
    ret = fd;
    fd = -1;
    return ret;
}
