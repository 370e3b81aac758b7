/* The parent/child message format: round trips and error propagation. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "sync.h"

int main(void)
{
    struct pyrunc_error err = { 0 };
    int fds[2];
    int32_t value = 0;

    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == 0);

    CHECK(pyrunc_sync_send(fds[0], PYRUNC_SYNC_PID, 4242, NULL, &err) == 0);
    CHECK(pyrunc_sync_expect(fds[1], PYRUNC_SYNC_PID, &value, NULL, 0, &err) == 0);
    CHECK(value == 4242);

    /* A message of another type is a protocol error. */
    CHECK(pyrunc_sync_send(fds[0], PYRUNC_SYNC_READY, 0, NULL, &err) == 0);
    CHECK(pyrunc_sync_expect(fds[1], PYRUNC_SYNC_GO, NULL, NULL, 0, &err) == -EPROTO);

    /* An ERROR message becomes the receiver's failure, errno and text. */
    err.code = EACCES;
    strcpy(err.msg, "mount /proc: permission denied");
    pyrunc_sync_report(fds[0], &err);
    memset(&err, 0, sizeof(err));
    CHECK(pyrunc_sync_expect(fds[1], PYRUNC_SYNC_READY, NULL, NULL, 0, &err) == -EACCES);
    CHECK(strcmp(err.msg, "mount /proc: permission denied") == 0);

    /* Closing the peer reads as EPIPE, not as a message. */
    close(fds[0]);
    CHECK(pyrunc_sync_expect(fds[1], PYRUNC_SYNC_READY, NULL, NULL, 0, &err) == -EPIPE);
    close(fds[1]);
    return 0;
}
