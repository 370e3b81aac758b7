"""The runtime's end of the parent/child channel (native/sync.h).

One SOCK_SEQPACKET packet per message: u32 type, i32 value, u32 length,
then `length` bytes of UTF-8 text, in native byte order.  Packed with
int.to_bytes, not the struct module, whose code every create would page
in only for this; the channel's fds and their I/O are _spawn's
(native/pyext/spawnmodule.c), not the socket module's, for the same reason.
"""
from __future__ import annotations

import os
import sys

from . import _spawn  # type: ignore[attr-defined]
from .record import Record

PID = 1
GO = 2
READY = 3
ERROR = 4
HOOKS = 5
USERNS = 6
SECCOMP_FD = 7

HEADER_SIZE = 12
MAX_TEXT = 65536  # as native/sync.h


class Message(Record):
    __slots__ = ("type", "value", "text")

    def __init__(self, type: int, value: int = 0, text: str = "") -> None:
        self.type, self.value, self.text = type, value, text


class ProtocolError(Exception):
    pass


def encode(message: Message) -> bytes:
    text = message.text.encode("utf-8", "replace")[:MAX_TEXT]
    order = sys.byteorder
    return (message.type.to_bytes(4, order) + message.value.to_bytes(4, order, signed=True)
            + len(text).to_bytes(4, order) + text)


def decode(packet: bytes) -> Message:
    if len(packet) < HEADER_SIZE:
        raise ProtocolError("short message")
    order = sys.byteorder
    kind, value = int.from_bytes(packet[0:4], order), int.from_bytes(packet[4:8], order, signed=True)
    length = int.from_bytes(packet[8:12], order)
    if length > len(packet) - HEADER_SIZE:
        raise ProtocolError("truncated message")
    text = packet[HEADER_SIZE:HEADER_SIZE + length].decode("utf-8", "replace")
    return Message(kind, value, text)


class Channel:
    """The parent's end: its fd, closed once however often close() is
    called and when the object goes (as a socket object's)."""
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    __del__ = close


def channel() -> tuple[Channel, int]:
    """(parent end, child end's fd), both close-on-exec."""
    parent, child = _spawn.channel()
    return Channel(parent), child


def send(fd: int, message: Message) -> None:
    _spawn.send(fd, encode(message))


def readable(fd: int, timeout: float) -> bool:
    """Whether a message (or EOF) is there within timeout seconds."""
    ready: bool = _spawn.readable(fd, int(timeout * 1000))
    return ready


def receive(fd: int) -> Message | None:
    """The next message, or None when the peer closed (e.g. it exec'd)."""
    message, passed = receive_with_fd(fd)
    if passed >= 0:
        os.close(passed)
    return message


def receive_with_fd(fd: int) -> tuple[Message | None, int]:
    """Like receive, and the fd the message carries in SCM_RIGHTS (-1 if
    none), close-on-exec."""
    packet, passed = _spawn.receive(fd, HEADER_SIZE + MAX_TEXT)
    return (decode(packet) if packet else None), passed
