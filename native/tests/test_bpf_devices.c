/* The cgroup v2 device filter: the shape of the assembled program, then
 * (as root, with a cgroup2 hierarchy) the real thing on a temporary
 * cgroup: a child moved into it may open what the rules allow and gets
 * EPERM for the rest, and a new filter replaces the old one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf_devices.h"
#include "check.h"
#include "util.h"

#define RWM (PYRUNC_DEVICE_READ | PYRUNC_DEVICE_WRITE | PYRUNC_DEVICE_MKNOD)
#define PROLOGUE 6

static const struct pyrunc_device_rule shaped[] = {
    { .allow = 0, .type = PYRUNC_DEVICE_ALL, .major = -1, .minor = -1, .access = RWM },
    { .allow = 1, .type = PYRUNC_DEVICE_CHAR, .major = 1, .minor = 3,
      .access = PYRUNC_DEVICE_READ | PYRUNC_DEVICE_WRITE },
    { .allow = 1, .type = PYRUNC_DEVICE_CHAR, .major = 136, .minor = -1, .access = RWM },
    { .allow = 1, .type = PYRUNC_DEVICE_BLOCK, .major = -1, .minor = -1, .access = PYRUNC_DEVICE_MKNOD },
    { .allow = 0, .type = PYRUNC_DEVICE_CHAR, .major = 1, .minor = 5, .access = PYRUNC_DEVICE_WRITE },
};

static struct bpf_insn insns[256];

static int build(const struct pyrunc_device_rule *rules, int n, unsigned int capacity, unsigned int *count)
{
    struct pyrunc_devices_program program = { .insns = insns, .capacity = capacity };
    struct pyrunc_error err = { 0 };
    int ret;

    ret = pyrunc_devices_program_build(rules, n, &program, &err);
    *count = program.count;
    return ret;
}

/* Every jump of insns[start, end) goes to end, and the block returns verdict. */
static void check_block(unsigned int start, unsigned int end, int verdict)
{
    unsigned int i;

    for (i = start; i < end - 2; i++)
        if (BPF_CLASS(insns[i].code) == BPF_JMP)
            CHECK(i + 1 + insns[i].off == end);
    CHECK(insns[end - 2].code == (BPF_ALU64 | BPF_MOV | BPF_K));
    CHECK(insns[end - 2].dst_reg == BPF_REG_0 && insns[end - 2].imm == verdict);
    CHECK(insns[end - 1].code == (BPF_JMP | BPF_EXIT));
}

static void check_shape(void)
{
    struct pyrunc_device_rule rules[2];
    unsigned int count;

    /* Last rule first; the first (deny all) tests nothing, so ends the program. */
    CHECK(build(shaped, 5, 256, &count) == 0);
    CHECK(count == PROLOGUE + 8 + 6 + 4 + 8 + 2);
    CHECK(insns[0].code == (BPF_LDX | BPF_MEM | BPF_W) && insns[0].src_reg == BPF_REG_1 && insns[0].off == 0);
    CHECK(insns[4].off == 4 && insns[5].off == 8);   /* major, minor */
    check_block(6, 14, 0);          /* deny c 1:5 w */
    CHECK(insns[9].code == (BPF_JMP | BPF_JEQ | BPF_K));    /* deny: any bit refused */
    check_block(14, 20, 1);         /* allow b *:* m */
    CHECK(insns[17].code == (BPF_JMP | BPF_JNE | BPF_X));   /* allow: every bit granted */
    check_block(20, 24, 1);         /* allow c 136:* rwm: type and major only */
    check_block(24, 32, 1);         /* allow c 1:3 rw */
    check_block(32, 34, 0);         /* deny a */

    /* Nothing before a rule that always matches is reachable. */
    rules[0] = shaped[1];
    rules[1] = shaped[0];
    CHECK(build(rules, 2, 256, &count) == 0 && count == PROLOGUE + 2);
    /* No rules, or rules no device can match: deny everything. */
    CHECK(build(NULL, 0, 256, &count) == 0 && count == PROLOGUE + 2);
    check_block(PROLOGUE, PROLOGUE + 2, 0);
    rules[0] = shaped[2];
    rules[0].access = 0;
    rules[1] = shaped[2];
    rules[1].major = (long long) INT_MAX + 1;
    CHECK(build(rules, 2, 256, &count) == 0 && count == PROLOGUE + 2);

    /* Too small a buffer says how much is needed. */
    CHECK(build(shaped, 5, 10, &count) == -ENOSPC && count == 34);
    CHECK(count <= PYRUNC_DEVICES_PROGRAM_BASE + 5 * PYRUNC_DEVICES_PROGRAM_PER_RULE);

    rules[0] = shaped[1];
    rules[0].type = 'c';
    CHECK(build(rules, 1, 256, &count) == -EINVAL);
    rules[0] = shaped[1];
    rules[0].access = 8;
    CHECK(build(rules, 1, 256, &count) == -EINVAL);
    rules[0] = shaped[1];
    rules[0].minor = -2;
    CHECK(build(rules, 1, 256, &count) == -EINVAL);
    CHECK(build(shaped, -1, 256, &count) == -E2BIG);
}

/* ---------------------------------------------------------------- kernel */

static char cgroup[PATH_MAX];

static void remove_cgroup(void)
{
    int i;

    /* The kernel lets go of a cgroup a moment after its last task exits. */
    for (i = 0; i < 100 && rmdir(cgroup) < 0 && errno == EBUSY; i++)
        usleep(10000);
}

static int is_cgroup2(const char *path)
{
    struct statfs fs;

    return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

/* open(path, flags) in a child moved into the cgroup: 0 or the errno. */
static int open_in_cgroup(const char *path, int flags)
{
    struct pyrunc_error err = { 0 };
    char procs[PATH_MAX + 16];
    int status, fd;
    pid_t pid;

    snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (pyrunc_write_file(procs, "0", &err) < 0)
            _exit(255);
        fd = open(path, flags | O_CLOEXEC);
        _exit(fd >= 0 ? 0 : errno);
    }
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 255);
    return WEXITSTATUS(status);
}

/* How many device programs are attached; how many are ours, and the id
 * of (the last of) ours. */
static int attached(int cgroup_fd, int *ours, unsigned int *id)
{
    struct pyrunc_attached_program list[8];
    struct pyrunc_error err = { 0 };
    int i, n;

    n = pyrunc_devices_program_query(cgroup_fd, list, 8, &err);
    CHECK(n >= 0);
    for (*ours = 0, *id = 0, i = 0; i < n; i++)
        if (list[i].ours) {
            (*ours)++;
            *id = list[i].id;
        }
    return n;
}

/* Stack a program next to the others, as pyrunc itself never does. */
static void stack(int cgroup_fd, const struct pyrunc_device_rule *rules, int n)
{
    struct pyrunc_error err = { 0 };
    union bpf_attr attr;
    int prog_fd;

    prog_fd = pyrunc_devices_program_load(rules, n, &err);
    CHECK(prog_fd >= 0);
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    CHECK(syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) == 0);
    close(prog_fd);
}

static void check_kernel(const char *root)
{
    struct pyrunc_device_rule rules[3] = { shaped[0], shaped[1], shaped[1] };
    struct pyrunc_error err = { 0 };
    cleanup_close int cgroup_fd = -1;
    unsigned int first, id;
    int ours;

    snprintf(cgroup, sizeof(cgroup), "%s/pyrunc-test-bpf-%d", root, (int) getpid());
    CHECK(mkdir(cgroup, 0755) == 0);
    atexit(remove_cgroup);
    cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(cgroup_fd >= 0);

    /* Deny all but /dev/null (c 1:3) for reading and writing. */
    CHECK(pyrunc_devices_program_attach(cgroup_fd, rules, 2, &err) == 0);
    CHECK(attached(cgroup_fd, &ours, &first) == 1 && ours == 1);
    CHECK(open_in_cgroup("/dev/null", O_RDWR) == 0);
    CHECK(open_in_cgroup("/dev/zero", O_RDONLY) == EPERM);

    /* An update replaces the program: still one, a new one, new rules. */
    rules[2].minor = 5;
    rules[2].access = PYRUNC_DEVICE_READ;
    CHECK(pyrunc_devices_program_attach(cgroup_fd, rules, 3, &err) == 0);
    CHECK(attached(cgroup_fd, &ours, &id) == 1 && ours == 1 && id != first);
    CHECK(open_in_cgroup("/dev/zero", O_RDONLY) == 0);
    CHECK(open_in_cgroup("/dev/zero", O_WRONLY) == EPERM);

    /* Several of ours (a crash between attach and detach): all replaced. */
    stack(cgroup_fd, rules, 1);
    stack(cgroup_fd, rules, 2);
    CHECK(attached(cgroup_fd, &ours, &id) == 3 && ours == 3);
    CHECK(open_in_cgroup("/dev/zero", O_RDONLY) == EPERM);
    CHECK(pyrunc_devices_program_attach(cgroup_fd, rules, 3, &err) == 0);
    CHECK(attached(cgroup_fd, &ours, &id) == 1 && ours == 1);
    CHECK(open_in_cgroup("/dev/zero", O_RDONLY) == 0);

    CHECK(pyrunc_devices_program_detach(cgroup_fd, &err) == 1);
    CHECK(attached(cgroup_fd, &ours, &id) == 0);
    CHECK(open_in_cgroup("/dev/zero", O_WRONLY) == 0);
}

int main(void)
{
    const char *root = NULL;

    check_shape();
    if (is_cgroup2("/sys/fs/cgroup/unified"))
        root = "/sys/fs/cgroup/unified";
    else if (is_cgroup2("/sys/fs/cgroup"))
        root = "/sys/fs/cgroup";
    if (geteuid() != 0 || root == NULL) {
        printf("skipped the kernel part: needs root and a cgroup2 hierarchy\n");
        return 0;
    }
    check_kernel(root);
    return 0;
}
