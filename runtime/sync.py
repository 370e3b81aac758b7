"""The runtime's end of the parent/child channel (native/sync.h).

One SOCK_SEQPACKET packet per message: u32 type, i32 value, u32 length,
then `length` bytes of UTF-8 text, in native byte order.  Packed with
int.to_bytes, not the struct module, whose code every create would page
in only for this.
"""
from __future__ import annotations

import _socket
import os
import sys

from .record import Record

PID = 1
GO = 2
READY = 3
ERROR = 4
HOOKS = 5
USERNS = 6
SECCOMP_FD = 7

HEADER_SIZE = 12
FD_SIZE = 4
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


def channel() -> tuple[_socket.socket, _socket.socket]:
    """(parent end, child end); both close-on-exec.  `_socket`, not
    `socket`: the wrapper module costs milliseconds of enum set-up."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def send(sock: _socket.socket, message: Message) -> None:
    sock.send(encode(message))


def receive(sock: _socket.socket) -> Message | None:
    """The next message, or None when the peer closed (e.g. it exec'd)."""
    packet = sock.recv(HEADER_SIZE + MAX_TEXT)
    return decode(packet) if packet else None


def receive_with_fd(sock: _socket.socket) -> tuple[Message | None, int]:
    """Like receive, and the fd the message carries in SCM_RIGHTS (-1 if
    none), close-on-exec."""
    packet, ancillary, _flags, _address = sock.recvmsg(
        HEADER_SIZE + MAX_TEXT, _socket.CMSG_SPACE(FD_SIZE), _socket.MSG_CMSG_CLOEXEC)
    fds = [int.from_bytes(data[i:i + FD_SIZE], sys.byteorder, signed=True)
           for level, kind, data in ancillary if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
           for i in range(0, len(data) - FD_SIZE + 1, FD_SIZE)]
    for extra in fds[1:]:
        os.close(extra)
    return (decode(packet) if packet else None), (fds[0] if fds else -1)
