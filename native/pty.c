#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "error.h"
#include "path.h"
#include "pty.h"
#include "util.h"

/* One message: the pty name as data, the master fd in SCM_RIGHTS. */
static int send_master(int sock, int master, const char *name, struct pyrunc_error *err)
{
    ssize_t n = pyrunc_send_with_fd(sock, name, strlen(name), master);

    if (n < 0)
        return pyrunc_fail(err, (int)-n, "send the pty master to the console socket");
    return 0;
}

/* runc makes /dev/console the container's terminal too. */
static int bind_console(const char *slave_name, struct pyrunc_error *err)
{
    cleanup_close int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int devfd = -1;
    cleanup_close int consolefd = -1;
    const char *base;

    if (rootfd < 0)
        return pyrunc_fail_errno(err, "open /");
    /* An image's /dev/console may be a symlink to somewhere we must not
     * mount over (a procfs file, say): replace it, never follow it. */
    devfd = pyrunc_open_parent_in_root(rootfd, "/dev/console", &base, err);
    if (devfd < 0)
        return devfd;
    if (pyrunc_is_symlink_in_root(rootfd, "/dev/console") && unlinkat(devfd, base, 0) < 0)
        return pyrunc_fail_errno(err, "remove the /dev/console symlink");
    consolefd = pyrunc_create_in_root(rootfd, "/dev/console", 0, err);
    if (consolefd < 0)
        return consolefd;
    if (mount(slave_name, pyrunc_fd_path(consolefd).path, NULL, MS_BIND, NULL) < 0)
        return pyrunc_fail_errno(err, "bind %s to /dev/console", slave_name);
    return 0;
}

int pyrunc_setup_terminal(const struct pyrunc_plan *plan, struct pyrunc_error *err)
{
    cleanup_close int master = -1;
    cleanup_close int slave = -1;
    char name[64];
    int unlock = 0, number, ret;

    master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return pyrunc_fail_errno(err, "open /dev/pts/ptmx (is devpts mounted?)");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &number) < 0)
        return pyrunc_fail_errno(err, "unlock the pty");
    snprintf(name, sizeof(name), "/dev/pts/%d", number);
    /* TIOCGPTPEER opens the slave through the master, not by a path the
     * container could have replaced. */
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return pyrunc_fail_errno(err, "open the pty slave");
    if (plan->console_height || plan->console_width) {
        struct winsize size = { .ws_row = plan->console_height, .ws_col = plan->console_width };
        if (ioctl(slave, TIOCSWINSZ, &size) < 0)
            return pyrunc_fail_errno(err, "set the console size");
    }
    if (fchown(slave, plan->process.uid, (gid_t)-1) < 0)
        return pyrunc_fail_errno(err, "chown the pty slave");
    if ((ret = bind_console(name, err)) < 0)
        return ret;
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return pyrunc_fail_errno(err, "make the pty the controlling terminal");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return pyrunc_fail_errno(err, "attach the pty to fd %d", fd);
    return send_master(plan->console_socket_fd, master, name, err);
}
