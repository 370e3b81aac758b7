#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "proc.h"
#include "util.h"

int pyrunc_set_rlimits(const struct pyrunc_process *p, struct pyrunc_error *err)
{
    for (int i = 0; i < p->n_rlimits; i++) {
        struct rlimit limit = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
        if (setrlimit(p->rlimits[i].resource, &limit) < 0)
            return pyrunc_fail_errno(err, "set rlimit %d to %llu/%llu", p->rlimits[i].resource,
                                     p->rlimits[i].soft, p->rlimits[i].hard);
    }
    return 0;
}

int pyrunc_set_sysctls(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    for (int i = 0; i < plan->n_sysctls; i++) {
        int ret = pyrunc_write_procfs(plan->sysctls[i].key, plan->sysctls[i].value, err);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* The kernel's struct sigaction (the C library's differs), for the
 * signals the C library keeps to itself: its mask is the kernel's 64
 * signals, two words on a 32-bit machine. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask[8 / sizeof(unsigned long)];
};

void pyrunc_reset_signals(void)
{
    sigset_t all;

    for (int sig = 1; sig < NSIG; sig++) {
        if (signal(sig, SIG_DFL) != SIG_ERR || sig == SIGKILL || sig == SIGSTOP)
            continue;
        /* The C library refuses its own (glibc's 32 and 33), which its
         * posix_spawn leaves ignored in the child that spawned us: an
         * ignored signal would stay ignored in the container's program. */
        struct kernel_sigaction action = { .handler = SIG_DFL };
        syscall(SYS_rt_sigaction, sig, &action, NULL, sizeof(action.mask));
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void die_of(int sig)
{
    /* SA_RESETHAND and SA_NODEFER: the default action, unblocked, at once;
     * a namespace's init still ignores it, so it exits as a shell would. */
    raise(sig);
    _exit(128 + sig);
}

void pyrunc_die_of_stop_signals(void)
{
    static const int stop_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
    struct sigaction action = { .sa_handler = die_of, .sa_flags = SA_RESETHAND | SA_NODEFER };

    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
        sigaction(stop_signals[i], &action, NULL);
}

int pyrunc_close_fds_on_exec(int preserve_fds, struct pyrunc_error *err)
{
    unsigned int first = 3u + (unsigned int)(preserve_fds > 0 ? preserve_fds : 0);
    int ret = pyrunc_mark_cloexec_from(first);

    if (ret < 0)
        return pyrunc_fail_sys(err, -ret, "mark fds close-on-exec");
    return 0;
}

static int has_variable(const char *const *envp, const char *prefix)
{
    for (; envp && *envp; envp++)
        if (strncmp(*envp, prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

/* HOME=<home of uid> from /etc/passwd, "HOME=/" when there is none. */
static char *home_variable(unsigned int uid)
{
    static char variable[PATH_MAX + 6];
    char line[4096];
    FILE *passwd = fopen("/etc/passwd", "re");

    snprintf(variable, sizeof(variable), "HOME=/");
    if (!passwd)
        return variable;
    while (fgets(line, sizeof(line), passwd)) {
        /* name:password:uid:gid:gecos:home:shell */
        char *fields[7] = { 0 };
        char *cursor = line;
        int n = 0;

        while (n < 7 && (fields[n] = strsep(&cursor, ":\n")) != NULL)
            n++;
        if (n >= 6 && fields[2][0] && strtoul(fields[2], NULL, 10) == uid && fields[5][0]) {
            snprintf(variable, sizeof(variable), "HOME=%s", fields[5]);
            break;
        }
    }
    fclose(passwd);
    return variable;
}

const char *const *pyrunc_exec_environment(const struct pyrunc_process *p)
{
    static const char **with_home;
    size_t n = 0;

    if (has_variable(p->envp, "HOME="))
        return p->envp;
    while (p->envp && p->envp[n])
        n++;
    with_home = calloc(n + 2, sizeof(*with_home));
    if (!with_home)
        return p->envp;
    for (size_t i = 0; i < n; i++)
        with_home[i] = p->envp[i];
    with_home[n] = home_variable(p->uid);
    return with_home;
}

static int is_executable_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* No PATH in the process's environment is an empty one, as in runc. */
static const char *path_of(const char *const *envp)
{
    for (; envp && *envp; envp++)
        if (strncmp(*envp, "PATH=", 5) == 0)
            return *envp + 5;
    return "";
}

int pyrunc_find_executable(const char *file, const char *const *envp, char *out, size_t out_len,
                           struct pyrunc_error *err)
{
    const char *dirs = path_of(envp);

    if (strchr(file, '/')) {
        if (snprintf(out, out_len, "%s", file) >= (int)out_len)
            return pyrunc_fail(err, ENAMETOOLONG, "exec: %s: path too long", file);
        errno = 0;
        if (!is_executable_file(out)) {
            int errnum = errno ? errno : EACCES;
            char reason[128];

            /* In Go's wording, lower case: Docker turns runc's "no such
             * file or directory" into exit status 127 and "permission
             * denied" into 126, matching the text case and all. */
            snprintf(reason, sizeof(reason), "%s", strerror(errnum));
            reason[0] = (char)tolower((unsigned char)reason[0]);
            return pyrunc_fail(err, errnum, "exec: \"%s\": %s", file, reason);
        }
        return 0;
    }
    while (*dirs) {
        const char *end = strchrnul(dirs, ':');
        int dir_len = (int)(end - dirs);

        if (dir_len == 0)   /* an empty entry means the current directory */
            snprintf(out, out_len, "./%s", file);
        else
            snprintf(out, out_len, "%.*s/%s", dir_len, dirs, file);
        if (is_executable_file(out))
            return 0;
        dirs = *end ? end + 1 : end;
    }
    return pyrunc_fail(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}
