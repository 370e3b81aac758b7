"""A process's stdio as containerd hands it over: paths of fifos it made
(or file:// URIs), copied to and from pipes (or a pty master) that the
process holds; or binary:// URIs, whose logger reads the pipes itself
(binlog.py).

Why pipes and not the fifos themselves: the process must see EOF on
stdin when containerd says CloseIO, and its output must be fully copied
before its exit is published, whoever else still holds the fifos.

The zygote keeps a copy of the process's side of them (a Keeper: the
stdout and stderr pipes' read ends, stdin's write end, a pty master),
sent before copying starts and dropped when done (stdin's when it is
closed: until then the process would not see EOF).  A server started
after a killed one resumes the copying from those (Stdio.resumed).
"""
from __future__ import annotations

import os
import select
import threading

from .binlog import SCHEME, Logger
from .threads import Worker
from .ttrpc import INVALID_ARGUMENT, TtrpcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Protocol

    class Keeper(Protocol):
        def keep(self, name: str, ends: dict[str, int]) -> None: ...
        def drop(self, name: str, roles: str = "") -> None: ...

CHUNK = 65536


def open_destination(uri: str) -> int:
    """An fd to write a process's output to: a fifo path or file:// URI."""
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    if "://" in uri:
        raise TtrpcError(INVALID_ARGUMENT, f"unsupported stdio URI {uri!r} (fifo paths and file:// are)")
    # Read-write: never blocks for want of a reader, and a reader that
    # comes and goes does not make our writes fail with SIGPIPE.
    return os.open(uri, os.O_RDWR | os.O_CLOEXEC)


def open_source(uri: str) -> int:
    if "://" in uri:
        raise TtrpcError(INVALID_ARGUMENT, f"unsupported stdin URI {uri!r}")
    # Non-blocking: the client may open its end later.  Before any writer
    # came, poll() reports nothing (Linux marks a fifo hung up only once a
    # writer has come and gone), so copying waits; then the client closing
    # its end is EOF, as CloseIO is.
    return os.open(uri, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def _write_all(fd: int, data: bytes) -> bool:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return False
        data = data[written:]
    return True


class Copier(Worker):
    """Copies source to destination until EOF (or an error) on the source,
    or until stop(): then what the source holds already is drained and
    copying ends.  Closes both fds when done."""

    def __init__(self, source: int, destination: int, name: str,
                 on_done: Callable[[], None] | None = None) -> None:
        super().__init__(name)
        self.source, self.destination, self.on_done = source, destination, on_done
        self.wake_read, self.wake_write = os.pipe()
        self.lock = threading.Lock()

    def stop(self) -> None:
        with self.lock:
            if self.wake_write >= 0:
                os.write(self.wake_write, b"x")

    def dispose(self) -> None:
        """Stop, and close what is left.  The wake pipe is closed here, not
        by the thread, so a stop() never writes into a reused fd number."""
        if self.ident is None:      # never started: its fds are ours to close
            for fd in (self.source, self.destination):
                os.close(fd)
        else:
            self.stop()
            self.join(5)
            if self.is_alive():     # blocked writing to a fifo nobody reads: leave it be
                return
        with self.lock:
            os.close(self.wake_read)
            os.close(self.wake_write)
            self.wake_read = self.wake_write = -1

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.source, select.POLLIN)
        poller.register(self.wake_read, select.POLLIN)
        try:
            while True:
                events = dict(poller.poll())
                if self.wake_read in events:
                    self._drain()
                    return
                try:
                    data = os.read(self.source, CHUNK)
                except BlockingIOError:
                    continue
                except OSError:        # EIO: a pty whose every slave is closed
                    return
                if not data or not _write_all(self.destination, data):
                    return
        finally:
            os.close(self.source)
            os.close(self.destination)
            if self.on_done is not None:
                self.on_done()

    def _drain(self) -> None:
        os.set_blocking(self.source, False)
        while True:
            try:
                data = os.read(self.source, CHUNK)
            except OSError:
                return
            if not data or not _write_all(self.destination, data):
                return


class Stdio:
    """The shim's side of one process's stdio.

    Before the process starts, `process_fds` are what it gets as 0, 1, 2
    (closed here once it has them: close_child_side).  With a terminal,
    attach_terminal() takes the pty master instead."""

    def __init__(self, stdin: str, stdout: str, stderr: str, terminal: bool,
                 owner: tuple[int, int] = (0, 0), container: tuple[str, str] = ("", "")) -> None:
        self.paths = (stdin, stdout, stderr)
        self.terminal = terminal
        self.container = container      # (id, namespace), for a binary:// logger
        self.logger: Any = None
        self.owner = owner      # containerd's IoUid/IoGid: a user-namespaced process may reopen its pipes
        self.master = -1
        self.copiers: list[Copier] = []
        self.stdin_copier: Copier | None = None
        self.process_fds: list[int] = []
        self.done = threading.Semaphore(0)
        self.keeper: Keeper | None = None
        self.name = ""      # ID\0EXEC_ID, the keeper's name for it
        self.kept = False   # the keeper holds our ends
        if terminal:
            return
        try:
            self._make_pipes()
        except BaseException:
            self.close()
            raise

    def _make_pipes(self) -> None:
        stdin, stdout, stderr = self.paths
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.process_fds = [null, os.dup(null), os.dup(null)]
        if stdin:
            source = open_source(stdin)
            read_end, write_end = os.pipe()
            self._replace(0, read_end)
            self.stdin_copier = Copier(source, write_end, "stdin", self._stdin_closed)
        if stdout.startswith(SCHEME):
            # containerd gives stdout and stderr the same binary:// URI.
            self.logger = Logger(stdout, *self.container)
            self._replace(1, self.logger.stdout)
            self._replace(2, self.logger.stderr)
            return
        for number, uri in ((1, stdout), (2, stderr)):
            if not uri:
                continue
            destination = open_destination(uri)
            read_end, write_end = os.pipe()
            self._replace(number, write_end)
            self.copiers.append(Copier(read_end, destination, f"fd{number}", self.done.release))

    def _replace(self, number: int, fd: int) -> None:
        if self.owner != (0, 0):
            os.fchown(fd, *self.owner)      # the pipe's inode: both ends alike
        os.close(self.process_fds[number])
        self.process_fds[number] = fd

    def keep_with(self, keeper: Keeper, name: str) -> None:
        """Copies of the process's ends go to keeper when copying starts."""
        self.keeper, self.name = keeper, name

    def _ends(self) -> dict[str, int]:
        """The process's side of its stdio that we hold, by role."""
        if self.master >= 0:
            return {"t": self.master}
        ends = {"i": self.stdin_copier.destination} if self.stdin_copier is not None else {}
        for copier in self.copiers:
            ends["o" if copier.name == "fd1" else "e"] = copier.source
        return ends

    def start(self) -> None:
        """Copying starts; call once the process holds its ends.  The
        keeper gets them first: a copier closes its fds when done."""
        if self.keeper is not None and not self.kept:
            ends = self._ends()
            if ends:
                self.keeper.keep(self.name, ends)
                self.kept = True
        for copier in [*self.copiers, *([self.stdin_copier] if self.stdin_copier else [])]:
            copier.start()

    def _stdin_closed(self) -> None:
        if self.kept and self.keeper is not None:
            self.keeper.drop(self.name, "i")

    @classmethod
    def resumed(cls, paths: tuple[str, str, str], ends: dict[str, int], keeper: Keeper, name: str) -> Stdio:
        """A killed server's process's stdio, from the ends the keeper kept
        (ours now: inherited): copying to and from the fifos goes on."""
        stdio = cls(*paths, terminal=True)     # terminal: no pipes made
        stdio.keeper, stdio.name, stdio.kept = keeper, name, True
        stdin, stdout, stderr = paths
        try:
            if "t" in ends:
                stdio.attach_terminal(ends.pop("t"))
                return stdio
            if "i" in ends:
                stdio.stdin_copier = Copier(open_source(stdin), ends.pop("i"), "stdin", stdio._stdin_closed)
            for role, number, uri in (("o", 1, stdout), ("e", 2, stderr)):
                if role in ends:
                    stdio.copiers.append(Copier(ends[role], open_destination(uri), f"fd{number}", stdio.done.release))
                    del ends[role]
        except (OSError, TtrpcError):
            stdio.close()   # containerd's fifos are gone: so is whoever would read them
            raise
        finally:
            for fd in ends.values():
                os.close(fd)
        stdio.start()
        return stdio

    def close_child_side(self) -> None:
        for fd in self.process_fds:
            os.close(fd)
        self.process_fds = []

    def attach_terminal(self, master: int) -> None:
        """Copy between the pty master and the fifos (stderr has no part)."""
        self.master = master
        if self.paths[1].startswith(SCHEME):
            raise TtrpcError(INVALID_ARGUMENT, "a terminal's output cannot go to a binary:// logger")
        stdin, stdout, _ = self.paths
        if stdout:
            self.copiers.append(Copier(os.dup(master), open_destination(stdout), "pty-out", self.done.release))
        if stdin:
            self.stdin_copier = Copier(open_source(stdin), os.dup(master), "pty-in")
        self.start()

    def close_stdin(self) -> None:
        if self.stdin_copier is not None:
            self.stdin_copier.stop()

    def wait_output(self, timeout: float) -> bool:
        """Until all output is copied (EOF on every pipe), at most timeout."""
        import time
        deadline = time.monotonic() + timeout
        for _ in self.copiers:
            if not self.done.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
        return True

    def close(self) -> None:
        """Everything of ours, once the process is gone (and its output copied)."""
        if self.kept and self.keeper is not None:
            self.keeper.drop(self.name)
            self.kept = False
        for copier in [*self.copiers, *([self.stdin_copier] if self.stdin_copier else [])]:
            copier.dispose()
        self.copiers, self.stdin_copier = [], None
        if self.process_fds:
            self.close_child_side()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        if self.logger is not None:
            self.logger.close()
            self.logger = None
