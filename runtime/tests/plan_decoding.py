"""A flattened plan read back through the C decoder (native/plan_codec.c),
as pyrunc-init reads it: for tests of what the runtime hands the init."""
from __future__ import annotations

from typing import Any

from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
from pyrunc.runtime import plan, plan_buffer


class Decoded:
    """The struct pyrunc_plan, and the buffer it lives in (kept alive)."""

    def __init__(self, flat: bytes) -> None:
        self.buffer = ffi.new("unsigned char[]", flat)
        out = ffi.new("struct pyrunc_plan **")
        err = ffi.new("struct pyrunc_error *")
        assert lib.pyrunc_plan_unflatten(self.buffer, len(flat), out, err) == 0, ffi.string(err.msg)
        self.plan = out[0]


def decoded(p: plan.Plan, sync_fd: int = -1, fifo_fd: int = -1, **fds: Any) -> Decoded:
    """What pyrunc-init would get for p: the result's .plan, valid while
    the result lives."""
    return Decoded(bytes(plan_buffer.flatten(p, sync_fd, fifo_fd, **fds)))


def text_of(pointer: object) -> str | None:
    return None if pointer == ffi.NULL else ffi.string(pointer).decode()


def strings_of(array: object) -> list[str]:
    out: list[str] = []
    while array[len(out)] != ffi.NULL:  # type: ignore[index]
        out.append(ffi.string(array[len(out)]).decode())  # type: ignore[index]
    return out


def items(array: object, count: int) -> list[Any]:
    return [array[i] for i in range(count)]  # type: ignore[index]
