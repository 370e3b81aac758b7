/* See signals.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "signals.h"
#include "status.h"

static const struct {
    const char *name;
    int number;
} NAMES[] = {   /* container.py SIGNAL_NAMES: the names runc knows */
    { "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "BUS", SIGBUS }, { "CHLD", SIGCHLD },
    { "CONT", SIGCONT }, { "FPE", SIGFPE }, { "HUP", SIGHUP }, { "ILL", SIGILL },
    { "INT", SIGINT }, { "IO", SIGIO }, { "KILL", SIGKILL }, { "PIPE", SIGPIPE },
    { "PROF", SIGPROF }, { "PWR", SIGPWR }, { "QUIT", SIGQUIT }, { "SEGV", SIGSEGV },
    { "STKFLT", SIGSTKFLT }, { "STOP", SIGSTOP }, { "SYS", SIGSYS }, { "TERM", SIGTERM },
    { "TRAP", SIGTRAP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
    { "URG", SIGURG }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "VTALRM", SIGVTALRM },
    { "WINCH", SIGWINCH }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
};

int parse_signal(const char *text)
{
    size_t len = strlen(text);

    if (len == 0)
        return SIGTERM;     /* an empty signal is the default, as runc's */
    if (strspn(text, "0123456789") == len) {
        int number = 0;
        for (size_t i = 0; i < len && number < _NSIG; i++)
            number = number * 10 + (text[i] - '0');
        return number < _NSIG ? number : FAST_DEFER;
    }
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(*NAMES); i++)
        if (strcasecmp(text, NAMES[i].name) == 0)
            return NAMES[i].number;
    return FAST_DEFER;
}
