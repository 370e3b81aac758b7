/* The plan: a flat, fully resolved description of one container process.
 *
 * Python (runtime/plan.py) fills these structs through cffi; the C side
 * (init.c) only executes them.  Every decision — flag bits, paths, masks —
 * is made in Python, so nothing here parses config.json.
 *
 * This header is also fed to cffi's cdef, so it must stay free of macros and
 * types cffi does not know; build_ffi.py drops the include-guard lines.
 */
#ifndef PYRUNC_PLAN_H
#define PYRUNC_PLAN_H

struct pyrunc_error {
    int code;          /* positive errno, 0 when no error */
    char msg[1024];
};

/* One namespace to create (path == NULL) or join (path set). */
struct pyrunc_namespace {
    int type;          /* a CLONE_NEW* bit */
    const char *path;
};

/* Kinds of mount steps. */
enum {
    PYRUNC_MOUNT_FS = 0,        /* mount(source, dest, fstype, flags, data) */
    PYRUNC_MOUNT_BIND = 1,      /* bind (rbind when flags has MS_REC), then remount */
    PYRUNC_MOUNT_SYMLINK = 2,   /* symlink(source, dest): /dev/fd and friends */
};

struct pyrunc_mount {
    int kind;
    const char *source;         /* host path for binds (resolved), fs source otherwise */
    const char *destination;    /* absolute path inside the container */
    const char *fstype;
    unsigned long flags;        /* MS_* for the first mount call */
    unsigned long remount_flags;/* MS_* for a bind remount (0 = none needed) */
    unsigned long propagation;  /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [|MS_REC], 0 = none */
    const char *data;           /* filesystem options, or NULL */
    int recursive_readonly;     /* rro: mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE) */
    int source_is_dir;          /* bind: create a directory (1) or a file (0) at dest */
    int copy_up;                /* tmpcopyup: copy what was at the destination into the new tmpfs */
    int detached_fd;            /* bind: a prepared (idmapped) detached mount to move onto
                                   dest instead of binding source; -1 = none (idmap.h) */
    int keep_covered_mode;      /* tmpfs without mode=: take the mode of the directory it covers */
    int readonly_later;         /* mounted writable, made read-only once the container's files
                                   are in (tmpfs, /dev), as runc does */
};

struct pyrunc_device {
    const char *path;           /* absolute inside the container */
    unsigned int mode;          /* S_IFCHR/S_IFBLK/S_IFIFO | permissions */
    unsigned int major;
    unsigned int minor;
    unsigned int uid;
    unsigned int gid;
    int bind_from_host;         /* bind the host node instead of mknod */
};

struct pyrunc_rlimit {
    int resource;
    unsigned long long soft;
    unsigned long long hard;
};

struct pyrunc_sysctl {
    const char *key;            /* already turned into a /proc/sys path */
    const char *value;
};

/* A hook the init runs itself (createContainer, startContainer). */
struct pyrunc_hook {
    const char *path;
    const char *const *argv;    /* NULL-terminated */
    const char *const *envp;    /* NULL-terminated, or NULL for the program's environment */
    int timeout;                /* seconds; 0 = no limit */
};

/* sched_setattr(2) fields of process.scheduler. */
struct pyrunc_scheduler {
    int policy;
    int nice;
    int priority;
    unsigned long long flags;
    unsigned long long runtime;
    unsigned long long deadline;
    unsigned long long period;
};

/* A CPU or NUMA node set as bitmask words (bit n of word n/64 = id n). */
struct pyrunc_mask {
    int n_words;                /* 0 = not set */
    const unsigned long long *words;
};

struct pyrunc_process {
    const char *const *argv;    /* NULL-terminated */
    const char *const *envp;    /* NULL-terminated */
    const char *cwd;
    unsigned int uid;
    unsigned int gid;
    int n_additional_gids;
    const unsigned int *additional_gids;
    int umask;                  /* -1 = leave as is */
    int n_rlimits;
    const struct pyrunc_rlimit *rlimits;
    int no_new_privileges;
    int has_capabilities;       /* 0 = leave capabilities untouched */
    unsigned long long cap_bounding;
    unsigned long long cap_effective;
    unsigned long long cap_permitted;
    unsigned long long cap_inheritable;
    unsigned long long cap_ambient;
    int preserve_fds;           /* fds 3 .. 3+n-1 survive execve */
    int has_scheduler;
    struct pyrunc_scheduler scheduler;
    int io_priority;            /* ioprio_set value (class << 13 | level); -1 = leave */
    struct pyrunc_mask cpu_affinity_initial;  /* applied as the process starts */
    struct pyrunc_mask cpu_affinity_final;    /* applied before any seccomp filter */
    long long personality;      /* personality(2) value; -1 = leave */
    const char *apparmor_profile;   /* NULL = none */
    const char *selinux_label;      /* NULL = none */
};

/* Where the init loads the seccomp filter (runc's order). */
enum {
    PYRUNC_SECCOMP_NONE = 0,
    PYRUNC_SECCOMP_BEFORE_IDENTITY = 1, /* no no_new_privs: needs CAP_SYS_ADMIN, still held */
    PYRUNC_SECCOMP_BEFORE_READY = 2,    /* notify: the listener fd must reach `create` */
    PYRUNC_SECCOMP_BEFORE_START_HOOKS = 3, /* no_new_privs: late, yet before startContainer hooks (runc) */
};

/* What the init does with the rootfs (struct pyrunc_plan.rootfs_setup). */
enum {
    PYRUNC_ROOTFS_KEEP = 0,     /* exec: the joined mount namespace is the container's view */
    PYRUNC_ROOTFS_BUILD = 1,    /* mounts, devices, pivot_root in a new or joined mount namespace */
    PYRUNC_ROOTFS_CHROOT = 2,   /* no mount namespace: files only, then chroot; no mount at all */
};

struct pyrunc_plan {
    int n_namespaces;
    const struct pyrunc_namespace *namespaces;

    int rootfs_setup;           /* PYRUNC_ROOTFS_* */
    const char *rootfs;         /* absolute host path */
    int rootfs_readonly;
    unsigned long rootfs_propagation; /* MS_* applied to "/" of the new mount ns */
    int no_pivot;
    /* The session keyring to join, so that no key of the caller's session
     * is reachable: one of this name the process may search, else a new
     * one ("_ses.ID", runc's, which exec joins too); NULL = keep the
     * caller's (--no-new-keyring). */
    const char *session_keyring;
    unsigned int session_keyring_perm;  /* KEY_*_SEARCH the init adds for exec to find it; 0 = none */
    const char *time_offsets;   /* /proc/self/timens_offsets text, or NULL */
    const char *staging_dir;    /* an empty host directory of ours (stage.h), or NULL */
    int memory_policy_mode;     /* set_mempolicy mode | flags; -1 = leave */
    struct pyrunc_mask memory_policy_nodes;
    int n_mounts;
    const struct pyrunc_mount *mounts;
    int n_devices;
    const struct pyrunc_device *devices;
    int n_masked_paths;
    const char *const *masked_paths;
    int n_readonly_paths;
    const char *const *readonly_paths;
    const char *hostname;       /* NULL = leave */
    const char *domainname;
    int n_sysctls;
    const struct pyrunc_sysctl *sysctls;

    struct pyrunc_process process;

    int terminal;               /* give the process a pty as stdio */
    int console_socket_fd;      /* where the pty master goes (terminal only) */
    unsigned short console_height;
    unsigned short console_width;

    /* Hooks: with runtime_hooks the init stops before pivot_root (HOOKS
     * message) while the runtime runs prestart and createRuntime. */
    int runtime_hooks;
    int n_create_container_hooks;
    const struct pyrunc_hook *create_container_hooks;
    int n_start_container_hooks;
    const struct pyrunc_hook *start_container_hooks;

    /* Compiled seccomp filter (struct sock_filter[]), loaded with seccomp(2)
     * and seccomp_flags (SECCOMP_FILTER_FLAG_*) at seccomp_load_at. */
    const unsigned char *seccomp_bpf;
    unsigned int seccomp_bpf_len;   /* bytes; 0 = no filter */
    unsigned int seccomp_flags;
    int seccomp_load_at;            /* PYRUNC_SECCOMP_* */

    int sync_fd;                /* child end of the parent/child socketpair */
    int fifo_fd;                /* O_PATH fd of exec.fifo; -1 = start at once */

    /* The container's cgroup, joined by the init itself, which the kernel
     * does without the global lock a move by pid takes (an RCU grace
     * period, milliseconds, per move): cgroup v1 `tasks` files the init
     * writes "0" to, and a cgroup v2 directory it is cloned into
     * (CLONE_INTO_CGROUP; -1 = none). */
    int n_cgroup_fds;
    const int *cgroup_fds;
    int cgroup_dir_fd;
};

#endif
