"""The shim is the child subreaper of what it starts (the container init
is a grandchild: the native side forks an intermediate that exits), and
it reaps in exactly one place: the Reaper thread, woken by SIGCHLD.

The runtime library also waits for children of its own (the intermediate,
hook processes); it runs under `lock`, which the reaper takes too, so the
two never race for one child's status."""
from __future__ import annotations

import os
import signal
import threading

from .threads import Worker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator


def ended_children() -> Iterator[tuple[int, int]]:
    """(pid, exit code) of every child that has ended, each reaped."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, exit_code(status)


def exit_code(status: int) -> int:
    """A wait status as containerd reports it: 128+N when killed by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Reaper(Worker):
    """Calls on_exit(pid, exit_code) for every child that exits, holding lock."""

    def __init__(self, lock: threading.RLock, on_exit: Callable[[int, int], None]) -> None:
        super().__init__("reaper")
        self.lock, self.on_exit = lock, on_exit
        self.wake_read, self.wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def install(self) -> None:
        """From the main thread: SIGCHLD writes to our pipe (its handler
        does nothing, the wakeup fd is what counts)."""
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        self.start()

    def run(self) -> None:
        import select
        poller = select.poll()
        poller.register(self.wake_read, select.POLLIN)
        while True:
            # No timeout: an idle shim wakes for nothing.  A SIGCHLD that
            # comes after the last waitpid() wrote its byte: poll returns.
            poller.poll()
            try:
                os.read(self.wake_read, 4096)
            except BlockingIOError:
                pass
            self.reap()

    def reap(self) -> None:
        with self.lock:
            for pid, code in ended_children():
                try:
                    self.on_exit(pid, code)
                except Exception as exc:    # the one reaper must live on
                    from .log import log
                    log.error(f"reaper: exit of {pid}: {exc!r}")
