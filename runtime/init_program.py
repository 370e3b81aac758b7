"""The start of a container's first process: pyrunc-init (a small C
program built beside the extension, native/initbin/main.c) run from a
sealed memfd copy, with the plan flattened (plan_buffer.py) in a second
memfd.  No cffi: this is every create's and exec's path; the memfds and
the spawn are _spawn's (native/pyext/spawnmodule.c)."""
from __future__ import annotations

import os

from . import _spawn  # type: ignore[attr-defined]
from .errors import PyruncError
from .plan_buffer import flatten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .plan import Plan


# Installed beside the extension, in the package's directory, by setup.py
# (native/initbin/main.c).
INIT_PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyrunc-init")


def make_exec_fifo(path: str) -> int:
    """Make the exec fifo, the init's wait for start, and open it O_PATH.
    Mode 0622 whatever the umask: an init in a user namespace is "other"
    to it; the state directory is its owner's only, so no one else can
    reach it by path."""
    fd: int = _spawn.exec_fifo(path, 0o622)
    return fd


def spawn(plan: Plan, sync_fd: int, fifo_fd: int, console_fd: int = -1, cgroup_fds: list[int] | None = None,
          cgroup_dir_fd: int = -1) -> int:
    """Start the intermediate process (pyrunc-init); returns its pid.
    cgroup_fds, cgroup_dir_fd: see struct pyrunc_plan."""
    flat = flatten(plan, sync_fd, fifo_fd, console_fd, cgroup_fds, cgroup_dir_fd)
    passed = [fd for fd in (sync_fd, fifo_fd, console_fd, cgroup_dir_fd, *(cgroup_fds or ()),
                            *(m.detached_fd for m in plan.mounts))
              if fd >= 0]
    try:
        pid: int = _spawn.start(INIT_PROGRAM, flat, passed)
    except OSError as exc:
        if exc.filename is None:
            raise       # the memfds: out of fds or memory, which the caller says
        step = "copy" if exc.filename == "copy" else "start"
        raise PyruncError(f"{step} {INIT_PROGRAM}: {exc.strerror}", errno=exc.errno) from None
    return pid
