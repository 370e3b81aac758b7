"""--log / --log-format handling.

Engines ignore our stderr on failure and show the last
`{"level":"error","msg":...,"time":...}` line of the --log file, so every
error goes there in logrus's JSON (or text) shape.
"""
from __future__ import annotations

import os
import sys
import time

from . import jsonio
from .errors import from_os_error, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


class Logger:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.min_level = _LEVELS["debug"] if debug else _LEVELS["info"]
        # An embedder's own log (the shim's) instead of a file: sink(level, message).
        self.sink: Callable[[str, str], None] | None = None

    def _timestamp(self) -> str:
        now = time.time()
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        return f"{base}.{int(now % 1 * 1e9):09d}Z"

    def format(self, level: str, msg: str) -> str:
        stamp = self._timestamp()
        if self.fmt == "json":
            return jsonio.dumps({"level": level, "msg": msg, "time": stamp})
        return f"time={jsonio.dumps(stamp)} level={level} msg={jsonio.dumps(msg)}"

    def log(self, level: str, msg: str) -> None:
        if _LEVELS[level] < self.min_level:
            return
        if self.sink is not None:
            self.sink(level, one_line(msg))
            return
        line = self.format(level, one_line(msg)) + "\n"
        if self.path is None:
            if level != "error":    # errors reach stderr through the CLI already
                sys.stderr.write(line)
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return      # logging must never turn a result into a failure
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def warning(self, msg: str) -> None:
        self.log("warning", msg)

    def error(self, msg: str) -> None:
        self.log("error", msg)


# The process-wide logger, configured by the CLI from the global flags.
logger = Logger()


def configure(path: str | None, fmt: str, debug: bool) -> None:
    """Set up the process-wide logger.  A --log that cannot be opened is an
    error at once, as with runc: failing later would only lose the lines."""
    if path is not None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            raise from_os_error(f"open {path}", exc) from None
    logger.path, logger.fmt = path, fmt
    logger.min_level = _LEVELS["debug"] if debug else _LEVELS["info"]
