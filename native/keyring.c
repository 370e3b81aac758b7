#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "keyring.h"

/* A keyring's permission mask: the fourth field of its description,
 * "type;uid;gid;perm;name", in hex. */
static int keyring_perm(long keyring, unsigned int *perm, struct pyrunc_error *err)
{
    char text[4096 + 64];
    long len = syscall(SYS_keyctl, KEYCTL_DESCRIBE, keyring, text, sizeof(text));
    if (len < 0)
        return pyrunc_fail_errno(err, "describe the session keyring");
    text[(size_t)len < sizeof(text) ? (size_t)len : sizeof(text) - 1] = '\0';
    const char *field = text;
    for (int i = 0; i < 3 && field; i++)
        if ((field = strchr(field, ';')))
            field++;
    char *end = NULL;
    if (field)
        *perm = (unsigned int)strtoul(field, &end, 16);
    if (!field || end == field || *end != ';')
        return pyrunc_fail(err, EINVAL, "the session keyring's description %.64s has no permissions", text);
    return 0;
}

/* The init makes the keyring (or joins one of its name it may search)
 * and lets its execs find it by name; an exec joins it, or a new one of
 * that name if the init's is gone.  Without keyrings in the kernel
 * (ENOSYS) there are no keys to keep out: runc goes on too. */
int pyrunc_join_session_keyring(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    if (!plan->session_keyring)
        return 0;
    long keyring = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan->session_keyring);
    if (keyring < 0 && errno == ENOSYS)
        return 0;
    if (keyring < 0)
        return pyrunc_fail_errno(err, "join the session keyring %s", plan->session_keyring);
    if (!plan->session_keyring_perm)
        return 0;
    unsigned int perm = 0;
    int ret = keyring_perm(keyring, &perm, err);
    if (ret < 0)
        return ret;
    if (syscall(SYS_keyctl, KEYCTL_SETPERM, keyring, perm | plan->session_keyring_perm) < 0)
        return pyrunc_fail_errno(err, "let execs search the session keyring %s", plan->session_keyring);
    return 0;
}
