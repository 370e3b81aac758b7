#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "placement.h"

/* The kernel's struct sched_attr (glibc 2.36 does not declare it). */
struct kernel_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

#define IOPRIO_WHO_PROCESS 1

int pyrunc_set_cpu_affinity(const struct pyrunc_mask *cpus, struct pyrunc_error *err)
{
    cpu_set_t set;

    if (cpus->n_words == 0)
        return 0;
    CPU_ZERO(&set);
    for (int w = 0; w < cpus->n_words; w++)
        for (int bit = 0; bit < 64; bit++)
            if ((cpus->words[w] >> bit) & 1 && w * 64 + bit < CPU_SETSIZE)
                CPU_SET(w * 64 + bit, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        return pyrunc_fail_errno(err, "set the CPU affinity");
    return 0;
}

static int set_scheduler(const struct pyrunc_scheduler *s, struct pyrunc_error *err)
{
    struct kernel_sched_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.sched_policy = (uint32_t)s->policy;
    attr.sched_flags = s->flags;
    attr.sched_nice = s->nice;
    attr.sched_priority = (uint32_t)s->priority;
    attr.sched_runtime = s->runtime;
    attr.sched_deadline = s->deadline;
    attr.sched_period = s->period;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
        return pyrunc_fail_errno(err, "set the scheduler (policy %d)", s->policy);
    return 0;
}

int pyrunc_set_scheduling(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    const struct pyrunc_process *p = &plan->process;
    int ret;

    if (p->has_scheduler && (ret = set_scheduler(&p->scheduler, err)) < 0)
        return ret;
    if (p->io_priority >= 0 && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, p->io_priority) < 0)
        return pyrunc_fail_errno(err, "set the I/O priority");
    if (plan->memory_policy_mode >= 0) {
        const struct pyrunc_mask *nodes = &plan->memory_policy_nodes;
        unsigned long maxnode = nodes->n_words ? (unsigned long)nodes->n_words * 64 + 1 : 0;
        if (syscall(SYS_set_mempolicy, plan->memory_policy_mode,
                    nodes->n_words ? nodes->words : NULL, maxnode) < 0)
            return pyrunc_fail_errno(err, "set the memory policy");
    }
    return 0;
}

int pyrunc_set_personality(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    if (p->personality >= 0 && personality((unsigned long)p->personality) < 0)
        return pyrunc_fail_errno(err, "set the personality");
    return 0;
}
