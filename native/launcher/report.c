/* See report.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util.h"
#include "report.h"

/* Logger._timestamp: UTC, nanoseconds, a Z. */
static void timestamp(char *out, size_t size)
{
    struct timespec now;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%09ldZ", base, now.tv_nsec);
}

static void log_line(const struct log_target *log, const char *message)
{
    char stamp[48], *line = NULL;
    int len;

    timestamp(stamp, sizeof(stamp));
    if (log->json)
        len = asprintf(&line, "{\"level\":\"error\",\"msg\":\"%s\",\"time\":\"%s\"}\n", message, stamp);
    else
        len = asprintf(&line, "time=\"%s\" level=error msg=\"%s\"\n", stamp, message);
    if (len < 0)
        return;
    /* As the Python logger: a log that cannot be written loses the line. */
    int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        pyrunc_write_all(fd, line, (size_t)len);
        close(fd);
    }
    free(line);
}

int report_error(const struct log_target *log, const char *message)
{
    if (log->path)
        log_line(log, message);
    dprintf(STDERR_FILENO, "pyrunc: %s\n", message);
    return 1;
}
