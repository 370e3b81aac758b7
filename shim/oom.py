"""TaskOOM: one thread per task watches its cgroup for OOM kills (with the
runtime library's OomWatch, as `pyrunc events` does) until the task is
deleted or its cgroup goes."""
from __future__ import annotations

import os
import select

from pyrunc.runtime.resources import OomWatch

from .threads import Worker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


class OomWatcher(Worker):
    def __init__(self, manager: Any, on_oom: Callable[[], None]) -> None:
        super().__init__("oom")
        self.watch = OomWatch(manager)
        self.on_oom = on_oom
        self.wake_read, self.wake_write = os.pipe2(os.O_CLOEXEC)

    def stop(self) -> None:
        """The pipe is closed here, not by the thread: a write never lands
        in an fd number that was reused."""
        os.write(self.wake_write, b"x")
        self.join(10)
        os.close(self.wake_read)
        os.close(self.wake_write)

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.wake_read, select.POLLIN)
        if self.watch.fd >= 0:
            poller.register(self.watch.fd, self.watch.mask)
        try:
            while True:
                ready = dict(poller.poll())
                if self.wake_read in ready:
                    if self.watch.pending():
                        self.on_oom()
                    return
                if self.watch.fired():
                    self.on_oom()
                elif self.watch.gone:
                    return
        finally:
            self.watch.close()
