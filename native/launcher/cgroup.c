/* See cgroup.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "../util.h"
#include "cgroup.h"

#define MAX_PROCS_FILE (1 << 20)
#define REMOVE_TIMEOUT_NS 2000000000LL      /* remove_tree's EBUSY retries */

/* v1.PROCS_HIERARCHIES: where a container's processes are listed. */
static const char *const PROCS_HIERARCHIES[] = { "freezer", "pids", "memory", "devices", "cpu", "name=systemd" };

static bool listed(const struct json_doc *doc, const struct json_node *array, const char *path)
{
    for (const struct json_node *p = array ? json_first(doc, array) : NULL; p; p = json_next(doc, p))
        if (strcmp(p->str, path) == 0)
            return true;
    return false;
}

/* path is a directory on a cgroup filesystem, below the root of its
 * hierarchy, reached without a link: what inside_cgroup_mount
 * (runtime/cgroups/__init__.py) checks from mountinfo.  Anything else,
 * also a path that is gone, is left to the Python CLI, which refuses what
 * an edited state may name: a directory elsewhere whose cgroup.procs
 * would make delete kill host processes. */
static bool on_cgroup_fs(const char *path)
{
    struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
    struct statfs fs;
    struct stat st, parent_st;
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    bool ok;

    if (fd < 0)
        return false;
    ok = fstatfs(fd, &fs) == 0 && (fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC)
         /* A hierarchy's root is a mount point: its parent is on another device. */
         && fstat(fd, &st) == 0 && fstatat(fd, "..", &parent_st, 0) == 0 && st.st_dev == parent_st.st_dev;
    close(fd);
    return ok;
}

int cgroup_dirs_of(const struct container *c, struct cgroup_dirs *dirs)
{
    const struct json_doc *doc = &c->doc;
    const struct json_node *cg = json_get(doc, c->state, "cgroup"), *procs = NULL, *freezer;

    *dirs = (struct cgroup_dirs){ 0 };
    if (!cg || cg->type == JSON_NULL)
        return 0;
    /* status.c checked the layout (cgroup_valid): v2 has its "unified" path. */
    dirs->v2 = strcmp(json_get(doc, cg, "mode")->str, "v2") == 0;
    dirs->paths = json_get(doc, cg, "paths");
    dirs->created = json_get(doc, cg, "created");
    if (dirs->v2)
        procs = json_get(doc, dirs->paths, "unified");
    for (size_t i = 0; !procs && i < sizeof(PROCS_HIERARCHIES) / sizeof(*PROCS_HIERARCHIES); i++)
        procs = json_get(doc, dirs->paths, PROCS_HIERARCHIES[i]);
    if (!procs)
        procs = json_first(doc, dirs->paths);
    if (!procs || procs->str[0] != '/' || !listed(doc, dirs->created, procs->str))
        return FAST_DEFER;
    for (const struct json_node *p = json_first(doc, dirs->created); p; p = json_next(doc, p))
        if (!on_cgroup_fs(p->str))
            return FAST_DEFER;
    dirs->procs_dir = procs->str;
    freezer = dirs->v2 ? procs : json_get(doc, dirs->paths, "freezer");
    dirs->freezer = freezer ? freezer->str : NULL;
    return 1;
}

int cgroup_held_frozen(const struct cgroup_dirs *dirs)
{
    if (!dirs->freezer)
        return 0;
    if (dirs->v2)
        return cgroup2_frozen(dirs->freezer, true);
    cleanup_free char *state = read_stripped(dirs->freezer, "freezer.state");
    return state && strcmp(state, "THAWED") != 0;
}

static void cleanup_dir(DIR **dir)
{
    if (*dir)
        closedir(*dir);
}

/* Call visit(path) on directory's sub-directories, children before their
 * parents, then on directory itself (walk_dirs, reversed).  A directory
 * already gone is nothing to visit. */
static int walk_children_first(const char *directory, int (*visit)(const char *path, void *arg), void *arg)
{
    __attribute__((cleanup(cleanup_dir))) DIR *dir = opendir(directory);
    struct dirent *entry;
    int ret;

    if (!dir)
        return errno == ENOENT ? 0 : -errno;
    while ((errno = 0, entry = readdir(dir))) {
        if (entry->d_type != DT_DIR || strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        cleanup_free char *child = path_join(directory, entry->d_name);
        if (!child)
            return -ENOMEM;
        ret = walk_children_first(child, visit, arg);
        if (ret != 0)
            return ret;
    }
    if (errno)
        return -errno;
    return visit(directory, arg);
}

static int lists_a_process(const char *directory, void *arg)
{
    cleanup_free char *file = path_join(directory, "cgroup.procs");
    cleanup_free char *text = NULL;
    size_t len;
    int ret;

    (void)arg;
    if (!file)
        return -ENOMEM;
    ret = read_file(file, MAX_PROCS_FILE, &text, &len);
    if (ret == -ENOENT)
        return 0;
    if (ret < 0)
        return ret;
    return strspn(text, " \n") != len;     /* 1 stops the walk */
}

int cgroup_has_processes(const struct cgroup_dirs *dirs)
{
    return walk_children_first(dirs->procs_dir, lists_a_process, NULL);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* _rmdir_retrying: the kernel lets go of a cgroup a moment after its
 * last task exits, so EBUSY is retried for a while. */
static int rmdir_retrying(const char *directory, void *arg)
{
    long long deadline = *(long long *)arg;
    useconds_t delay = 2000;

    while (rmdir(directory) < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EBUSY || now_ns() > deadline)
            return -errno;
        usleep(delay);
        delay = delay * 2 > 100000 ? 100000 : delay * 2;
    }
    return 0;
}

int cgroup_destroy(const struct container *c, const struct cgroup_dirs *dirs)
{
    const struct json_doc *doc = &c->doc;
    const struct json_node *made[64];
    size_t n = 0;

    for (const struct json_node *p = dirs->created ? json_first(doc, dirs->created) : NULL; p; p = json_next(doc, p)) {
        if (n == sizeof(made) / sizeof(*made))
            return FAST_DEFER;
        made[n++] = p;
    }
    /* Innermost first: the container's own cgroups with what it made
     * below them, then the parents made for it if nothing else uses them. */
    while (n--) {
        bool leaf = false;
        for (const struct json_node *p = json_first(doc, dirs->paths); p; p = json_next(doc, p))
            leaf |= strcmp(p->str, made[n]->str) == 0;
        if (leaf) {
            long long deadline = now_ns() + REMOVE_TIMEOUT_NS;
            int ret = walk_children_first(made[n]->str, rmdir_retrying, &deadline);
            if (ret < 0)
                return ret;
        } else {
            rmdir(made[n]->str);    /* still in use, or already gone */
        }
    }
    return 0;
}
