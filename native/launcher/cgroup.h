/* The cgroup work of start and delete (runtime/cgroups/base.py, v1.py and
 * v2.py), for a container whose cgroup pyrunc made; anything else (a
 * cgroup pyrunc did not make, processes left in it) is FAST_DEFER. */
#ifndef PYRUNC_LAUNCHER_CGROUP_H
#define PYRUNC_LAUNCHER_CGROUP_H

#include <stdbool.h>

#include "status.h"

struct cgroup_dirs {
    const struct json_node *paths;      /* controller -> directory */
    const struct json_node *created;    /* the directories pyrunc made, or NULL */
    const char *procs_dir;              /* the one whose tree holds every process */
    const char *freezer;                /* freezer directory (v2: the unified one), or NULL */
    bool v2;
};

/* The saved cgroup of c: 1 with *dirs, 0 for none, FAST_DEFER for a
 * cgroup pyrunc did not make. */
int cgroup_dirs_of(const struct container *c, struct cgroup_dirs *dirs);

/* held_frozen: the freezer is not THAWED (v2: cgroup.freeze or frozen), a
 * process moved in would not run: 1, 0, or FAST_DEFER for odd files. */
int cgroup_held_frozen(const struct cgroup_dirs *dirs);

/* 1 when the procs directory or a cgroup below it lists a process. */
int cgroup_has_processes(const struct cgroup_dirs *dirs);

/* CgroupManager.destroy: 0 or -errno. */
int cgroup_destroy(const struct container *c, const struct cgroup_dirs *dirs);

#endif
