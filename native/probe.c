#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

/* Each probe calls the syscall with arguments it must reject; ENOSYS
 * means the kernel lacks it, any other error means it is there. */
static int syscall_exists(long ret)
{
    return ret == 0 || errno != ENOSYS;
}

int pyrunc_probe_openat2(void)
{
    return syscall_exists(syscall(SYS_openat2, -1, "", NULL, 0));
}

int pyrunc_probe_mount_setattr(void)
{
    return syscall_exists(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0));
}
