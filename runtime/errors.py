"""The one exception family of pyrunc.

Every failure a user can cause or meet is a PyruncError: a one-line
message, the errno behind it when there is one, and the JSON path of the
offending config field when the error is about config.json.  The CLI turns
it into `pyrunc: <message>`, a log line and exit status 1.
"""
from __future__ import annotations

import os

# Longer messages are cut: a config value (a 100 KB hostname) may be in one.
MAX_MESSAGE = 2000



class PyruncError(Exception):
    def __init__(self, message: str, errno: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(PyruncError):
    """config.json is unreadable or asks for something invalid."""


class ContainerNotFound(PyruncError):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id} does not exist", errno=2)


def from_os_error(what: str, exc: OSError) -> PyruncError:
    """Wrap an OSError as `<what>: <strerror>` keeping its errno."""
    reason = exc.strerror or os.strerror(exc.errno or 0)
    return PyruncError(f"{what}: {reason}", errno=exc.errno)


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message as the CLI and the log show it: control characters (a
    newline in a config value) and lone surrogates (undecodable file names)
    escaped, so it stays one line and encodes; cut after `limit` characters."""
    text = printable(text)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def printable(text: str) -> str:
    """`text` with every unprintable character (newlines, \\r, NUL, lone
    surrogates...) escaped as Python would."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else ascii(ch)[1:-1]
                                                   for ch in text)
