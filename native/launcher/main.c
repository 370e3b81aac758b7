/* pyrunc: the command, a launcher for the Python CLI.
 *
 * Engines run the runtime several times per container, so its start-up
 * counts.  A console script would start the interpreter with `site`, which
 * reads the site-packages and the .pth files on every call.  This program
 * execs the interpreter beside it (the virtual environment's python) as
 *
 *     python -I -S -c BOOTSTRAP ARG...
 *
 * -I: no PYTHON* variables, no user site, no working directory on sys.path;
 * -S: no `site`.  BOOTSTRAP adds the one directory pyrunc is installed in
 * (the environment's site-packages, found from sys.executable: without
 * `site`, sys.prefix is the base interpreter's, not the environment's;
 * `site` only when that fails, for an install outside a virtual
 * environment) and runs the CLI, with the cycle collector off: a call
 * makes no garbage worth it, and its runs while the modules load took a
 * millisecond of every call (`events`, which runs on, turns it back on).
 * PYRUNC_PYTHON, set at build time, is the interpreter used when there is
 * none beside this program.
 *
 * `state` and `list`, which engines call most, are answered first in C
 * (fastpath.c) when nothing about the call or the state files is unusual:
 * an interpreter's start alone takes longer than runc's whole answer.
 * So are `start`, `kill` and `delete` (lifecycle.c), and `features`
 * (features.c: the interpreter with cffi and libseccomp loaded peaked
 * above runc's memory; its lists come from the Python tables at build
 * time).
 * PYRUNC_FAST_PATH=0 always runs the Python CLI; PYRUNC_FAST_PATH=only
 * never does (exit 125 where it would), to show which path answers. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastpath.h"

#define DECLINED_STATUS 125

#ifndef PYRUNC_PYTHON
#define PYRUNC_PYTHON "/usr/bin/python3"
#endif

static const char BOOTSTRAP[] =
    "import gc\n"
    "gc.disable()\n"
    "import sys\n"
    "sys.path.append('%s/lib/python%d.%d/site-packages' % (sys.executable.rpartition('/')[0].rpartition('/')[0],\n"
    "                                                      *sys.version_info[:2]))\n"
    "try:\n"
    "    from pyrunc.runtime.cli.main import entry\n"
    "except ModuleNotFoundError:\n"
    "    import site\n"
    "    site.main()\n"
    "    from pyrunc.runtime.cli.main import entry\n"
    "entry()\n";

int main(int argc, char **argv)
{
    const char *mode = getenv("PYRUNC_FAST_PATH");
    char python[PATH_MAX];
    const char **args;
    ssize_t n;
    char *slash = NULL;

    if (!mode || strcmp(mode, "0") != 0) {
        int status = fast_path(argc, argv);
        if (status >= 0)
            return status;
        if (mode && strcmp(mode, "only") == 0) {
            fprintf(stderr, "pyrunc: PYRUNC_FAST_PATH=only: this call needs the Python CLI\n");
            return DECLINED_STATUS;
        }
    }

    n = readlink("/proc/self/exe", python, sizeof(python) - sizeof("/python"));
    if (n > 0) {
        python[n] = '\0';
        slash = strrchr(python, '/');
        if (slash)
            strcpy(slash + 1, "python");
    }
    if (n <= 0 || !slash || access(python, X_OK) < 0)
        snprintf(python, sizeof(python), "%s", PYRUNC_PYTHON);
    args = calloc((size_t)argc + 5, sizeof(*args));
    if (!args) {
        fprintf(stderr, "pyrunc: out of memory\n");
        return 1;
    }
    args[0] = python;
    args[1] = "-I";
    args[2] = "-S";
    args[3] = "-c";
    args[4] = BOOTSTRAP;
    for (int i = 1; i < argc; i++)
        args[i + 4] = argv[i];
    execv(python, (char *const *)args);
    fprintf(stderr, "pyrunc: exec %s: %s\n", python, strerror(errno));
    return 1;
}
