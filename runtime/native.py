"""The native extension's calls (cffi), and the start of the container
init: the plan, flattened (plan_buffer.py), goes to pyrunc-init started
from a sealed memfd.

Only what needs the extension loads it (seccomp's compiler, idmapped
mounts, the probes), so a create without those does not pay for cffi.
cffi memory is freed when its Python owner dies, so Encoded keeps every
buffer it made alive as long as it lives.
"""
from __future__ import annotations

import os

from .errors import PyruncError
from .plan_buffer import c_string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .plan import Plan


def _cffi() -> tuple[Any, Any]:
    from pyrunc._native import ffi, lib  # type: ignore[import-not-found]
    return ffi, lib


class Encoded:
    def __init__(self, struct: Any) -> None:
        self.ffi = _cffi()[0]
        self.plan = struct      # the struct being filled
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


# Installed beside the extension, in the package's directory, by setup.py
# (native/initbin/main.c).
INIT_PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyrunc-init")
_F_SEAL_ALL = 0x0001 | 0x0002 | 0x0004 | 0x0008   # F_SEAL_SEAL, SHRINK, GROW, WRITE


def _write_memfd(name: str, data: bytes | Any, flags: int) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC | flags)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


def sealed_init() -> int:
    """A sealed memfd holding pyrunc-init.  Container processes start from
    it, so their /proc/<pid>/exe is this read-only copy, never a host file
    that a process in the container could reopen and overwrite
    (CVE-2019-5736) -- and no Python interpreter image enters it at all."""
    import fcntl
    fd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        # Copied by the kernel: the program never passes through our memory.
        source = os.open(INIT_PROGRAM, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size, offset = os.fstat(source).st_size, 0
            while offset < size:
                sent = os.sendfile(fd, source, offset, size - offset)
                if sent == 0:
                    raise PyruncError(f"{INIT_PROGRAM} shrank while it was copied")
                offset += sent
        finally:
            os.close(source)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _F_SEAL_ALL)
    except OSError as exc:
        os.close(fd)
        raise PyruncError(f"copy {INIT_PROGRAM}: {exc.strerror}", errno=exc.errno) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def spawn(plan: Plan, sync_fd: int, fifo_fd: int, console_fd: int = -1, cgroup_fds: list[int] | None = None,
          cgroup_dir_fd: int = -1) -> int:
    """Start the intermediate process (pyrunc-init); returns its pid.
    cgroup_fds, cgroup_dir_fd: see struct pyrunc_plan."""
    from .plan_buffer import flatten
    plan_fd = _write_memfd("pyrunc-plan", flatten(plan, sync_fd, fifo_fd, console_fd, cgroup_fds, cgroup_dir_fd), 0)
    exe_fd = sealed_init()
    passed = [fd for fd in (sync_fd, fifo_fd, console_fd, plan_fd, exe_fd, cgroup_dir_fd, *(cgroup_fds or ()),
                            *(m.detached_fd for m in plan.mounts))
              if fd >= 0]
    inheritable = {fd: os.get_inheritable(fd) for fd in passed}
    try:
        for fd in passed:
            os.set_inheritable(fd, True)
        return os.posix_spawn(f"/proc/self/fd/{exe_fd}", ["pyrunc-init", str(plan_fd), str(exe_fd)], {})
    except OSError as exc:
        raise PyruncError(f"start {INIT_PROGRAM}: {exc.strerror}", errno=exc.errno) from None
    finally:
        for fd, was in inheritable.items():
            if fd not in (plan_fd, exe_fd):
                os.set_inheritable(fd, was)
        os.close(plan_fd)
        os.close(exe_fd)


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
