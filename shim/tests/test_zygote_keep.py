"""The zygote's book of kept stdio ends (zygote._keep_or_drop): what it
holds is exactly what the servers said, and every fd it lets go is closed."""
from __future__ import annotations

import os

from pyrunc.shim.zygote import _close_kept, _keep_or_drop


def an_fd() -> int:
    read_end, write_end = os.pipe()
    os.close(write_end)
    return read_end


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_keep_drop_a_role_then_all() -> None:
    kept: dict[str, dict[str, int]] = {}
    stdin, stdout, stderr = (an_fd() for _ in range(3))
    _keep_or_drop(kept, b"keep\0c1\0\0ioe", [stdin, stdout, stderr])
    assert kept == {"c1\0": {"i": stdin, "o": stdout, "e": stderr}}
    _keep_or_drop(kept, b"drop\0c1\0\0i", [])
    assert kept == {"c1\0": {"o": stdout, "e": stderr}} and not is_open(stdin)
    _keep_or_drop(kept, b"drop\0c1\0\0", [])
    assert kept == {} and not is_open(stdout) and not is_open(stderr)


def test_a_second_keep_replaces_the_first_and_exec_ids_are_apart() -> None:
    kept: dict[str, dict[str, int]] = {}
    first, second, other = (an_fd() for _ in range(3))
    _keep_or_drop(kept, b"keep\0c1\0e1\0o", [first])
    _keep_or_drop(kept, b"keep\0c1\0\0o", [other])
    _keep_or_drop(kept, b"keep\0c1\0e1\0t", [second])
    assert kept == {"c1\0e1": {"t": second}, "c1\0": {"o": other}} and not is_open(first)
    _close_kept(kept)
    assert kept == {} and not is_open(second) and not is_open(other)


def test_malformed_messages_close_their_fds_and_change_nothing() -> None:
    kept: dict[str, dict[str, int]] = {}
    held = an_fd()
    _keep_or_drop(kept, b"keep\0c1\0\0o", [held])
    for message in (b"keep\0c1\0\0io", b"keep\0c1\0o", b"nonsense\0c1\0\0o", b"keep"):
        stray = an_fd()
        _keep_or_drop(kept, message, [stray])
        assert not is_open(stray), message
    assert kept == {"c1\0": {"o": held}} and is_open(held)
    _close_kept(kept)
