"""The native extension's calls (cffi): idmapped mounts, the probes, and
the helpers seccomp's compiler fills its structs with.

Only what needs the extension loads it, so a create without those does
not pay for cffi (the container init starts through init_program.py).
cffi memory is freed when its Python owner dies, so Encoded keeps every
buffer it made alive as long as it lives.
"""
from __future__ import annotations

from .errors import PyruncError
from .plan_buffer import c_string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _cffi() -> tuple[Any, Any]:
    from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
    return ffi, lib


class Encoded:
    def __init__(self, struct: Any) -> None:
        self.ffi = _cffi()[0]
        self.struct = struct    # the struct being filled
        self.keepalive: list[Any] = []

    def cstr(self, text: str | None) -> Any:
        if text is None:
            return self.ffi.NULL
        buf = self.ffi.new("char[]", c_string(text))
        self.keepalive.append(buf)
        return buf

    def cstr_array(self, items: list[str]) -> Any:
        """A NULL-terminated char *[]."""
        array = self.ffi.new("const char *[]", len(items) + 1)
        for i, item in enumerate(items):
            array[i] = self.cstr(item)
        self.keepalive.append(array)
        return array

    def structs(self, ctype: str, items: list[Any], fill: Any) -> Any:
        if not items:
            return self.ffi.NULL
        array = self.ffi.new(f"{ctype}[]", len(items))
        for i, item in enumerate(items):
            fill(array[i], item)
        self.keepalive.append(array)
        return array


def _checked(ret: int, err: Any) -> int:
    """A native call's result, or its error (ret < 0) raised."""
    if ret < 0:
        raise PyruncError(_cffi()[0].string(err.msg).decode(errors="replace"), errno=err.code)
    return ret


def idmap_userns(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps (see native/idmap.h)."""
    ffi, lib = _cffi()
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_idmap_userns(enc.cstr(uid_map), enc.cstr(gid_map), err), err)


def clone_mount(source: str, recursive: bool) -> int:
    """A detached clone of the mount at source; its fd (see native/idmap.h)."""
    ffi, lib = _cffi()
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_clone_mount(enc.cstr(source), int(recursive), err), err)


def idmap_mount(source: str, userns_fd: int, recursive_tree: bool, recursive_idmap: bool) -> int:
    """A detached idmapped clone of the mount at source; its fd."""
    ffi, lib = _cffi()
    enc = Encoded(None)
    err = ffi.new("struct pyrunc_error *")
    return _checked(lib.pyrunc_idmap_mount(enc.cstr(source), userns_fd, int(recursive_tree),
                                           int(recursive_idmap), err), err)


def probes() -> dict[str, bool]:
    _, lib = _cffi()
    return {
        "openat2": bool(lib.pyrunc_probe_openat2()),
        "mount_setattr": bool(lib.pyrunc_probe_mount_setattr()),
    }
