/* Error convention (crun's): every fallible function returns a negative
 * errno and fills a struct pyrunc_error with the errno and a message.
 * Callers just `if (ret < 0) return ret;`. */
#ifndef PYRUNC_ERROR_H
#define PYRUNC_ERROR_H

#include "plan.h"

/* Fill err with errnum and a formatted message; returns -errnum. */
int pyrunc_fail(struct pyrunc_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed system call: the message gets ": <strerror(errnum)>" appended,
 * so the user sees why (runc's style). */
int pyrunc_fail_sys(struct pyrunc_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pyrunc_fail_sys with the current errno. */
#define pyrunc_fail_errno(err, ...) pyrunc_fail_sys((err), errno, __VA_ARGS__)

#endif
