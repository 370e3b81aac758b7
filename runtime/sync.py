"""The runtime's end of the parent/child channel (native/sync.h).

One SOCK_SEQPACKET packet per message: u32 type, i32 value, u32 length,
then `length` bytes of UTF-8 text, in native byte order.
"""
from __future__ import annotations

import _socket
import os
import struct

from .record import Record

PID = 1
GO = 2
READY = 3
ERROR = 4
HOOKS = 5
USERNS = 6
SECCOMP_FD = 7

_HEADER = struct.Struct("=IiI")
_FD = struct.Struct("=i")
MAX_TEXT = 65536  # as native/sync.h


class Message(Record):
    __slots__ = ("type", "value", "text")

    def __init__(self, type: int, value: int = 0, text: str = "") -> None:
        self.type, self.value, self.text = type, value, text


class ProtocolError(Exception):
    pass


def encode(message: Message) -> bytes:
    text = message.text.encode("utf-8", "replace")[:MAX_TEXT]
    return _HEADER.pack(message.type, message.value, len(text)) + text


def decode(packet: bytes) -> Message:
    if len(packet) < _HEADER.size:
        raise ProtocolError("short message")
    kind, value, length = _HEADER.unpack_from(packet)
    if length > len(packet) - _HEADER.size:
        raise ProtocolError("truncated message")
    text = packet[_HEADER.size:_HEADER.size + length].decode("utf-8", "replace")
    return Message(kind, value, text)


def channel() -> tuple[_socket.socket, _socket.socket]:
    """(parent end, child end); both close-on-exec.  `_socket`, not
    `socket`: the wrapper module costs milliseconds of enum set-up."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send(sock: _socket.socket, message: Message) -> None:
    sock.send(encode(message))


def receive(sock: _socket.socket) -> Message | None:
    """The next message, or None when the peer closed (e.g. it exec'd)."""
    packet = sock.recv(_HEADER.size + MAX_TEXT)
    return decode(packet) if packet else None


def receive_with_fd(sock: _socket.socket) -> tuple[Message | None, int]:
    """Like receive, and the fd the message carries in SCM_RIGHTS (-1 if
    none), close-on-exec."""
    packet, ancillary, _flags, _address = sock.recvmsg(
        _HEADER.size + MAX_TEXT, _socket.CMSG_SPACE(_FD.size), _socket.MSG_CMSG_CLOEXEC)
    fds = [fd for level, kind, data in ancillary
           if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
           for (fd,) in _FD.iter_unpack(data[:len(data) - len(data) % _FD.size])]
    for extra in fds[1:]:
        os.close(extra)
    return (decode(packet) if packet else None), (fds[0] if fds else -1)
