/* containerd-shim-pyrunc-v2, as containerd runs it.
 *
 * `start` and `delete` are on containerd's path for every container, and
 * what they mostly do is ask the zygote (see zygote.py): for the address
 * of a server, or to clean up after one whose container is deleted
 * already.  That exchange is done here, in C, without an interpreter
 * start.  Anything else (`start` when no zygote answers, which starts
 * one; a `delete` that must delete a container) is the Python
 * implementation: exec'd as `python3 -m pyrunc.shim.main`
 * with the same arguments, the python3 beside this binary (a venv's), else
 * the one on PATH.
 *
 * The zygote's socket is <root>/z/<FNV-1a 64 of $TTRPC_ADDRESS, hex>,
 * as main.zygote_socket() computes it; <root> is $PYRUNC_SHIM_ROOT or
 * /run/containerd/pyrunc.  The request is one packet of NUL-separated
 * key=value fields; the answer "ok\0ADDRESS" or "error\0MESSAGE". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_ROOT "/run/containerd/pyrunc"
#define REQUEST_MAX 65536

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define cleanup_fd __attribute__((cleanup(close_fd)))

static uint64_t fnv1a(const char *text)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (; *text; text++) {
        hash ^= (unsigned char)*text;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

static const char *flag(int argc, char **argv, const char *name)
{
    /* Go's flags: -name value, --name value, -name=value. */
    size_t length = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-')
            continue;
        arg += arg[1] == '-' ? 2 : 1;
        if (strncmp(arg, name, length) != 0)
            continue;
        if (arg[length] == '=')
            return arg + length + 1;
        if (arg[length] == '\0' && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

static const char *command_of(int argc, char **argv)
{
    /* The one argument that is neither a flag nor a flag's value. */
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strchr(argv[i], '=') == NULL && strcmp(argv[i] + 1, "debug") != 0 &&
                strcmp(argv[i] + 1, "-debug") != 0 && strcmp(argv[i] + 1, "v") != 0)
                i++;
            continue;
        }
        return argv[i];
    }
    return "";
}

static int append(char *buffer, size_t *used, const char *key, const char *value)
{
    size_t key_length = strlen(key), value_length = value ? strlen(value) : 0;
    if (*used + 1 + key_length + 1 + value_length > REQUEST_MAX)
        return -E2BIG;
    if (*used)
        buffer[(*used)++] = '\0';     /* fields are NUL-separated */
    memcpy(buffer + *used, key, key_length);
    *used += key_length;
    buffer[(*used)++] = '=';
    if (value_length)
        memcpy(buffer + *used, value, value_length);
    *used += value_length;
    return 0;
}

static int has_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && strcmp(arg + (arg[1] == '-' ? 2 : 1), name) == 0)
            return 1;
    }
    return 0;
}

/* Ask the zygote to `start` (or `delete`); the answer's length, or -errno
 * (-ENOENT, -ECONNREFUSED: no zygote there, the Python side starts one). */
static ssize_t ask_zygote(int argc, char **argv, const char *op, char *answer, size_t size)
{
    const char *root = getenv("PYRUNC_SHIM_ROOT");
    const char *ttrpc = getenv("TTRPC_ADDRESS");
    const char *grouping = getenv("PYRUNC_SHIM_GROUP");
    char directory[PATH_MAX], cwd[PATH_MAX];
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    static char request[REQUEST_MAX];
    size_t used = 0;

    if (!root || !*root)
        root = DEFAULT_ROOT;
    if (snprintf(directory, sizeof directory, "%s/z", root) >= (int)sizeof directory)
        return -ENAMETOOLONG;
    if (snprintf(address.sun_path, sizeof address.sun_path, "%s/%016llx", directory,
                 (unsigned long long)fnv1a(ttrpc ? ttrpc : "")) >= (int)sizeof address.sun_path)
        return -ENAMETOOLONG;
    if (!getcwd(cwd, sizeof cwd))
        return -errno;
    const char *bundle = flag(argc, argv, "bundle");
    int ret = append(request, &used, "op", op);
    if (ret == 0)
        ret = append(request, &used, "namespace", flag(argc, argv, "namespace"));
    if (ret == 0)
        ret = append(request, &used, "id", flag(argc, argv, "id"));
    if (ret == 0)
        ret = append(request, &used, "bundle", bundle && *bundle ? bundle : cwd);
    if (ret == 0)
        ret = append(request, &used, "grouping", grouping);
    if (ret == 0)
        ret = append(request, &used, "debug", has_flag(argc, argv, "debug") ? "true" : "false");
    if (ret < 0)
        return ret;

    cleanup_fd int lock = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock < 0)
        return -errno;
    if (flock(lock, LOCK_SH) < 0)       /* the zygote does not leave while we talk */
        return -errno;
    cleanup_fd int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    if (connect(sock, (struct sockaddr *)&address, sizeof address) < 0)
        return -errno;
    if (send(sock, request, used, 0) < 0)
        return -errno;
    ssize_t got = recv(sock, answer, size - 1, 0);
    if (got < 0)
        return -errno;
    answer[got] = '\0';
    return got;
}

static int run_python(char **argv)
{
    char self[PATH_MAX], python[PATH_MAX + 16];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length < 0)
        return -errno;
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(python, sizeof python, "%s/python3", self);
    int argc = 0;
    while (argv[argc])
        argc++;
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return -ENOMEM;
    args[0] = python;
    args[1] = "-m";
    args[2] = "pyrunc.shim.main";
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execv(python, args);
    args[0] = "python3";    /* installed without a python3 beside it: the one on PATH */
    execvp(args[0], args);
    return -errno;
}

int main(int argc, char **argv)
{
    static char answer[REQUEST_MAX];
    const char *command = command_of(argc, argv);
    if (strcmp(command, "delete") == 0) {
        /* The zygote does the common case (nothing left to delete), else "python". */
        ssize_t got = ask_zygote(argc, argv, "delete", answer, sizeof answer);
        if (got >= 3 && memcmp(answer, "ok", 3) == 0) {
            size_t length = (size_t)got - 3;
            return fwrite(answer + 3, 1, length, stdout) == length && fflush(stdout) == 0 ? 0 : 1;
        }
    } else if (strcmp(command, "start") == 0) {
        ssize_t got = ask_zygote(argc, argv, "start", answer, sizeof answer);
        if (got >= 3 && memcmp(answer, "ok", 3) == 0) {
            const char *address = answer + 3;
            FILE *file = fopen("address", "we");     /* containerd reconnects through it after a restart */
            if (file) {
                fputs(address, file);
                fclose(file);
            }
            fputs(address, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        if (got > 6 && memcmp(answer, "error", 6) == 0) {
            fprintf(stderr, "containerd-shim-pyrunc-v2: %s\n", answer + 6);
            return 1;
        }
        /* No zygote, or one we could not reach: the Python side starts it. */
    }
    int ret = run_python(argv);
    fprintf(stderr, "containerd-shim-pyrunc-v2: exec python3: %s\n", strerror(-ret));
    return 1;
}
