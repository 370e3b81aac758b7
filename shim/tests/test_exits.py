"""What the `delete` command prints: a DeleteResponse encoded without
protobuf, byte for byte what protobuf encodes."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**63 - 1))
def test_the_delete_commands_response_is_what_protobuf_encodes(pid: int, status: int, exited_at: int) -> None:
    from google.protobuf import timestamp_pb2

    from pyrunc.shim.exits import delete_response
    from pyrunc.shim.proto.task import shim_pb2
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(exited_at)
    expected = shim_pb2.DeleteResponse(pid=pid, exit_status=status, exited_at=stamp)
    assert delete_response(pid, status, exited_at) == expected.SerializeToString()
