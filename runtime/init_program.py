"""The start of a container's first process: pyrunc-init (a small C
program built beside the extension, native/initbin/main.c) run from a
sealed memfd copy, with the plan flattened (plan_buffer.py) in a second
memfd.  No cffi: this is every create's and exec's path."""
from __future__ import annotations

import os

from .errors import PyruncError
from .plan_buffer import flatten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .plan import Plan


# Installed beside the extension, in the package's directory, by setup.py
# (native/initbin/main.c).
INIT_PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyrunc-init")
_F_SEAL_ALL = 0x0001 | 0x0002 | 0x0004 | 0x0008   # F_SEAL_SEAL, SHRINK, GROW, WRITE


def _write_memfd(name: str, data: bytes | Any) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
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
    plan_fd = _write_memfd("pyrunc-plan", flatten(plan, sync_fd, fifo_fd, console_fd, cgroup_fds, cgroup_dir_fd))
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
