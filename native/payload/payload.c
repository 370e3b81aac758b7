/* payload — a static probe copied into test root filesystems as /payload.
 *
 * Tests run `/payload COMMAND [ARGS...]` inside a container and parse the
 * one line of JSON it prints, so they check what the container really sees
 * instead of parsing shell output.  Failures go to stderr with exit 1;
 * usage errors exit 2.  Run it without arguments for the command list.
 *
 * Only libc is used, and nothing that needs NSS, so `gcc -static` works.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LENGTH(array) (sizeof(array) / sizeof((array)[0]))

extern char **environ;

static const char *current_command = "payload";

/* Report a failure (with strerror(error) unless error is 0) and stop.
 * _exit() drops the half-written JSON still in the stdout buffer, so a
 * caller never sees a truncated document. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int error, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "payload %s: ", current_command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (error)
        fprintf(stderr, ": %s", strerror(error));
    fputc('\n', stderr);
    _exit(1);
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p)
        fail(ENOMEM, "out of memory");
    return p;
}

/* ---- JSON writer ------------------------------------------------------ */

/* Tracks where commas go: one flag per open array/object saying whether it
 * already holds an item, and whether a key is waiting for its value. */
static struct {
    int depth;
    bool has_items[32];
    bool after_key;
    bool started;
} json;

static void json_value_prefix(void)
{
    json.started = true;
    if (json.after_key) {
        json.after_key = false;
        return;
    }
    if (json.has_items[json.depth])
        putchar(',');
    json.has_items[json.depth] = true;
}

/* Length of the valid UTF-8 sequence starting at s, or 1 for ASCII and
 * for a byte that does not start one. */
static size_t utf8_length(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t n;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 1;
    if (s[0] == 0xe0)
        lo = 0xa0; /* overlong */
    if (s[0] == 0xed)
        hi = 0x9f; /* UTF-16 surrogates */
    if (s[0] == 0xf0)
        lo = 0x90; /* overlong */
    if (s[0] == 0xf4)
        hi = 0x8f; /* beyond U+10FFFF */
    if (n > avail || s[1] < lo || s[1] > hi)
        return 1;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

/* Valid UTF-8 is copied as is; any other byte >= 0x80 comes out as the
 * code point of the same number (a Latin-1 reading), so the output is
 * always valid JSON and no byte is lost. */
static void json_string_len(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    json_value_prefix();
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        size_t n = utf8_length(u + i, len - i);

        if (n > 1) {
            fwrite(u + i, 1, n, stdout);
            i += n - 1;
            continue;
        }
        switch (u[i]) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (u[i] < 0x20 || u[i] >= 0x7f)
                printf("\\u%04x", u[i]);
            else
                putchar(u[i]);
        }
    }
    putchar('"');
}

static void json_string(const char *s)
{
    json_string_len(s, strlen(s));
}

static void json_null(void)
{
    json_value_prefix();
    fputs("null", stdout);
}

static void json_string_or_null(const char *s)
{
    if (s)
        json_string(s);
    else
        json_null();
}

static void json_key(const char *key)
{
    json_string(key);
    putchar(':');
    json.after_key = true;
}

static void json_open(char bracket)
{
    json_value_prefix();
    putchar(bracket);
    if (++json.depth >= (int)LENGTH(json.has_items))
        fail(0, "JSON nested too deeply");
    json.has_items[json.depth] = false;
}

static void json_close(char bracket)
{
    putchar(bracket);
    json.depth--;
}

static void json_int(long long value)
{
    json_value_prefix();
    printf("%lld", value);
}

static void json_bool(bool value)
{
    json_value_prefix();
    fputs(value ? "true" : "false", stdout);
}

/* ---- small helpers ---------------------------------------------------- */

/* The whole file, NUL-terminated (files under /proc report size 0, so
 * read until EOF).  NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 4096;
    char *buf;

    if (fd < 0)
        return NULL;
    buf = xrealloc(NULL, cap);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len - 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved_errno = errno;

            free(buf);
            close(fd);
            errno = saved_errno;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (cap - len < 2)
            buf = xrealloc(buf, cap *= 2);
    }
    close(fd);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static char *read_file_or_fail(const char *path, size_t *len_out)
{
    char *text = read_file(path, len_out);

    if (!text)
        fail(errno, "read %s", path);
    return text;
}

/* readlink() into a static buffer, NUL-terminated; NULL on failure. */
static const char *read_link(const char *path)
{
    static char target[PATH_MAX + 1];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0)
        return NULL;
    target[n] = '\0';
    return target;
}

static long long parse_number(const char *s)
{
    char *end;
    long long value;

    errno = 0;
    value = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        fail(0, "not a number: %s", s);
    return value;
}

/* The next line of a buffer, cut in place; NULL at the end. */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    char *end = strchrnul(line, '\n');

    if (!*line)
        return NULL;
    *cursor = *end ? end + 1 : end;
    *end = '\0';
    return line;
}

/* Splits s in place at every sep; returns the number of fields. */
static int split(char *s, char sep, char **fields, int max)
{
    int n = 0;

    while (n < max) {
        char *next = strchr(s, sep);

        fields[n++] = s;
        if (!next)
            break;
        *next = '\0';
        s = next + 1;
    }
    return n;
}

/* Undoes the \ooo octal escapes /proc/self/mountinfo uses for spaces,
 * tabs, newlines and backslashes in paths. */
static char *unescape_octal(char *s)
{
    char *in = s, *out = s;

    while (*in) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 4;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return s;
}

struct dir_listing {
    char **names;
    size_t count;
    int dir_fd; /* the fd the listing used (closed by now) */
};

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_numbers(const void *a, const void *b)
{
    long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);

    return (x > y) - (x < y);
}

/* The entries of a directory, without "." and "..", sorted by compare. */
static struct dir_listing list_dir(const char *path, int (*compare)(const void *, const void *))
{
    struct dir_listing listing = {NULL, 0, -1};
    DIR *dir = opendir(path);
    struct dirent *entry;

    if (!dir)
        fail(errno, "open %s", path);
    listing.dir_fd = dirfd(dir);
    for (;;) {
        errno = 0; /* readdir() returns NULL both at the end and on error */
        entry = readdir(dir);
        if (!entry)
            break;
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
            continue;
        listing.names = xrealloc(listing.names, (listing.count + 1) * sizeof(char *));
        listing.names[listing.count] = strdup(entry->d_name);
        if (!listing.names[listing.count++])
            fail(ENOMEM, "out of memory");
    }
    if (errno)
        fail(errno, "read %s", path);
    closedir(dir);
    qsort(listing.names, listing.count, sizeof(char *), compare);
    return listing;
}

static void free_listing(struct dir_listing *listing)
{
    for (size_t i = 0; i < listing->count; i++)
        free(listing->names[i]);
    free(listing->names);
}

/* ---- commands --------------------------------------------------------- */

/* Each command writes one JSON value (or nothing) to stdout.  args holds
 * the command's own arguments, NULL-terminated. */

static void cmd_ids(char **args)
{
    int count = getgroups(0, NULL);
    gid_t *groups;
    mode_t mask = umask(0);

    (void)args;
    umask(mask); /* umask() can only be read by setting it */
    if (count < 0)
        fail(errno, "getgroups");
    groups = xrealloc(NULL, (size_t)(count + 1) * sizeof(gid_t));
    count = getgroups(count, groups);
    if (count < 0)
        fail(errno, "getgroups");

    json_open('{');
    json_key("uid"); json_int(getuid());
    json_key("gid"); json_int(getgid());
    json_key("euid"); json_int(geteuid());
    json_key("egid"); json_int(getegid());
    json_key("groups"); json_open('[');
    for (int i = 0; i < count; i++)
        json_int(groups[i]);
    json_close(']');
    json_key("umask"); json_int(mask);
    json_close('}');
    free(groups);
}

/* The value of a "Name:\tvalue" line of a /proc status file, copied into
 * out; false when the field is missing. */
static bool status_field(const char *text, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);

    for (const char *line = text; line; line = strchr(line, '\n')) {
        line += *line == '\n'; /* step past the newline strchr() found */
        if (strncmp(line, name, name_len) || line[name_len] != ':')
            continue;
        line += name_len + 1;
        line += strspn(line, " \t");
        snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), line);
        return true;
    }
    return false;
}

static void cmd_caps(char **args)
{
    static const struct {
        const char *key, *field;
    } sets[] = {
        {"bounding", "CapBnd"},   {"effective", "CapEff"}, {"permitted", "CapPrm"},
        {"inheritable", "CapInh"}, {"ambient", "CapAmb"},
    };
    char *status = read_file_or_fail("/proc/self/status", NULL);
    int no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    char value[64];

    (void)args;
    if (no_new_privs < 0)
        fail(errno, "prctl(PR_GET_NO_NEW_PRIVS)");
    json_open('{');
    for (size_t i = 0; i < LENGTH(sets); i++) {
        json_key(sets[i].key);
        json_string_or_null(status_field(status, sets[i].field, value, sizeof(value)) ? value : NULL);
    }
    json_key("no_new_privs"); json_bool(no_new_privs == 1);
    json_close('}');
    free(status);
}

/* The optional fields of a mountinfo line ("shared:N", "master:N",
 * "unbindable", ...) as a propagation word, the way findmnt names them. */
static const char *mount_propagation(char **optional, int count)
{
    bool shared = false, slave = false, unbindable = false;

    for (int i = 0; i < count; i++) {
        shared |= !strncmp(optional[i], "shared:", 7);
        slave |= !strncmp(optional[i], "master:", 7);
        unbindable |= !strcmp(optional[i], "unbindable");
    }
    if (shared && slave)
        return "shared,slave";
    if (shared)
        return "shared";
    if (slave)
        return "slave";
    return unbindable ? "unbindable" : "private";
}

/* mountinfo line: id parent major:minor root mount_point options
 * [optional fields...] - fstype source super_options */
static void cmd_mounts(char **args)
{
    char *text = read_file_or_fail("/proc/self/mountinfo", NULL);
    char *cursor = text, *line;

    (void)args;
    json_open('[');
    while ((line = next_line(&cursor))) {
        char *fields[64];
        int n, dash;

        n = split(line, ' ', fields, LENGTH(fields));
        for (dash = 6; dash < n && strcmp(fields[dash], "-"); dash++)
            ;
        if (dash + 3 >= n)
            fail(0, "unexpected mountinfo line");
        json_open('{');
        json_key("mount_point"); json_string(unescape_octal(fields[4]));
        json_key("root"); json_string(unescape_octal(fields[3]));
        json_key("fstype"); json_string(fields[dash + 1]);
        json_key("source"); json_string(unescape_octal(fields[dash + 2]));
        json_key("options"); json_string(fields[5]);
        json_key("super_options"); json_string(fields[dash + 3]);
        json_key("propagation"); json_string(mount_propagation(fields + 6, dash - 6));
        json_close('}');
    }
    json_close(']');
    free(text);
}

static void cmd_rlimits(char **args)
{
#define RLIMIT_ENTRY(name) {#name, name}
    static const struct {
        const char *name;
        int resource;
    } limits[] = {
        RLIMIT_ENTRY(RLIMIT_AS),      RLIMIT_ENTRY(RLIMIT_CORE),       RLIMIT_ENTRY(RLIMIT_CPU),
        RLIMIT_ENTRY(RLIMIT_DATA),    RLIMIT_ENTRY(RLIMIT_FSIZE),      RLIMIT_ENTRY(RLIMIT_LOCKS),
        RLIMIT_ENTRY(RLIMIT_MEMLOCK), RLIMIT_ENTRY(RLIMIT_MSGQUEUE),   RLIMIT_ENTRY(RLIMIT_NICE),
        RLIMIT_ENTRY(RLIMIT_NOFILE),  RLIMIT_ENTRY(RLIMIT_NPROC),      RLIMIT_ENTRY(RLIMIT_RSS),
        RLIMIT_ENTRY(RLIMIT_RTPRIO),  RLIMIT_ENTRY(RLIMIT_RTTIME),     RLIMIT_ENTRY(RLIMIT_SIGPENDING),
        RLIMIT_ENTRY(RLIMIT_STACK),
    };
#undef RLIMIT_ENTRY

    (void)args;
    json_open('{');
    for (size_t i = 0; i < LENGTH(limits); i++) {
        struct rlimit limit;

        if (getrlimit(limits[i].resource, &limit) < 0)
            fail(errno, "getrlimit(%s)", limits[i].name);
        json_key(limits[i].name); json_open('[');
        json_int(limit.rlim_cur == RLIM_INFINITY ? -1 : (long long)limit.rlim_cur);
        json_int(limit.rlim_max == RLIM_INFINITY ? -1 : (long long)limit.rlim_max);
        json_close(']');
    }
    json_close('}');
}

static void cmd_cwd(char **args)
{
    char path[PATH_MAX];

    (void)args;
    if (!getcwd(path, sizeof(path)))
        fail(errno, "getcwd");
    json_string(path);
}

static void cmd_env(char **args)
{
    (void)args;
    json_open('[');
    for (char **var = environ; var && *var; var++)
        json_string(*var);
    json_close(']');
}

static void cmd_hostname(char **args)
{
    struct utsname names;

    (void)args;
    if (uname(&names) < 0)
        fail(errno, "uname");
    json_open('{');
    json_key("hostname"); json_string(names.nodename);
    json_key("domainname"); json_string(names.domainname);
    json_close('}');
}

static void cmd_isatty(char **args)
{
    (void)args;
    json_open('{');
    json_key("stdin"); json_bool(isatty(0));
    json_key("stdout"); json_bool(isatty(1));
    json_key("stderr"); json_bool(isatty(2));
    json_close('}');
}

static void cmd_fds(char **args)
{
    struct dir_listing listing = list_dir("/proc/self/fd", compare_numbers);
    char path[64];

    (void)args;
    json_open('[');
    for (size_t i = 0; i < listing.count; i++) {
        const char *target;

        if (atoi(listing.names[i]) == listing.dir_fd)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", listing.names[i]);
        target = read_link(path);
        json_open('{');
        json_key("fd"); json_int(atoi(listing.names[i]));
        json_key("target"); json_string_or_null(target);
        json_close('}');
    }
    json_close(']');
    free_listing(&listing);
}

/* Namespace identities: the inode in "pid:[4026531836]"; null when the
 * kernel lacks that namespace type. */
static void cmd_ns(char **args)
{
    static const char *const types[] = {"pid", "mnt", "net", "ipc", "uts", "cgroup", "user", "time"};
    char path[64];

    (void)args;
    json_open('{');
    for (size_t i = 0; i < LENGTH(types); i++) {
        const char *link;
        const char *bracket;

        snprintf(path, sizeof(path), "/proc/self/ns/%s", types[i]);
        link = read_link(path);
        bracket = link ? strchr(link, '[') : NULL;
        json_key(types[i]);
        if (bracket)
            json_int(atoll(bracket + 1));
        else
            json_null();
    }
    json_close('}');
}

static void cmd_pid(char **args)
{
    (void)args;
    json_open('{');
    json_key("pid"); json_int(getpid());
    json_key("ppid"); json_int(getppid());
    json_close('}');
}

static void cmd_oom(char **args)
{
    char *text = read_file_or_fail("/proc/self/oom_score_adj", NULL);

    (void)args;
    json_int(atoll(text));
    free(text);
}

/* `sysctl net.ipv4.ip_forward` reads /proc/sys/net/ipv4/ip_forward. */
static void cmd_sysctl(char **args)
{
    char path[PATH_MAX];
    char *text;
    size_t len;

    snprintf(path, sizeof(path), "/proc/sys/%s", args[0]);
    for (char *c = path + strlen("/proc/sys/"); *c; c++)
        if (*c == '.')
            *c = '/';
    text = read_file_or_fail(path, &len);
    if (len > 0 && text[len - 1] == '\n')
        len--;
    json_string_len(text, len);
    free(text);
}

static const char *file_type(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "link";
    case S_IFSOCK: return "sock";
    default: return "unknown";
    }
}

/* lstat(); a path that cannot be looked up is {"exists":false,"errno":N}. */
static void cmd_stat(char **args)
{
    struct stat st;
    const char *target;

    json_open('{');
    if (lstat(args[0], &st) < 0) {
        json_key("exists"); json_bool(false);
        json_key("errno"); json_int(errno);
        json_close('}');
        return;
    }
    target = S_ISLNK(st.st_mode) ? read_link(args[0]) : NULL;
    json_key("exists"); json_bool(true);
    json_key("type"); json_string(file_type(st.st_mode));
    json_key("mode"); json_int(st.st_mode & 07777);
    json_key("uid"); json_int(st.st_uid);
    json_key("gid"); json_int(st.st_gid);
    json_key("major"); json_int(major(st.st_rdev));
    json_key("minor"); json_int(minor(st.st_rdev));
    json_key("target"); json_string_or_null(target);
    json_close('}');
}

static void cmd_cat(char **args)
{
    size_t len;
    char *text = read_file_or_fail(args[0], &len);

    json_string_len(text, len);
    free(text);
}

/* Reports the outcome instead of failing: tests use it to check that a
 * path is read-only or masked. */
static void cmd_write(char **args)
{
    int fd = open(args[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(args[1]);
    int error = 0;

    if (fd < 0)
        error = errno;
    else if (write(fd, args[1], len) != (ssize_t)len)
        error = errno ? errno : EIO;
    if (fd >= 0 && close(fd) < 0 && !error)
        error = errno;
    json_open('{');
    json_key("ok"); json_bool(error == 0);
    json_key("errno"); json_int(error);
    json_close('}');
}

/* A raw system call by number, up to six integer arguments: what a filter
 * answers for calls no libc wrapper here makes. */
static void cmd_syscall(char **args)
{
    long a[7] = { 0 };
    int n = 0;
    long ret;

    for (; args[n] && n < 7; n++)
        a[n] = strtol(args[n], NULL, 0);
    if (n == 0)
        fail(EINVAL, "syscall needs a number");
    errno = 0;
    ret = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    json_open('{');
    json_key("ok"); json_bool(ret >= 0);
    json_key("errno"); json_int(ret < 0 ? errno : 0);
    json_close('}');
}

/* Write text to a file of /proc/self (the id maps); errno or 0. */
static int write_proc_self(const char *name, const char *text)
{
    char path[64];
    int fd, error = 0;

    snprintf(path, sizeof(path), "/proc/self/%s", name);
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
        return errno;
    if (write(fd, text, strlen(text)) < 0)
        error = errno;
    close(fd);
    return error;
}

/* FSTYPE on DIR from a child: proc shows the pid namespace its caller is
 * in, which must be one of the new user namespace's.  errno or 0. */
static int mount_in_child(const char *fstype, const char *dir)
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(mount(fstype, dir, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? errno : 0);
    if (waitpid(pid, &status, 0) < 0)
        return errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

/* What an unprivileged process may try: new user, mount, network and pid
 * namespaces of its own, then a fresh FSTYPE (proc, sysfs) on DIR.  The
 * kernel allows it only where the mount namespace holds a fully visible
 * one already.  Reports {"mounted":bool,"errno":N,"step":"..."}. */
static void cmd_userns_mount(char **args)
{
    char map[64];
    const char *step = "unshare";
    uid_t uid = geteuid();
    gid_t gid = getegid();
    int error = 0;

    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) < 0) {
        error = errno;
    } else {
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        step = "uid_map";
        if (!(error = write_proc_self("uid_map", map))) {
            step = "setgroups";
            if (!(error = write_proc_self("setgroups", "deny"))) {
                snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
                step = "gid_map";
                error = write_proc_self("gid_map", map);
            }
        }
        step = error ? step : "mount";
        if (!error)
            error = mount_in_child(args[0], args[1]);
    }
    json_open('{');
    json_key("mounted"); json_bool(error == 0);
    json_key("errno"); json_int(error);
    json_key("step"); json_string(step);
    json_close('}');
}

static void cmd_ls(char **args)
{
    struct dir_listing listing = list_dir(args[0], compare_names);

    json_open('[');
    for (size_t i = 0; i < listing.count; i++)
        json_string(listing.names[i]);
    json_close(']');
    free_listing(&listing);
}

/* Interfaces from /proc/net/dev (two header lines, then "  name: stats"),
 * each with its IFF_UP flag. */
static void cmd_net(char **args)
{
    char *text = read_file_or_fail("/proc/net/dev", NULL);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    char *cursor = text, *line;

    (void)args;
    if (sock < 0)
        fail(errno, "socket");
    next_line(&cursor);
    next_line(&cursor);
    json_open('[');
    while ((line = next_line(&cursor))) {
        char *name = line + strspn(line, " ");
        char *colon = strchr(name, ':');
        struct ifreq request;

        if (!colon)
            continue;
        *colon = '\0';
        memset(&request, 0, sizeof(request));
        snprintf(request.ifr_name, sizeof(request.ifr_name), "%s", name);
        if (ioctl(sock, SIOCGIFFLAGS, &request) < 0)
            fail(errno, "SIOCGIFFLAGS %s", name);
        json_open('{');
        json_key("name"); json_string(name);
        json_key("up"); json_bool(request.ifr_flags & IFF_UP);
        json_close('}');
    }
    json_close(']');
    close(sock);
    free(text);
}

/* Plain text, not JSON: the arguments joined by spaces. */
static void cmd_echo(char **args)
{
    for (char **arg = args; *arg; arg++)
        printf("%s%s", *arg, arg[1] ? " " : "");
    putchar('\n');
}

static void cmd_exit(char **args)
{
    fflush(stdout);
    exit((int)parse_number(args[0]));
}

static void cmd_sleep(char **args)
{
    char *end;
    double seconds = strtod(args[0], &end);
    struct timespec left;

    if (end == args[0] || *end != '\0' || seconds < 0)
        fail(0, "not a number of seconds: %s", args[0]);
    left.tv_sec = (time_t)seconds;
    left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static void ignore_signal(int signo)
{
    (void)signo;
}

/* Waits for any catchable signal and prints {"signal":"SIGTERM","number":15}.
 * A handler is installed as well as the block because, as pid 1 of a pid
 * namespace, a process only receives signals it handles. */
static void cmd_signal(char **args)
{
    struct sigaction action = {.sa_handler = ignore_signal};
    sigset_t all;
    int signo;
    const char *abbrev;
    char name[32];

    (void)args;
    sigfillset(&all);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &action, NULL); /* fails harmlessly for KILL, STOP, glibc's own */
    if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
        fail(errno, "sigprocmask");
    fputs("payload: waiting for a signal\n", stderr);
    do
        signo = sigwaitinfo(&all, NULL);
    while (signo < 0 && errno == EINTR);
    if (signo < 0)
        fail(errno, "sigwaitinfo");

    abbrev = sigabbrev_np(signo);
    if (abbrev)
        snprintf(name, sizeof(name), "SIG%s", abbrev);
    else
        snprintf(name, sizeof(name), "SIGRTMIN+%d", signo - SIGRTMIN);
    json_open('{');
    json_key("signal"); json_string(name);
    json_key("number"); json_int(signo);
    json_close('}');
}

static void cmd_all(char **args);

static const struct command {
    const char *name;
    const char *usage; /* arguments */
    int nargs;         /* required arguments; -1: any number */
    bool in_all;       /* part of the `all` object */
    void (*run)(char **args);
} commands[] = {
    {"ids", "", 0, true, cmd_ids},
    {"caps", "", 0, true, cmd_caps},
    {"mounts", "", 0, false, cmd_mounts},
    {"rlimits", "", 0, true, cmd_rlimits},
    {"cwd", "", 0, true, cmd_cwd},
    {"env", "", 0, true, cmd_env},
    {"hostname", "", 0, true, cmd_hostname},
    {"isatty", "", 0, true, cmd_isatty},
    {"fds", "", 0, true, cmd_fds},
    {"ns", "", 0, true, cmd_ns},
    {"pid", "", 0, true, cmd_pid},
    {"oom", "", 0, true, cmd_oom},
    {"sysctl", " NAME", 1, false, cmd_sysctl},
    {"stat", " PATH", 1, false, cmd_stat},
    {"cat", " PATH", 1, false, cmd_cat},
    {"write", " PATH TEXT", 2, false, cmd_write},
    {"syscall", " NR [ARG...]", -1, false, cmd_syscall},
    {"ls", " PATH", 1, false, cmd_ls},
    {"userns-mount", " FSTYPE DIR", 2, false, cmd_userns_mount},
    {"net", "", 0, false, cmd_net},
    {"echo", " ARGS...", -1, false, cmd_echo},
    {"exit", " N", 1, false, cmd_exit},
    {"sleep", " SECONDS", 1, false, cmd_sleep},
    {"signal", "", 0, false, cmd_signal},
    {"all", "", 0, false, cmd_all},
};


static void cmd_all(char **args)
{
    json_open('{');
    for (size_t i = 0; i < LENGTH(commands); i++) {
        if (!commands[i].in_all)
            continue;
        json_key(commands[i].name);
        commands[i].run(args);
    }
    json_close('}');
}

static int usage(void)
{
    fputs("usage: payload COMMAND [ARGS...]\ncommands:\n", stderr);
    for (size_t i = 0; i < LENGTH(commands); i++)
        fprintf(stderr, "  %s%s\n", commands[i].name, commands[i].usage);
    return 2;
}

int main(int argc, char **argv)
{
    /* A large buffer keeps the line whole until the command has finished. */
    static char stdout_buffer[1 << 20];

    setvbuf(stdout, stdout_buffer, _IOFBF, sizeof(stdout_buffer));
    if (argc < 2)
        return usage();
    for (size_t i = 0; i < LENGTH(commands); i++) {
        const struct command *command = &commands[i];

        if (strcmp(argv[1], command->name))
            continue;
        if (command->nargs >= 0 && argc - 2 != command->nargs) {
            fprintf(stderr, "usage: payload %s%s\n", command->name, command->usage);
            return 2;
        }
        current_command = command->name;
        command->run(argv + 2);
        if (json.started)
            putchar('\n');
        if (fflush(stdout) != 0)
            fail(errno, "write to stdout");
        return 0;
    }
    fprintf(stderr, "payload: unknown command %s\n", argv[1]);
    return usage();
}
