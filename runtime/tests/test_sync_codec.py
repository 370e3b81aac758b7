"""The parent/child message codec (runtime/sync.py <-> native/sync.c) and
the channel's I/O (native/pyext/spawnmodule.c)."""
from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given, strategies as st

from pyrunc.runtime import sync

messages = st.builds(
    sync.Message,
    type=st.sampled_from([sync.PID, sync.GO, sync.READY, sync.ERROR]),
    value=st.integers(min_value=-2**31, max_value=2**31 - 1),
    text=st.text(max_size=200),
)


@given(messages)
def test_encode_decode_round_trip(message: sync.Message) -> None:
    assert sync.decode(sync.encode(message)) == message


@given(st.binary(max_size=64))
def test_decode_never_crashes_on_garbage(packet: bytes) -> None:
    try:
        sync.decode(packet)
    except sync.ProtocolError:
        pass


def test_text_is_cut_at_the_native_limit() -> None:
    decoded = sync.decode(sync.encode(sync.Message(sync.ERROR, 5, "x" * (sync.MAX_TEXT + 100))))
    assert decoded.text == "x" * sync.MAX_TEXT


def test_truncated_packet_is_a_protocol_error() -> None:
    packet = sync.encode(sync.Message(sync.ERROR, 1, "hello"))
    with pytest.raises(sync.ProtocolError):
        sync.decode(packet[:-2])


def test_channel_carries_messages_and_reports_close() -> None:
    parent, child = sync.channel()
    try:
        sync.send(child, sync.Message(sync.READY, 7, "ok"))
        assert sync.receive(parent.fd) == sync.Message(sync.READY, 7, "ok")
        os.close(child)
        child = -1
        assert sync.receive(parent.fd) is None
    finally:
        parent.close()
        if child >= 0:
            os.close(child)


def test_channel_fds_are_close_on_exec_and_closed_once() -> None:
    parent, child = sync.channel()
    fd = parent.fd
    try:
        assert not os.get_inheritable(fd) and not os.get_inheritable(child)
        parent.close()
        parent.close()      # a second close must not close whatever reuses the number
        assert parent.fd == -1
        with pytest.raises(OSError):
            os.fstat(fd)
    finally:
        os.close(child)


def test_readable_waits_for_a_message_or_the_peer_closing() -> None:
    parent, child = sync.channel()
    try:
        assert not sync.readable(parent.fd, 0.05)
        sync.send(child, sync.Message(sync.GO))
        assert sync.readable(parent.fd, 0.05)
        assert sync.receive(parent.fd) == sync.Message(sync.GO)
        os.close(child)
        child = -1
        assert sync.readable(parent.fd, 0.05)
        assert sync.receive(parent.fd) is None
    finally:
        parent.close()
        if child >= 0:
            os.close(child)


def test_receive_with_fd_takes_the_first_fd_and_closes_the_others(tmp_path) -> None:
    parent, child = sync.channel()
    files = [os.open(tmp_path / name, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600) for name in ("a", "b")]
    sender = socket.socket(fileno=os.dup(child))
    try:
        socket.send_fds(sender, [sync.encode(sync.Message(sync.SECCOMP_FD, 3))], files)
        message, fd = sync.receive_with_fd(parent.fd)
        assert message == sync.Message(sync.SECCOMP_FD, 3)
        try:
            assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "a"))
            assert not os.get_inheritable(fd)
            # The second fd was closed: only ours and the sender's copies of "b" remain.
            held = [int(name) for name in os.listdir("/proc/self/fd")
                    if os.path.realpath(f"/proc/self/fd/{name}") == str(tmp_path / "b")]
            assert held == [files[1]]
        finally:
            os.close(fd)
        sync.send(child, sync.Message(sync.GO))
        assert sync.receive_with_fd(parent.fd) == (sync.Message(sync.GO), -1)
    finally:
        sender.close()
        for f in files:
            os.close(f)
        parent.close()
        os.close(child)
