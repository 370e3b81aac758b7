/* Program lookup on the container's PATH, as execvp does it. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "proc.h"

int main(void)
{
    struct pyrunc_error err = { 0 };
    char out[4096];
    const char *const env[] = { "HOME=/", "PATH=/nonexistent:/bin:/usr/bin", NULL };
    const char *const no_path[] = { NULL };

    CHECK(pyrunc_find_executable("sh", env, out, sizeof(out), &err) == 0);
    CHECK(strcmp(out, "/bin/sh") == 0);

    /* No PATH in the environment is an empty one, as in runc. */
    CHECK(pyrunc_find_executable("sh", no_path, out, sizeof(out), &err) == -ENOENT);
    CHECK(strstr(err.msg, "executable file not found in $PATH") != NULL);

    CHECK(pyrunc_find_executable("no-such-program-here", env, out, sizeof(out), &err) == -ENOENT);
    CHECK(strstr(err.msg, "executable file not found in $PATH") != NULL);

    /* With a slash, no search: the path must itself be executable. */
    CHECK(pyrunc_find_executable("/etc/passwd", env, out, sizeof(out), &err) == -EACCES);
    CHECK(pyrunc_find_executable("/bin/sh", env, out, sizeof(out), &err) == 0);
    return 0;
}
