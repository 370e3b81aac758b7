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


ORPHAN_KEPT = 300.0     # seconds an orphan's exit waits for a server to claim it


def record_orphan(directory: str, pid: int, status: int, exited_at_ns: int) -> None:
    """The exit of a process whose server died (the zygote reaped it),
    for the server forked after it; unclaimed ones go after ORPHAN_KEPT."""
    import time
    write(directory, str(pid), status, pid, exited_at_ns)
    for name in os.listdir(directory):
        try:
            if time.time() - os.stat(os.path.join(directory, name)).st_mtime > ORPHAN_KEPT:
                os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def claim_orphan(directory: str, pid: int, wait: float = 0.0) -> tuple[int, int] | None:
    """(status, exited_at_ns) the zygote recorded for pid, removed; after
    waiting up to `wait` seconds for it (the zygote reaps a moment after
    the exit shows)."""
    import time
    deadline = time.monotonic() + wait
    while True:
        recorded = read(directory, str(pid))
        if recorded is not None:
            remove(directory, str(pid))
            return recorded[0], recorded[2]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    """One proto3 field: a varint (left out when zero), or a message (always there)."""
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value) if value else b""


def delete_response(pid: int, status: int, exited_at_ns: int) -> bytes:
    """containerd.task.v2.DeleteResponse{pid=1, exit_status=2, exited_at=3
    (google.protobuf.Timestamp{seconds=1, nanos=2})}, encoded here: the
    `delete` command runs on every shim's end, on containerd's critical
    path, and need not load protobuf for three numbers."""
    seconds, nanos = divmod(exited_at_ns, 1_000_000_000)
    stamp = _field(1, seconds) + _field(2, nanos)
    return _field(1, pid) + _field(2, status) + _field(3, stamp)
