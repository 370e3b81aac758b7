#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util.h"

void pyrunc_cleanup_close(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

void pyrunc_cleanup_free(void *ptr)
{
    free(*(void **)ptr);
}

ssize_t pyrunc_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t pyrunc_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EPIPE;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t pyrunc_send_with_fd(int sock, const void *data, size_t len, int fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct cmsghdr *cmsg;
    ssize_t n;

    if (fd >= 0) {
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int pyrunc_write_procfs(const char *path, const char *text, struct pyrunc_error *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    struct statfs fs;
    ssize_t ret;

    if (fd < 0)
        return pyrunc_fail_errno(err, "open %s", path);
    if (fstatfs(fd, &fs) < 0)
        return pyrunc_fail_errno(err, "statfs %s", path);
    if (fs.f_type != PROC_SUPER_MAGIC)
        return pyrunc_fail(err, EXDEV, "%s is not on procfs; refusing to write it", path);
    ret = pyrunc_write_all(fd, text, strlen(text));
    if (ret < 0)
        return pyrunc_fail_sys(err, (int)-ret, "write %s", path);
    return 0;
}

int pyrunc_write_file(const char *path, const char *text, struct pyrunc_error *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t ret;

    if (fd < 0)
        return pyrunc_fail_errno(err, "open %s", path);
    ret = pyrunc_write_all(fd, text, strlen(text));
    if (ret < 0)
        return pyrunc_fail_sys(err, (int)-ret, "write %s", path);
    return 0;
}
