/* The seccomp compiler (libseccomp -> BPF bytes) and the init's loader:
 * a compiled filter loaded in a child blocks what it should and nothing
 * else, and a notify filter's listener fd reaches the parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "seccomp_compile.h"
#include "seccomp_load.h"
#include "sync.h"

static unsigned char bpf[BPF_MAXINSNS * sizeof(struct sock_filter)];

static unsigned int compile(const struct pyrunc_seccomp_spec *spec, struct pyrunc_error *err, int *ret)
{
    struct pyrunc_seccomp_program out = { .bpf = bpf, .capacity = sizeof(bpf) };

    *ret = pyrunc_seccomp_compile(spec, &out, err);
    return out.len;
}

/* personality(0xffffffff) only queries; block exactly that call. */
static const struct pyrunc_seccomp_arg query_arg[] = {
    { .index = 0, .op = PYRUNC_SCMP_CMP_EQ, .value = 0xffffffffu },
};
/* Two tests of one argument: OR'ed, as runc does. */
static const struct pyrunc_seccomp_arg masked_args[] = {
    { .index = 0, .op = PYRUNC_SCMP_CMP_MASKED_EQ, .value = 0xff, .value_two = 0x08 },
    { .index = 0, .op = PYRUNC_SCMP_CMP_GT, .value = 0x1000 },
};
static const char *const personality_name[] = { "personality" };
static const char *const with_unknown[] = { "no_such_syscall", "getppid" };

static const struct pyrunc_seccomp_rule rules[] = {
    { .n_names = 1, .names = personality_name, .action = PYRUNC_SCMP_ACT_ERRNO, .errno_ret = EPERM,
      .n_args = 1, .args = query_arg },
    { .n_names = 1, .names = personality_name, .action = PYRUNC_SCMP_ACT_ERRNO, .errno_ret = EXDEV,
      .n_args = 2, .args = masked_args },
    { .n_names = 2, .names = with_unknown, .action = PYRUNC_SCMP_ACT_ERRNO, .errno_ret = ENOMEDIUM },
    /* Same as the default: skipped, not refused. */
    { .n_names = 1, .names = personality_name, .action = PYRUNC_SCMP_ACT_ALLOW },
};

static const char *const archs[] = { "x86", "x32", "x86_64", "aarch64" };

static const struct pyrunc_seccomp_spec spec = {
    .default_action = PYRUNC_SCMP_ACT_ALLOW,
    .n_rules = 4, .rules = rules,
};

static void check_compiler(void)
{
    struct pyrunc_seccomp_spec bad = spec;
    struct pyrunc_seccomp_rule bad_rules[2] = { rules[0], rules[1] };
    struct pyrunc_seccomp_program tiny = { .bpf = bpf, .capacity = 8 };
    struct pyrunc_error err = { 0 };
    unsigned int len;
    int ret;

    len = compile(&spec, &err, &ret);
    CHECK(ret == 0);
    CHECK(len > 0 && len % sizeof(struct sock_filter) == 0);

    /* Other architectures make a longer program; the native one is implied. */
    bad.n_architectures = 4;
    bad.architectures = archs;
    CHECK(compile(&bad, &err, &ret) > len && ret == 0);

    bad.architectures = (const char *const[]){ "x86_64", "vax" };
    bad.n_architectures = 2;
    {
        struct pyrunc_seccomp_program out = { .bpf = bpf, .capacity = sizeof(bpf) };
        CHECK(pyrunc_seccomp_compile(&bad, &out, &err) == -EINVAL);
        CHECK(out.failed_architecture == 1 && out.failed_rule == -1 && out.len == 0);
        CHECK(strstr(err.msg, "vax") != NULL);
    }

    /* A rule that fails names its index. */
    bad = spec;
    bad_rules[1].action = 99;
    bad.rules = bad_rules;
    bad.n_rules = 2;
    CHECK(pyrunc_seccomp_compile(&bad, &(struct pyrunc_seccomp_program){ .bpf = bpf, .capacity = sizeof(bpf) },
                                 &err) == -EINVAL);
    bad_rules[1].action = PYRUNC_SCMP_ACT_ERRNO;
    bad_rules[1].args = (const struct pyrunc_seccomp_arg[]){ { .index = 6, .op = PYRUNC_SCMP_CMP_EQ } };
    bad_rules[1].n_args = 1;
    {
        struct pyrunc_seccomp_program out = { .bpf = bpf, .capacity = sizeof(bpf) };
        CHECK(pyrunc_seccomp_compile(&bad, &out, &err) == -EINVAL);
        CHECK(out.failed_rule == 1 && out.failed_architecture == -1);
    }

    /* NOTIFY cannot be the default action. */
    bad = spec;
    bad.default_action = PYRUNC_SCMP_ACT_NOTIFY;
    CHECK(compile(&bad, &err, &ret) == 0 && ret == -EINVAL);

    CHECK(pyrunc_seccomp_compile(&spec, &tiny, &err) == -ENOSPC);

    CHECK(pyrunc_seccomp_arch_supported("x86_64") && !pyrunc_seccomp_arch_supported("vax"));
    CHECK(pyrunc_seccomp_flags_supported(SECCOMP_FILTER_FLAG_LOG));
    CHECK(!pyrunc_seccomp_flags_supported(1u << 30));
    CHECK(pyrunc_seccomp_library_version() >= 2005000u);
}

/* Load in a child, as the init does at BEFORE_START_HOOKS, and try the calls. */
static void check_loaded_filter(void)
{
    struct pyrunc_error err = { 0 };
    struct pyrunc_plan plan = { .seccomp_bpf = bpf, .seccomp_load_at = PYRUNC_SECCOMP_BEFORE_START_HOOKS,
                                .sync_fd = -1 };
    int ret, status;
    pid_t pid;

    plan.seccomp_bpf_len = compile(&spec, &err, &ret);
    CHECK(ret == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int before = personality(0xffffffff);

        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        /* Another stage: nothing happens. */
        CHECK(pyrunc_seccomp_load(&plan, PYRUNC_SECCOMP_BEFORE_READY, &err) == 0);
        CHECK(personality(0xffffffff) == before);
        CHECK(pyrunc_seccomp_load(&plan, PYRUNC_SECCOMP_BEFORE_START_HOOKS, &err) == 0);
        CHECK(personality(0xffffffff) == -1 && errno == EPERM);
        CHECK(personality(0x0008) == -1 && errno == EXDEV);        /* masked: 0x08 */
        CHECK(personality(0x2000) == -1 && errno == EXDEV);        /* > 0x1000 */
        CHECK(personality(PER_LINUX) == before);
        CHECK(syscall(SYS_getppid) == -1 && errno == ENOMEDIUM);   /* glibc's getppid() sets no errno */
        CHECK(getpid() > 0);
        _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Calls newer than every call a deny-by-default profile names get ENOSYS,
 * per architecture; older ones the default action; with a permissive
 * default nothing changes. */
static void check_enosys_stub(void)
{
    static const char *const old_calls[] = { "write", "getpid", "exit", "exit_group" };
    static const struct pyrunc_seccomp_rule allow = {
        .n_names = 4, .names = old_calls, .action = PYRUNC_SCMP_ACT_ALLOW };
    static const char *const x86_and_x32[] = { "x86_64", "x32", "x86" };
    const struct pyrunc_seccomp_spec deny = {
        .default_action = PYRUNC_SCMP_ACT_ERRNO, .default_errno_ret = EPERM,
        .n_architectures = 3, .architectures = x86_and_x32, .n_rules = 1, .rules = &allow };
    struct pyrunc_seccomp_spec allow_all = deny;
    struct pyrunc_error err = { 0 };
    struct pyrunc_plan plan = { .seccomp_bpf = bpf, .seccomp_load_at = PYRUNC_SECCOMP_BEFORE_START_HOOKS,
                                .sync_fd = -1 };
    unsigned int with_stub, without_stub;
    int ret, status;
    pid_t pid;

    /* ENOSYS as the default already, or a permissive default: no stub. */
    allow_all.default_errno_ret = ENOSYS;
    without_stub = compile(&allow_all, &err, &ret);
    CHECK(ret == 0);
    with_stub = compile(&deny, &err, &ret);
    CHECK(ret == 0 && with_stub > without_stub);
    allow_all.default_action = PYRUNC_SCMP_ACT_LOG;
    CHECK(compile(&allow_all, &err, &ret) < with_stub && ret == 0);

    plan.seccomp_bpf_len = compile(&deny, &err, &ret);
    CHECK(ret == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(pyrunc_seccomp_load(&plan, PYRUNC_SECCOMP_BEFORE_START_HOOKS, &err) == 0);
        CHECK(syscall(SYS_getpid) > 0);
        /* exit_group (231) is the newest call named: close_range (436) and
         * openat2 (437) are newer, mkdir (83) is not. */
        CHECK(syscall(SYS_close_range, 100, 99, 0) == -1 && errno == ENOSYS);
        CHECK(syscall(SYS_openat2, -1, NULL, NULL, 0) == -1 && errno == ENOSYS);
        CHECK(syscall(SYS_mkdir, "/", 0) == -1 && errno == EPERM);
        /* x32 calls have numbers of their own, compared on their own. */
        CHECK(syscall(0x40000000 | SYS_close_range, 100, 99, 0) == -1 && errno == ENOSYS);
        CHECK(syscall(0x40000000 | SYS_mkdir, "/", 0) == -1 && errno == EPERM);
        _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int receive_fd(int sock)
{
    char data[64], control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof(control) };
    struct cmsghdr *cmsg;
    struct pyrunc_sync_header header;
    int fd = -1;

    CHECK(recvmsg(sock, &msg, 0) >= (ssize_t)sizeof(header));
    memcpy(&header, data, sizeof(header));
    CHECK(header.type == PYRUNC_SYNC_SECCOMP_FD);
    cmsg = CMSG_FIRSTHDR(&msg);
    CHECK(cmsg && cmsg->cmsg_type == SCM_RIGHTS);
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    return fd;
}

/* A notify filter sends its listener over the sync channel. */
static void check_listener(void)
{
    static const char *const getppid_name[] = { "getppid" };
    static const struct pyrunc_seccomp_rule notify = {
        .n_names = 1, .names = getppid_name, .action = PYRUNC_SCMP_ACT_NOTIFY };
    const struct pyrunc_seccomp_spec notify_spec = {
        .default_action = PYRUNC_SCMP_ACT_ALLOW, .n_rules = 1, .rules = &notify };
    struct pyrunc_error err = { 0 };
    struct pyrunc_plan plan = { .seccomp_bpf = bpf, .seccomp_load_at = PYRUNC_SECCOMP_BEFORE_READY,
                                .seccomp_flags = SECCOMP_FILTER_FLAG_NEW_LISTENER };
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    int fds[2], listener, ret, status;
    pid_t pid;

    plan.seccomp_bpf_len = compile(&notify_spec, &err, &ret);
    CHECK(ret == 0);
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == 0);
    plan.sync_fd = fds[1];
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int next_fd = dup(0);

        /* The listener gets the lowest free fd; it must not stay open. */
        CHECK(next_fd >= 0 && close(next_fd) == 0);
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(pyrunc_seccomp_load(&plan, PYRUNC_SECCOMP_BEFORE_READY, &err) == 0);
        CHECK(fcntl(next_fd, F_GETFD) == -1 && errno == EBADF);
        _exit(getppid() == 4242 ? 0 : 3);
    }
    listener = receive_fd(fds[0]);
    memset(&req, 0, sizeof(req));
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0);
    CHECK(req.pid == (__u32)pid);
    resp = (struct seccomp_notif_resp){ .id = req.id, .val = 4242 };
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(listener);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    check_compiler();
    check_loaded_filter();
    check_enosys_stub();
    check_listener();
    return 0;
}
