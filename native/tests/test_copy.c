/* tmpcopyup's tree copy: files, directories, symlinks, modes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "copy.h"

static char base[] = "/tmp/pyrunc-test-copy-XXXXXX";

static void cleanup(void)
{
    char command[128];

    snprintf(command, sizeof(command), "rm -rf '%s'", base);
    CHECK(system(command) == 0);
}

static void write_text(int dir, const char *name, const char *text, mode_t mode)
{
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, mode);

    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK(fchmodat(dir, name, mode, 0) == 0);
}

int main(void)
{
    struct pyrunc_error err = { 0 };
    struct stat st;
    char buf[64] = { 0 };
    int basefd, src, dst, fd;

    CHECK(mkdtemp(base) != NULL);
    atexit(cleanup);
    basefd = open(base, O_RDONLY | O_DIRECTORY);
    CHECK(basefd >= 0);
    CHECK(mkdirat(basefd, "src", 0755) == 0 && mkdirat(basefd, "dst", 0755) == 0);
    src = openat(basefd, "src", O_RDONLY | O_DIRECTORY);
    dst = openat(basefd, "dst", O_RDONLY | O_DIRECTORY);
    CHECK(src >= 0 && dst >= 0);
    write_text(src, "file", "hello", 0640);
    CHECK(mkdirat(src, "sub", 0700) == 0);
    CHECK(symlinkat("../file", src, "sub/link") == 0);
    write_text(src, "sub/inner", "deep", 0600);

    CHECK(pyrunc_copy_tree(src, dst, &err) == 0);

    fd = openat(dst, "file", O_RDONLY);
    CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && strcmp(buf, "hello") == 0);
    close(fd);
    CHECK(fstatat(dst, "file", &st, 0) == 0 && (st.st_mode & 07777) == 0640);
    CHECK(fstatat(dst, "sub", &st, 0) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    CHECK(fstatat(dst, "sub/link", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
    CHECK(readlinkat(dst, "sub/link", buf, sizeof(buf)) == 7 && strncmp(buf, "../file", 7) == 0);
    CHECK(fstatat(dst, "sub/inner", &st, 0) == 0 && st.st_size == 4);

    /* A second copy onto the same tree fails cleanly (EEXIST), naming what. */
    CHECK(pyrunc_copy_tree(src, dst, &err) < 0);
    CHECK(strstr(err.msg, "file") != NULL);
    close(src);
    close(dst);
    close(basefd);
    return 0;
}
