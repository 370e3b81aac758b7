"""The shim's log: containerd reads it from the `log` fifo in the bundle
(and shows it in its own log); lines are logfmt-like, as Go shims write."""
from __future__ import annotations

import os
import threading
import time


class Log:
    def __init__(self) -> None:
        self.fd = -1
        self.debug_enabled = False
        self.lock = threading.Lock()

    def open(self, path: str, debug: bool = False) -> None:
        """The bundle's log fifo (containerd reads it), else nowhere."""
        self.debug_enabled = debug
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_APPEND)
        except OSError:
            self.fd = -1

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
