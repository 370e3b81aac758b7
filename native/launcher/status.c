/* See status.h.  Each check mirrors runtime/state.py (check_state,
 * ContainerState.status) and runtime/cgroups (manager_from_state,
 * is_frozen); where Python would refuse the state or where its answer is
 * not certain here, FAST_DEFER. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util.h"
#include "status.h"

#define MAX_STATE_FILE (1 << 20)    /* larger ones are left to jsonio */
#define MAX_PROC_FILE (64 << 10)
#define STATE_VERSION 1

static const char *const CAPABILITY_SETS[] = { "bounding", "effective", "permitted", "inheritable", "ambient" };

int read_file(const char *path, size_t max, char **out, size_t *out_len)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    cleanup_free char *data = NULL;
    size_t len = 0;

    if (fd < 0)
        return -errno;
    data = malloc(max + 1);
    if (!data)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, data + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return -EFBIG;
    }
    data[len] = '\0';
    *out = data;
    data = NULL;
    *out_len = len;
    return 0;
}

bool container_id_valid(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > 255 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-") == len;
}

char *path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir);
    char *path = NULL;

    if (asprintf(&path, "%s%s%s", dir, len && dir[len - 1] != '/' ? "/" : "", name) < 0)
        return NULL;
    return path;
}

/* A path os.path.normpath leaves as it is, written plainly. */
static bool clean_absolute(const char *path)
{
    if (path[0] != '/')
        return false;
    if (strcmp(path, "/") == 0)
        return true;
    if (strstr(path, "//") || path[strlen(path) - 1] == '/' || strstr(path, "/./") || strstr(path, "/../"))
        return false;
    const char *last = strrchr(path, '/');
    return strcmp(last, "/.") != 0 && strcmp(last, "/..") != 0;
}

static bool strings_only(const struct json_doc *doc, const struct json_node *node, enum json_type type)
{
    if (!node || node->type != type)
        return false;
    for (const struct json_node *m = json_first(doc, node); m; m = json_next(doc, m))
        if (m->type != JSON_STRING)
            return false;
    return true;
}

/* manager_from_state would accept it (and _removable every created path). */
static bool cgroup_valid(const struct json_doc *doc, const struct json_node *cg)
{
    const struct json_node *mode = json_get(doc, cg, "mode"), *root = json_get(doc, cg, "root");
    const struct json_node *paths = json_get(doc, cg, "paths"), *created = json_get(doc, cg, "created");
    bool v2;

    if (!json_uint_in(json_get(doc, cg, "version"), STATE_VERSION, STATE_VERSION)
        || !json_is_string(mode) || !json_is_string(root) || !json_is_string(json_get(doc, cg, "path"))
        || !strings_only(doc, paths, JSON_OBJECT) || (created && !strings_only(doc, created, JSON_ARRAY)))
        return false;
    v2 = strcmp(mode->str, "v2") == 0;
    if (!v2 && strcmp(mode->str, "v1") != 0 && strcmp(mode->str, "hybrid") != 0)
        return false;
    if (v2 && !json_get(doc, paths, "unified"))
        return false;
    /* top = root.rstrip("/") + "/" */
    size_t top = root->len;
    while (top > 0 && root->str[top - 1] == '/')
        top--;
    for (const struct json_node *p = created ? json_first(doc, created) : NULL; p; p = json_next(doc, p)) {
        if (!clean_absolute(p->str) || strncmp(p->str, root->str, top) != 0 || p->str[top] != '/')
            return false;
        if (!v2 && !strchr(p->str + top + 1, '/'))
            return false;
    }
    return true;
}

/* `value.get(key) or default` is of the type. */
static bool falsy_or(const struct json_doc *doc, const struct json_node *obj, const char *key, enum json_type type)
{
    const struct json_node *value = json_get(doc, obj, key);
    return !value || !json_truthy(value) || value->type == type;
}

static bool config_valid(const struct json_doc *doc, const struct json_node *config)
{
    const struct json_node *process, *caps;

    if (!config || config->type != JSON_OBJECT || !falsy_or(doc, config, "hooks", JSON_OBJECT)
        || !falsy_or(doc, config, "process", JSON_OBJECT))
        return false;
    process = json_get(doc, config, "process");
    if (!process || !json_truthy(process))
        return true;
    if (!falsy_or(doc, process, "env", JSON_ARRAY) || !falsy_or(doc, process, "capabilities", JSON_OBJECT))
        return false;
    caps = json_get(doc, process, "capabilities");
    if (!caps || !json_truthy(caps))
        return true;
    for (size_t i = 0; i < sizeof(CAPABILITY_SETS) / sizeof(*CAPABILITY_SETS); i++)
        if (!falsy_or(doc, caps, CAPABILITY_SETS[i], JSON_ARRAY))
            return false;
    return true;
}

/* check_state found nothing wrong. */
static bool state_valid(const struct json_doc *doc, const struct json_node *s)
{
    static const char *const strings[] = { "ociVersion", "bundle", "rootfs", "created", "owner" };
    const struct json_node *v;

    if (!s || s->type != JSON_OBJECT || !json_uint_in(json_get(doc, s, "pid"), 0, 0x7fffffff))
        return false;
    v = json_get(doc, s, "pidStartTime");
    if (!v || (v->type != JSON_NULL && !json_uint_in(v, 0, UINT64_MAX)))
        return false;
    for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++) {
        v = json_get(doc, s, strings[i]);
        if (v && v->type != JSON_STRING)
            return false;
    }
    v = json_get(doc, s, "annotations");
    if (v && v->type != JSON_NULL && !strings_only(doc, v, JSON_OBJECT))
        return false;
    v = json_get(doc, s, "cgroup");
    if (v && v->type != JSON_NULL && !cgroup_valid(doc, v))
        return false;
    v = json_get(doc, s, "initPidNs");
    if (v && !json_uint_in(v, 1, UINT64_MAX))
        return false;
    v = json_get(doc, s, "initCgroup");
    if (v && (!strings_only(doc, v, JSON_ARRAY) || v->child == JSON_NONE || !json_next(doc, json_first(doc, v))
              || json_next(doc, json_next(doc, json_first(doc, v)))))
        return false;
    return config_valid(doc, json_get(doc, s, "config"));
}

/* Field 22 of /proc/PID/stat: 1 with *start, 0 when gone or a zombie. */
static int process_start_time(unsigned pid, unsigned long long *start)
{
    char path[64];
    cleanup_free char *stat = NULL;
    size_t len;
    char *p, *end;

    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    if (read_file(path, MAX_PROC_FILE, &stat, &len) < 0)
        return 0;
    p = strrchr(stat, ')');
    if (!p || strlen(p) < 4 || p[1] != ' ')
        return FAST_DEFER;
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0;
    for (int field = 0; field < 19; field++) {
        p = strchr(p, ' ');
        if (!p)
            return FAST_DEFER;
        p++;
    }
    errno = 0;
    *start = strtoull(p, &end, 10);
    if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
        return FAST_DEFER;
    return 1;
}

/* cgroup_of: 1 with *path (in the buffer *text), 0 for none. */
static int cgroup_of(unsigned pid, const char *hierarchy, char **text, const char **path)
{
    char file[64];
    size_t len;

    snprintf(file, sizeof(file), "/proc/%u/cgroup", pid);
    if (read_file(file, MAX_PROC_FILE, text, &len) < 0)
        return 0;
    /* Only plain lines: Python splits on more line ends than \n. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)(*text)[i];
        if (c >= 0x80 || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e) || c == '\0')
            return FAST_DEFER;
    }
    for (char *line = *text, *next; *line; line = next) {
        char *newline = strchr(line, '\n');
        next = newline ? newline + 1 : line + strlen(line);
        if (newline)
            *newline = '\0';
        char *colon1 = strchr(line, ':');
        char *colon2 = colon1 ? strchr(colon1 + 1, ':') : NULL;
        if (!colon2)
            return FAST_DEFER;
        *colon2 = '\0';
        const char *controllers = colon1 + 1;
        bool match = !*hierarchy ? !*controllers : false;
        for (const char *c = controllers; *hierarchy && c;) {
            const char *comma = strchr(c, ',');
            size_t n = comma ? (size_t)(comma - c) : strlen(c);
            if (n == strlen(hierarchy) && strncmp(c, hierarchy, n) == 0)
                match = true;
            c = comma ? comma + 1 : NULL;
        }
        if (match) {
            *path = colon2 + 1;
            return 1;
        }
    }
    return 0;
}

/* ContainerState._is_init: 1, 0 or FAST_DEFER. */
static int is_init(const struct container *c, unsigned pid)
{
    const struct json_node *ns = json_get(&c->doc, c->state, "initPidNs");
    const struct json_node *recorded = json_get(&c->doc, c->state, "initCgroup");
    cleanup_free char *text = NULL;
    const char *actual = NULL;
    char path[64];
    struct stat st;

    if (ns) {
        snprintf(path, sizeof(path), "/proc/%u/ns/pid", pid);
        if (stat(path, &st) < 0 || (uint64_t)st.st_ino != ns->magnitude)
            return 0;
    }
    if (!recorded)
        return 1;
    const struct json_node *hierarchy = json_first(&c->doc, recorded);
    const char *want = json_next(&c->doc, hierarchy)->str;
    int ret = cgroup_of(pid, hierarchy->str, &text, &actual);
    if (ret <= 0)
        return ret;
    size_t n = strlen(want);
    return strcmp(want, "/") != 0 && strncmp(actual, want, n) == 0 && (actual[n] == '\0' || actual[n] == '/');
}

/* A cgroup file's text with Python's str.strip() whitespace trimmed;
 * NULL when it cannot be read (Python: OSError, "not frozen"). */
char *read_stripped(const char *dir, const char *name)
{
    cleanup_free char *path = path_join(dir, name);
    char *text = NULL;
    size_t len;

    if (!path || read_file(path, MAX_PROC_FILE, &text, &len) < 0)
        return NULL;
    static const char space[] = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    while (len && strchr(space, text[len - 1]))
        text[--len] = '\0';
    size_t skip = strspn(text, space);
    memmove(text, text + skip, len - skip + 1);
    return text;
}

/* cgroup v2's freezer (v2.py): with held, whether cgroup.freeze is "1" or
 * cgroup.events says "frozen 1" (held_frozen: a process would not run);
 * without, whether both are (is_frozen: paused).  FAST_DEFER for an
 * events file of another form than the kernel's. */
int cgroup2_frozen(const char *dir, bool held)
{
    cleanup_free char *freeze = read_stripped(dir, "cgroup.freeze");
    cleanup_free char *events = NULL;
    bool freezing = freeze && strcmp(freeze, "1") == 0, frozen = false;

    /* Where cgroup.freeze decides (held and "1", or not held and not "1"),
     * cgroup.events is not read, as v2.py does not read it: state and
     * list check every container's. */
    if (freezing == held)
        return freezing;
    events = read_stripped(dir, "cgroup.events");
    /* The kernel writes "key value" lines; anything else is left to Python. */
    for (char *line = events ? strtok(events, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char key[64], value[24];
        int end = 0;
        if (sscanf(line, "%63s %23[0-9]%n", key, value, &end) != 2 || line[end] != '\0')
            return FAST_DEFER;
        if (strcmp(key, "frozen") == 0)
            frozen = strtoull(value, NULL, 10) == 1;
    }
    return frozen;
}

/* v1: FROZEN by itself, not through an ancestor. */
static int v1_frozen(const char *dir)
{
    cleanup_free char *state = read_stripped(dir, "freezer.state");
    cleanup_free char *self = NULL;

    if (!state || strcmp(state, "FROZEN") != 0)
        return 0;
    self = read_stripped(dir, "freezer.self_freezing");
    return self && strcmp(self, "1") == 0;
}

static int is_frozen(const struct container *c)
{
    const struct json_node *cg = json_get(&c->doc, c->state, "cgroup");
    const struct json_node *paths, *dir;
    bool v2;

    if (!cg || cg->type == JSON_NULL)
        return 0;
    paths = json_get(&c->doc, cg, "paths");
    v2 = strcmp(json_get(&c->doc, cg, "mode")->str, "v2") == 0;
    dir = json_get(&c->doc, paths, v2 ? "unified" : "freezer");
    if (!dir)
        return 0;
    if (dir->str[0] != '/')
        return FAST_DEFER;     /* relative to our working directory: odd */
    return v2 ? cgroup2_frozen(dir->str, false) : v1_frozen(dir->str);
}

int container_init_alive(const struct container *c)
{
    const struct json_node *recorded = json_get(&c->doc, c->state, "pidStartTime");
    unsigned pid = container_pid(c);
    unsigned long long start = 0;
    int ret = 0;

    if (pid > 0)
        ret = process_start_time(pid, &start);
    if (ret <= 0)
        return ret;
    if (recorded->type != JSON_INT || start != recorded->magnitude)
        return 0;
    return is_init(c, pid);
}

unsigned container_pid(const struct container *c)
{
    return (unsigned)json_get(&c->doc, c->state, "pid")->magnitude;
}

/* ContainerState.status with container.py's is_frozen. */
static int compute_status(struct container *c)
{
    int ret;

    c->status = "stopped";
    ret = container_init_alive(c);
    if (ret <= 0)
        return ret;
    ret = is_frozen(c);
    if (ret < 0)
        return ret;
    if (ret) {
        c->status = "paused";
        return 0;
    }
    cleanup_free char *fifo = path_join(c->dir, "exec.fifo");
    struct stat st;
    if (!fifo)
        return -ENOMEM;
    c->status = stat(fifo, &st) == 0 ? "created" : "running";
    return 0;
}

int container_load(struct container *c, const char *root, const char *id)
{
    cleanup_free char *file = NULL;
    size_t len;
    int ret;

    *c = (struct container){ 0 };
    if (!container_id_valid(id))
        return FAST_DEFER;
    c->dir = path_join(root, id);
    file = c->dir ? path_join(c->dir, "state.json") : NULL;
    if (!file)
        return -ENOMEM;
    /* Missing (deleted, or a create interrupted), unreadable, too large:
     * the Python CLI says what it is. */
    if (read_file(file, MAX_STATE_FILE, &c->text, &len) < 0)
        return FAST_DEFER;
    if (strlen(c->text) != len)
        return FAST_DEFER;
    ret = json_parse(&c->doc, c->text, len);
    if (ret == -ENOMEM)
        return ret;
    if (ret < 0)
        return FAST_DEFER;
    c->state = &c->doc.nodes[0];
    if (!state_valid(&c->doc, c->state))
        return FAST_DEFER;
    return compute_status(c);
}

void container_free(struct container *c)
{
    free(c->dir);
    free(c->text);
    json_free(&c->doc);
    *c = (struct container){ 0 };
}
