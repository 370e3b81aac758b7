/* pause — the init of a pod's sandbox container.
 *
 * It holds the pod's namespaces open and does nothing else: it sleeps
 * until SIGINT or SIGTERM (then exits 0, as a stopped sandbox should) and
 * reaps the orphans it inherits as pid 1 of a shared pid namespace.
 * Every signal is blocked and taken synchronously with sigwaitinfo(), so
 * there is no handler to race with.  Static: the image holds only /pause.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    sigset_t all;
    siginfo_t info;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (pyrunc)");
        return 0;
    }
    sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, NULL) < 0) {
        perror("pause: sigprocmask");
        return 1;
    }
    for (;;) {
        if (sigwaitinfo(&all, &info) < 0)
            continue;   /* EINTR: a stop/continue, nothing to do */
        switch (info.si_signo) {
        case SIGINT:
        case SIGTERM:
            return 0;
        case SIGCHLD:
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            break;
        default:
            break;      /* pid 1 ignores what it does not handle */
        }
    }
}
