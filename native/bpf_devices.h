/* The cgroup v2 device controller: linux.resources.devices as an eBPF
 * program of type BPF_PROG_TYPE_CGROUP_DEVICE (what runc and crun do),
 * assembled here, loaded with bpf(2) and attached to the container's
 * cgroup in place of the one pyrunc attached before.
 *
 * runtime/cgroups/devices_bpf.py fills the rules from device_rules_v2().
 * Fed to cffi's cdef like plan.h: no macros beyond the include guard. */
#ifndef PYRUNC_BPF_DEVICES_H
#define PYRUNC_BPF_DEVICES_H

#include "plan.h"

/* Device types and access bits, with the kernel's BPF_DEVCG_* values. */
enum {
    PYRUNC_DEVICE_ALL = 0,          /* type "a": block and char */
    PYRUNC_DEVICE_BLOCK = 1,
    PYRUNC_DEVICE_CHAR = 2,
};

enum {
    PYRUNC_DEVICE_MKNOD = 1,
    PYRUNC_DEVICE_READ = 2,
    PYRUNC_DEVICE_WRITE = 4,
};

/* The most instructions a program of n rules takes: BASE + PER_RULE * n. */
enum {
    PYRUNC_DEVICES_PROGRAM_BASE = 8,
    PYRUNC_DEVICES_PROGRAM_PER_RULE = 8,
};

/* Later rules override earlier ones: the program takes the last rule
 * that matches an access, and denies when none does.  An allow rule
 * matches when it grants every bit asked for, a deny rule when it refuses
 * any of them (v1's semantics, which runc's emulator models). */
struct pyrunc_device_rule {
    int allow;                      /* 1: allow, 0: deny */
    int type;                       /* PYRUNC_DEVICE_ALL/BLOCK/CHAR */
    long long major;                /* -1: any */
    long long minor;                /* -1: any */
    unsigned int access;            /* PYRUNC_DEVICE_* bits; 0 matches nothing */
};

struct pyrunc_devices_program {
    void *insns;                    /* the caller's struct bpf_insn[] (8 bytes each) */
    unsigned int capacity;          /* its size in instructions */
    unsigned int count;             /* out: instructions written, or needed on -ENOSPC */
};

/* A program attached to a cgroup itself (not inherited). */
struct pyrunc_attached_program {
    unsigned int id;                /* the kernel's program id */
    int ours;                       /* 1 when pyrunc loaded it (by its name) */
};

/* Assemble the program for rules into out->insns. */
int pyrunc_devices_program_build(const struct pyrunc_device_rule *rules, int n_rules,
                                 struct pyrunc_devices_program *out, struct pyrunc_error *err);

/* Assemble and load the program; returns its fd (close-on-exec). */
int pyrunc_devices_program_load(const struct pyrunc_device_rule *rules, int n_rules,
                                struct pyrunc_error *err);

/* Load the program and attach it to the cgroup of cgroup_fd (a directory
 * of the cgroup2 hierarchy), replacing the pyrunc program attached there
 * before, if any: never two of ours at once.  Programs of others stay. */
int pyrunc_devices_program_attach(int cgroup_fd, const struct pyrunc_device_rule *rules, int n_rules,
                                  struct pyrunc_error *err);

/* The device programs attached to the cgroup itself; returns how many
 * (-ENOSPC when more than capacity). */
int pyrunc_devices_program_query(int cgroup_fd, struct pyrunc_attached_program *out, int capacity,
                                 struct pyrunc_error *err);

/* Detach every pyrunc device program from the cgroup; returns how many. */
int pyrunc_devices_program_detach(int cgroup_fd, struct pyrunc_error *err);

#endif
