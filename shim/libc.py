"""libc calls Python has no binding for (prctl, mount, umount2), through
one ctypes handle made when this module is imported.  The zygote imports
it, so every server it forks shares the handle and its function objects
instead of building its own: each server's first ctypes use otherwise
copies ctypes' pages the zygote wrote to."""
from __future__ import annotations

import ctypes
import os

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

LIBC = ctypes.CDLL(None, use_errno=True)
_prctl, mount, umount2 = LIBC.prctl, LIBC.mount, LIBC.umount2


def last_errno() -> int:
    return ctypes.get_errno()


def prctl(option: int, value: int | bytes) -> None:
    if _prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def set_name(name: str) -> None:
    """The calling thread's comm (the process's, from its main thread), as ps shows it."""
    prctl(PR_SET_NAME, name.encode())


def set_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)
