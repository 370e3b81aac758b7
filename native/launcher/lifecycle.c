/* See lifecycle.h.  Where runtime/container.py would report an error, the
 * launcher defers to it before doing anything, so the words are its own;
 * only a start that fails after it has let the init go reports here. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util.h"
#include "cgroup.h"
#include "lifecycle.h"
#include "signals.h"
#include "status.h"

#define KILL_TIMEOUT_MS 10000       /* _kill_and_wait */
#define RELEASE_POLL_MS 100         /* _release_init's check interval */

static void cleanup_container(struct container *c)
{
    container_free(c);
}

/* state.Lock: an exclusive flock on the state directory, which must still
 * be the one at its path once held.  0 with *fd, -ENOENT when the
 * container is gone, FAST_DEFER on anything else. */
static int lock_dir(const char *dir, int *fd)
{
    for (;;) {
        struct stat now, locked;
        int lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock < 0)
            return errno == ENOENT ? -ENOENT : FAST_DEFER;
        if (flock(lock, LOCK_EX) < 0 || fstat(lock, &locked) < 0) {
            close(lock);
            return FAST_DEFER;
        }
        if (stat(dir, &now) < 0) {
            int err = errno;
            close(lock);
            return err == ENOENT ? -ENOENT : FAST_DEFER;
        }
        if (now.st_dev == locked.st_dev && now.st_ino == locked.st_ino) {
            *fd = lock;
            return 0;
        }
        close(lock);    /* removed and made again meanwhile: lock the new one */
    }
}

/* The lock of the container argv names, the verb's only argument. */
static int lock_named(const char *root, int argc, char **argv, int *fd)
{
    cleanup_free char *dir = NULL;

    if (argc != 1 || argv[0][0] == '-' || !container_id_valid(argv[0]))
        return FAST_DEFER;
    dir = path_join(root, argv[0]);
    return dir ? lock_dir(dir, fd) : -ENOMEM;
}

/* Nothing that runs Python code or reaches outside the container: no hook
 * of the kind the verb runs (start: poststart, delete: poststop; the other
 * kinds ran at create or run inside the container) and no record of
 * pyrunc-net.  Hooks of another shape than create checked (an object of
 * arrays) are the Python CLI's to judge. */
static bool plain(const struct container *c, const char *root, const char *hook_kind)
{
    const struct json_node *config = json_get(&c->doc, c->state, "config");
    const struct json_node *hooks = config ? json_get(&c->doc, config, "hooks") : NULL;
    char record[512];
    struct stat st;

    if (hooks && hooks->type != JSON_NULL) {
        if (hooks->type != JSON_OBJECT)
            return false;
        for (const struct json_node *kind = json_first(&c->doc, hooks); kind; kind = json_next(&c->doc, kind))
            if (kind->type != JSON_ARRAY && kind->type != JSON_NULL)
                return false;
        const struct json_node *these = json_get(&c->doc, hooks, hook_kind);
        if (these && json_truthy(these))
            return false;
    }
    if (snprintf(record, sizeof(record), "%s/net/%s.json", root, strrchr(c->dir, '/') + 1) >= (int)sizeof(record))
        return false;
    return lstat(record, &st) < 0 && errno == ENOENT;
}

/* A pidfd of the init when it is still the one create made (pidfd_for):
 * holding the pidfd pins the process, then the identity is checked. */
static int init_pidfd(const struct container *c)
{
    int fd = (int)syscall(SYS_pidfd_open, container_pid(c), 0);
    if (fd < 0)
        return errno == ESRCH ? -ESRCH : FAST_DEFER;
    int alive = container_init_alive(c);
    if (alive != 1) {
        close(fd);
        return alive == 0 ? -ESRCH : alive;
    }
    return fd;
}

static int send_signal(int pidfd, int sig)
{
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/* _release_init, after the checks: open exec.fifo for reading (the init
 * blocks opening it for writing), remove it first so that a start killed
 * at any point never leaves a running program in a container that says
 * it is created, and wait for the init's byte. */
static int release_init(const struct container *c, const struct cgroup_dirs *cgroup, const struct log_target *log)
{
    cleanup_free char *fifo = path_join(c->dir, "exec.fifo");
    cleanup_close int fd = -1;
    char path[64], *message = NULL, answer = 0;
    const char *id = strrchr(c->dir, '/') + 1;
    int ret;

    if (!fifo)
        return -ENOMEM;
    {
        cleanup_close int path_fd = open(fifo, O_PATH | O_CLOEXEC);
        if (path_fd < 0)
            return FAST_DEFER;
        if (unlink(fifo) < 0)
            return FAST_DEFER;  /* nothing changed yet */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", path_fd);
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    }
    /* From here on the container is no longer created: report, never defer. */
    if (fd < 0) {
        ret = asprintf(&message, "open %s: %s", fifo, strerror(errno));
        ret = ret < 0 ? report_error(log, "out of memory") : report_error(log, message);
        free(message);
        return ret;
    }
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        poll(&pfd, 1, RELEASE_POLL_MS);
        if (read(fd, &answer, 1) == 1)
            break;
        if (container_init_alive(c) != 1)
            message = "init exited before it started";
        else if (cgroup_held_frozen(cgroup) == 1)
            message = "its cgroup is frozen, the init cannot start";
        if (message) {
            char line[512];
            snprintf(line, sizeof(line), "container %s: %s", id, message);
            return report_error(log, line);
        }
    }
    if (answer != '0') {
        /* "E" and why: a startContainer hook failed (not taken here, but
         * the init says so all the same). */
        char why[4096];
        ssize_t n;
        fcntl(fd, F_SETFL, 0);
        n = read(fd, why, sizeof(why) - 1);
        why[n > 0 ? n : 0] = '\0';
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] >= 0x7f)
                why[i] = '?';
        return report_error(log, n > 0 ? why : "container init failed");
    }
    return 0;
}

int run_start(const char *root, const struct log_target *log, int argc, char **argv)
{
    __attribute__((cleanup(cleanup_container))) struct container c = { 0 };
    struct cgroup_dirs cgroup;
    cleanup_close int lock = -1;
    int ret;

    ret = lock_named(root, argc, argv, &lock);
    if (ret < 0)
        return ret == -ENOMEM ? ret : FAST_DEFER;
    ret = container_load(&c, root, argv[0]);
    if (ret < 0)
        return ret;
    if (strcmp(c.status, "created") != 0 || !plain(&c, root, "poststart"))
        return FAST_DEFER;
    ret = cgroup_dirs_of(&c, &cgroup);
    if (ret < 0)
        return ret;
    if (cgroup_held_frozen(&cgroup) != 0)
        return FAST_DEFER;
    return release_init(&c, &cgroup, log);
}

int run_kill(const char *root, int argc, char **argv)
{
    __attribute__((cleanup(cleanup_container))) struct container c = { 0 };
    cleanup_close int pidfd = -1;
    int sig, ret;

    /* --all, other flags, more arguments: Python. */
    if (argc < 1 || argc > 2 || argv[0][0] == '-')
        return FAST_DEFER;
    sig = parse_signal(argc == 2 ? argv[1] : "");
    if (sig < 0)
        return sig;
    ret = container_load(&c, root, argv[0]);
    if (ret < 0)
        return ret;
    /* Stopped: an error; paused: SIGKILL thaws too.  Both are Python's. */
    if (strcmp(c.status, "created") != 0 && strcmp(c.status, "running") != 0)
        return FAST_DEFER;
    pidfd = init_pidfd(&c);
    if (pidfd < 0)
        return FAST_DEFER;
    return send_signal(pidfd, sig) < 0 ? FAST_DEFER : 0;
}

/* _kill_and_wait: SIGKILL the init and wait until it is gone. */
static int kill_and_wait(const struct container *c)
{
    cleanup_close int pidfd = init_pidfd(c);
    struct pollfd pfd;

    if (pidfd == -ESRCH)
        return 0;
    if (pidfd < 0)
        return pidfd;
    if (send_signal(pidfd, SIGKILL) < 0)
        return errno == ESRCH ? 0 : FAST_DEFER;
    pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
    return poll(&pfd, 1, KILL_TIMEOUT_MS) == 1 ? 0 : FAST_DEFER;
}

static void cleanup_dir(DIR **dir)
{
    if (*dir)
        closedir(*dir);
}

/* _remove_flat_dir: the state directory holds files only. */
static int remove_flat_dir(const char *path)
{
    __attribute__((cleanup(cleanup_dir))) DIR *dir = opendir(path);
    struct dirent *entry;

    if (!dir)
        return -errno;
    while ((errno = 0, entry = readdir(dir))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(dir), entry->d_name, 0) < 0 && errno != ENOENT)
            return -errno;
    }
    if (errno)
        return -errno;
    return rmdir(path) < 0 ? -errno : 0;
}

/* StateStore._drop_caches_if_unused: with the last container gone, the
 * caches under the root (names with '@') go too. */
static void drop_caches_if_unused(const char *root)
{
    __attribute__((cleanup(cleanup_dir))) DIR *dir = opendir(root);
    struct dirent *entry;
    bool any = false;

    if (!dir)
        return;
    while ((entry = readdir(dir))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (!strchr(entry->d_name, '@'))
            return;
        any = true;
    }
    if (!any)
        return;
    rewinddir(dir);
    while ((entry = readdir(dir))) {
        cleanup_free char *path = NULL;
        if (!strchr(entry->d_name, '@'))
            continue;
        path = path_join(root, entry->d_name);
        if (path)
            remove_flat_dir(path);  /* a create filling it again: in use */
    }
}

int run_delete(const char *root, int argc, char **argv)
{
    __attribute__((cleanup(cleanup_container))) struct container c = { 0 };
    struct cgroup_dirs cgroup;
    cleanup_close int lock = -1;
    bool force = false;
    int ret;

    if (argc == 2 && (strcmp(argv[0], "--force") == 0 || strcmp(argv[0], "-force") == 0
                      || strcmp(argv[0], "-f") == 0 || strcmp(argv[0], "--f") == 0)) {
        force = true;
        argc--;
        argv++;
    }
    ret = lock_named(root, argc, argv, &lock);
    if (ret == -ENOENT && force)
        return 0;   /* engines delete --force what may be gone already */
    if (ret < 0)
        return ret == -ENOMEM ? ret : FAST_DEFER;
    ret = container_load(&c, root, argv[0]);
    if (ret < 0)
        return ret;
    if (!plain(&c, root, "poststop") || strcmp(c.status, "paused") == 0)
        return FAST_DEFER;
    if (strcmp(c.status, "running") == 0 && !force)
        return FAST_DEFER;
    ret = cgroup_dirs_of(&c, &cgroup);
    if (ret < 0)
        return ret;
    if (strcmp(c.status, "stopped") != 0 && (ret = kill_and_wait(&c)) < 0)
        return ret;
    /* Processes left in the cgroup (the init had no pid namespace of its
     * own): Python freezes and kills them. */
    if (cgroup.procs_dir && cgroup_has_processes(&cgroup) != 0)
        return FAST_DEFER;
    if (cgroup.procs_dir && cgroup_destroy(&c, &cgroup) < 0)
        return FAST_DEFER;
    if (remove_flat_dir(c.dir) < 0)
        return FAST_DEFER;
    drop_caches_if_unused(root);
    return 0;
}
