"""ttrpc, containerd's small RPC protocol: framing, status codes, a client.

A frame is a 10-byte header — payload length (uint32, big-endian),
stream id (uint32), type (uint8: 1 request, 2 response) and flags (uint8)
— followed by the payload, at most 4 MiB.  A request frame carries a
ttrpc.Request (service, method, protobuf payload, timeout, metadata); the
answer, on the same stream id, a ttrpc.Response (a google.rpc.Status and
the protobuf payload).  Clients use odd stream ids.

The frame codec here is pure bytes (no protobuf), so it can be tested on
its own; the envelope messages come from the generated ttrpc_pb2.
"""
from __future__ import annotations

import socket as _socket
import struct
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

HEADER = struct.Struct(">IIBB")
HEADER_LENGTH = HEADER.size
MAX_MESSAGE = 4 << 20
REQUEST, RESPONSE = 1, 2
HELLO = 0x52    # pyrunc's own: a relay's first frame to the server, naming its group (relay.c)

# google.rpc.Code values that ttrpc and containerd's errdefs use.
OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND = 0, 1, 2, 3, 4, 5
ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION = 6, 7, 8, 9
UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 12, 13, 14


class TtrpcError(Exception):
    """A status that is not OK: raised by handlers, returned to clients."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def __str__(self) -> str:
        return f"ttrpc status {self.code}: {self.message}"


class ProtocolError(Exception):
    """The peer broke the framing: the connection cannot go on."""


class Frame:
    __slots__ = ("stream_id", "type", "flags", "payload", "oversized")

    def __init__(self, stream_id: int, type: int, payload: bytes, flags: int = 0,
                 oversized: int = 0) -> None:
        self.stream_id, self.type, self.flags, self.payload = stream_id, type, flags, payload
        self.oversized = oversized  # the announced length of a frame that was dropped

    def __repr__(self) -> str:
        return f"Frame(stream={self.stream_id}, type={self.type}, flags={self.flags}, {len(self.payload)} bytes)"


def encode_frame(stream_id: int, type: int, payload: bytes, flags: int = 0) -> bytes:
    if len(payload) > MAX_MESSAGE:
        raise TtrpcError(RESOURCE_EXHAUSTED, f"message length {len(payload)} exceed maximum message size of {MAX_MESSAGE}")
    return HEADER.pack(len(payload), stream_id, type, flags) + payload


class FrameDecoder:
    """Incremental: feed() bytes as they arrive, get whole frames back.

    A frame longer than MAX_MESSAGE is skipped without buffering it and
    comes out as a Frame with `oversized` set and no payload, so the
    server can answer that stream with RESOURCE_EXHAUSTED and go on (as
    containerd/ttrpc does)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.skipping = 0      # bytes of an oversized payload still to drop

    def feed(self, data: bytes) -> Iterator[Frame]:
        self.buffer += data
        while True:
            if self.skipping:
                dropped = min(self.skipping, len(self.buffer))
                del self.buffer[:dropped]
                self.skipping -= dropped
                if self.skipping:
                    return
            if len(self.buffer) < HEADER_LENGTH:
                return
            length, stream_id, type, flags = HEADER.unpack_from(self.buffer)
            if length > MAX_MESSAGE:
                del self.buffer[:HEADER_LENGTH]
                self.skipping = length
                yield Frame(stream_id, type, b"", flags, oversized=length)
                continue
            if len(self.buffer) < HEADER_LENGTH + length:
                return
            payload = bytes(self.buffer[HEADER_LENGTH:HEADER_LENGTH + length])
            del self.buffer[:HEADER_LENGTH + length]
            yield Frame(stream_id, type, payload, flags)

    @property
    def pending(self) -> bool:
        """Part of a frame is buffered: EOF now means a truncated frame."""
        return bool(self.buffer) or bool(self.skipping)


# ---- envelopes (protobuf) ------------------------------------------------------

def _pb() -> Any:
    from pyrunc.shim.proto import ttrpc_pb2
    return ttrpc_pb2


def encode_request(service: str, method: str, payload: bytes, timeout_nano: int = 0,
                   metadata: dict[str, str] | None = None) -> bytes:
    pb = _pb()
    request = pb.Request(service=service, method=method, payload=payload, timeout_nano=timeout_nano)
    for key, value in (metadata or {}).items():
        request.metadata.add(key=key, value=value)
    return request.SerializeToString()


def decode_request(payload: bytes) -> Any:
    """A ttrpc.Request; TtrpcError(INVALID_ARGUMENT) when it does not parse."""
    from google.protobuf.message import DecodeError
    request = _pb().Request()
    try:
        request.ParseFromString(payload)
    except DecodeError as exc:
        raise TtrpcError(INVALID_ARGUMENT, f"unmarshal request error: {exc}") from None
    return request


def encode_response(payload: bytes = b"", code: int = OK, message: str = "") -> bytes:
    response = _pb().Response(payload=payload)
    if code != OK:
        response.status.code = code
        response.status.message = message
    return response.SerializeToString()


def decode_response(payload: bytes) -> bytes:
    """The response's payload; TtrpcError for a status that is not OK."""
    response = _pb().Response()
    response.ParseFromString(payload)
    if response.HasField("status") and response.status.code != OK:
        raise TtrpcError(response.status.code, response.status.message)
    return response.payload


# ---- client ------------------------------------------------------------------

def connect(address: str, timeout: float | None = None) -> _socket.socket:
    """A connected socket for `unix:///path` (or a bare path)."""
    path = address[len("unix://"):] if address.startswith("unix://") else address
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


class Client:
    """A blocking ttrpc client; calls from several threads may share it
    (each waits for its own stream id)."""

    def __init__(self, sock: _socket.socket, metadata: dict[str, str] | None = None) -> None:
        self.sock, self.metadata = sock, metadata or {}
        self.decoder = FrameDecoder()
        self.next_id = 1
        self.lock = threading.Lock()          # sending, and the stream id counter
        self.receiving = threading.Lock()     # one reader at a time
        self.arrived: dict[int, Frame] = {}
        self.changed = threading.Condition()

    @classmethod
    def at(cls, address: str, timeout: float | None = None, metadata: dict[str, str] | None = None) -> Client:
        return cls(connect(address, timeout), metadata)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, service: str, method: str, request: Any, response_type: Any) -> Any:
        """Send request (a protobuf message), return a response_type message."""
        payload = self.call_raw(service, method, request.SerializeToString())
        response = response_type()
        response.ParseFromString(payload)
        return response

    def call_raw(self, service: str, method: str, payload: bytes) -> bytes:
        with self.lock:
            stream_id = self.next_id
            self.next_id += 2
            self.sock.sendall(encode_frame(stream_id, REQUEST, encode_request(
                service, method, payload, metadata=self.metadata)))
        return decode_response(self._wait(stream_id).payload)

    def _wait(self, stream_id: int) -> Frame:
        while True:
            with self.changed:
                if stream_id in self.arrived:
                    return self.arrived.pop(stream_id)
            if self.receiving.acquire(blocking=False):
                try:
                    self._receive_some()
                finally:
                    self.receiving.release()
                with self.changed:
                    self.changed.notify_all()
            else:
                with self.changed:
                    if stream_id not in self.arrived:
                        self.changed.wait(0.05)

    def _receive_some(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        for frame in self.decoder.feed(data):
            if frame.type == RESPONSE:
                with self.changed:
                    self.arrived[frame.stream_id] = frame
