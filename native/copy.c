#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy.h"
#include "util.h"

static void cleanup_dir(DIR **dir)
{
    if (*dir)
        closedir(*dir);
}

static int copy_file(int src_dir, int dst_dir, const char *name, const struct stat *st,
                     struct pyrunc_error *err)
{
    cleanup_close int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_close int out = -1;
    char buf[65536];
    ssize_t n;

    if (in < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: open %s", name);
    out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777);
    if (out < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: create %s", name);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (pyrunc_write_all(out, buf, (size_t)n) < 0)
            return pyrunc_fail_errno(err, "tmpcopyup: write %s", name);
    if (n < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: read %s", name);
    return 0;
}

static int copy_symlink(int src_dir, int dst_dir, const char *name, struct pyrunc_error *err)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);

    if (n < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: readlink %s", name);
    target[n] = '\0';
    if (symlinkat(target, dst_dir, name) < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: symlink %s", name);
    return 0;
}

static int copy_entry(int src_dir, int dst_dir, const char *name, struct pyrunc_error *err)
{
    struct stat st;
    int ret;

    if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: stat %s", name);
    if (S_ISDIR(st.st_mode)) {
        cleanup_close int from = -1;
        cleanup_close int to = -1;

        if (mkdirat(dst_dir, name, st.st_mode & 07777) < 0)
            return pyrunc_fail_errno(err, "tmpcopyup: mkdir %s", name);
        from = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        to = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (from < 0 || to < 0)
            return pyrunc_fail_errno(err, "tmpcopyup: open directory %s", name);
        ret = pyrunc_copy_tree(from, to, err);
    } else if (S_ISREG(st.st_mode)) {
        ret = copy_file(src_dir, dst_dir, name, &st, err);
    } else if (S_ISLNK(st.st_mode)) {
        ret = copy_symlink(src_dir, dst_dir, name, err);
    } else {
        return 0;   /* devices, fifos, sockets: not content to carry over */
    }
    if (ret < 0)
        return ret;
    if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: chown %s", name);
    /* The umask cut the creation mode; directories are set after their content. */
    if (!S_ISLNK(st.st_mode) && fchmodat(dst_dir, name, st.st_mode & 07777, 0) < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: chmod %s", name);
    return 0;
}

int pyrunc_copy_tree(int src_dir, int dst_dir, struct pyrunc_error *err)
{
    __attribute__((cleanup(cleanup_dir))) DIR *dir = NULL;
    int listing = dup(src_dir);   /* fdopendir takes ownership */
    struct dirent *entry;
    int ret;

    if (listing < 0)
        return pyrunc_fail_errno(err, "tmpcopyup: dup");
    dir = fdopendir(listing);
    if (!dir) {
        close(listing);
        return pyrunc_fail_errno(err, "tmpcopyup: list a directory");
    }
    rewinddir(dir);     /* the dup shares src_dir's offset, wherever it is */
    while ((errno = 0, entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if ((ret = copy_entry(src_dir, dst_dir, entry->d_name, err)) < 0)
            return ret;
    }
    if (errno)
        return pyrunc_fail_errno(err, "tmpcopyup: read a directory");
    return 0;
}
