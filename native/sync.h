/* Messages between the runtime (parent) and the container-side C code over
 * a SOCK_SEQPACKET socketpair.  One message = one packet:
 *   u32 type | i32 value | u32 length | length bytes of text
 * (native byte order; both ends run on the same machine).  runtime/sync.py
 * is the Python end of the same format. */
#ifndef PYRUNC_SYNC_H
#define PYRUNC_SYNC_H

#include <stdint.h>

#include "error.h"

enum pyrunc_sync_type {
    PYRUNC_SYNC_PID = 1,     /* child -> parent: value = init pid (host view) */
    PYRUNC_SYNC_GO = 2,      /* parent -> child: cgroup and ids are set up, go on */
    PYRUNC_SYNC_READY = 3,   /* child -> parent: set up, waiting for start */
    PYRUNC_SYNC_ERROR = 4,   /* child -> parent: value = errno, text = message */
    PYRUNC_SYNC_HOOKS = 5,   /* child -> parent: mounts done, run prestart/createRuntime
                                hooks, then send GO */
    PYRUNC_SYNC_USERNS = 6,  /* child -> parent: user namespace made, write the id
                                maps of this process, then send GO */
    PYRUNC_SYNC_SECCOMP_FD = 7, /* child -> parent: the seccomp listener fd in SCM_RIGHTS */
};

/* Large enough for a container state JSON with annotations (hooks). */
#define PYRUNC_SYNC_MAX_TEXT 65536

struct pyrunc_sync_header {
    uint32_t type;
    int32_t value;
    uint32_t length;
};

int pyrunc_sync_send(int fd, uint32_t type, int32_t value, const char *text,
                     struct pyrunc_error *err);

/* A message without text carrying fd in SCM_RIGHTS. */
int pyrunc_sync_send_fd(int sock, uint32_t type, int fd, struct pyrunc_error *err);

/* Wait for a message of the given type; an ERROR message from the peer
 * is turned into a failure carrying the peer's errno and text.  value and
 * text (NUL-terminated, cut to text_size) may be NULL. */
int pyrunc_sync_expect(int fd, uint32_t type, int32_t *value, char *text, size_t text_size,
                       struct pyrunc_error *err);

/* Report err to the parent; used on the child's way out.  Returns <0
 * when nobody listens any more (the runtime has returned). */
int pyrunc_sync_report(int fd, const struct pyrunc_error *err);

#endif
