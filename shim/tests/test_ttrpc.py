"""The ttrpc frame codec and envelopes: round trips, and what truncated,
oversized and garbage input does (never more than the protocol allows)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.shim import ttrpc

stream_ids = st.integers(min_value=0, max_value=2**32 - 1)
types = st.integers(min_value=0, max_value=255)
payloads = st.binary(max_size=4096)


def feed_in_chunks(data: bytes, cuts: list[int]) -> tuple[list[ttrpc.Frame], ttrpc.FrameDecoder]:
    decoder = ttrpc.FrameDecoder()
    frames: list[ttrpc.Frame] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        cut = min(cut, len(data))
        frames += decoder.feed(data[start:cut])
        start = max(start, cut)
    return frames, decoder


def test_header_layout_is_containerds() -> None:
    frame = ttrpc.encode_frame(7, ttrpc.REQUEST, b"abc", flags=0)
    assert frame == b"\x00\x00\x00\x03" + b"\x00\x00\x00\x07" + b"\x01" + b"\x00" + b"abc"


@given(st.lists(st.tuples(stream_ids, types, payloads), max_size=8), st.lists(st.integers(0, 40000)))
@settings(max_examples=200)
def test_frames_round_trip_however_the_bytes_arrive(messages: list, cuts: list[int]) -> None:
    data = b"".join(ttrpc.encode_frame(s, t, p) for s, t, p in messages)
    frames, decoder = feed_in_chunks(data, cuts)
    assert [(f.stream_id, f.type, f.payload) for f in frames] == messages
    assert not decoder.pending


@given(st.tuples(stream_ids, types, st.binary(min_size=1, max_size=512)), st.data())
def test_a_truncated_frame_is_never_delivered(message: tuple, data: st.DataObject) -> None:
    whole = ttrpc.encode_frame(*message)
    cut = data.draw(st.integers(min_value=1, max_value=len(whole) - 1))
    decoder = ttrpc.FrameDecoder()
    assert list(decoder.feed(whole[:cut])) == []
    assert decoder.pending          # EOF now is a broken connection
    assert [f.payload for f in decoder.feed(whole[cut:])] == [message[2]]


@given(st.integers(min_value=ttrpc.MAX_MESSAGE + 1, max_value=ttrpc.MAX_MESSAGE + 70000), stream_ids,
       st.lists(st.integers(0, 80000), max_size=4))
@settings(max_examples=30, deadline=None)
def test_an_oversized_frame_is_skipped_and_the_stream_goes_on(length: int, stream_id: int, cuts: list) -> None:
    oversized = struct.pack(">IIBB", length, stream_id, 1, 0) + b"\xab" * length
    following = ttrpc.encode_frame(3, ttrpc.REQUEST, b"next")
    frames, decoder = feed_in_chunks(oversized + following, cuts)
    assert [(f.stream_id, f.oversized, f.payload) for f in frames] == [(stream_id, length, b""), (3, 0, b"next")]
    assert not decoder.pending
    # Skipped, not buffered: memory stays bounded by what one recv brings.
    assert len(decoder.buffer) == 0


def test_encoding_refuses_more_than_the_maximum() -> None:
    with pytest.raises(ttrpc.TtrpcError) as error:
        ttrpc.encode_frame(1, ttrpc.REQUEST, b"x" * (ttrpc.MAX_MESSAGE + 1))
    assert error.value.code == ttrpc.RESOURCE_EXHAUSTED
    assert len(ttrpc.encode_frame(1, ttrpc.REQUEST, b"x" * ttrpc.MAX_MESSAGE)) == ttrpc.MAX_MESSAGE + 10


@given(st.text(), st.text(), st.binary(), st.integers(-2**63, 2**63 - 1),
       st.dictionaries(st.text(), st.text(), max_size=3))
def test_requests_round_trip(service: str, method: str, payload: bytes, timeout: int, metadata: dict) -> None:
    request = ttrpc.decode_request(ttrpc.encode_request(service, method, payload, timeout, metadata))
    assert (request.service, request.method, request.payload, request.timeout_nano) == (service, method, payload, timeout)
    assert {kv.key: kv.value for kv in request.metadata} == metadata


@given(st.binary(max_size=200))
def test_garbage_requests_are_invalid_argument_or_parse(garbage: bytes) -> None:
    try:
        ttrpc.decode_request(garbage)
    except ttrpc.TtrpcError as error:
        assert error.code == ttrpc.INVALID_ARGUMENT


def test_responses_carry_payload_or_status() -> None:
    assert ttrpc.decode_response(ttrpc.encode_response(b"data")) == b"data"
    with pytest.raises(ttrpc.TtrpcError) as error:
        ttrpc.decode_response(ttrpc.encode_response(code=ttrpc.NOT_FOUND, message="gone"))
    assert (error.value.code, error.value.message) == (ttrpc.NOT_FOUND, "gone")


def test_response_wire_format_is_google_rpc_status() -> None:
    # Response{status: Status{code: 5, message: "x"}, payload: ""}: field 1, a
    # nested message with varint field 1 and string field 2.
    assert ttrpc.encode_response(code=5, message="x") == b"\x0a\x05\x08\x05\x12\x01x"
