"""Exit statuses recorded durably, one file per container init, so that a
`delete` after the shim died (or a restarted shim) still knows them.

A record is one line `STATUS PID EXITED_AT_NS`, written to a temp file,
fsync'd, renamed into place and the directory fsync'd: after write()
returns it survives the shim's death and a power cut alike."""
from __future__ import annotations

import os


def _path(directory: str, container_id: str) -> str:
    return os.path.join(directory, f"{container_id}.exit")


def write(directory: str, container_id: str, status: int, pid: int, exited_at_ns: int) -> None:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = _path(directory, container_id)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{status} {pid} {exited_at_ns}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read(directory: str, container_id: str) -> tuple[int, int, int] | None:
    """(status, pid, exited_at_ns), or None when nothing was recorded."""
    try:
        with open(_path(directory, container_id)) as f:
            status, pid, exited_at = (int(field) for field in f.read().split())
    except (OSError, ValueError):
        return None
    return status, pid, exited_at


def remove(directory: str, container_id: str) -> None:
    try:
        os.unlink(_path(directory, container_id))
    except FileNotFoundError:
        pass
