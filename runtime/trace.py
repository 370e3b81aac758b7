"""Timestamps of one call's phases, for the breakdown of bundles/bench.py.

With PYRUNC_TRACE=FILE in the environment, each mark appends a line
`NAME MONOTONIC_NS` to FILE: NAME is the phase that ends there.  Without
it a mark costs one test.
"""
from __future__ import annotations

import os
import time

_PATH = os.environ.get("PYRUNC_TRACE")


def mark(name: str) -> None:
    if not _PATH:
        return
    fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{name} {time.monotonic_ns()}\n".encode())
    finally:
        os.close(fd)
