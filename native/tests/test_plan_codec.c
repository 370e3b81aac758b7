/* The plan through the flat buffer pyrunc-init receives: everything
 * survives a move to another address, and a bad offset is refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan_codec.h"

int main(void)
{
    const char *argv[] = { "/bin/sh", "-c", "echo hi", NULL };
    const char *envp[] = { "PATH=/bin", NULL };
    const char *masked[] = { "/proc/kcore", NULL };
    struct pyrunc_namespace namespaces[] = { { 0x20000, NULL }, { 0x40000000, "/run/netns/x" } };
    struct pyrunc_mount mounts[] = { { .kind = 0, .source = "proc", .destination = "/proc",
                                       .fstype = "proc", .data = NULL, .detached_fd = -1 } };
    unsigned long long cpus[] = { 0x3 };
    unsigned char bpf[16] = { 1, 2, 3 };
    struct pyrunc_plan plan = {
        .n_namespaces = 2, .namespaces = namespaces, .rootfs = "/var/lib/rootfs",
        .n_mounts = 1, .mounts = mounts, .n_masked_paths = 1, .masked_paths = masked,
        .hostname = "box", .seccomp_bpf = bpf, .seccomp_bpf_len = sizeof(bpf),
        .process = { .argv = argv, .envp = envp, .cwd = "/",
                     .cpu_affinity_final = { .n_words = 1, .words = cpus } },
    };
    struct pyrunc_error err = { 0 };
    unsigned char flat[8192];
    struct pyrunc_plan *back;
    unsigned char *moved;
    size_t len = 0;

    CHECK(pyrunc_plan_flatten(&plan, flat, sizeof(flat), &len, &err) == 0);
    CHECK(pyrunc_plan_flatten(&plan, flat, 64, &len, &err) == -ENOSPC);
    CHECK(pyrunc_plan_flatten(&plan, flat, sizeof(flat), &len, &err) == 0);

    moved = malloc(len);
    CHECK(moved != NULL);
    memcpy(moved, flat, len);
    memset(flat, 0xff, sizeof(flat));   /* nothing may point back at the original */
    CHECK(pyrunc_plan_unflatten(moved, len, &back, &err) == 0);
    CHECK(strcmp(back->rootfs, "/var/lib/rootfs") == 0 && strcmp(back->hostname, "box") == 0);
    CHECK(back->namespaces[0].path == NULL && strcmp(back->namespaces[1].path, "/run/netns/x") == 0);
    CHECK(strcmp(back->mounts[0].destination, "/proc") == 0 && back->mounts[0].data == NULL);
    CHECK(strcmp(back->masked_paths[0], "/proc/kcore") == 0 && back->masked_paths[1] == NULL);
    CHECK(strcmp(back->process.argv[2], "echo hi") == 0 && back->process.argv[3] == NULL);
    CHECK(back->process.cpu_affinity_final.words[0] == 0x3 && back->seccomp_bpf[2] == 3);
    CHECK(back->process.cpu_affinity_initial.words == NULL);
    free(moved);

    /* An offset past the end is refused, not followed. */
    CHECK(pyrunc_plan_flatten(&plan, flat, sizeof(flat), &len, &err) == 0);
    ((struct pyrunc_plan *)flat)->rootfs = (const char *)(uintptr_t)(len + 100);
    CHECK(pyrunc_plan_unflatten(flat, len, &back, &err) == -EINVAL);
    /* A string without its NUL inside the buffer too. */
    CHECK(pyrunc_plan_flatten(&plan, flat, sizeof(flat), &len, &err) == 0);
    ((struct pyrunc_plan *)flat)->hostname = (const char *)(uintptr_t)len;   /* last byte */
    flat[len - 1] = 'x';
    CHECK(pyrunc_plan_unflatten(flat, len, &back, &err) == -EINVAL);
    return 0;
}
