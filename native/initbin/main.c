/* pyrunc-init: what every container process starts as.
 *
 * The runtime does not fork itself into the container: a forked Python
 * interpreter would make /proc/<pid>/exe of the init the host's
 * interpreter, which a container process able to reach it could reopen
 * and overwrite (CVE-2019-5736).  Instead it executes this small program
 * from a sealed memfd, so /proc/<pid>/exe is a read-only copy, and hands
 * it the plan flattened (native/plan_codec.h):
 *
 *     pyrunc-init PLAN_FD EXE_FD
 *
 * PLAN_FD holds the flattened plan; EXE_FD is the memfd this program runs
 * from, closed at once.  The fds the plan names (sync socket, exec fifo,
 * console socket, prepared mounts) are inherited; so is whatever the
 * runtime's caller left open, which goes before anything else runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "init.h"
#include "plan_codec.h"
#include "util.h"

static int parse_fd(const char *text)
{
    char *end;
    long fd = strtol(text, &end, 10);

    return (*text && !*end && fd >= 0 && fd < 1 << 20) ? (int)fd : -1;
}

static struct pyrunc_plan *read_plan(int fd, struct pyrunc_error *err)
{
    struct pyrunc_plan *plan = NULL;
    unsigned char *buf;
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        pyrunc_fail_errno(err, "pyrunc-init: the plan fd");
        return NULL;
    }
    buf = malloc((size_t)st.st_size);   /* malloc aligns for any struct */
    if (!buf) {
        pyrunc_fail(err, ENOMEM, "pyrunc-init: no memory for the plan");
        return NULL;
    }
    n = pread(fd, buf, (size_t)st.st_size, 0);
    if (n != st.st_size) {
        pyrunc_fail(err, n < 0 ? errno : EIO, "pyrunc-init: read the plan");
        return NULL;
    }
    if (pyrunc_plan_unflatten(buf, (size_t)n, &plan, err) < 0)
        return NULL;
    return plan;
}

int main(int argc, char **argv)
{
    struct pyrunc_error err = { 0 };
    struct pyrunc_plan *plan;
    int plan_fd, exe_fd;

    if (argc != 3 || (plan_fd = parse_fd(argv[1])) < 0 || (exe_fd = parse_fd(argv[2])) < 0) {
        fprintf(stderr, "pyrunc-init: started by pyrunc, not by hand\n");
        return 2;
    }
    close(exe_fd);
    plan = read_plan(plan_fd, &err);
    close(plan_fd);
    if (!plan || pyrunc_keep_plan_fds(plan, &err) < 0) {
        /* No channel to the runtime yet: it sees us exit without a PID message. */
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pyrunc_intermediate_main(plan);
}
