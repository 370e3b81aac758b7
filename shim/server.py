"""A ttrpc server on a unix socket: one thread runs a selectors loop that
accepts connections and decodes frames; each request runs in a thread of
its own, so a blocked Wait never holds up a Kill or a State (but for the
`inline` methods, quick ones, answered in the loop).

Errors follow containerd/ttrpc: an oversized frame gets RESOURCE_EXHAUSTED
on its stream, a request that does not parse or comes on an even stream
id gets INVALID_ARGUMENT, frames of other types are ignored, an unknown
service or method gets UNIMPLEMENTED; a handler's TtrpcError is its
status, any other exception UNKNOWN.  Only broken framing (EOF in the
middle of a frame) ends a connection.

containerd reaches the server through relays (relay.c), one per
container group: each connection starts with a HELLO frame naming the
relay's group, and the relay is the connection's peer.  A handler learns
which connection it serves from `calling.connection`, and may leave work
for after its answer is sent in `calling.then`."""
from __future__ import annotations

import socket as _socket
import os
import selectors
import threading

from . import ttrpc
from .log import log
from .threads import Call

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    Handler = tuple[Any, Callable[[Any], Any]]    # (request type, function)


calling = threading.local()     # .connection, .then: of the call this thread answers


class Connection:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.decoder = ttrpc.FrameDecoder()
        self.write_lock = threading.Lock()
        self.group = ""         # the relay's, from its HELLO
        self.relay_pid = 0

    def send(self, stream_id: int, payload: bytes) -> None:
        with self.write_lock:
            try:
                self.sock.sendall(ttrpc.encode_frame(stream_id, ttrpc.RESPONSE, payload))
            except OSError:
                pass    # the client is gone; nothing to tell it


class Server:
    def __init__(self, listener: _socket.socket, services: dict[str, dict[str, Handler]],
                 inline: frozenset[str] = frozenset()) -> None:
        self.listener, self.services = listener, services
        self.inline = inline    # methods quick enough to answer in the loop: no thread for them
        self.selector = selectors.DefaultSelector()
        self.wake_read, self.wake_write = os.pipe()
        self.stopping = False
        self.stop_lock = threading.Lock()
        self.connections: set[Connection] = set()
        self.on_hello: Callable[[Connection], None] | None = None

    def serve(self) -> None:
        """Until stop(); then every connection is closed."""
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, None)
        try:
            while not self.stopping:
                for key, _ in self.selector.select():
                    if key.fileobj is self.listener:
                        self._accept()
                    elif key.fileobj == self.wake_read:
                        os.read(self.wake_read, 64)
                    elif isinstance(key.data, Connection):
                        self._readable(key.data)
                    else:
                        key.data()      # a watched fd's callback
        finally:
            for connection in list(self.connections):
                self._close(connection)
            self.selector.close()
            os.close(self.wake_read)
            os.close(self.wake_write)

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """From the loop's thread: callback() when fd turns readable."""
        self.selector.register(fd, selectors.EVENT_READ, callback)

    def unwatch(self, fd: int) -> None:
        self.selector.unregister(fd)

    def stop(self) -> None:
        with self.stop_lock:
            if self.stopping:   # once: the wake pipe is closed when serve() ends
                return
            self.stopping = True
            os.write(self.wake_write, b"x")

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(True)      # sends come from request threads; reads only when readable
        connection = Connection(sock)
        self.connections.add(connection)
        self.selector.register(sock, selectors.EVENT_READ, connection)

    def _close(self, connection: Connection) -> None:
        self.connections.discard(connection)
        try:
            self.selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        connection.sock.close()

    def _readable(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            if connection.decoder.pending:
                log.debug("ttrpc: connection closed in the middle of a frame")
            self._close(connection)
            return
        for frame in connection.decoder.feed(data):
            self._frame(connection, frame)

    def _frame(self, connection: Connection, frame: ttrpc.Frame) -> None:
        if frame.oversized:
            connection.send(frame.stream_id, ttrpc.encode_response(
                code=ttrpc.RESOURCE_EXHAUSTED,
                message=f"message length {frame.oversized} exceed maximum message size of {ttrpc.MAX_MESSAGE}"))
            return
        if frame.type == ttrpc.HELLO and not connection.group:
            import struct
            creds = connection.sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
            connection.relay_pid = struct.unpack("3i", creds)[0]
            connection.group = frame.payload.decode(errors="replace")
            if self.on_hello is not None:
                self.on_hello(connection)
            return
        if frame.type != ttrpc.REQUEST:
            return      # ignored, for compatibility with later protocol versions
        try:
            request = ttrpc.decode_request(frame.payload)
            if frame.stream_id % 2 != 1:
                raise ttrpc.TtrpcError(ttrpc.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams")
        except ttrpc.TtrpcError as exc:
            connection.send(frame.stream_id, ttrpc.encode_response(code=exc.code, message=exc.message))
            return
        if request.method in self.inline:
            self._handle(connection, frame.stream_id, request)
            return
        # No start handshake (threads.py): the loop goes back to reading at once.
        Call(request.method, self._handle, connection, frame.stream_id, request).start()

    def _handle(self, connection: Connection, stream_id: int, request: Any) -> None:
        calling.connection, calling.then = connection, None
        connection.send(stream_id, self.dispatch(request.service, request.method, request.payload))
        then, calling.then = calling.then, None
        if then is not None:
            then()

    def dispatch(self, service: str, method: str, payload: bytes) -> bytes:
        """A serialized ttrpc.Response for one call."""
        try:
            methods = self.services.get(service)
            if methods is None:
                raise ttrpc.TtrpcError(ttrpc.UNIMPLEMENTED, f"service {service}")
            handler = methods.get(method)
            if handler is None:
                raise ttrpc.TtrpcError(ttrpc.UNIMPLEMENTED, f"method {method}")
            request_type, function = handler
            message = request_type()
            try:
                message.ParseFromString(payload)
            except Exception as exc:
                raise ttrpc.TtrpcError(ttrpc.INTERNAL, f"ttrpc: error unmarshalling payload: {exc}") from None
            if log.debug_enabled:
                log.debug(f"{method} {_brief(message)}")
            response = function(message)
            return ttrpc.encode_response(response.SerializeToString())
        except ttrpc.TtrpcError as exc:
            log.debug(f"{method}: {exc.message}")
            return ttrpc.encode_response(code=exc.code, message=exc.message)
        except Exception as exc:
            import traceback    # a bug's path only: its imports (linecache, tokenize) cost 0.2 MiB
            log.error(f"{method}: {exc!r}: {traceback.format_exc()}")
            return ttrpc.encode_response(code=ttrpc.UNKNOWN, message=str(exc) or repr(exc))


def _brief(message: Any) -> str:
    text = str(message).replace("\n", " ")
    return text if len(text) < 300 else text[:300] + "..."


def listen(path: str) -> _socket.socket:
    """A listening socket at path, mode 0600, in a directory that is
    made 0700 (only root reaches the socket, whatever the umask)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    sock.listen(64)
    return sock
