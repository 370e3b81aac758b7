/* Resolution inside a root never escapes it, whatever symlinks say. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "path.h"

static char root[] = "/tmp/pyrunc-test-path-XXXXXX";

/* Where an O_PATH fd really points, relative to the test root. */
static const char *where(int fd)
{
    static char target[4096];
    ssize_t n = readlink(pyrunc_fd_path(fd).path, target, sizeof(target) - 1);

    CHECK(n > 0);
    target[n] = '\0';
    CHECK(strncmp(target, root, strlen(root)) == 0);
    return target + strlen(root);
}

static void cleanup(void)
{
    char command[128];

    snprintf(command, sizeof(command), "rm -rf '%s'", root);
    CHECK(system(command) == 0);
}

int main(void)
{
    struct pyrunc_error err = { 0 };
    int rootfd, fd;

    CHECK(mkdtemp(root) != NULL);
    atexit(cleanup);
    rootfd = open(root, O_PATH | O_DIRECTORY);
    CHECK(rootfd >= 0);
    CHECK(mkdirat(rootfd, "etc", 0755) == 0);
    /* Hostile links: absolute, and dot-dot climbing above the root. */
    CHECK(symlinkat("/etc", rootfd, "abs") == 0);
    CHECK(symlinkat("../../../../etc", rootfd, "up") == 0);

    fd = pyrunc_create_in_root(rootfd, "/abs/target", 1, &err);
    CHECK(fd >= 0);
    CHECK(strcmp(where(fd), "/etc/target") == 0);
    close(fd);

    fd = pyrunc_create_in_root(rootfd, "/up/file", 0, &err);
    CHECK(fd >= 0);
    CHECK(strcmp(where(fd), "/etc/file") == 0);
    close(fd);

    fd = pyrunc_create_in_root(rootfd, "/../../deep/er/dir", 1, &err);
    CHECK(fd >= 0);
    CHECK(strcmp(where(fd), "/deep/er/dir") == 0);
    close(fd);

    CHECK(pyrunc_open_in_root(rootfd, "/missing", 0) < 0);
    close(rootfd);
    return 0;
}
