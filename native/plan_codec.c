#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "plan_codec.h"

/* One walk over every pointer of a plan serves both directions: the
 * flattening copies what a pointer points to into the buffer and stores
 * its offset; the unflattening turns offsets back into pointers. */
struct codec {
    int flatten;
    unsigned char *buf;
    size_t len;
    size_t capacity;
    int failed;     /* an errno once something did not fit or was out of bounds */
};

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Flatten: copy size bytes from *field into the buffer.  Unflatten: check
 * that size bytes at the offset in *field lie in the buffer.  Either way
 * *field ends up as this direction wants it; returns where the bytes are
 * in the buffer (to walk what they point to), or NULL. */
static void *fix(struct codec *c, const void **field, size_t size)
{
    uintptr_t at;

    if (*field == NULL || c->failed)
        return NULL;
    if (c->flatten) {
        at = align8(c->len);
        if (at + size > c->capacity) {
            c->failed = ENOSPC;
            return NULL;
        }
        memcpy(c->buf + at, *field, size);
        c->len = at + size;
        *field = (const void *)(at + 1);
        return c->buf + at;
    }
    at = (uintptr_t)*field - 1;
    if (at > c->len || size > c->len - at) {
        c->failed = EINVAL;
        return NULL;
    }
    *field = c->buf + at;
    return c->buf + at;
}

/* Bytes up to and including the NUL (or the element count +1 up to and
 * including the NULL entry) of what *field points to, in either direction. */
static size_t string_size(struct codec *c, const char *text)
{
    const char *end;
    uintptr_t at;

    if (c->flatten)
        return strlen(text) + 1;
    at = (uintptr_t)text - 1;
    if (at >= c->len || !(end = memchr(c->buf + at, '\0', c->len - at))) {
        c->failed = EINVAL;
        return 0;
    }
    return (size_t)(end - (const char *)(c->buf + at)) + 1;
}

static void fix_string(struct codec *c, const char **field)
{
    if (*field && !c->failed)
        fix(c, (const void **)field, string_size(c, *field));
}

static void fix_strings(struct codec *c, const char *const **field)
{
    const char **array;
    size_t n = 0;

    if (*field == NULL || c->failed)
        return;
    if (c->flatten) {
        while ((*field)[n])
            n++;
    } else {
        /* Find the NULL entry inside the buffer. */
        uintptr_t at = (uintptr_t)*field - 1;
        const char *const *entries = (const char *const *)(c->buf + at);
        size_t room = at < c->len ? (c->len - at) / sizeof(char *) : 0;
        while (n < room && entries[n])
            n++;
        if (n == room) {
            c->failed = EINVAL;
            return;
        }
    }
    array = fix(c, (const void **)field, (n + 1) * sizeof(char *));
    for (size_t i = 0; array && i < n; i++)
        fix_string(c, &array[i]);
}

static void *fix_array(struct codec *c, const void **field, int count, size_t size)
{
    return count > 0 ? fix(c, field, (size_t)count * size) : NULL;
}

static void fix_mask(struct codec *c, struct pyrunc_mask *mask)
{
    fix_array(c, (const void **)&mask->words, mask->n_words, sizeof(*mask->words));
}

static void fix_hooks(struct codec *c, const struct pyrunc_hook **field, int count)
{
    struct pyrunc_hook *hooks = fix_array(c, (const void **)field, count, sizeof(**field));

    for (int i = 0; hooks && i < count; i++) {
        fix_string(c, &hooks[i].path);
        fix_strings(c, &hooks[i].argv);
        fix_strings(c, &hooks[i].envp);
    }
}

static void fix_process(struct codec *c, struct pyrunc_process *p)
{
    fix_strings(c, &p->argv);
    fix_strings(c, &p->envp);
    fix_string(c, &p->cwd);
    fix_array(c, (const void **)&p->additional_gids, p->n_additional_gids, sizeof(*p->additional_gids));
    fix_array(c, (const void **)&p->rlimits, p->n_rlimits, sizeof(*p->rlimits));
    fix_mask(c, &p->cpu_affinity_initial);
    fix_mask(c, &p->cpu_affinity_final);
    fix_string(c, &p->apparmor_profile);
    fix_string(c, &p->selinux_label);
}

static void fix_plan(struct codec *c, struct pyrunc_plan *plan)
{
    struct pyrunc_namespace *namespaces;
    struct pyrunc_mount *mounts;
    struct pyrunc_device *devices;
    struct pyrunc_sysctl *sysctls;

    namespaces = fix_array(c, (const void **)&plan->namespaces, plan->n_namespaces, sizeof(*namespaces));
    for (int i = 0; namespaces && i < plan->n_namespaces; i++)
        fix_string(c, &namespaces[i].path);
    fix_string(c, &plan->rootfs);
    fix_string(c, &plan->time_offsets);
    fix_string(c, &plan->staging_dir);
    fix_string(c, &plan->session_keyring);
    fix_mask(c, &plan->memory_policy_nodes);
    mounts = fix_array(c, (const void **)&plan->mounts, plan->n_mounts, sizeof(*mounts));
    for (int i = 0; mounts && i < plan->n_mounts; i++) {
        fix_string(c, &mounts[i].source);
        fix_string(c, &mounts[i].destination);
        fix_string(c, &mounts[i].fstype);
        fix_string(c, &mounts[i].data);
    }
    devices = fix_array(c, (const void **)&plan->devices, plan->n_devices, sizeof(*devices));
    for (int i = 0; devices && i < plan->n_devices; i++)
        fix_string(c, &devices[i].path);
    fix_strings(c, &plan->masked_paths);
    fix_strings(c, &plan->readonly_paths);
    fix_string(c, &plan->hostname);
    fix_string(c, &plan->domainname);
    sysctls = fix_array(c, (const void **)&plan->sysctls, plan->n_sysctls, sizeof(*sysctls));
    for (int i = 0; sysctls && i < plan->n_sysctls; i++) {
        fix_string(c, &sysctls[i].key);
        fix_string(c, &sysctls[i].value);
    }
    fix_process(c, &plan->process);
    fix_hooks(c, &plan->create_container_hooks, plan->n_create_container_hooks);
    fix_hooks(c, &plan->start_container_hooks, plan->n_start_container_hooks);
    fix(c, (const void **)&plan->seccomp_bpf, plan->seccomp_bpf_len);
    fix_array(c, (const void **)&plan->cgroup_fds, plan->n_cgroup_fds, sizeof(*plan->cgroup_fds));
}

int pyrunc_plan_flatten(const struct pyrunc_plan *plan, unsigned char *buf, size_t capacity,
                        size_t *len, struct pyrunc_error *err)
{
    struct codec c = { .flatten = 1, .buf = buf, .len = sizeof(*plan), .capacity = capacity };

    if (capacity < sizeof(*plan))
        return pyrunc_fail(err, ENOSPC, "the plan does not fit in %zu bytes", capacity);
    memcpy(buf, plan, sizeof(*plan));
    fix_plan(&c, (struct pyrunc_plan *)buf);
    if (c.failed)
        return pyrunc_fail(err, c.failed, "the plan does not fit in %zu bytes", capacity);
    *len = c.len;
    return 0;
}

int pyrunc_plan_unflatten(unsigned char *buf, size_t len, struct pyrunc_plan **plan,
                          struct pyrunc_error *err)
{
    struct codec c = { .flatten = 0, .buf = buf, .len = len, .capacity = len };

    if (len < sizeof(**plan) || ((uintptr_t)buf & 7))
        return pyrunc_fail(err, EINVAL, "a plan of %zu bytes is too short or misaligned", len);
    fix_plan(&c, (struct pyrunc_plan *)buf);
    if (c.failed)
        return pyrunc_fail(err, c.failed, "the plan is corrupt: a pointer leaves its buffer");
    *plan = (struct pyrunc_plan *)buf;
    return 0;
}
