/* A container's state as runtime/state.py loads it and its status as
 * runtime/container.py `status_of` computes it from kernel facts, for the
 * cases where both are certain; any doubt is FAST_DEFER and the Python CLI
 * answers instead. */
#ifndef PYRUNC_LAUNCHER_STATUS_H
#define PYRUNC_LAUNCHER_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* Leave the command to the Python CLI (not an errno: below all of them). */
#define FAST_DEFER (-100000)

struct container {
    char *dir;              /* root/id */
    char *text;             /* the state file, decoded in place by doc */
    struct json_doc doc;
    const struct json_node *state;
    const char *status;     /* created, running, paused or stopped */
};

/* A valid container id (runtime/state.py validate_id). */
bool container_id_valid(const char *id);

/* os.path.join(dir, name) for a relative name; NULL without memory. */
char *path_join(const char *dir, const char *name);

/* Load root/id/state.json, check it as check_state does and compute the
 * status.  0, FAST_DEFER or -errno. */
int container_load(struct container *c, const char *root, const char *id);
void container_free(struct container *c);

/* ContainerState.init_alive: the recorded init still runs and is the one
 * create made (start time, pid namespace, cgroup).  1, 0 or FAST_DEFER. */
int container_init_alive(const struct container *c);
unsigned container_pid(const struct container *c);

/* The whole file (at most max bytes, NUL-terminated): 0, -EFBIG or -errno. */
int read_file(const char *path, size_t max, char **out, size_t *out_len);

/* dir/name's text, trimmed as Python's str.strip(); NULL when unreadable. */
char *read_stripped(const char *dir, const char *name);
/* cgroup v2's freezer state in dir: see status.c. */
int cgroup2_frozen(const char *dir, bool held);

#endif
