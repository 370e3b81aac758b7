/* See features_doc.h.  Each probe is the one runtime/features.py makes, on the
 * same C functions where the Python path calls them through the extension
 * (native/probe.c, seccomp_compile.c, linked in): the two answers must be
 * the same bytes, which spec-tests/test_fast_path.py checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../probe.h"
#include "../seccomp_compile.h"
#include "../util.h"
#include "features_doc.h"
#include "status.h"

/* The rows of the generated tables. */
struct features_action {
    const char *name;               /* the runtime-spec name */
    int default_action;             /* seccomp.action_probe(action)'s filter */
    unsigned int default_errno_ret;
    int action;                     /* its one rule */
    unsigned int errno_ret;
    const char *syscall;
};

struct features_arch {
    const char *name;               /* the runtime-spec name */
    const char *lib_name;           /* libseccomp's */
};

struct features_flag {
    const char *name;
    unsigned int probe_bits;        /* seccomp.flag_probe_bits(name) */
};

/* Generated at build time into the build directory (setup.py). */
#include "features_tables.h"

#define MAX_SYS_FILE 4096

static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;     /* os.path.exists: any error is False */
}

/* Python's str.strip() for ASCII text: its whitespace includes \x1c-\x1f. */
static bool python_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

/* placement.apparmor_enabled: the module's parameter reads "Y" once
 * stripped; unreadable is False.  Text Python would decode differently
 * (or not at all) is FAST_DEFER. */
static int apparmor_enabled(bool *enabled)
{
    cleanup_free char *text = NULL;
    size_t len;
    int ret = read_file("/sys/module/apparmor/parameters/enabled", MAX_SYS_FILE, &text, &len);

    *enabled = false;
    if (ret == -EFBIG)
        return FAST_DEFER;
    if (ret == -ENOMEM)
        return ret;
    if (ret < 0)
        return 0;       /* Python's OSError */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] >= 0x80)
            return FAST_DEFER;
    size_t start = 0;
    while (start < len && python_space(text[start]))
        start++;
    while (len > start && python_space(text[len - 1]))
        len--;
    *enabled = len - start == 1 && text[start] == 'Y';
    return 0;
}

/* seccomp._action_supported: libseccomp compiles the action's probe filter. */
static bool action_supported(const struct features_action *a)
{
    static unsigned char bpf[FEATURES_SECCOMP_PROGRAM_BYTES];    /* untouched pages cost no memory */
    const char *const names[] = { a->syscall };
    struct pyrunc_seccomp_rule rule = { .n_names = 1, .names = names, .action = a->action,
                                        .errno_ret = a->errno_ret };
    struct pyrunc_seccomp_spec spec = { .default_action = a->default_action,
                                        .default_errno_ret = a->default_errno_ret, .n_rules = 1, .rules = &rule };
    struct pyrunc_seccomp_program program = { .bpf = bpf, .capacity = sizeof(bpf) };
    struct pyrunc_error err = { 0 };

    return pyrunc_seccomp_compile(&spec, &program, &err) == 0;
}

/* A NULL-terminated table as a list. */
static int write_names(struct json_writer *w, const char *key, const char *const *names)
{
    json_write_open(w, key, '[');
    for (; *names; names++)
        json_write_string(w, NULL, *names);
    return json_write_close(w);
}

/* seccomp.features() and the libseccomp version (library_version). */
static int write_seccomp(struct json_writer *w)
{
    json_write_open(w, "seccomp", '{');
    json_write_bool(w, "enabled", true);
    json_write_open(w, "actions", '[');
    for (const struct features_action *a = features_seccomp_actions; a->name; a++)
        if (action_supported(a))
            json_write_string(w, NULL, a->name);
    json_write_close(w);
    write_names(w, "operators", features_seccomp_operators);
    json_write_open(w, "archs", '[');
    for (const struct features_arch *a = features_seccomp_archs; a->name; a++)
        if (pyrunc_seccomp_arch_supported(a->lib_name))
            json_write_string(w, NULL, a->name);
    json_write_close(w);
    json_write_open(w, "knownFlags", '[');
    for (const struct features_flag *f = features_seccomp_flags; f->name; f++)
        json_write_string(w, NULL, f->name);
    json_write_close(w);
    json_write_open(w, "supportedFlags", '[');
    for (const struct features_flag *f = features_seccomp_flags; f->name; f++)
        if (pyrunc_seccomp_flags_supported(f->probe_bits))
            json_write_string(w, NULL, f->name);
    json_write_close(w);
    return json_write_close(w);
}

static int write_enabled(struct json_writer *w, const char *key, bool enabled)
{
    json_write_open(w, key, '{');
    json_write_bool(w, "enabled", enabled);
    return json_write_close(w);
}

int features_document(struct buf *out)
{
    struct json_writer w = { .out = out, .indent = 4 };
    bool mount_setattr = pyrunc_probe_mount_setattr(), openat2 = pyrunc_probe_openat2();
    /* cgroups.detect_mode: "v1" unless a unified hierarchy is at the root or at unified/. */
    bool v1 = !path_exists("/sys/fs/cgroup/cgroup.controllers")
              && !path_exists("/sys/fs/cgroup/unified/cgroup.controllers");
    unsigned int version = pyrunc_seccomp_library_version();
    char version_text[40];
    bool apparmor;
    int ret = apparmor_enabled(&apparmor);

    if (ret < 0)
        return ret;
    snprintf(version_text, sizeof(version_text), "%u.%u.%u",
             version / 1000000, version / 1000 % 1000, version % 1000);
    /* The keys and constants as features() has them (the tests compare
     * the bytes); a failed write makes the rest no-ops and stays in w.ret. */
    json_write_open(&w, NULL, '{');
    json_write_string(&w, "ociVersionMin", FEATURES_OCI_VERSION_MIN);
    json_write_string(&w, "ociVersionMax", FEATURES_OCI_VERSION_MAX);
    write_names(&w, "hooks", features_hooks);
    write_names(&w, "mountOptions", mount_setattr ? features_mount_options_setattr : features_mount_options);
    json_write_open(&w, "linux", '{');
    write_names(&w, "namespaces", features_namespaces);
    write_names(&w, "capabilities", features_capabilities);
    json_write_open(&w, "cgroup", '{');
    json_write_bool(&w, "v1", true);
    json_write_bool(&w, "v2", true);
    json_write_bool(&w, "systemd", false);
    json_write_bool(&w, "systemdUser", false);
    json_write_bool(&w, "rdma", !v1);
    json_write_close(&w);
    write_seccomp(&w);
    write_enabled(&w, "apparmor", apparmor);
    write_enabled(&w, "selinux", path_exists("/sys/fs/selinux/enforce"));
    write_enabled(&w, "intelRdt", false);
    json_write_open(&w, "mountExtensions", '{');
    write_enabled(&w, "idmap", mount_setattr);
    json_write_close(&w);
    json_write_close(&w);
    json_write_open(&w, "annotations", '{');
    json_write_string(&w, "io.github.seccomp.libseccomp.version", version_text);
    json_write_string(&w, "org.opencontainers.runtime-spec.features.pyrunc.kernel.openat2",
                      openat2 ? "true" : "false");
    json_write_close(&w);
    json_write_close(&w);
    return w.ret < 0 ? w.ret : buf_adds(out, "\n");
}
