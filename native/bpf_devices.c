/* The cgroup v2 device filter: rules -> eBPF instructions -> a loaded
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to a cgroup, replacing the
 * one pyrunc attached before.  The program's shape is runc's and crun's
 * (both taken from systemd): unpack the context into registers, then one
 * block per rule, last rule first, each jumping to the next block unless
 * the access matches, and returning its verdict when it does. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_devices.h"
#include "util.h"

/* How pyrunc's programs are told from others attached to a cgroup. */
#define PROGRAM_NAME "pyrunc_devices"
_Static_assert(sizeof(PROGRAM_NAME) <= BPF_OBJ_NAME_LEN, "a program name has at most 15 characters");
/* crun's and systemd's choice (runc says "Apache"); the program calls no
 * helper, so the verifier does not care. */
#define LICENSE "GPL"
/* The kernel's limit of programs per cgroup and attach type (BPF_CGROUP_MAX_PROGS). */
#define MAX_ATTACHED 64
/* Far beyond any real config; keeps the instruction counts in range. */
#define MAX_RULES 65536
#define ACCESS_ALL (PYRUNC_DEVICE_MKNOD | PYRUNC_DEVICE_READ | PYRUNC_DEVICE_WRITE)

/* The context arrives in R1; the prologue unpacks it into these, after
 * which R1 is free for scratch. */
#define REG_TYPE BPF_REG_2
#define REG_ACCESS BPF_REG_3
#define REG_MAJOR BPF_REG_4
#define REG_MINOR BPF_REG_5
#define REG_SCRATCH BPF_REG_1

struct assembler {
    struct bpf_insn *insns;
    unsigned int capacity;
    unsigned int count;             /* may pass capacity: then it is what is needed */
};

/* Append one instruction; returns its index. */
static unsigned int emit(struct assembler *a, __u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm)
{
    if (a->count < a->capacity)
        a->insns[a->count] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src,
                                                .off = off, .imm = imm };
    return a->count++;
}

static void emit_prologue(struct assembler *a)
{
    /* access_type is (access << 16) | type, both 16 bits. */
    emit(a, BPF_LDX | BPF_MEM | BPF_W, REG_TYPE, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
    emit(a, BPF_ALU | BPF_AND | BPF_K, REG_TYPE, 0, 0, 0xffff);
    emit(a, BPF_LDX | BPF_MEM | BPF_W, REG_ACCESS, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
    emit(a, BPF_ALU | BPF_RSH | BPF_K, REG_ACCESS, 0, 0, 16);
    emit(a, BPF_LDX | BPF_MEM | BPF_W, REG_MAJOR, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
    emit(a, BPF_LDX | BPF_MEM | BPF_W, REG_MINOR, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
}

/* return allow: the kernel permits the access when the program returns 1. */
static void emit_verdict(struct assembler *a, int allow)
{
    emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, allow ? 1 : 0);
    emit(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static int check_rule(const struct pyrunc_device_rule *rule, int index, struct pyrunc_error *err)
{
    if (rule->type != PYRUNC_DEVICE_ALL && rule->type != PYRUNC_DEVICE_BLOCK && rule->type != PYRUNC_DEVICE_CHAR)
        return pyrunc_fail(err, EINVAL, "device rule %d: unknown type %d", index, rule->type);
    if (rule->access & ~ACCESS_ALL)
        return pyrunc_fail(err, EINVAL, "device rule %d: unknown access bits 0x%x", index, rule->access);
    if (rule->major < -1 || rule->major > UINT32_MAX || rule->minor < -1 || rule->minor > UINT32_MAX)
        return pyrunc_fail(err, EINVAL, "device rule %d: %lld:%lld is out of range", index,
                           rule->major, rule->minor);
    return 0;
}

/* A rule no access can match.  No device number passes INT32_MAX (majors
 * have 12 bits, minors 20), and a jump's immediate is sign-extended, so
 * such a number could not even be compared. */
static int matches_nothing(const struct pyrunc_device_rule *rule)
{
    return rule->access == 0 || rule->major > INT32_MAX || rule->minor > INT32_MAX;
}

/* Append rule's block.  Returns 1 when the block tests nothing, so always
 * returns: the blocks of earlier rules would be dead code, which the
 * verifier refuses. */
static int emit_rule(struct assembler *a, const struct pyrunc_device_rule *rule)
{
    unsigned int to_next[4];        /* the jumps to the next block, patched below */
    int n_jumps = 0, i;

    if (matches_nothing(rule))
        return 0;
    if (rule->type != PYRUNC_DEVICE_ALL)
        to_next[n_jumps++] = emit(a, BPF_JMP | BPF_JNE | BPF_K, REG_TYPE, 0, 0, rule->type);
    if (rule->access != ACCESS_ALL) {
        emit(a, BPF_ALU | BPF_MOV | BPF_X, REG_SCRATCH, REG_ACCESS, 0, 0);
        emit(a, BPF_ALU | BPF_AND | BPF_K, REG_SCRATCH, 0, 0, (__s32) rule->access);
        if (rule->allow)    /* next unless every bit asked for is granted */
            to_next[n_jumps++] = emit(a, BPF_JMP | BPF_JNE | BPF_X, REG_SCRATCH, REG_ACCESS, 0, 0);
        else                /* next unless some bit asked for is refused */
            to_next[n_jumps++] = emit(a, BPF_JMP | BPF_JEQ | BPF_K, REG_SCRATCH, 0, 0, 0);
    }
    if (rule->major != -1)
        to_next[n_jumps++] = emit(a, BPF_JMP | BPF_JNE | BPF_K, REG_MAJOR, 0, 0, (__s32) rule->major);
    if (rule->minor != -1)
        to_next[n_jumps++] = emit(a, BPF_JMP | BPF_JNE | BPF_K, REG_MINOR, 0, 0, (__s32) rule->minor);
    emit_verdict(a, rule->allow);

    for (i = 0; i < n_jumps; i++)
        if (to_next[i] < a->capacity)
            a->insns[to_next[i]].off = (__s16) (a->count - to_next[i] - 1);
    return n_jumps == 0;
}

int pyrunc_devices_program_build(const struct pyrunc_device_rule *rules, int n_rules,
                                 struct pyrunc_devices_program *out, struct pyrunc_error *err)
{
    struct assembler a = { .insns = out->insns, .capacity = out->capacity };
    int i, ret;

    if (n_rules < 0 || n_rules > MAX_RULES)
        return pyrunc_fail(err, E2BIG, "%d device rules: at most %d are supported", n_rules, MAX_RULES);
    for (i = 0; i < n_rules; i++) {
        ret = check_rule(&rules[i], i, err);
        if (ret < 0)
            return ret;
    }
    emit_prologue(&a);
    /* Last rule first: the first block that matches decides. */
    for (i = n_rules - 1; i >= 0; i--)
        if (emit_rule(&a, &rules[i]))
            break;
    if (i < 0)
        emit_verdict(&a, 0);        /* no rule matched: deny */
    out->count = a.count;
    if (a.count > a.capacity)
        return pyrunc_fail(err, ENOSPC, "the device filter needs %u instructions, the buffer holds %u",
                           a.count, a.capacity);
    return 0;
}

static int bpf(int cmd, union bpf_attr *attr)
{
    return (int) syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load(const struct bpf_insn *insns, unsigned int count, char *log, unsigned int log_size)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uintptr_t) insns;
    attr.insn_cnt = count;
    attr.license = (uintptr_t) LICENSE;
    attr.log_buf = (uintptr_t) log;
    attr.log_size = log_size;
    attr.log_level = log != NULL;
    memcpy(attr.prog_name, PROGRAM_NAME, sizeof(PROGRAM_NAME));
    return bpf(BPF_PROG_LOAD, &attr);
}

/* The verifier's last word: the last non-empty line of its log. */
static const char *last_line(char *log)
{
    size_t len = strlen(log);
    char *line;

    while (len > 0 && log[len - 1] == '\n')
        log[--len] = '\0';
    line = strrchr(log, '\n');
    return line != NULL ? line + 1 : log;
}

int pyrunc_devices_program_load(const struct pyrunc_device_rule *rules, int n_rules, struct pyrunc_error *err)
{
    cleanup_free struct bpf_insn *insns = NULL;
    cleanup_free char *log = NULL;
    const size_t log_size = 65536;
    struct pyrunc_devices_program program;
    int fd, saved, ret;

    if (n_rules < 0 || n_rules > MAX_RULES)
        return pyrunc_fail(err, E2BIG, "%d device rules: at most %d are supported", n_rules, MAX_RULES);
    program.capacity = PYRUNC_DEVICES_PROGRAM_BASE + PYRUNC_DEVICES_PROGRAM_PER_RULE * (unsigned int) n_rules;
    insns = calloc(program.capacity, sizeof(*insns));
    if (insns == NULL)
        return pyrunc_fail_errno(err, "cannot allocate the device filter");
    program.insns = insns;
    ret = pyrunc_devices_program_build(rules, n_rules, &program, err);
    if (ret < 0)
        return ret;

    fd = load(insns, program.count, NULL, 0);
    if (fd >= 0)
        return fd;
    saved = errno;
    /* Only a refused program has a verifier log worth a second load. */
    if (saved == EINVAL || saved == EACCES) {
        log = calloc(1, log_size);
        if (log != NULL && load(insns, program.count, log, log_size) < 0 && log[0] != '\0')
            return pyrunc_fail_sys(err, saved, "cannot load the device filter (verifier: %s)", last_line(log));
    }
    return pyrunc_fail_sys(err, saved, "cannot load the device filter");
}

/* The device programs attached to a cgroup itself, with an fd for each. */
struct attached {
    int n;
    __u32 id[MAX_ATTACHED];
    int ours[MAX_ATTACHED];
    int fd[MAX_ATTACHED];
};

static void close_attached(struct attached *list)
{
    int i;

    for (i = 0; i < list->n; i++)
        close(list->fd[i]);
    list->n = 0;
}

#define cleanup_attached __attribute__((cleanup(close_attached)))

/* An fd for program id, and whether it is ours; -ENOENT when it is gone. */
static int open_program(__u32 id, int *ours, struct pyrunc_error *err)
{
    cleanup_close int fd = -1;
    struct bpf_prog_info info;
    union bpf_attr attr;
    int ret;

    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : pyrunc_fail_errno(err, "cannot open BPF program %u", id);
    memset(&info, 0, sizeof(info));
    memset(&attr, 0, sizeof(attr));
    attr.info.bpf_fd = fd;
    attr.info.info_len = sizeof(info);
    attr.info.info = (uintptr_t) &info;
    if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0)
        return pyrunc_fail_errno(err, "cannot read the name of BPF program %u", id);
    *ours = strncmp(info.name, PROGRAM_NAME, sizeof(info.name)) == 0;
    ret = fd;
    fd = -1;
    return ret;
}

static int list_attached(int cgroup_fd, struct attached *list, struct pyrunc_error *err)
{
    __u32 ids[MAX_ATTACHED];
    union bpf_attr attr;
    __u32 i;
    int fd, ours;

    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uintptr_t) ids;
    attr.query.prog_cnt = MAX_ATTACHED;
    if (bpf(BPF_PROG_QUERY, &attr) < 0)
        return pyrunc_fail_errno(err, "cannot list the device filters of the cgroup");
    for (i = 0; i < attr.query.prog_cnt; i++) {
        fd = open_program(ids[i], &ours, err);
        if (fd == -ENOENT)
            continue;               /* detached and freed since the query */
        if (fd < 0)
            return fd;
        list->id[list->n] = ids[i];
        list->ours[list->n] = ours;
        list->fd[list->n++] = fd;
    }
    return 0;
}

static int attach(int cgroup_fd, int prog_fd, int replace_fd)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (replace_fd >= 0) {
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = replace_fd;
    }
    return bpf(BPF_PROG_ATTACH, &attr) < 0 ? -errno : 0;
}

/* Detach every program of ours in list; returns how many. */
static int detach_ours(int cgroup_fd, const struct attached *list, struct pyrunc_error *err)
{
    union bpf_attr attr;
    int i, detached = 0;

    for (i = 0; i < list->n; i++) {
        if (!list->ours[i])
            continue;
        memset(&attr, 0, sizeof(attr));
        attr.target_fd = cgroup_fd;
        attr.attach_bpf_fd = list->fd[i];
        attr.attach_type = BPF_CGROUP_DEVICE;
        if (bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
            return pyrunc_fail_errno(err, "cannot detach the old device filter (BPF program %u)", list->id[i]);
        detached++;
    }
    return detached;
}

/* The fd of the only program of ours in list; -1 when there are none or several. */
static int only_ours(const struct attached *list)
{
    int i, found = -1;

    for (i = 0; i < list->n; i++) {
        if (!list->ours[i])
            continue;
        if (found >= 0)
            return -1;
        found = list->fd[i];
    }
    return found;
}

int pyrunc_devices_program_attach(int cgroup_fd, const struct pyrunc_device_rule *rules, int n_rules,
                                  struct pyrunc_error *err)
{
    cleanup_attached struct attached old = { .n = 0 };
    cleanup_close int prog_fd = -1;
    int replace_fd, ret;

    prog_fd = pyrunc_devices_program_load(rules, n_rules, err);
    if (prog_fd < 0)
        return prog_fd;
    ret = list_attached(cgroup_fd, &old, err);
    if (ret < 0)
        return ret;

    /* One old program of ours: swap it for the new one in a single step. */
    replace_fd = only_ours(&old);
    if (replace_fd >= 0) {
        ret = attach(cgroup_fd, prog_fd, replace_fd);
        if (ret == 0)
            return 0;
        /* EINVAL: a kernel before 5.6, without BPF_F_REPLACE; ENOENT: the
         * old one went away meanwhile.  Either way, attach then detach. */
        if (ret != -EINVAL && ret != -ENOENT)
            return pyrunc_fail_sys(err, -ret, "cannot replace the device filter of the cgroup");
    }
    ret = attach(cgroup_fd, prog_fd, -1);
    if (ret < 0)
        return pyrunc_fail_sys(err, -ret, "cannot attach the device filter to the cgroup");
    /* Until the old ones go, all filter: each must allow, so the moment
     * is only stricter, never looser. */
    ret = detach_ours(cgroup_fd, &old, err);
    return ret < 0 ? ret : 0;
}

int pyrunc_devices_program_query(int cgroup_fd, struct pyrunc_attached_program *out, int capacity,
                                 struct pyrunc_error *err)
{
    cleanup_attached struct attached list = { .n = 0 };
    int i, ret;

    ret = list_attached(cgroup_fd, &list, err);
    if (ret < 0)
        return ret;
    if (list.n > capacity)
        return pyrunc_fail(err, ENOSPC, "the cgroup has %d device filters, room for %d", list.n, capacity);
    for (i = 0; i < list.n; i++) {
        out[i].id = list.id[i];
        out[i].ours = list.ours[i];
    }
    return list.n;
}

int pyrunc_devices_program_detach(int cgroup_fd, struct pyrunc_error *err)
{
    cleanup_attached struct attached list = { .n = 0 };
    int ret;

    ret = list_attached(cgroup_fd, &list, err);
    if (ret < 0)
        return ret;
    return detach_ours(cgroup_fd, &list, err);
}
