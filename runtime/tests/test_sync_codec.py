"""The parent/child message codec (runtime/sync.py <-> native/sync.c)."""
from __future__ import annotations

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
        assert sync.receive(parent) == sync.Message(sync.READY, 7, "ok")
        child.close()
        assert sync.receive(parent) is None
    finally:
        parent.close()
        child.close()
