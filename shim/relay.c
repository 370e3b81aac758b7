/* pyrunc-relay: the shim process of one container group, as containerd
 * sees it (see zygote.py).
 *
 * It owns the group's socket, the address `start` printed, and relays
 * ttrpc frames between containerd's connections there and the shim
 * server of its namespace, one server connection per containerd
 * connection, each opened with a hello frame naming the group.  The
 * server holds the tasks; the relay is what containerd's connection
 * depends on, and costs a few pages where a server per group costs a
 * Python interpreter's.
 *
 * If the server dies, the relay connects again (the zygote starts a new
 * one, which reloads its tasks from disk) and sends the requests that
 * were not answered once more, so containerd sees a slow answer, not a
 * dead shim.  With the zygote gone too, nothing starts one: the relay
 * closes containerd's connections at once, as a dead shim's.  Frames go
 * on whole: a request reaches the server only once all of it is here,
 * and an answer reaches containerd only once all of it is, so no half
 * frame of a dying server reaches containerd.
 *
 *   pyrunc-relay -address CONTAINERD -server SERVER_SOCKET -group GROUP
 *   fd 3: the listening socket; fd 4: the zygote's channel (a packet
 *   "exit" ends the relay; its end alone does not).  -address is not
 *   used: it names the containerd served, for ps and the tests.
 *
 * The zygote removes the socket of a relay it ends.  One that outlived
 * its zygote removes its own when its last client goes, unless a new
 * zygote has bound another relay at that path since. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LISTENER 3
#define ZYGOTE 4
#define MAX_LINKS 4096                  /* containerd opens one per task: a namespace's group has many */
#define HEADER 10
#define MAX_MESSAGE (4u << 20)          /* ttrpc's limit */
#define REQUEST 1
#define RESPONSE 2
#define HELLO 0x52                      /* relay -> server: the group, before anything else */
#define RESOURCE_EXHAUSTED 8
#define RETRY_MS 20
#define GIVE_UP_MS 60000                /* no server for this long: the link is lost */
#define WRITE_TIMEOUT_MS 10000

struct buffer {
    unsigned char *data;
    size_t used, size;
};

struct frame {                          /* a request sent on and not answered yet */
    struct frame *next;
    uint32_t stream_id;
    size_t length;
    unsigned char bytes[];
};

struct link {
    int client, server;                 /* server -1: connecting again */
    struct buffer from_client, from_server;
    size_t skipping;                    /* bytes of an oversized request still to drop */
    struct frame *unanswered;           /* oldest first */
    long long lost_at_ms;               /* when the server went */
};

static struct link *links;
static int link_count;                  /* slots in links, used or not */
static const char *server_path, *group;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define cleanup_fd __attribute__((cleanup(close_fd)))

static long long now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static uint32_t be32(const unsigned char *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

static void put_be32(unsigned char *bytes, uint32_t value)
{
    bytes[0] = value >> 24;
    bytes[1] = value >> 16;
    bytes[2] = value >> 8;
    bytes[3] = value;
}

static const char *flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (argv[i][0] == '-' && strcmp(argv[i] + 1, name) == 0)
            return argv[i + 1];
    return NULL;
}

static int append(struct buffer *buffer, const unsigned char *data, size_t length)
{
    if (buffer->used + length > buffer->size) {
        size_t size = buffer->size ? buffer->size : 4096;
        while (size < buffer->used + length)
            size *= 2;
        unsigned char *grown = realloc(buffer->data, size);
        if (!grown)
            return -ENOMEM;
        buffer->data = grown;
        buffer->size = size;
    }
    memcpy(buffer->data + buffer->used, data, length);
    buffer->used += length;
    return 0;
}

static void consume(struct buffer *buffer, size_t length)
{
    memmove(buffer->data, buffer->data + length, buffer->used - length);
    buffer->used -= length;
    if (buffer->used == 0 && buffer->size > 65536) {    /* a big frame passed: give its memory back */
        free(buffer->data);
        *buffer = (struct buffer){0};
    }
}

/* All of it, waiting (a while) for a slow reader. */
static int write_all(int fd, const unsigned char *data, size_t length)
{
    while (length) {
        ssize_t done = send(fd, data, length, MSG_NOSIGNAL);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -errno;
            struct pollfd writable = {.fd = fd, .events = POLLOUT};
            int ready = poll(&writable, 1, WRITE_TIMEOUT_MS);
            if (ready == 0)
                return -ETIMEDOUT;
            if (ready < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        data += done;
        length -= (size_t)done;
    }
    return 0;
}

/* ttrpc.Response{status: google.rpc.Status{code, message}} in a frame. */
static int send_status(int fd, uint32_t stream_id, unsigned code, const char *message)
{
    unsigned char frame[HEADER + 128];
    size_t message_length = strlen(message);
    if (message_length > 100)
        message_length = 100;
    unsigned char *status = frame + HEADER + 2;
    size_t status_length = 0;
    status[status_length++] = 0x08;                     /* code, varint (< 128) */
    status[status_length++] = (unsigned char)code;
    status[status_length++] = 0x12;                     /* message, bytes */
    status[status_length++] = (unsigned char)message_length;
    memcpy(status + status_length, message, message_length);
    status_length += message_length;
    frame[HEADER] = 0x0a;                               /* Response.status */
    frame[HEADER + 1] = (unsigned char)status_length;
    put_be32(frame, (uint32_t)(status_length + 2));
    put_be32(frame + 4, stream_id);
    frame[8] = RESPONSE;
    frame[9] = 0;
    return write_all(fd, frame, HEADER + 2 + status_length);
}

static void drop_server(struct link *link)
{
    close_fd(&link->server);
    link->server = -1;
    link->lost_at_ms = now_ms();
    link->from_server.used = 0;         /* a dying server's half frame goes nowhere */
}

static void close_link(struct link *link)
{
    close_fd(&link->client);
    close_fd(&link->server);
    free(link->from_client.data);
    free(link->from_server.data);
    while (link->unanswered) {
        struct frame *next = link->unanswered->next;
        free(link->unanswered);
        link->unanswered = next;
    }
    *link = (struct link){.client = -1, .server = -1};
}

/* The hello, then every unanswered request again, oldest first. */
static int connect_server(struct link *link)
{
    cleanup_fd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (fd < 0)
        return -errno;
    strncpy(address.sun_path, server_path, sizeof address.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
        return -errno;
    unsigned char hello[HEADER + 256];
    size_t length = strlen(group);
    put_be32(hello, (uint32_t)length);
    put_be32(hello + 4, 0);
    hello[8] = HELLO;
    hello[9] = 0;
    memcpy(hello + HEADER, group, length);
    int ret = write_all(fd, hello, HEADER + length);
    for (struct frame *frame = link->unanswered; ret == 0 && frame; frame = frame->next)
        ret = write_all(fd, frame->bytes, frame->length);
    if (ret < 0)
        return ret;
    link->server = fd;
    fd = -1;
    return 0;
}

/* Whole request frames from containerd: kept until answered, sent on. */
static int client_frames(struct link *link)
{
    struct buffer *in = &link->from_client;
    for (;;) {
        if (link->skipping) {
            size_t dropped = link->skipping < in->used ? link->skipping : in->used;
            consume(in, dropped);
            link->skipping -= dropped;
            if (link->skipping)
                return 0;
        }
        if (in->used < HEADER)
            return 0;
        uint32_t length = be32(in->data), stream_id = be32(in->data + 4);
        if (length > MAX_MESSAGE) {
            consume(in, HEADER);
            link->skipping = length;
            int ret = send_status(link->client, stream_id, RESOURCE_EXHAUSTED,
                                  "message length exceeds the maximum message size of 4194304");
            if (ret < 0)
                return ret;
            continue;
        }
        if (in->used < HEADER + (size_t)length)
            return 0;
        size_t total = HEADER + (size_t)length;
        if (in->data[8] == REQUEST) {
            struct frame *frame = malloc(sizeof *frame + total);
            if (!frame)
                return -ENOMEM;
            frame->next = NULL;
            frame->stream_id = stream_id;
            frame->length = total;
            memcpy(frame->bytes, in->data, total);
            struct frame **tail = &link->unanswered;
            while (*tail)
                tail = &(*tail)->next;
            *tail = frame;
        }
        if (link->server >= 0 && write_all(link->server, in->data, total) < 0)
            drop_server(link);      /* sent again to the next server */
        consume(in, total);
    }
}

/* Whole frames from the server, on to containerd; an answer settles its request. */
static int server_frames(struct link *link)
{
    struct buffer *in = &link->from_server;
    while (in->used >= HEADER) {
        uint32_t length = be32(in->data), stream_id = be32(in->data + 4);
        if (length > MAX_MESSAGE)
            return -EPROTO;
        size_t total = HEADER + (size_t)length;
        if (in->used < total)
            return 0;
        if (in->data[8] == RESPONSE) {
            for (struct frame **at = &link->unanswered; *at; at = &(*at)->next) {
                if ((*at)->stream_id == stream_id) {
                    struct frame *answered = *at;
                    *at = answered->next;
                    free(answered);
                    break;
                }
            }
        }
        int ret = write_all(link->client, in->data, total);
        if (ret < 0)
            return ret;
        consume(in, total);
    }
    return 0;
}

/* What is there to read, into the buffer: 0 at EOF, -errno, or bytes read. */
static ssize_t read_into(int fd, struct buffer *buffer)
{
    static unsigned char chunk[65536];
    ssize_t total = 0;
    for (;;) {
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return total ? total : -EAGAIN;
            return -errno;
        }
        if (got == 0)
            return total ? total : 0;
        if (append(buffer, chunk, (size_t)got) < 0)
            return -ENOMEM;
        total += got;
        if ((size_t)got < sizeof chunk)
            return total;
    }
}

/* A free slot, the array grown (doubled) if need be; NULL when full. */
static struct link *free_link(void)
{
    for (int i = 0; i < link_count; i++)
        if (links[i].client < 0)
            return &links[i];
    int count = link_count ? link_count * 2 : 8;
    if (count > MAX_LINKS)
        return NULL;
    struct link *grown = realloc(links, (size_t)count * sizeof *links);
    if (!grown)
        return NULL;
    links = grown;
    for (int i = link_count; i < count; i++)
        links[i] = (struct link){.client = -1, .server = -1};
    link_count = count;
    return free_link();
}

/* Every connection waiting (the backlog is short). */
static void accept_links(void)
{
    int fd;
    while ((fd = accept4(LISTENER, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        struct link *link = free_link();
        if (!link) {
            close(fd);
            continue;
        }
        link->client = fd;
        if (connect_server(link) < 0)
            link->lost_at_ms = now_ms();
    }
}

/* The path of our listening socket, and its inode: whose it is now. */
static struct sockaddr_un own_address;
static struct stat own_socket;

static void note_own_socket(void)
{
    socklen_t len = sizeof(own_address);
    if (getsockname(LISTENER, (struct sockaddr *)&own_address, &len) < 0 || len <= sizeof(sa_family_t)
        || stat(own_address.sun_path, &own_socket) < 0)
        own_address.sun_path[0] = '\0';
}

static void remove_own_socket(void)
{
    struct stat now;
    if (own_address.sun_path[0] && stat(own_address.sun_path, &now) == 0
        && now.st_dev == own_socket.st_dev && now.st_ino == own_socket.st_ino)
        unlink(own_address.sun_path);
}

/* Told to go: what the server has sent already (the last answer, to
 * Shutdown) still reaches containerd. */
static void drain_and_exit(void)
{
    for (int i = 0; i < link_count; i++) {
        struct link *link = &links[i];
        if (link->client < 0 || link->server < 0)
            continue;
        while (read_into(link->server, &link->from_server) > 0)
            ;
        server_frames(link);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    server_path = flag(argc, argv, "server");
    group = flag(argc, argv, "group");
    if (!server_path || !group || strlen(group) > 200 || strlen(server_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return 2;
    prctl(PR_SET_NAME, "pyrunc-shim");
    signal(SIGPIPE, SIG_IGN);
    fcntl(LISTENER, F_SETFL, O_NONBLOCK);
    fcntl(LISTENER, F_SETFD, FD_CLOEXEC);
    fcntl(ZYGOTE, F_SETFD, FD_CLOEXEC);
    note_own_socket();
    struct rlimit files;    /* two fds a link: as many as we may */
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    int zygote = ZYGOTE;
    struct pollfd *fds = NULL;
    int *owner = NULL;      /* the link of each fd, by index: accept may move the array */
    int polled = 0;         /* links the arrays have room for */

    for (;;) {
        if (!fds || polled < link_count) {
            struct pollfd *more_fds = realloc(fds, (2 + 2 * (size_t)link_count) * sizeof *fds);
            if (more_fds)
                fds = more_fds;
            int *more_owners = realloc(owner, (2 + 2 * (size_t)link_count) * sizeof *owner);
            if (more_owners)
                owner = more_owners;
            if (!more_fds || !more_owners)
                return 1;
            polled = link_count;
        }
        nfds_t count = 0;
        int timeout = -1, clients = 0;
        fds[count] = (struct pollfd){.fd = LISTENER, .events = POLLIN};    /* 0 */
        owner[count++] = -1;
        fds[count] = (struct pollfd){.fd = zygote, .events = POLLIN};      /* 1: -1 once gone */
        owner[count++] = -1;
        for (int i = 0; i < link_count; i++) {
            struct link *link = &links[i];
            if (link->client < 0)
                continue;
            clients++;
            fds[count] = (struct pollfd){.fd = link->client, .events = POLLIN};
            owner[count++] = i;
            if (link->server >= 0) {
                fds[count] = (struct pollfd){.fd = link->server, .events = POLLIN};
                owner[count++] = i;
            } else {
                timeout = RETRY_MS;
            }
        }
        if (zygote < 0 && clients == 0) {
            remove_own_socket();
            return 0;       /* no zygote to end us, and nobody to relay for */
        }
        int ready = poll(fds, count, timeout);
        if (ready < 0 && errno != EINTR)
            return 1;

        for (nfds_t n = 0; ready > 0 && n < count; n++) {
            if (!fds[n].revents)
                continue;
            if (n == 0) {
                accept_links();
            } else if (n == 1) {
                char order[16];
                ssize_t got = recv(zygote, order, sizeof order, MSG_DONTWAIT);
                if (got == 4 && memcmp(order, "exit", 4) == 0)
                    drain_and_exit();
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    close(zygote);      /* the zygote is gone: we go with our last client */
                    zygote = -1;
                }
                continue;
            }
            struct link *link = &links[owner[n]];
            if (link->client == fds[n].fd) {
                ssize_t got = read_into(link->client, &link->from_client);
                if (got == 0 || (got < 0 && got != -EAGAIN) || client_frames(link) < 0)
                    close_link(link);   /* containerd went (or restarts): its requests with it */
            } else if (link->server == fds[n].fd) {
                ssize_t got = read_into(link->server, &link->from_server);
                int ret = got > 0 || got == -EAGAIN ? server_frames(link) : 0;
                if (ret == -EPROTO || got == 0 || (got < 0 && got != -EAGAIN))
                    drop_server(link);
                else if (ret < 0)
                    close_link(link);   /* containerd stopped reading */
            }
        }

        for (int i = 0; i < link_count; i++) {
            struct link *link = &links[i];
            if (link->client < 0 || link->server >= 0)
                continue;
            int ret = connect_server(link);
            /* Without a zygote nothing forks a new server: one that is not
             * there is gone for good, and containerd should take the shim
             * for dead now (and run the delete command), not in a minute. */
            bool gone = zygote < 0 && (ret == -ECONNREFUSED || ret == -ENOENT);
            if (ret < 0 && (gone || now_ms() - link->lost_at_ms > GIVE_UP_MS))
                close_link(link);       /* containerd takes the shim for dead */
        }
    }
}
