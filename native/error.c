#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static int fill(struct pyrunc_error *err, int errnum, int with_reason, const char *fmt, va_list ap)
{
    size_t used;

    if (errnum <= 0)
        errnum = EIO;   /* never report "success" as a failure */
    err->code = errnum;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    used = strlen(err->msg);
    if (with_reason && used < sizeof(err->msg))
        snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(errnum));
    return -errnum;
}

int pyrunc_fail(struct pyrunc_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = fill(err, errnum, 0, fmt, ap);
    va_end(ap);
    return ret;
}

int pyrunc_fail_sys(struct pyrunc_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = fill(err, errnum, 1, fmt, ap);
    va_end(ap);
    return ret;
}
