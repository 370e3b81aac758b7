#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ns.h"
#include "sync.h"
#include "util.h"

/* The user namespace first: it grants the rights to join the others.
 * The mount namespace last: joining it changes how paths resolve. */
static const int join_order[] = { CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET,
                                  CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS };
#define N_NAMESPACE_TYPES (sizeof(join_order) / sizeof(join_order[0]))

static void close_all(int (*fds)[N_NAMESPACE_TYPES])
{
    for (size_t i = 0; i < N_NAMESPACE_TYPES; i++)
        if ((*fds)[i] >= 0)
            close((*fds)[i]);
}

int pyrunc_join_namespaces(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    /* Open every namespace before joining any: once inside the container's
     * user namespace, its init's /proc/<pid>/ns files are out of reach. */
    __attribute__((cleanup(close_all))) int fds[N_NAMESPACE_TYPES];

    for (size_t o = 0; o < N_NAMESPACE_TYPES; o++) {
        fds[o] = -1;
        for (int i = 0; i < plan->n_namespaces; i++) {
            const struct pyrunc_namespace *ns = &plan->namespaces[i];
            if (!ns->path || ns->type != join_order[o])
                continue;
            fds[o] = open(ns->path, O_RDONLY | O_CLOEXEC);
            if (fds[o] < 0)
                return pyrunc_fail_errno(err, "open namespace %s", ns->path);
        }
    }
    for (size_t o = 0; o < N_NAMESPACE_TYPES; o++)
        if (fds[o] >= 0 && setns(fds[o], join_order[o]) < 0)
            return pyrunc_fail_errno(err, "join the %s namespace", pyrunc_namespace_name(join_order[o]));
    return 0;
}

const char *pyrunc_namespace_name(int type)
{
    switch (type) {
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWNET: return "network";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWCGROUP: return "cgroup";
    case CLONE_NEWTIME: return "time";
    case CLONE_NEWNS: return "mount";
    default: return "unknown";
    }
}

int pyrunc_new_namespace_flags(const struct pyrunc_plan *plan)
{
    int flags = 0, i;

    for (i = 0; i < plan->n_namespaces; i++)
        if (!plan->namespaces[i].path)
            flags |= plan->namespaces[i].type;
    return flags;
}

int pyrunc_loopback_up(struct pyrunc_error *err)
{
    cleanup_close int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;

    if (sock < 0)
        return pyrunc_fail_errno(err, "socket for lo");
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return pyrunc_fail_errno(err, "get flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
        return pyrunc_fail_errno(err, "bring lo up");
    return 0;
}

static int has_user_namespace(const struct pyrunc_plan *plan)
{
    for (int i = 0; i < plan->n_namespaces; i++)
        if (plan->namespaces[i].type == CLONE_NEWUSER)
            return 1;
    return 0;
}

int pyrunc_enter_user_namespace(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    int ret;

    if (!has_user_namespace(plan))
        return 0;
    if (pyrunc_new_namespace_flags(plan) & CLONE_NEWUSER) {
        /* /proc/<pid>/ files of a non-dumpable process belong to root: an
         * unprivileged runtime (or newuidmap, checking who owns us) could
         * not write our maps.  Nothing of the container is here yet. */
        int unprivileged = geteuid() != 0;

        if (unshare(CLONE_NEWUSER) < 0)
            return pyrunc_fail_errno(err, "create the user namespace");
        if (unprivileged && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
            return pyrunc_fail_errno(err, "set dumpable for the id maps");
        if ((ret = pyrunc_sync_send(plan->sync_fd, PYRUNC_SYNC_USERNS, 0, NULL, err)) < 0)
            return ret;
        if ((ret = pyrunc_sync_expect(plan->sync_fd, PYRUNC_SYNC_GO, NULL, NULL, 0, err)) < 0)
            return ret;
        if (unprivileged && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
            return pyrunc_fail_errno(err, "set non-dumpable");
    }
    /* Until now we are the overflow id there; ids come from the maps. */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return pyrunc_fail_errno(err, "become root in the user namespace (is id 0 mapped?)");
    return 0;
}

int pyrunc_set_names(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) < 0)
        return pyrunc_fail_errno(err, "set hostname %s", plan->hostname);
    if (plan->domainname && setdomainname(plan->domainname, strlen(plan->domainname)) < 0)
        return pyrunc_fail_errno(err, "set domainname %s", plan->domainname);
    return 0;
}
