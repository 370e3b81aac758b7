#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "lsm.h"
#include "util.h"

/* The label takes effect at the next execve; the planner has checked
 * that the kernel runs the module. */
int pyrunc_set_exec_labels(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    char text[4096];
    int ret;

    if (p->apparmor_profile) {
        snprintf(text, sizeof(text), "exec %s", p->apparmor_profile);
        ret = pyrunc_write_procfs("/proc/self/attr/apparmor/exec", text, err);
        if (ret == -ENOENT)
            ret = pyrunc_write_procfs("/proc/self/attr/exec", text, err);
        if (ret < 0)
            return ret;
    }
    if (p->selinux_label)
        return pyrunc_write_procfs("/proc/self/attr/exec", p->selinux_label, err);
    return 0;
}
