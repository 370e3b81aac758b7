/* Small helpers shared by the native files: cleanup attributes and
 * full reads/writes. */
#ifndef PYRUNC_UTIL_H
#define PYRUNC_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

void pyrunc_cleanup_close(int *fd);
void pyrunc_cleanup_free(void *ptr);

/* Close the fd / free the pointer when the variable goes out of scope. */
#define cleanup_close __attribute__((cleanup(pyrunc_cleanup_close)))
#define cleanup_free __attribute__((cleanup(pyrunc_cleanup_free)))

/* Write all of buf, retrying on EINTR and short writes; -errno on error. */
ssize_t pyrunc_write_all(int fd, const void *buf, size_t len);

/* Read exactly len bytes; -EPIPE on a short read (peer closed). */
ssize_t pyrunc_read_all(int fd, void *buf, size_t len);

/* One sendmsg of data with fd in SCM_RIGHTS (none when fd < 0), retrying
 * on EINTR; returns bytes sent or -errno. */
ssize_t pyrunc_send_with_fd(int sock, const void *data, size_t len, int fd);

/* Write text to a file of procfs (sysctls, oom_score_adj, ...), refusing
 * a path that leads anywhere else: a bind mount or symlink placed over
 * /proc must not redirect the write (CVE-2025-52881). */
int pyrunc_write_procfs(const char *path, const char *text, struct pyrunc_error *err);

/* Write text to an existing file (no O_CREAT), e.g. under /proc. */
int pyrunc_write_file(const char *path, const char *text, struct pyrunc_error *err);

#endif
