/* linux.seccomp compiled to a classic BPF program with libseccomp, in the
 * runtime process before anything is spawned (runc's choice of library,
 * crun's choice of place).  runtime/seccomp.py validates the config and
 * fills these structs; the init only loads the bytes (seccomp_load.c).
 *
 * Fed to cffi's cdef like plan.h: no macros beyond the include guard. */
#ifndef PYRUNC_SECCOMP_COMPILE_H
#define PYRUNC_SECCOMP_COMPILE_H

#include "plan.h"

/* Actions, as the runtime-spec names them (SCMP_ACT_KILL is KILL_THREAD). */
enum {
    PYRUNC_SCMP_ACT_KILL_THREAD = 0,
    PYRUNC_SCMP_ACT_KILL_PROCESS = 1,
    PYRUNC_SCMP_ACT_TRAP = 2,
    PYRUNC_SCMP_ACT_ERRNO = 3,      /* returns errno_ret */
    PYRUNC_SCMP_ACT_TRACE = 4,      /* errno_ret when no tracer is attached */
    PYRUNC_SCMP_ACT_ALLOW = 5,
    PYRUNC_SCMP_ACT_LOG = 6,
    PYRUNC_SCMP_ACT_NOTIFY = 7,
};

/* Argument comparisons, in libseccomp's SCMP_CMP_* order. */
enum {
    PYRUNC_SCMP_CMP_NE = 0,
    PYRUNC_SCMP_CMP_LT = 1,
    PYRUNC_SCMP_CMP_LE = 2,
    PYRUNC_SCMP_CMP_EQ = 3,
    PYRUNC_SCMP_CMP_GE = 4,
    PYRUNC_SCMP_CMP_GT = 5,
    PYRUNC_SCMP_CMP_MASKED_EQ = 6,  /* (arg & value) == value_two */
};

struct pyrunc_seccomp_arg {
    unsigned int index;             /* 0..5 */
    int op;                         /* PYRUNC_SCMP_CMP_* */
    unsigned long long value;
    unsigned long long value_two;
};

struct pyrunc_seccomp_rule {
    int n_names;
    const char *const *names;       /* names unknown to libseccomp are skipped */
    int action;                     /* PYRUNC_SCMP_ACT_* */
    unsigned int errno_ret;
    int n_args;
    const struct pyrunc_seccomp_arg *args;
};

struct pyrunc_seccomp_spec {
    int default_action;
    unsigned int default_errno_ret;
    int n_architectures;
    const char *const *architectures;   /* libseccomp names: "x86", "x32", "aarch64" */
    int n_rules;
    const struct pyrunc_seccomp_rule *rules;
};

struct pyrunc_seccomp_program {
    unsigned char *bpf;             /* the caller's buffer for struct sock_filter[] */
    unsigned int capacity;          /* its size in bytes */
    unsigned int len;               /* out: the program's size in bytes */
    int failed_rule;                /* out: index of the rule that failed, else -1 */
    int failed_architecture;        /* out: likewise in architectures */
};

/* Compile spec into out->bpf. */
int pyrunc_seccomp_compile(const struct pyrunc_seccomp_spec *spec,
                           struct pyrunc_seccomp_program *out, struct pyrunc_error *err);

/* 1 when this libseccomp knows the architecture name. */
int pyrunc_seccomp_arch_supported(const char *name);

/* 1 when the kernel accepts these SECCOMP_FILTER_FLAG_* bits together. */
int pyrunc_seccomp_flags_supported(unsigned int flags);

/* libseccomp's version (of the library loaded, not of its headers) as
 * major * 1000000 + minor * 1000 + micro. */
unsigned int pyrunc_seccomp_library_version(void);

#endif
