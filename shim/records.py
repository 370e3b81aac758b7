"""The shim's task table, kept on disk so that a server started again for a
group (its predecessor killed) serves that group's containers and execs as
before: one JSON file per container under <root>/tasks/<namespace>/,
written (temp file + rename) when a process is created, started or
deleted, removed with the container.

    {"id", "bundle", "group", "mounted", "terminal", "stdio": [in, out, err],
     "pid", "start_time", "started", "execs": {exec_id: {same process fields}}}

start_time (field 22 of /proc/PID/stat) tells a live process from another
that got its pid since."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator


def _path(directory: str, container_id: str) -> str:
    return os.path.join(directory, f"{container_id}.json")


def write(directory: str, container_id: str, record: dict[str, Any]) -> None:
    from pyrunc.runtime import jsonio
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = _path(directory, container_id)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with open(fd, "w") as f:
        f.write(jsonio.dumps(record))
    os.rename(tmp, path)


def remove(directory: str, container_id: str) -> None:
    try:
        os.unlink(_path(directory, container_id))
    except FileNotFoundError:
        pass


def of_groups(directory: str, groups: set[str]) -> Iterator[dict[str, Any]]:
    """The records of these groups' containers (unreadable ones are
    skipped: their containers are the delete command's to clean up)."""
    from pyrunc.runtime import jsonio
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), "rb") as f:
                record = jsonio.loads(f.read())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("group") in groups and isinstance(record.get("id"), str):
            yield record

