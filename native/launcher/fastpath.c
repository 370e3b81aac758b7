/* See fastpath.h.  Only the plain forms engines use are taken here:
 * known global flags without --debug (runtime/cli/main.py), then `state ID`,
 * `list [-q] [--format table|json]`, the lifecycle verbs or a bare
 * `features`.  Every other command line, every error and every container
 * this cannot judge goes to the Python CLI, which also writes the
 * messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util.h"
#include "fastpath.h"
#include "features_doc.h"
#include "lifecycle.h"
#include "status.h"

#define OCI_VERSION "1.2.0"

struct globals {
    const char *root;       /* --root, or NULL */
    struct log_target log;  /* --log (or NULL) and --log-format */
};

static void cleanup_buf(struct buf *buf)
{
    free(buf->data);
}

static void cleanup_container(struct container *c)
{
    container_free(c);
}

static void cleanup_containers(struct container **list)
{
    for (struct container *c = *list; c && c->dir; c++)
        container_free(c);
    free(*list);
}

static void cleanup_dir(DIR **dir)
{
    if (*dir)
        closedir(*dir);
}

/* A flag's name as Go's flag package reads `-name`, `--name`, `-name=v`:
 * 1 with *name (and *value when inline), 0 when arg is no flag. */
static int flag_name(const char *arg, char *name, size_t size, const char **value)
{
    if (arg[0] != '-' || !arg[1] || strcmp(arg, "--") == 0)
        return 0;
    arg += arg[1] == '-' ? 2 : 1;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n == 0 || n >= size)
        return FAST_DEFER;
    memcpy(name, arg, n);
    name[n] = '\0';
    *value = eq ? eq + 1 : NULL;
    return 1;
}

/* The global flags before the verb; *next is the verb's index. */
static int parse_globals(int argc, char **argv, struct globals *g, int *next)
{
    bool seen[5] = { false };
    static const char *const names[] = { "root", "log", "log-format", "criu", "rootless" };
    int i = 1;

    for (; i < argc; i++) {
        char name[32];
        const char *value = NULL;
        int ret = flag_name(argv[i], name, sizeof(name), &value);
        if (ret < 0)
            return ret;
        if (ret == 0)
            break;
        if (strcmp(name, "systemd-cgroup") == 0 && !value)
            continue;   /* no verb here uses it */
        size_t k = 0;
        while (k < 5 && strcmp(name, names[k]) != 0)
            k++;
        /* --debug, --help, --version, unknown flags, repeats: Python. */
        if (k == 5 || seen[k])
            return FAST_DEFER;
        seen[k] = true;
        if (!value) {
            if (++i >= argc)
                return FAST_DEFER;
            value = argv[i];
        }
        if (k == 0)
            g->root = *value ? value : NULL;
        else if (k == 1)
            g->log.path = *value ? value : NULL;
        else if (k == 2 && strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
            return FAST_DEFER;
        else if (k == 2)
            g->log.json = strcmp(value, "json") == 0;
        /* --criu is ignored and --rootless is only read by verbs that create. */
    }
    if (i >= argc || argv[i][0] == '-')
        return FAST_DEFER;
    *next = i;
    return 0;
}

/* state.py default_root: root's /run/pyrunc, else under XDG_RUNTIME_DIR. */
static int default_root(char **root)
{
    const char *runtime_dir = getenv("XDG_RUNTIME_DIR");
    char fallback[64];
    struct stat st;

    if (geteuid() == 0) {
        *root = strdup("/run/pyrunc");
        return *root ? 0 : -ENOMEM;
    }
    if (!runtime_dir || !*runtime_dir) {
        snprintf(fallback, sizeof(fallback), "/run/user/%u", (unsigned)geteuid());
        if (stat(fallback, &st) < 0 || !S_ISDIR(st.st_mode))
            return FAST_DEFER;
        runtime_dir = fallback;
    }
    *root = path_join(runtime_dir, "pyrunc");
    return *root ? 0 : -ENOMEM;
}

/* What log.configure does without --debug: create the --log file. */
static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return FAST_DEFER;     /* Python reports it */
    close(fd);
    return 0;
}

/* The OCI state object (container.py state_json); indent 0 is compact. */
static int add_state(struct buf *out, const struct container *c, const char *id, const char *owner, bool pretty)
{
    const struct json_doc *doc = &c->doc;
    const char *sep = pretty ? ",\n  " : ",", *colon = pretty ? ": " : ":";
    const struct json_node *v, *annotations = json_get(doc, c->state, "annotations");
    static const char *const strings[] = { "bundle", "rootfs", "created", "owner" };
    bool stopped = strcmp(c->status, "stopped") == 0;
    int ret = 0;    /* each buf_ call gives 0 or -ENOMEM: OR-ed, any failure stays */

    v = json_get(doc, c->state, "ociVersion");
    ret |= buf_adds(out, pretty ? "{\n  \"ociVersion\": " : "{\"ociVersion\":");
    ret |= v ? buf_add_json_string(out, v->str, v->len) : buf_adds(out, "\"" OCI_VERSION "\"");
    ret |= buf_adds(out, sep) | buf_adds(out, "\"id\"") | buf_adds(out, colon) | buf_add_json_string(out, id, strlen(id));
    ret |= buf_adds(out, sep) | buf_adds(out, "\"pid\"") | buf_adds(out, colon);
    ret |= buf_addu(out, stopped ? 0 : json_get(doc, c->state, "pid")->magnitude);
    ret |= buf_adds(out, sep) | buf_adds(out, "\"status\"") | buf_adds(out, colon);
    ret |= buf_add_json_string(out, c->status, strlen(c->status));
    for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++) {
        ret |= buf_adds(out, sep) | buf_add_json_string(out, strings[i], strlen(strings[i])) | buf_adds(out, colon);
        v = json_get(doc, c->state, strings[i]);
        if (i == 3 && owner)
            ret |= buf_add_json_string(out, owner, strlen(owner));
        else
            ret |= v ? buf_add_json_string(out, v->str, v->len) : buf_adds(out, "\"\"");
    }
    if (annotations && json_truthy(annotations)) {
        ret |= buf_adds(out, sep) | buf_adds(out, "\"annotations\"") | buf_adds(out, colon) | buf_adds(out, "{");
        for (v = json_first(doc, annotations); v; v = json_next(doc, v)) {
            ret |= buf_adds(out, v == json_first(doc, annotations) ? "" : ",");
            ret |= buf_adds(out, pretty ? "\n    " : "") | buf_add_json_string(out, v->key, strlen(v->key));
            ret |= buf_adds(out, colon) | buf_add_json_string(out, v->str, v->len);
        }
        ret |= buf_adds(out, pretty ? "\n  }" : "}");
    }
    ret |= buf_adds(out, pretty ? "\n}" : "}");
    return ret ? -ENOMEM : 0;
}

static int write_out(const struct buf *out)
{
    /* Python encodes text for the locale it finds (UTF-8, Latin-1, or an
     * error for ASCII): anything but ASCII is left to it. */
    for (size_t i = 0; i < out->len; i++)
        if ((unsigned char)out->data[i] >= 0x80)
            return FAST_DEFER;
    /* As the interpreter does when its final flush fails. */
    return pyrunc_write_all(STDOUT_FILENO, out->data, out->len) < 0 ? 120 : 0;
}

static int run_state(const char *root, int argc, char **argv)
{
    __attribute__((cleanup(cleanup_container))) struct container c = { 0 };
    __attribute__((cleanup(cleanup_buf))) struct buf out = { 0 };
    int ret;

    if (argc != 1 || argv[0][0] == '-')
        return FAST_DEFER;
    ret = container_load(&c, root, argv[0]);
    if (ret < 0)
        return ret;
    ret = add_state(&out, &c, argv[0], NULL, true);
    if (ret < 0 || (ret = buf_adds(&out, "\n")) < 0)
        return ret;
    return write_out(&out);
}

static int run_features(int argc)
{
    __attribute__((cleanup(cleanup_buf))) struct buf out = { 0 };
    int ret;

    if (argc != 0)
        return FAST_DEFER;      /* --help, arguments: the CLI's answer or error */
    ret = features_document(&out);
    return ret < 0 ? ret : write_out(&out);
}

/* The user named by uid in /etc/passwd, as pwd.getpwuid finds it when
 * nsswitch.conf consults the files first; FAST_DEFER when another source
 * may know better. */
static int user_name(uid_t uid, char *name, size_t size)
{
    cleanup_free char *line = NULL;
    size_t cap = 0;
    FILE *nss = fopen("/etc/nsswitch.conf", "re");
    FILE *passwd;
    bool files_first = nss == NULL && errno == ENOENT;
    int ret = FAST_DEFER;

    while (nss && getline(&line, &cap, nss) > 0) {
        char source[16];
        if (strncmp(line, "passwd:", 7) == 0)
            files_first = sscanf(line + 7, "%15s", source) == 1 && strcmp(source, "files") == 0;
    }
    if (nss)
        fclose(nss);
    passwd = files_first ? fopen("/etc/passwd", "re") : NULL;
    if (!passwd)
        return FAST_DEFER;
    while (getline(&line, &cap, passwd) > 0) {
        char *fields[3] = { line, NULL, NULL };
        if (line[0] == '+' || line[0] == '-')
            break;      /* compat entries: NIS */
        for (int i = 1; i < 3; i++) {
            fields[i] = strchr(fields[i - 1], ':');
            if (!fields[i])
                break;
            *fields[i]++ = '\0';
        }
        if (!fields[2])
            continue;
        char *end;
        unsigned long value = strtoul(fields[2], &end, 10);
        if (end == fields[2] || *end != ':' || value != uid)
            continue;
        if (strlen(fields[0]) < size && strspn(fields[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$") == strlen(fields[0]) && fields[0][0]) {
            strcpy(name, fields[0]);
            ret = 0;
        }
        break;
    }
    fclose(passwd);
    return ret;
}

/* The column width Python's len() counts: code points. */
static size_t width(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

struct row {
    char pid[24];
    const char *cells[6];
};

/* runc's tabwriter table (list.py table()). */
static int add_table(struct buf *out, struct row *rows, size_t n)
{
    size_t widths[5];
    int ret = 0;

    for (size_t col = 0; col < 5; col++) {
        widths[col] = 12;
        for (size_t r = 0; r < n; r++)
            if (width(rows[r].cells[col]) + 3 > widths[col])
                widths[col] = width(rows[r].cells[col]) + 3;
    }
    for (size_t r = 0; r < n && !ret; r++) {
        for (size_t col = 0; col < 5; col++) {
            ret |= buf_adds(out, rows[r].cells[col]);
            for (size_t w = width(rows[r].cells[col]); w < widths[col]; w++)
                ret |= buf_add(out, " ", 1);
        }
        ret |= buf_adds(out, rows[r].cells[5]) | buf_adds(out, "\n");
    }
    return ret ? -ENOMEM : 0;
}

/* list's flags, in any order: -q/--quiet, -f/--format table|json. */
static int parse_list_args(int argc, char **argv, bool *quiet, const char **format)
{
    bool seen_format = false;

    for (int i = 0; i < argc; i++) {
        char name[16];
        const char *value = NULL;
        if (flag_name(argv[i], name, sizeof(name), &value) != 1)
            return FAST_DEFER;
        if ((strcmp(name, "q") == 0 || strcmp(name, "quiet") == 0) && !value && !*quiet) {
            *quiet = true;
        } else if ((strcmp(name, "f") == 0 || strcmp(name, "format") == 0) && !seen_format) {
            seen_format = true;
            if (!value && ++i >= argc)
                return FAST_DEFER;
            *format = value ? value : argv[i];
        } else {
            return FAST_DEFER;
        }
    }
    return strcmp(*format, "table") == 0 || strcmp(*format, "json") == 0 ? 0 : FAST_DEFER;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cleanup_names(char ***names)
{
    for (char **p = *names; p && *p; p++)
        free(*p);
    free(*names);
}

/* StateStore.ids(): the directories under root, sorted, none with '@'. */
static int list_ids(const char *root, char ***out, size_t *count)
{
    __attribute__((cleanup(cleanup_dir))) DIR *dir = opendir(root);
    __attribute__((cleanup(cleanup_names))) char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *entry;

    *count = 0;
    if (!dir)
        return errno == ENOENT ? 0 : FAST_DEFER;
    while ((errno = 0, entry = readdir(dir))) {
        cleanup_free char *path = NULL;
        struct stat st;
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0 || strchr(entry->d_name, '@'))
            continue;
        path = path_join(root, entry->d_name);
        if (!path)
            return -ENOMEM;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        /* Other names (Python would list them as "unknown"), to Python. */
        if (!container_id_valid(entry->d_name))
            return FAST_DEFER;
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 16;
            char **bigger = realloc(names, cap * sizeof(*names));
            if (!bigger)
                return -ENOMEM;
            names = bigger;
        }
        names[n] = strdup(entry->d_name);
        if (!names[n])
            return -ENOMEM;
        names[++n] = NULL;
    }
    if (errno)
        return FAST_DEFER;
    if (n)
        qsort(names, n, sizeof(*names), compare_names);
    *out = names;
    names = NULL;
    *count = n;
    return 0;
}

static int run_list(const char *root, int argc, char **argv)
{
    __attribute__((cleanup(cleanup_names))) char **ids = NULL;
    __attribute__((cleanup(cleanup_containers))) struct container *list = NULL;
    __attribute__((cleanup(cleanup_buf))) struct buf out = { 0 };
    cleanup_free struct row *rows = NULL;
    cleanup_free char *owners = NULL;
    const char *format = "table";
    bool quiet = false;
    size_t n;
    int ret;

    ret = parse_list_args(argc, argv, &quiet, &format);
    if (ret < 0)
        return ret;
    ret = list_ids(root, &ids, &n);
    if (ret < 0)
        return ret;
    list = calloc(n + 1, sizeof(*list));
    rows = calloc(n + 1, sizeof(*rows));
    owners = calloc(n + 1, 256);
    if (!list || !rows || !owners)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        ret = container_load(&list[i], root, ids[i]);
        if (ret < 0)
            return ret;
        /* _owner_name: the state directory's owner. */
        if (stat(list[i].dir, &st) < 0)
            return FAST_DEFER;
        ret = user_name(st.st_uid, owners + i * 256, 256);
        if (ret < 0)
            return ret;
    }
    if (quiet) {
        for (size_t i = 0; i < n && ret == 0; i++)
            ret = buf_adds(&out, ids[i]) | buf_adds(&out, "\n");
    } else if (strcmp(format, "json") == 0) {
        ret = buf_adds(&out, "[");
        for (size_t i = 0; i < n && ret == 0; i++)
            ret = buf_adds(&out, i ? "," : "") | add_state(&out, &list[i], ids[i], owners + i * 256, false);
        ret |= buf_adds(&out, "]\n");
    } else {
        static const char *const columns[] = { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" };
        memcpy(rows[0].cells, columns, sizeof(columns));
        for (size_t i = 0; i < n; i++) {
            const struct json_doc *doc = &list[i].doc;
            const struct json_node *v;
            struct row *row = &rows[i + 1];
            bool stopped = strcmp(list[i].status, "stopped") == 0;
            snprintf(row->pid, sizeof(row->pid), "%llu",
                     stopped ? 0ULL : (unsigned long long)json_get(doc, list[i].state, "pid")->magnitude);
            row->cells[0] = ids[i];
            row->cells[1] = row->pid;
            row->cells[2] = list[i].status;
            v = json_get(doc, list[i].state, "bundle");
            row->cells[3] = v ? v->str : "";
            v = json_get(doc, list[i].state, "created");
            row->cells[4] = v ? v->str : "";
            row->cells[5] = owners + i * 256;
        }
        ret = add_table(&out, rows, n + 1);
    }
    if (ret < 0)
        return -ENOMEM;
    return write_out(&out);
}

int fast_path(int argc, char **argv)
{
    struct globals g = { 0 };
    cleanup_free char *root = NULL;
    int verb, ret;

    /* PYRUNC_TRACE asks the Python CLI for its timings. */
    if (getenv("PYRUNC_TRACE"))
        return FAST_DEFER;
    ret = parse_globals(argc, argv, &g, &verb);
    if (ret < 0)
        return ret;
    enum { STATE, LIST, START, KILL, DELETE, FEATURES, VERBS };
    static const char *const verbs[VERBS] = {
        [STATE] = "state", [LIST] = "list", [START] = "start", [KILL] = "kill", [DELETE] = "delete",
        [FEATURES] = "features",
    };
    int which = 0;
    while (which < VERBS && strcmp(argv[verb], verbs[which]) != 0)
        which++;
    if (which == VERBS)
        return FAST_DEFER;
    /* features needs no root: the CLI finds it only for verbs that use it. */
    if (which != FEATURES) {
        root = g.root ? strdup(g.root) : NULL;
        ret = g.root ? (root ? 0 : -ENOMEM) : default_root(&root);
        if (ret < 0)
            return ret;
    }
    if (g.log.path && (ret = open_log(g.log.path)) < 0)
        return ret;
    argc -= verb + 1;
    argv += verb + 1;
    switch (which) {
    case STATE: return run_state(root, argc, argv);
    case LIST: return run_list(root, argc, argv);
    case START: return run_start(root, &g.log, argc, argv);
    case KILL: return run_kill(root, argc, argv);
    case DELETE: return run_delete(root, argc, argv);
    default: return run_features(argc);
    }
}
