#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_compile.h"
#include "util.h"

#define LENGTH(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS 6

static void release_filter(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

#define cleanup_filter __attribute__((cleanup(release_filter)))

static const enum scmp_compare operators[] = {
    [PYRUNC_SCMP_CMP_NE] = SCMP_CMP_NE,
    [PYRUNC_SCMP_CMP_LT] = SCMP_CMP_LT,
    [PYRUNC_SCMP_CMP_LE] = SCMP_CMP_LE,
    [PYRUNC_SCMP_CMP_EQ] = SCMP_CMP_EQ,
    [PYRUNC_SCMP_CMP_GE] = SCMP_CMP_GE,
    [PYRUNC_SCMP_CMP_GT] = SCMP_CMP_GT,
    [PYRUNC_SCMP_CMP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
};

/* libseccomp's action value; ERRNO and TRACE carry errno_ret. */
static int action_value(int action, unsigned int errno_ret, uint32_t *value, struct pyrunc_error *err)
{
    switch (action) {
    case PYRUNC_SCMP_ACT_KILL_THREAD: *value = SCMP_ACT_KILL_THREAD; return 0;
    case PYRUNC_SCMP_ACT_KILL_PROCESS: *value = SCMP_ACT_KILL_PROCESS; return 0;
    case PYRUNC_SCMP_ACT_TRAP: *value = SCMP_ACT_TRAP; return 0;
    case PYRUNC_SCMP_ACT_ERRNO: *value = SCMP_ACT_ERRNO(errno_ret); return 0;
    case PYRUNC_SCMP_ACT_TRACE: *value = SCMP_ACT_TRACE(errno_ret); return 0;
    case PYRUNC_SCMP_ACT_ALLOW: *value = SCMP_ACT_ALLOW; return 0;
    case PYRUNC_SCMP_ACT_LOG: *value = SCMP_ACT_LOG; return 0;
    case PYRUNC_SCMP_ACT_NOTIFY: *value = SCMP_ACT_NOTIFY; return 0;
    }
    return pyrunc_fail(err, EINVAL, "unknown seccomp action %d", action);
}

static int make_condition(const struct pyrunc_seccomp_arg *arg, int i, struct scmp_arg_cmp *cond,
                          struct pyrunc_error *err)
{
    if (arg->index >= MAX_ARGS)
        return pyrunc_fail(err, EINVAL, "args[%d]: index %u is not below %d", i, arg->index, MAX_ARGS);
    if (arg->op < 0 || (size_t)arg->op >= LENGTH(operators))
        return pyrunc_fail(err, EINVAL, "args[%d]: unknown operator %d", i, arg->op);
    *cond = (struct scmp_arg_cmp){ .arg = arg->index, .op = operators[arg->op],
                                   .datum_a = arg->value, .datum_b = arg->value_two };
    return 0;
}

static int tests_an_arg_twice(const struct pyrunc_seccomp_rule *rule)
{
    unsigned int seen = 0;

    for (int i = 0; i < rule->n_args; i++) {
        unsigned int bit = 1u << (rule->args[i].index % MAX_ARGS);

        if (seen & bit)
            return 1;
        seen |= bit;
    }
    return 0;
}

/* One syscall of a rule.  Conditions on distinct arguments are ANDed in one
 * libseccomp rule; as runc does, when some argument is tested twice (which
 * libseccomp cannot AND) each condition becomes a rule of its own (OR). */
static int add_syscall(scmp_filter_ctx ctx, uint32_t action, const char *name,
                       const struct pyrunc_seccomp_rule *rule, struct pyrunc_error *err)
{
    struct scmp_arg_cmp conds[MAX_ARGS];
    int separate = tests_an_arg_twice(rule);
    int nr = seccomp_syscall_resolve_name(name);
    int ret = 0;

    if (nr == __NR_SCMP_ERROR)
        return 0;   /* unknown on every architecture we know: runc skips it too */
    for (int i = 0; i < rule->n_args; i++) {
        /* Without repeats there are at most MAX_ARGS conditions. */
        struct scmp_arg_cmp *cond = separate ? &conds[0] : &conds[i];

        if ((ret = make_condition(&rule->args[i], i, cond, err)) < 0)
            return ret;
        if (separate && (ret = seccomp_rule_add_array(ctx, action, nr, 1, cond)) < 0)
            return pyrunc_fail_sys(err, -ret, "add the rule for %s", name);
    }
    if (!separate && (ret = seccomp_rule_add_array(ctx, action, nr, (unsigned int)rule->n_args, conds)) < 0)
        return pyrunc_fail_sys(err, -ret, "add the rule for %s", name);
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t default_action, const struct pyrunc_seccomp_rule *rule,
                    struct pyrunc_error *err)
{
    uint32_t action;
    int ret;

    if ((ret = action_value(rule->action, rule->errno_ret, &action, err)) < 0)
        return ret;
    if (action == default_action)
        return 0;   /* redundant, and libseccomp refuses it */
    for (int i = 0; i < rule->n_names; i++)
        if ((ret = add_syscall(ctx, action, rule->names[i], rule, err)) < 0)
            return ret;
    return 0;
}

static int add_architecture(scmp_filter_ctx ctx, const char *name, struct pyrunc_error *err)
{
    uint32_t arch = seccomp_arch_resolve_name(name);
    int ret;

    if (arch == 0)
        return pyrunc_fail(err, EINVAL, "libseccomp does not know architecture %s", name);
    ret = seccomp_arch_add(ctx, arch);
    if (ret == -EEXIST)
        return 0;   /* the native architecture is always in; naming it again is fine */
    if (ret == -EDOM)
        return pyrunc_fail(err, EDOM, "%s has another byte order than the native architecture: "
                           "one filter cannot hold both", name);
    if (ret < 0)
        return pyrunc_fail_sys(err, -ret, "add architecture %s", name);
    return 0;
}

/* ---- the -ENOSYS stub ----------------------------------------------------
 *
 * A call numbered above every call a profile names is newer than the
 * profile.  Its default action (say EPERM) would tell libc or Go that the
 * call exists and failed, so they would not fall back to the older call it
 * replaces (clone3 -> clone, openat2 -> openat, close_range -> close).  As
 * runc and crun do, such calls get ENOSYS: a short program put before
 * libseccomp's compares the call number, per architecture, with the highest
 * one the profile names there.  x86_64 and x32 share an audit architecture;
 * x32 calls have bit 30 set and their own highest number. */

#define X32_SYSCALL_BIT 0x40000000u
#define NOTHING_NAMED 0xffffffffu     /* no call number is above it */
#define STUB_ARCHES 32                /* more than libseccomp knows */
#define STUB_ARCH_INSNS 7             /* the longest section: x86_64's */
#define STUB_MAX_INSNS (1 + STUB_ARCHES * STUB_ARCH_INSNS)

struct arch_last {
    uint32_t audit_arch;
    uint32_t last;                    /* NOTHING_NAMED: no ENOSYS here */
    uint32_t last_x32;                /* x86_64 only: the x32 calls' */
};

struct enosys_stub {
    struct sock_filter insns[STUB_MAX_INSNS];
    unsigned int len;
};

static int wants_enosys_stub(const struct pyrunc_seccomp_spec *spec)
{
    switch (spec->default_action) {
    /* Permissive defaults need no stub; a tracer handles new calls itself. */
    case PYRUNC_SCMP_ACT_ALLOW: case PYRUNC_SCMP_ACT_LOG: case PYRUNC_SCMP_ACT_TRACE:
        return 0;
    case PYRUNC_SCMP_ACT_ERRNO:
        return spec->default_errno_ret != ENOSYS;
    }
    return 1;
}

/* The highest call number the profile names on one libseccomp arch. */
static uint32_t last_named(uint32_t arch, const struct pyrunc_seccomp_spec *spec)
{
    int last = -1;

    for (int i = 0; i < spec->n_rules; i++)
        for (int j = 0; j < spec->rules[i].n_names; j++) {
            /* Negative: unknown, or not a call of its own on this arch. */
            int nr = seccomp_syscall_resolve_name_arch(arch, spec->rules[i].names[j]);

            if (nr > last)
                last = nr;
        }
    return last < 0 ? NOTHING_NAMED : (uint32_t)last;
}

static void note_arch(struct arch_last *arches, int *n, uint32_t arch,
                      const struct pyrunc_seccomp_spec *spec)
{
    /* libseccomp's SCMP_ARCH_* are the AUDIT_ARCH_* values, but for x32. */
    uint32_t audit_arch = arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch;
    struct arch_last *entry = NULL;

    for (int i = 0; i < *n && !entry; i++)
        if (arches[i].audit_arch == audit_arch)
            entry = &arches[i];
    if (!entry) {
        if (*n == STUB_ARCHES)
            return;
        entry = &arches[(*n)++];
        *entry = (struct arch_last){ audit_arch, NOTHING_NAMED, NOTHING_NAMED };
    }
    if (arch == SCMP_ARCH_X32)
        entry->last_x32 = last_named(arch, spec);
    else
        entry->last = last_named(arch, spec);
}

static void emit(struct enosys_stub *stub, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
    stub->insns[stub->len++] = (struct sock_filter){ .code = code, .jt = jt, .jf = jf, .k = k };
}

/* One architecture's section; it ends in a jump to libseccomp's program,
 * patched once the stub's length is known (ends[] records where). */
static void emit_section(struct enosys_stub *stub, const struct arch_last *a, unsigned int *ends, int *n_ends)
{
    const uint16_t jgt = BPF_JMP | BPF_JGT | BPF_K;
    const uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;
    int x86_64 = a->audit_arch == AUDIT_ARCH_X86_64;

    emit(stub, BPF_JMP | BPF_JEQ | BPF_K, a->audit_arch, 0, x86_64 ? 6 : 4);
    emit(stub, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
    if (x86_64) {
        emit(stub, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 1, 0);
        emit(stub, jgt, a->last, 1, 2);         /* x86_64: ENOSYS or on */
        emit(stub, jgt, a->last_x32, 0, 1);     /* x32: likewise */
    } else {
        emit(stub, jgt, a->last, 0, 1);
    }
    emit(stub, BPF_RET | BPF_K, enosys, 0, 0);
    ends[(*n_ends)++] = stub->len;
    emit(stub, BPF_JMP | BPF_JA, 0, 0, 0);
}

/* The stub for spec's architectures (the native one is always in the
 * filter); empty when no call would get ENOSYS. */
static void build_enosys_stub(const struct pyrunc_seccomp_spec *spec, struct enosys_stub *stub)
{
    struct arch_last arches[STUB_ARCHES];
    unsigned int ends[STUB_ARCHES];
    int n = 0, n_ends = 0;

    stub->len = 0;
    if (!wants_enosys_stub(spec))
        return;
    note_arch(arches, &n, seccomp_arch_native(), spec);
    for (int i = 0; i < spec->n_architectures; i++)
        note_arch(arches, &n, seccomp_arch_resolve_name(spec->architectures[i]), spec);
    emit(stub, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
    for (int i = 0; i < n; i++)
        if (arches[i].last != NOTHING_NAMED || arches[i].last_x32 != NOTHING_NAMED)
            emit_section(stub, &arches[i], ends, &n_ends);
    if (n_ends == 0) {
        stub->len = 0;
        return;
    }
    for (int i = 0; i < n_ends; i++)
        stub->insns[ends[i]].k = stub->len - ends[i] - 1;
}

/* libseccomp 2.5 exports only to an fd: go through a memfd.  The program
 * goes after the stub in out->bpf. */
static int export_program(scmp_filter_ctx ctx, const struct enosys_stub *stub,
                          struct pyrunc_seccomp_program *out, struct pyrunc_error *err)
{
    size_t stub_size = stub->len * sizeof(struct sock_filter);
    cleanup_close int fd = memfd_create("pyrunc-seccomp", MFD_CLOEXEC);
    off_t size;
    ssize_t n;
    int ret;

    if (fd < 0)
        return pyrunc_fail_errno(err, "memfd_create");
    if ((ret = seccomp_export_bpf(ctx, fd)) < 0)
        return pyrunc_fail_sys(err, -ret, "export the seccomp filter");
    size = lseek(fd, 0, SEEK_END);
    if (size < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return pyrunc_fail_errno(err, "seek the exported seccomp filter");
    if (size == 0 || size % sizeof(struct sock_filter))
        return pyrunc_fail(err, EPROTO, "libseccomp exported a filter of %lld bytes", (long long)size);
    size += (off_t)stub_size;
    /* seccomp(2) refuses longer programs; say so now, not at start. */
    if (size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return pyrunc_fail(err, E2BIG, "the seccomp filter has %lld instructions, the kernel takes at most %d",
                           (long long)(size / sizeof(struct sock_filter)), BPF_MAXINSNS);
    if ((size_t)size > out->capacity)
        return pyrunc_fail(err, ENOSPC, "the seccomp filter needs %lld bytes, %u given",
                           (long long)size, out->capacity);
    memcpy(out->bpf, stub->insns, stub_size);
    if ((n = pyrunc_read_all(fd, out->bpf + stub_size, (size_t)size - stub_size)) < 0)
        return pyrunc_fail(err, (int)-n, "read the exported seccomp filter");
    out->len = (unsigned int)size;
    return 0;
}

int pyrunc_seccomp_compile(const struct pyrunc_seccomp_spec *spec,
                           struct pyrunc_seccomp_program *out, struct pyrunc_error *err)
{
    cleanup_filter scmp_filter_ctx ctx = NULL;
    struct enosys_stub stub;
    uint32_t default_action;
    int ret;

    out->len = 0;
    out->failed_rule = out->failed_architecture = -1;
    /* The init's own messages to the runtime would wait on the agent. */
    if (spec->default_action == PYRUNC_SCMP_ACT_NOTIFY)
        return pyrunc_fail(err, EINVAL, "SCMP_ACT_NOTIFY cannot be the default action");
    if ((ret = action_value(spec->default_action, spec->default_errno_ret, &default_action, err)) < 0)
        return ret;
    ctx = seccomp_init(default_action);
    if (ctx == NULL)
        return pyrunc_fail(err, EINVAL, "libseccomp refuses the default action");
    for (int i = 0; i < spec->n_architectures; i++) {
        if ((ret = add_architecture(ctx, spec->architectures[i], err)) < 0) {
            out->failed_architecture = i;
            return ret;
        }
    }
    /* runc's threshold: a binary tree pays off for long rule sets, and
     * libseccomp <= 2.5.4 misbehaves with it on empty ones. */
    if (spec->n_rules > 32 && (ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0
        && ret != -EOPNOTSUPP && ret != -EINVAL)
        return pyrunc_fail_sys(err, -ret, "enable the seccomp binary tree");
    for (int i = 0; i < spec->n_rules; i++) {
        if ((ret = add_rule(ctx, default_action, &spec->rules[i], err)) < 0) {
            out->failed_rule = i;
            return ret;
        }
    }
    build_enosys_stub(spec, &stub);
    return export_program(ctx, &stub, out, err);
}

int pyrunc_seccomp_arch_supported(const char *name)
{
    return seccomp_arch_resolve_name(name) != 0;
}

int pyrunc_seccomp_flags_supported(unsigned int flags)
{
    /* The kernel checks the flags before it reads the program: EFAULT on
     * a NULL program means they passed, EINVAL that they did not. */
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL) < 0 && errno == EFAULT;
}

unsigned int pyrunc_seccomp_library_version(void)
{
    const struct scmp_version *v = seccomp_version();

    return v ? v->major * 1000000u + v->minor * 1000u + v->micro : 0;
}
