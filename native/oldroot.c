#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount.h"
#include "oldroot.h"
#include "util.h"

/* Rounds of detaching: each one removes the topmost mounts of what is
 * left (mounts stacked on one point come off one per round). */
#define MAX_ROUNDS 64
#define MAX_LEFT_ALONE 4096

struct mount_entry {
    int id;
    int parent;
    char *point;        /* relative to our root (the old root, before chroot) */
    int revealing;      /* proc or sysfs: what mount_too_revealing looks for */
    int handled;        /* in this round already */
};

struct mount_table {
    char *text;
    struct mount_entry *entries;
    size_t n;
};

static void free_table(struct mount_table *t)
{
    free(t->text);
    free(t->entries);
    t->text = NULL;
    t->entries = NULL;
    t->n = 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

static int read_text(int dirfd, const char *path, char **out, struct pyrunc_error *err)
{
    cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    ssize_t n;

    if (fd < 0 || !text) {
        free(text);
        return fd < 0 ? pyrunc_fail_errno(err, "open %s", path) : pyrunc_fail(err, ENOMEM, "read %s", path);
    }
    while ((n = read(fd, text + len, cap - len - 1)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(text);
            return pyrunc_fail_errno(err, "read %s", path);
        }
        len += (size_t)n;
        if (cap - len == 1) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) {
                free(text);
                return pyrunc_fail(err, ENOMEM, "read %s", path);
            }
            text = bigger;
        }
    }
    text[len] = '\0';
    *out = text;
    return 0;
}

/* procfd: our /proc/<pid>, held open: /proc itself is among what goes. */
static int read_table(int procfd, struct mount_table *t, struct pyrunc_error *err)
{
    char *line, *next;
    size_t lines = 0;
    int ret;

    if ((ret = read_text(procfd, "mountinfo", &t->text, err)) < 0)
        return ret;
    for (const char *p = t->text; *p; p++)
        lines += *p == '\n';
    t->entries = calloc(lines + 1, sizeof(*t->entries));
    if (!t->entries)
        return pyrunc_fail(err, ENOMEM, "read /proc/self/mountinfo");
    for (line = t->text; *line; line = next) {
        struct mount_entry *e = &t->entries[t->n];
        char *fields[5];
        int i;

        next = strchrnul(line, '\n');
        if (*next)
            *next++ = '\0';
        char *fstype;

        for (i = 0; i < 5 && (fields[i] = strsep(&line, " ")) != NULL; i++)
            ;
        if (i < 5 || !line || !(fstype = strstr(line, " - ")))
            continue;
        fstype += 3;
        fstype[strcspn(fstype, " ")] = '\0';
        e->id = atoi(fields[0]);
        e->parent = atoi(fields[1]);
        e->point = fields[4];
        e->revealing = strcmp(fstype, "proc") == 0 || strcmp(fstype, "sysfs") == 0;
        unescape(e->point);
        t->n++;
    }
    return 0;
}

static struct mount_entry *find(const struct mount_table *t, int id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->entries[i].id == id)
            return &t->entries[i];
    return NULL;
}

/* The rootfs mount or one below it: the container's, kept. */
static int in_rootfs(const struct mount_table *t, const struct mount_entry *e, int rootfs_id)
{
    for (size_t depth = 0; e && depth <= t->n; depth++) {
        if (e->id == rootfs_id)
            return 1;
        if (e->parent == e->id)
            return 0;
        e = find(t, e->parent);
    }
    return 0;
}

/* A mount of the old root that can go: not the namespace's root (nor
 * another mount on "/", which holds the rootfs), not the container's. */
static int is_old(const struct mount_table *t, const struct mount_entry *e, int rootfs_id)
{
    return e && strcmp(e->point, "/") != 0 && !in_rootfs(t, e, rootfs_id);
}

static int was_left(const int *left_alone, size_t n_left_alone, int id)
{
    for (size_t i = 0; i < n_left_alone; i++)
        if (left_alone[i] == id)
            return 1;
    return 0;
}

/* Detach e, or where the kernel will not (a mount locked into a user
 * namespace) cover it with an empty tmpfs; 1 when it stays (covered, or
 * out of reach of our paths, so of the container's too). */
static int detach_one(const struct mount_entry *e, struct pyrunc_error *err)
{
    /* A slave first: neither the detach nor a cover may reach the host. */
    if (mount(NULL, e->point, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
        /* A proc or sysfs must go: a fully visible one lets a new one be mounted. */
        if (e->revealing || (errno != ENOENT && errno != EACCES && errno != EPERM))
            return pyrunc_fail_errno(err, "no-pivot: make %s of the old root a slave", e->point);
        return 1;
    }
    if (umount2(e->point, MNT_DETACH) == 0)
        return 0;
    if (errno != EINVAL && errno != EPERM)
        return pyrunc_fail_errno(err, "no-pivot: detach %s of the old root", e->point);
    if (mount("tmpfs", e->point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
        return pyrunc_fail_errno(err, "no-pivot: cover %s of the old root", e->point);
    return 1;
}

/* One round over the old mounts: every proc and sysfs (deepest first, as
 * a cover above would hide them from our paths too), then the topmost of
 * the rest; *left counts those handled (0: nothing of the old root left). */
static int detach_round(int procfd, int rootfs_id, int *left_alone, size_t *n_left_alone, int *left,
                        struct pyrunc_error *err)
{
    __attribute__((cleanup(free_table))) struct mount_table t = { 0 };
    int ret;

    *left = 0;
    if ((ret = read_table(procfd, &t, err)) < 0)
        return ret;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = t.n; j-- > 0;) {
            struct mount_entry *e = &t.entries[j];
            int topmost;

            if (e->handled || !is_old(&t, e, rootfs_id) || was_left(left_alone, *n_left_alone, e->id))
                continue;
            topmost = !is_old(&t, find(&t, e->parent), rootfs_id);
            if (pass == 0 ? !e->revealing : !topmost)
                continue;
            ++*left;
            e->handled = 1;
            if (*n_left_alone >= MAX_LEFT_ALONE)
                return pyrunc_fail(err, E2BIG, "no-pivot: too many mounts in the old root");
            if ((ret = detach_one(e, err)) < 0)
                return ret;
            if (ret == 1)
                left_alone[(*n_left_alone)++] = e->id;
        }
    }
    return 0;
}

static int detach_old_root(int procfd, int rootfs_id, struct pyrunc_error *err)
{
    cleanup_free int *left_alone = calloc(MAX_LEFT_ALONE, sizeof(int));
    size_t n_left_alone = 0;
    int left, ret;

    if (!left_alone)
        return pyrunc_fail(err, ENOMEM, "no-pivot: detach the old root");
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if ((ret = detach_round(procfd, rootfs_id, left_alone, &n_left_alone, &left, err)) < 0)
            return ret;
        if (left == 0)
            return 0;
    }
    return pyrunc_fail(err, EBUSY, "no-pivot: mounts of the old root are still there after %d rounds",
                       MAX_ROUNDS);
}

int pyrunc_move_root(const struct pyrunc_plan *plan, int rootfd, struct pyrunc_error *err)
{
    cleanup_close int procfd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct statx stx;
    int ret;

    if (procfd < 0)
        return pyrunc_fail_errno(err, "no-pivot: open /proc/self");
    if (statx(rootfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
        return pyrunc_fail_errno(err, "no-pivot: find the rootfs mount");
    if (!(stx.stx_mask & STATX_MNT_ID))
        return pyrunc_fail(err, ENOSYS, "no-pivot: the kernel does not tell mount ids (statx)");
    /* The old root itself stays (a namespace's root cannot go): as a slave,
     * no detach below it reaches the host. */
    if (mount(NULL, "/", NULL, MS_SLAVE, NULL) < 0)
        return pyrunc_fail_errno(err, "no-pivot: make the old root a slave");
    if (fchdir(rootfd) < 0)
        return pyrunc_fail_errno(err, "chdir to the rootfs");
    if (mount(plan->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
        return pyrunc_fail_errno(err, "move the rootfs to /");
    /* Our root is still the old one: its paths name the old mounts, and
     * the container's, now on top of "/", are out of their reach. */
    if ((ret = detach_old_root(procfd, (int)stx.stx_mnt_id, err)) < 0)
        return ret;
    close(procfd);      /* the last hold on the old /proc */
    procfd = -1;
    return pyrunc_chroot_into(rootfd, err);
}
