/* The launcher's signal names (native/launcher/signals.c) are
 * container.py parse_signal's, and its error lines (report.c) are those
 * of the Python CLI and its logger. */
#define _GNU_SOURCE
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "report.h"
#include "signals.h"
#include "status.h"

static void check_log_line(bool json, const char *pattern)
{
    char path[] = "/tmp/launcher-log-XXXXXX";
    int fd = mkstemp(path);
    char line[512] = { 0 };
    regex_t re;

    CHECK(fd >= 0);
    struct log_target log = { .path = path, .json = json };
    CHECK(report_error(&log, "container c1: init exited before it started") == 1);
    CHECK(read(fd, line, sizeof(line) - 1) > 0);
    close(fd);
    unlink(path);
    CHECK(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0);
    CHECK(regexec(&re, line, 0, NULL, 0) == 0);
    regfree(&re);
}

int main(void)
{
    CHECK(parse_signal("") == SIGTERM);
    CHECK(parse_signal("9") == SIGKILL);
    CHECK(parse_signal("0") == 0);
    CHECK(parse_signal("064") == 64);
    CHECK(parse_signal("65") == FAST_DEFER);     /* refused by the kernel: Python words it */
    CHECK(parse_signal("99999999999999999999") == FAST_DEFER);
    CHECK(parse_signal("KILL") == SIGKILL);
    CHECK(parse_signal("sigkill") == SIGKILL);
    CHECK(parse_signal("SigUsr1") == SIGUSR1);
    CHECK(parse_signal("STKFLT") == SIGSTKFLT);
    CHECK(parse_signal("SIGSIGKILL") == FAST_DEFER);
    CHECK(parse_signal("IOT") == FAST_DEFER);     /* an alias runc does not know */
    CHECK(parse_signal("RTMIN") == FAST_DEFER);
    CHECK(parse_signal("-9") == FAST_DEFER);
    CHECK(parse_signal("SIG") == FAST_DEFER);

    check_log_line(true, "^\\{\"level\":\"error\",\"msg\":\"container c1: init exited before it started\","
                         "\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z\"\\}\n$");
    check_log_line(false, "^time=\"[0-9T:.-]{29}Z\" level=error msg=\"container c1: init exited before it started\"\n$");
    return 0;
}
