"""The task's root filesystem as containerd describes it (a list of mounts,
typically one overlay of the image's snapshot), mounted on <bundle>/rootfs
before the container is created, and unmounted when it is deleted.

mount(2) is called directly (no mount(8) per container): each option that
names a flag (runc's table, as containerd's mount package reads them) is
a flag, the others are the filesystem's data.  As containerd does, a
bind mount that asks for flags beyond MS_BIND|MS_REC is remounted with
them (the kernel ignores them on the bind itself), and propagation
options are applied after."""
from __future__ import annotations

import os

from pyrunc.runtime import linux_constants as k
from pyrunc.runtime.errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MNT_DETACH = 2


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """(flags, propagation flags, data) of containerd's option list."""
    flags = propagation = 0
    data = []
    for option in options:
        if option in k.MOUNT_FLAGS and k.MOUNT_FLAGS[option][1]:
            clear, flag = k.MOUNT_FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in k.PROPAGATION:
            propagation |= k.PROPAGATION[option]
        elif option != "defaults":
            data.append(option)
    return flags, propagation, ",".join(data)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    from ._libc import mount
    try:
        mount(source, target, fstype, flags, data)
    except OSError as exc:
        raise PyruncError(f"mount rootfs {fstype or 'bind'} {source} on {target}: {os.strerror(exc.errno)}",
                          errno=exc.errno) from None


def mount_all(mounts: Any, target: str) -> bool:
    """Mount each in order on target; True when anything was mounted."""
    if not mounts:
        return False
    os.makedirs(target, mode=0o711, exist_ok=True)
    done = 0
    try:
        for mount in mounts:
            flags, propagation, data = parse_options(list(mount.options))
            _mount(mount.source or "none", target, mount.type or "none", flags, data)
            done += 1
            if flags & k.MS_BIND and flags & ~(k.MS_BIND | k.MS_REC | k.MS_REMOUNT):
                _mount("", target, "", flags | k.MS_REMOUNT, "")
            if propagation:
                _mount("", target, "", propagation, "")
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise
    return True


def unmount(target: str) -> None:
    """Detach (lazily, as containerd does on cleanup) whatever is on target."""
    from ._libc import umount2
    try:
        while True:
            umount2(target, MNT_DETACH)     # stacked mounts: each one
    except OSError:
        pass    # nothing (more) mounted there
