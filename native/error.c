#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int pyrunc_fail(struct pyrunc_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;

    if (errnum <= 0)
        errnum = EIO;   /* never report "success" as a failure */
    err->code = errnum;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -errnum;
}
