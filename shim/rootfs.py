"""The task's root filesystem as containerd describes it (a list of mounts,
typically one overlay of the image's snapshot), mounted on <bundle>/rootfs
before the container is created, and unmounted when it is deleted."""
from __future__ import annotations

import os
import subprocess

from pyrunc.runtime.errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def mount_all(mounts: Any, target: str) -> bool:
    """Mount each in order on target; True when anything was mounted."""
    if not mounts:
        return False
    os.makedirs(target, mode=0o711, exist_ok=True)
    done = 0
    try:
        for mount in mounts:
            # mount(8) turns the option list into flags and data as containerd's
            # mount package does (ro, bind, rbind, overlay's lowerdir, ...).
            argv = ["mount", "-t", mount.type or "none", mount.source or "none", target]
            if mount.options:
                argv[1:1] = ["-o", ",".join(mount.options)]
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                raise PyruncError(f"mount rootfs {mount.type} on {target}: {result.stderr.strip()}")
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise
    return True


def unmount(target: str) -> None:
    """Detach (lazily, as containerd does on cleanup) whatever is on target."""
    subprocess.run(["umount", "-l", target], capture_output=True)
