#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "error.h"

static int has_cap(uint64_t mask, int cap)
{
    return (mask >> cap) & 1;
}

static int last_cap(void)
{
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int last = 40;   /* CAP_CHECKPOINT_RESTORE: a safe floor when /proc is absent */

    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = 40;
        fclose(f);
    }
    return last > 63 ? 63 : last;
}

static int drop_bounding(uint64_t bounding, int last, struct pyrunc_error *err)
{
    for (int cap = 0; cap <= last; cap++)
        if (!has_cap(bounding, cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return pyrunc_fail_errno(err, "drop capability %d from the bounding set", cap);
    return 0;
}

static int set_capabilities(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];

    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(p->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(p->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(p->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &header, data) < 0)
        return pyrunc_fail_errno(err, "set capabilities");
    return 0;
}

static int set_ambient(uint64_t ambient, int last, struct pyrunc_error *err)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return pyrunc_fail_errno(err, "clear ambient capabilities");
    /* EPERM: not permitted and inheritable (the runtime has dropped and
     * logged those already) or forbidden by securebits: skipped, as runc does. */
    for (int cap = 0; cap <= last; cap++)
        if (has_cap(ambient, cap) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0
            && errno != EPERM)
            return pyrunc_fail_errno(err, "raise ambient capability %d", cap);
    return 0;
}

static int set_user(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    /* EPERM with root's rights means a user namespace whose setgroups is
     * "deny" (an unprivileged runtime mapped the gids): the inherited groups
     * can only be kept there, as runc does. */
    if (setgroups((size_t)p->n_additional_gids, p->additional_gids) < 0) {
        if (errno != EPERM)
            return pyrunc_fail_errno(err, "setgroups");
        if (p->n_additional_gids > 0)
            return pyrunc_fail_errno(err, "setgroups (additionalGids need gids mapped by newgidmap)");
    }
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return pyrunc_fail_errno(err, "setgid %u", p->gid);
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return pyrunc_fail_errno(err, "setuid %u", p->uid);
    return 0;
}

int pyrunc_apply_identity(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    int last = last_cap();
    int ret;

    if (p->has_capabilities && (ret = drop_bounding(p->cap_bounding, last, err)) < 0)
        return ret;
    /* Keep the permitted set across setuid so capset below can pick from it. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return pyrunc_fail_errno(err, "set keepcaps");
    if ((ret = set_user(p, err)) < 0)
        return ret;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return pyrunc_fail_errno(err, "clear keepcaps");
    if (p->has_capabilities) {
        if ((ret = set_capabilities(p, err)) < 0)
            return ret;
        if ((ret = set_ambient(p->cap_ambient, last, err)) < 0)
            return ret;
    }
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return pyrunc_fail_errno(err, "set no_new_privs");
    return 0;
}
