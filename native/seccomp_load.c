#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_load.h"
#include "sync.h"
#include "util.h"

int pyrunc_seccomp_load(const struct pyrunc_plan *plan, int stage, struct pyrunc_error *err)
{
    struct sock_fprog program = {
        .len = (unsigned short)(plan->seccomp_bpf_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)plan->seccomp_bpf,
    };
    cleanup_close int listener = -1;
    long ret;

    if (plan->seccomp_load_at != stage || plan->seccomp_bpf_len == 0)
        return 0;
    ret = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan->seccomp_flags, &program);
    if (ret < 0)
        return pyrunc_fail_errno(err, "load the seccomp filter");
    if (!(plan->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
        return 0;
    /* Ours to close once sent: the container must not inherit it. */
    listener = (int)ret;
    return pyrunc_sync_send_fd(plan->sync_fd, PYRUNC_SYNC_SECCOMP_FD, listener, err);
}
