/* deny-syscall ERRNO SYSCALL[,SYSCALL...] PROGRAM [ARG...]
 *
 * Runs PROGRAM under a seccomp filter that fails the named system calls
 * with ERRNO (a number), as an engine's older seccomp profile does: the
 * tests use it to check pyrunc's fallbacks where the kernel has a call
 * but a profile hides it. */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cleanup_filter(scmp_filter_ctx *filter)
{
    if (*filter)
        seccomp_release(*filter);
}

static int deny(const char *errno_text, char *names)
{
    __attribute__((cleanup(cleanup_filter))) scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    char *end;
    long number = strtol(errno_text, &end, 10);

    if (!filter)
        return -ENOMEM;
    if (*end || number <= 0 || number > 4095)
        return -EINVAL;
    for (char *name = strtok(names, ","); name; name = strtok(NULL, ",")) {
        int syscall_nr = seccomp_syscall_resolve_name(name);
        if (syscall_nr == __NR_SCMP_ERROR)
            return -EINVAL;
        int ret = seccomp_rule_add(filter, SCMP_ACT_ERRNO((unsigned)number), syscall_nr, 0);
        if (ret < 0)
            return ret;
    }
    return seccomp_load(filter);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: deny-syscall ERRNO SYSCALL[,SYSCALL...] PROGRAM [ARG...]\n");
        return 2;
    }
    int ret = deny(argv[1], argv[2]);
    if (ret < 0) {
        fprintf(stderr, "deny-syscall: %s\n", strerror(-ret));
        return 2;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "deny-syscall: exec %s: %s\n", argv[3], strerror(errno));
    return 127;
}
