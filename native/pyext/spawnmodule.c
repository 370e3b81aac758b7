/* pyrunc.runtime._spawn: the runtime's end of starting pyrunc-init and of
 * the sync channel to it (native/sync.h), the exec fifo it blocks on, and
 * the wait for a child with its signals passed on, for
 * runtime/init_program.py, runtime/sync.py, runtime/spawn.py and
 * runtime/container.py.
 *
 * In C because every create and run pays for what these calls page in:
 * done from Python, the socket, memfd, fcntl, posix_spawn, mkfifo, poll and waitpid code of
 * the interpreter (a few dozen 64 KiB windows of its image, mapped at the
 * first call) was half a MiB of each call's peak resident set.  The
 * CPython API, not cffi: the runtime's hot path loads no cffi.
 *
 * The fds pyrunc-init inherits are made inheritable in the child only
 * (posix_spawn's dup2 of an fd onto itself clears close-on-exec there), so
 * no other thread of the shim can spawn a program that inherits them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a message may carry in SCM_RIGHTS; more than one is a peer's bug,
 * and the extra ones are closed. */
#define MAX_PASSED_FDS 4

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

/* The fd, which the caller now owns: its cleanup no longer closes it. */
static int steal_fd(int *fd)
{
    int owned = *fd;

    *fd = -1;
    return owned;
}

static void release_object(PyObject **object)
{
    Py_XDECREF(*object);
}

static void release_buffer(Py_buffer *buffer)
{
    if (buffer->obj)
        PyBuffer_Release(buffer);
}

static void free_fds(int **fds)
{
    PyMem_Free(*fds);
}

/* The calls take positional arguments only: usage is the TypeError's text. */
static int arity(Py_ssize_t nargs, Py_ssize_t expected, const char *usage)
{
    if (nargs == expected)
        return 0;
    PyErr_SetString(PyExc_TypeError, usage);
    return -1;
}

static int long_argument(PyObject *value, long *n)
{
    *n = PyLong_AsLong(value);
    return *n == -1 && PyErr_Occurred() ? -1 : 0;
}

/* An int in [low, INT_MAX]; what names it in the ValueError. */
static int int_argument(PyObject *value, long low, const char *what, int *out)
{
    long n;

    if (long_argument(value, &n) < 0)
        return -1;
    if (n < low || n > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "not %s", what);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int fd_argument(PyObject *value, int *fd)
{
    return int_argument(value, 0, "an fd", fd);
}

static int pid_argument(PyObject *value, pid_t *pid)
{
    int n;

    if (int_argument(value, 1, "a pid", &n) < 0)
        return -1;
    *pid = n;
    return 0;
}

/* After a call that failed with rc < 0: whether to make it again.  EINTR
 * runs the signals' Python handlers first, and an exception from one
 * ends the call, as PEP 475 has it for the os module's calls. */
static bool interrupted(ssize_t rc)
{
    return rc < 0 && errno == EINTR && PyErr_CheckSignals() == 0;
}

/* The OSError of a call that failed, unless a signal's handler raised. */
static PyObject *failed(void)
{
    return PyErr_Occurred() ? NULL : PyErr_SetFromErrno(PyExc_OSError);
}

/* channel() -> (parent_fd, child_fd): a SOCK_SEQPACKET pair, close-on-exec. */
static PyObject *spawn_channel(PyObject *self, PyObject *unused)
{
    int pair[2];

    (void)self;
    (void)unused;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("(ii)", pair[0], pair[1]);
}

static int write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* The plan, in a memfd of its own. */
static int plan_memfd(const char *plan, size_t size, const char **step)
{
    __attribute__((cleanup(close_fd))) int fd = memfd_create("pyrunc-plan", MFD_CLOEXEC);
    int rc;

    *step = NULL;
    if (fd < 0)
        return -errno;
    rc = write_all(fd, plan, size);
    return rc < 0 ? rc : steal_fd(&fd);
}

/* A sealed memfd copy of the program, copied by the kernel (sendfile):
 * the container's /proc/<pid>/exe is then this read-only copy, never a
 * host file a container process could reopen and overwrite
 * (CVE-2019-5736). */
static int sealed_copy(const char *program, const char **step)
{
    __attribute__((cleanup(close_fd))) int source = -1;
    __attribute__((cleanup(close_fd))) int fd = -1;
    struct stat st;
    off_t offset = 0;

    *step = NULL;
    fd = memfd_create("pyrunc-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    *step = "copy";
    source = open(program, O_RDONLY | O_CLOEXEC);
    if (source < 0 || fstat(source, &st) < 0)
        return -errno;
    while (offset < st.st_size) {
        ssize_t sent = sendfile(fd, source, &offset, (size_t)(st.st_size - offset));
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return sent == 0 ? -EIO : -errno;   /* EIO: it shrank while we copied it */
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return -errno;
    return steal_fd(&fd);
}

/* Spawn /proc/self/fd/EXE as `pyrunc-init PLAN_FD EXE_FD` with an empty
 * environment, the fds in keep (and the two memfds) inherited. */
static int spawn_init(int exe_fd, int plan_fd, const int *keep, size_t nkeep, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    char path[64], plan_arg[16], exe_arg[16];
    char *argv[] = {"pyrunc-init", plan_arg, exe_arg, NULL};
    char *envp[] = {NULL};
    int rc;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", exe_fd);
    snprintf(plan_arg, sizeof(plan_arg), "%d", plan_fd);
    snprintf(exe_arg, sizeof(exe_arg), "%d", exe_fd);
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0)
        return -rc;
    for (size_t i = 0; i < nkeep + 2 && rc == 0; i++) {
        int fd = i < nkeep ? keep[i] : i == nkeep ? plan_fd : exe_fd;
        rc = posix_spawn_file_actions_adddup2(&actions, fd, fd);
    }
    if (rc == 0)
        rc = posix_spawn(pid, path, &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    return -rc;
}

/* start(program, plan, fds) -> pid of the intermediate pyrunc-init. */
static PyObject *spawn_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    __attribute__((cleanup(release_object))) PyObject *program = NULL;
    __attribute__((cleanup(release_object))) PyObject *fds = NULL;
    __attribute__((cleanup(release_buffer))) Py_buffer plan = {0};
    __attribute__((cleanup(free_fds))) int *keep = NULL;
    Py_ssize_t nkeep;
    const char *step = "spawn";
    int rc = 0, plan_fd = -1, exe_fd = -1;
    pid_t pid = -1;

    (void)self;
    if (arity(nargs, 3, "start(program, plan, fds)") < 0)
        return NULL;
    if (!PyUnicode_FSConverter(args[0], &program) || PyObject_GetBuffer(args[1], &plan, PyBUF_SIMPLE) < 0)
        return NULL;
    fds = PySequence_Fast(args[2], "fds must be a sequence");
    if (!fds)
        return NULL;
    nkeep = PySequence_Fast_GET_SIZE(fds);
    keep = PyMem_New(int, (size_t)nkeep + 1);
    if (!keep)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < nkeep; i++)
        if (fd_argument(PySequence_Fast_GET_ITEM(fds, i), &keep[i]) < 0)
            return NULL;

    Py_BEGIN_ALLOW_THREADS
    plan_fd = plan_memfd(plan.buf, (size_t)plan.len, &step);
    if (plan_fd < 0)
        rc = plan_fd;
    if (rc == 0) {
        exe_fd = sealed_copy(PyBytes_AS_STRING(program), &step);
        if (exe_fd < 0)
            rc = exe_fd;
    }
    if (rc == 0) {
        step = "spawn";
        rc = spawn_init(exe_fd, plan_fd, keep, (size_t)nkeep, &pid);
    }
    close_fd(&plan_fd);
    close_fd(&exe_fd);
    Py_END_ALLOW_THREADS

    if (rc < 0) {
        /* The OSError's filename names the step that failed, "copy" or
         * "spawn"; none for the memfds (out of fds or memory). */
        errno = -rc;
        return step ? PyErr_SetFromErrnoWithFilename(PyExc_OSError, step) : PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(pid);
}

/* exec_fifo(path, mode) -> fd: make a fifo with exactly this mode (not
 * cut by the umask) and open it O_PATH, close-on-exec.  The OSError names
 * the path. */
static PyObject *spawn_exec_fifo(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    __attribute__((cleanup(release_object))) PyObject *path = NULL;
    long mode;
    int fd = -1;

    (void)self;
    if (arity(nargs, 2, "exec_fifo(path, mode)") < 0 || long_argument(args[1], &mode) < 0
        || !PyUnicode_FSConverter(args[0], &path))
        return NULL;
    if (mkfifo(PyBytes_AS_STRING(path), (mode_t)mode) == 0 && chmod(PyBytes_AS_STRING(path), (mode_t)mode) == 0)
        fd = open(PyBytes_AS_STRING(path), O_PATH | O_CLOEXEC);
    return fd < 0 ? PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, args[0]) : PyLong_FromLong(fd);
}

/* send(fd, packet): one packet; EPIPE when the peer is gone (no SIGPIPE). */
static PyObject *spawn_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer packet;
    ssize_t n;
    int fd;

    (void)self;
    if (arity(nargs, 2, "send(fd, packet)") < 0 || fd_argument(args[0], &fd) < 0
        || PyObject_GetBuffer(args[1], &packet, PyBUF_SIMPLE) < 0)
        return NULL;
    do {
        Py_BEGIN_ALLOW_THREADS
        n = send(fd, packet.buf, (size_t)packet.len, MSG_NOSIGNAL);
        Py_END_ALLOW_THREADS
    } while (interrupted(n));
    PyBuffer_Release(&packet);
    if (n < 0)
        return failed();
    Py_RETURN_NONE;
}

/* receive(fd, size) -> (packet, passed_fd): the next packet (b"" when the
 * peer closed), and the fd it carried in SCM_RIGHTS, close-on-exec (-1 if
 * none). */
static PyObject *spawn_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    } control;
    struct msghdr message = {0};
    struct iovec iov;
    struct cmsghdr *cmsg;
    PyObject *packet, *result;
    ssize_t n;
    int fd, size, passed = -1;

    (void)self;
    if (arity(nargs, 2, "receive(fd, size)") < 0 || fd_argument(args[0], &fd) < 0
        || int_argument(args[1], 0, "a size", &size) < 0)
        return NULL;
    packet = PyBytes_FromStringAndSize(NULL, size);
    if (!packet)
        return NULL;
    iov.iov_base = PyBytes_AS_STRING(packet);
    iov.iov_len = (size_t)size;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof(control.space);
    do {
        Py_BEGIN_ALLOW_THREADS
        n = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
        Py_END_ALLOW_THREADS
    } while (interrupted(n));
    if (n < 0) {
        Py_DECREF(packet);
        return failed();
    }
    for (cmsg = CMSG_FIRSTHDR(&message); cmsg; cmsg = CMSG_NXTHDR(&message, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (passed < 0)
                passed = received;
            else
                close(received);
        }
    }
    if (_PyBytes_Resize(&packet, n) < 0) {
        if (passed >= 0)
            close(passed);
        return NULL;
    }
    result = Py_BuildValue("(Ni)", packet, passed);
    if (!result && passed >= 0)
        close(passed);
    return result;
}

/* readable(fd, timeout_ms) -> whether fd has a packet (or EOF) before the
 * timeout; False also when a signal came (after its handler ran). */
static PyObject *spawn_readable(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct pollfd p = {.events = POLLIN};
    int timeout, n;

    (void)self;
    if (arity(nargs, 2, "readable(fd, timeout_ms)") < 0 || fd_argument(args[0], &p.fd) < 0
        || int_argument(args[1], -1, "a timeout", &timeout) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = poll(&p, 1, timeout);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        if (errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (PyErr_CheckSignals() < 0)
            return NULL;
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(n > 0);
}

/* wait(pid) -> the child's exit code, 128+N when signal N killed it;
 * ChildProcessError when it is not ours (or reaped already).  Signals'
 * handlers run while it waits, as with os.waitpid. */
static PyObject *spawn_wait(PyObject *self, PyObject *arg)
{
    int status;
    pid_t pid, reaped;

    (void)self;
    if (pid_argument(arg, &pid) < 0)
        return NULL;
    do {
        Py_BEGIN_ALLOW_THREADS
        reaped = waitpid(pid, &status, 0);
        Py_END_ALLOW_THREADS
    } while (interrupted(reaped));
    if (reaped < 0)
        return failed();
    return PyLong_FromLong(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

/* The process forward_signals passes signals on to. */
static volatile sig_atomic_t forward_to;

static void forward_signal(int signum)
{
    int saved = errno;

    kill((pid_t)forward_to, signum);
    errno = saved;
}

/* forward_signals(pid, unforwarded): from now on every signal this
 * process gets, but those in unforwarded, is passed on to pid, as runc's
 * run and exec do.  A C handler, not Python's: the signal module's code
 * is one more 64 KiB of the interpreter paged in by every run; and
 * SA_RESTART, so that the wait for pid goes on through them. */
static PyObject *spawn_forward_signals(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct sigaction action = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
    __attribute__((cleanup(release_object))) PyObject *unforwarded = NULL;
    sigset_t excluded;
    pid_t pid;

    (void)self;
    if (arity(nargs, 2, "forward_signals(pid, unforwarded)") < 0 || pid_argument(args[0], &pid) < 0)
        return NULL;
    unforwarded = PySequence_Fast(args[1], "unforwarded must be a sequence");
    if (!unforwarded)
        return NULL;
    sigemptyset(&excluded);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(unforwarded); i++) {
        long signum;
        if (long_argument(PySequence_Fast_GET_ITEM(unforwarded, i), &signum) < 0)
            return NULL;
        if (signum > 0 && signum < NSIG)
            sigaddset(&excluded, (int)signum);
    }
    sigemptyset(&action.sa_mask);
    forward_to = pid;
    /* The C library refuses its own signals, SIGKILL and SIGSTOP: skipped. */
    for (int signum = 1; signum < NSIG; signum++)
        if (!sigismember(&excluded, signum))
            sigaction(signum, &action, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef spawn_methods[] = {
    {"channel", spawn_channel, METH_NOARGS, "channel() -> (parent_fd, child_fd)"},
    {"start", (PyCFunction)(void (*)(void))spawn_start, METH_FASTCALL,
     "start(program, plan, fds) -> pid: pyrunc-init from a sealed memfd copy of program"},
    {"exec_fifo", (PyCFunction)(void (*)(void))spawn_exec_fifo, METH_FASTCALL,
     "exec_fifo(path, mode) -> O_PATH fd of a new fifo"},
    {"send", (PyCFunction)(void (*)(void))spawn_send, METH_FASTCALL, "send(fd, packet)"},
    {"receive", (PyCFunction)(void (*)(void))spawn_receive, METH_FASTCALL,
     "receive(fd, size) -> (packet, passed_fd)"},
    {"forward_signals", (PyCFunction)(void (*)(void))spawn_forward_signals, METH_FASTCALL,
     "forward_signals(pid, unforwarded): pass on every other signal to pid"},
    {"wait", spawn_wait, METH_O, "wait(pid) -> exit code (128+N: killed by signal N)"},
    {"readable", (PyCFunction)(void (*)(void))spawn_readable, METH_FASTCALL, "readable(fd, timeout_ms) -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef spawn_module = {
    PyModuleDef_HEAD_INIT, "_spawn", "pyrunc-init's start and sync channel, in C (see spawnmodule.c).", -1,
    spawn_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__spawn(void)
{
    return PyModule_Create(&spawn_module);
}
