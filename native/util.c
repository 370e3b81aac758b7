#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

int pyrunc_write_file(const char *path, const char *text, struct pyrunc_error *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t ret;

    if (fd < 0)
        return pyrunc_fail_errno(err, "open %s", path);
    ret = pyrunc_write_all(fd, text, strlen(text));
    if (ret < 0)
        return pyrunc_fail(err, (int)-ret, "write %s", path);
    return 0;
}
