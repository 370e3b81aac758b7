"""The ttrpc server loop with a toy service, in-process: concurrency,
error statuses, and that no input a client sends stops it serving."""
from __future__ import annotations

import os
import tempfile
import threading
from typing import Any, Iterator

import pytest
from google.protobuf import wrappers_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.shim import ttrpc
from pyrunc.shim.server import Server, listen

SERVICE = "test.Echo"


class Toy:
    def __init__(self) -> None:
        self.release = threading.Event()

    def echo(self, request: Any) -> Any:
        return wrappers_pb2.StringValue(value=request.value)

    def block(self, request: Any) -> Any:
        self.release.wait(30)
        return wrappers_pb2.StringValue(value="released")

    def fail(self, request: Any) -> Any:
        raise RuntimeError("boom")

    def refuse(self, request: Any) -> Any:
        raise ttrpc.TtrpcError(ttrpc.FAILED_PRECONDITION, "not now")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Toy, Server]]:
    directory = tempfile.mkdtemp(prefix="ttrpc")
    path = os.path.join(directory, "s", "sock")
    toy = Toy()
    methods = {name: (wrappers_pb2.StringValue, getattr(toy, name)) for name in ("echo", "block", "fail", "refuse")}
    server = Server(listen(path), {SERVICE: methods})
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield path, toy, server
    finally:
        toy.release.set()
        server.stop()
        thread.join(10)
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
        os.rmdir(directory)


def echo(path: str, text: str) -> str:
    with ttrpc.Client.at(path, timeout=10) as client:
        return client.call(SERVICE, "echo", wrappers_pb2.StringValue(value=text), wrappers_pb2.StringValue).value


def test_a_blocked_call_does_not_hold_up_others_on_the_same_connection(served: Any) -> None:
    path, toy, _ = served
    toy.release.clear()
    with ttrpc.Client.at(path, timeout=10) as client:
        blocked: list[str] = []
        waiter = threading.Thread(target=lambda: blocked.append(client.call(
            SERVICE, "block", wrappers_pb2.StringValue(), wrappers_pb2.StringValue).value))
        waiter.start()
        for i in range(5):
            assert client.call(SERVICE, "echo", wrappers_pb2.StringValue(value=str(i)),
                               wrappers_pb2.StringValue).value == str(i)
        assert not blocked
        toy.release.set()
        waiter.join(10)
        assert blocked == ["released"]


@pytest.mark.parametrize("service, method, code, message", [
    ("no.Such", "echo", ttrpc.UNIMPLEMENTED, "service no.Such"),
    (SERVICE, "nope", ttrpc.UNIMPLEMENTED, "method nope"),
    (SERVICE, "fail", ttrpc.UNKNOWN, "boom"),
    (SERVICE, "refuse", ttrpc.FAILED_PRECONDITION, "not now"),
])
def test_errors_are_statuses(served: Any, service: str, method: str, code: int, message: str) -> None:
    with ttrpc.Client.at(served[0], timeout=10) as client:
        with pytest.raises(ttrpc.TtrpcError) as error:
            client.call_raw(service, method, b"")
        assert (error.value.code, error.value.message) == (code, message)
        # The connection goes on.
        assert client.call(SERVICE, "echo", wrappers_pb2.StringValue(value="x"), wrappers_pb2.StringValue).value == "x"


def test_a_payload_that_does_not_parse_is_internal(served: Any) -> None:
    with ttrpc.Client.at(served[0], timeout=10) as client:
        with pytest.raises(ttrpc.TtrpcError) as error:
            client.call_raw(SERVICE, "echo", b"\xff\xff")
        assert error.value.code == ttrpc.INTERNAL


@given(st.binary(max_size=300), st.booleans())
@settings(max_examples=60, deadline=None)
def test_no_input_stops_the_server(served: Any, garbage: bytes, truncate: bool) -> None:
    path = served[0]
    sock = ttrpc.connect(path, timeout=10)
    with sock:
        data = garbage
        if truncate:     # a header announcing more than is sent
            data = ttrpc.HEADER.pack(len(garbage) + 5, 1, ttrpc.REQUEST, 0) + garbage
        sock.sendall(data)
        sock.shutdown(1)
        # Whatever it answers is well-formed frames; then it hangs up on EOF.
        decoder = ttrpc.FrameDecoder()
        while chunk := sock.recv(65536):
            for frame in decoder.feed(chunk):
                assert frame.type == ttrpc.RESPONSE
    assert echo(path, "still here") == "still here"
