"""Threads that start without a handshake.  threading.Thread.start() waits
until the new thread has run; on a busy machine that is a scheduler round
trip per thread, and a Create starts up to four (stdio copiers, the OOM
watcher).  These start and return: the work they do waits in a pipe."""
from __future__ import annotations

import _thread
import threading

from .log import log


class Worker:
    """The part of threading.Thread the shim uses: start, join, is_alive,
    ident (None until started); subclasses define run()."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ident: int | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        self.ident = _thread.start_new_thread(self._bootstrap, ())

    def _bootstrap(self) -> None:
        try:
            self.run()
        except Exception as exc:    # threading's excepthook does not see these threads
            log.error(f"thread {self.name}: {exc!r}")
        finally:
            self.finished.set()

    def run(self) -> None:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> None:
        self.finished.wait(timeout)

    def is_alive(self) -> bool:
        return self.ident is not None and not self.finished.is_set()


class Call(Worker):
    """function(*args) in a thread of its own."""

    def __init__(self, name: str, function: object, *args: object) -> None:
        super().__init__(name)
        self.function, self.args = function, args

    def run(self) -> None:
        self.function(*self.args)   # type: ignore[operator]
