#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sync.h"
#include "util.h"

static int send_packet(int fd, uint32_t type, int32_t value, const char *text, int passfd,
                       struct pyrunc_error *err)
{
    char packet[sizeof(struct pyrunc_sync_header) + PYRUNC_SYNC_MAX_TEXT];
    struct pyrunc_sync_header header = { .type = type, .value = value, .length = 0 };
    size_t text_len = text ? strnlen(text, PYRUNC_SYNC_MAX_TEXT) : 0;
    ssize_t n;

    header.length = (uint32_t)text_len;
    memcpy(packet, &header, sizeof(header));
    if (text_len)
        memcpy(packet + sizeof(header), text, text_len);
    n = pyrunc_send_with_fd(fd, packet, sizeof(header) + text_len, passfd);
    if (n < 0)
        return pyrunc_fail(err, (int)-n, "sync: send message %u", type);
    return 0;
}

int pyrunc_sync_send(int fd, uint32_t type, int32_t value, const char *text,
                     struct pyrunc_error *err)
{
    return send_packet(fd, type, value, text, -1, err);
}

int pyrunc_sync_send_fd(int sock, uint32_t type, int fd, struct pyrunc_error *err)
{
    return send_packet(sock, type, 0, NULL, fd, err);
}

int pyrunc_sync_expect(int fd, uint32_t type, int32_t *value, char *text, size_t text_size,
                       struct pyrunc_error *err)
{
    char packet[sizeof(struct pyrunc_sync_header) + PYRUNC_SYNC_MAX_TEXT + 1];
    struct pyrunc_sync_header header;
    ssize_t n;

    do
        n = recv(fd, packet, sizeof(packet) - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return pyrunc_fail_errno(err, "sync: receive message");
    if (n == 0)
        return pyrunc_fail(err, EPIPE, "sync: peer closed the channel");
    if ((size_t)n < sizeof(header))
        return pyrunc_fail(err, EPROTO, "sync: short message");
    memcpy(&header, packet, sizeof(header));
    if (header.length > (size_t)n - sizeof(header))
        return pyrunc_fail(err, EPROTO, "sync: truncated message");
    packet[sizeof(header) + header.length] = '\0';
    if (header.type == PYRUNC_SYNC_ERROR)
        return pyrunc_fail(err, header.value, "%s", packet + sizeof(header));
    if (header.type != type)
        return pyrunc_fail(err, EPROTO, "sync: expected message %u, got %u", type, header.type);
    if (value)
        *value = header.value;
    if (text && text_size)
        snprintf(text, text_size, "%s", packet + sizeof(header));
    return 0;
}

int pyrunc_sync_report(int fd, const struct pyrunc_error *err)
{
    struct pyrunc_error ignored;

    return pyrunc_sync_send(fd, PYRUNC_SYNC_ERROR, err->code, err->msg, &ignored);
}
