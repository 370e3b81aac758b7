"""The shim's log: containerd reads it from the `log` fifo in the bundle
(and shows it in its own log); lines are logfmt-like, as Go shims write."""
from __future__ import annotations

import os
import threading
import time


class Log:
    def __init__(self) -> None:
        self.fd = -1
        self.path = ""
        self.debug_enabled = False
        self.lock = threading.Lock()

    def open(self, path: str, debug: bool | None = None) -> None:
        """A bundle's log fifo (containerd reads it), else nowhere; the one
        open before is closed.  A shim that serves a group moves to another
        container's bundle when the one it logs to is deleted."""
        if debug is not None:
            self.debug_enabled = debug
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_APPEND)
        except OSError:
            fd = -1
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
            self.fd, self.path = fd, path if fd >= 0 else ""

    def write(self, level: str, message: str) -> None:
        if self.fd < 0:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = message.replace('"', '\\"').replace("\n", " ")
        with self.lock:
            try:
                os.write(self.fd, f'time="{stamp}" level={level} msg="{text}" runtime=io.containerd.pyrunc.v2\n'.encode())
            except OSError:
                pass

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self.write("debug", message)

    def info(self, message: str) -> None:
        self.write("info", message)

    def warning(self, message: str) -> None:
        self.write("warning", message)

    def error(self, message: str) -> None:
        self.write("error", message)


log = Log()
