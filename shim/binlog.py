"""binary:// stdio: containerd's pluggable logging.  For a process whose
stdout is `binary:///path/to/logger?key=value&...`, the shim starts the
logger with the read ends of the process's stdout and stderr pipes as fds
3 and 4 and the write end of a readiness pipe as fd 5, arguments `key
value ...` from the query, and nothing in its environment but
CONTAINER_ID and CONTAINER_NAMESPACE; it waits for the logger to write a
byte to fd 5 (or close it) before the process starts.  The output never
passes through the shim.  When the process is deleted the logger gets
SIGTERM, and SIGKILL if it has not gone 12 s later (as containerd's shims
do).  The logger is the shim's child: the reaper reaps it."""
from __future__ import annotations

import fcntl
import os
import select
import signal
import threading

from .ttrpc import INVALID_ARGUMENT, TtrpcError

SCHEME = "binary://"
READY_TIMEOUT = 30.0
TERM_TIMEOUT = 12.0


def command(uri: str) -> list[str]:
    """The logger's argv: its path, then each query key and its (first) value."""
    from urllib.parse import parse_qs, urlsplit
    parts = urlsplit(uri)
    if not parts.path:
        raise TtrpcError(INVALID_ARGUMENT, f"stdio URI {uri!r} names no logging binary")
    argv = [parts.path]
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        argv += [key, values[0]] if values and values[0] else [key]
    return argv


class Logger:
    """A running logging binary for one process."""

    def __init__(self, uri: str, container_id: str, namespace: str) -> None:
        argv = command(uri)
        out_read, self.stdout = os.pipe2(os.O_CLOEXEC)
        err_read, self.stderr = os.pipe2(os.O_CLOEXEC)
        ready_read, ready_write = os.pipe2(os.O_CLOEXEC)
        ours = [out_read, err_read, ready_write]
        # Above 5, so that the dup2s onto 3, 4 and 5 cannot overwrite a source.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in ours]
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                       (os.POSIX_SPAWN_DUP2, null, 2)]
            actions += [(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(high)]
            env = {"CONTAINER_ID": container_id, "CONTAINER_NAMESPACE": namespace}
            try:
                self.pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
            except OSError as exc:
                os.close(self.stdout)
                os.close(self.stderr)
                os.close(ready_read)
                raise TtrpcError(INVALID_ARGUMENT, f"start logging binary {argv[0]}: {exc.strerror}") from None
        finally:
            for fd in [*ours, *high, null]:
                os.close(fd)
        try:
            self._wait_ready(ready_read, argv[0])
        except BaseException:
            self.close()
            raise
        finally:
            os.close(ready_read)

    def _wait_ready(self, fd: int, path: str) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(int(READY_TIMEOUT * 1000)):
            raise TtrpcError(INVALID_ARGUMENT, f"logging binary {path} not ready after {READY_TIMEOUT:.0f}s")
        os.read(fd, 1)      # its byte, or EOF: ready either way

    def close(self) -> None:
        """SIGTERM now, SIGKILL later if need be (in a thread: Delete does not wait)."""
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        threading.Thread(target=_kill_later, args=(pidfd, self.pid), name="logger", daemon=True).start()


def _kill_later(pidfd: int, pid: int) -> None:
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(TERM_TIMEOUT * 1000)):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)
