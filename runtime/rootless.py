"""Rootless mode: pyrunc run by an unprivileged user.

What differs without root, as in runc: `--rootless` (auto: not root) lets
a container go without the cgroup the user may not create, unless
linux.resources asks for limits; and a new user namespace's id maps
beyond the caller's own ids can only be written by the setuid helpers
newuidmap/newgidmap (Debian package uidmap).  The state root's default
is in state.py; everything else (mounts, /proc, pivot_root inside the
user namespace) works as for root in a user namespace.
"""
from __future__ import annotations

import errno
import os

from .errors import ConfigError, PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# kind -> (helper program, the config field its map comes from)
_HELPERS = {"uid": ("newuidmap", "linux.uidMappings"), "gid": ("newgidmap", "linux.gidMappings")}

# How a cgroup the user may not create fails.
NO_PERMISSION = (errno.EACCES, errno.EPERM, errno.EROFS)


def parse_mode(value: str | None, euid: int) -> bool:
    """--rootless true|false|auto (the default): auto means not root."""
    text = (value or "auto").lower()
    if text == "auto":
        return euid != 0
    if text in ("true", "false"):
        return text == "true"
    raise PyruncError(f"invalid --rootless value {value!r}: use true, false or auto")


def check_limits_without_cgroup(resources: dict[str, Any], reason: PyruncError) -> None:
    """A rootless container may do without its cgroup only if no limit is
    asked for; device rules are not the user's to enforce (runc ignores them)."""
    limits = [key for key, value in resources.items() if key != "devices" and value]
    if limits:
        raise PyruncError(f"cannot set {', '.join(limits)} limits: the container has no cgroup "
                          f"of its own ({reason}); drop linux.resources or give this user a "
                          "delegated cgroup", errno=reason.errno, path=f"linux.resources.{limits[0]}")


def _own_id_only(map_text: str, own_id: int) -> bool:
    """The one map an unprivileged process may write itself: its own id, once."""
    fields = map_text.split()
    return len(fields) == 3 and fields[1] == str(own_id) and fields[2] == "1"


def map_helper(kind: str, map_text: str) -> str | None:
    """The newuidmap/newgidmap to write this "uid" or "gid" map with, or
    None when we can write it ourselves (as root, or our own id only)."""
    if os.geteuid() == 0:
        return None
    own_id = os.geteuid() if kind == "uid" else os.getegid()
    if _own_id_only(map_text, own_id):
        return None
    import shutil
    program, field = _HELPERS[kind]
    found = shutil.which(program)
    if found is None:
        raise ConfigError(f"without root only your own {kind} ({own_id}) can be mapped, as a single "
                          f"id; mapping more needs {program} (Debian package uidmap), which is not "
                          "installed", path=field)
    return found


def check_id_maps(uid_map: str | None, gid_map: str | None) -> None:
    """Fail before anything is made when the maps cannot be written."""
    if uid_map is not None:
        map_helper("uid", uid_map)
    if gid_map is not None:
        map_helper("gid", gid_map)


def run_map_helper(program: str, pid: int, map_text: str) -> None:
    """newuidmap/newgidmap PID ID LOWER COUNT...; they check /etc/subuid
    and /etc/subgid for what this user may map."""
    import subprocess
    argv = [program, str(pid), *map_text.split()]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        output = done.stdout.decode(errors="replace").strip().replace("\n", "; ")
        raise PyruncError(f"{' '.join(argv)} failed: {output or f'exit status {done.returncode}'}")
