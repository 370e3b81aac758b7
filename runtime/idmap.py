"""Idmapped bind mounts, prepared by the runtime for one spawn.

The kernel sets MOUNT_ATTR_IDMAP only for a caller privileged over the
filesystem's user namespace (the host's), which a container init inside
its own user namespace is not.  So, before the spawn, each idmapped step
becomes a detached mount here (open_tree + mount_setattr, through a user
namespace holding its mappings) and the init only moves it onto its
target.  The fds are closed once the spawn is over: by then the init has
attached the mounts, or failed and the mounts vanish with the fds.
"""
from __future__ import annotations

import os

from . import linux_constants as k
from .errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .plan import MountStep


class DetachedMounts:
    """Context manager: sets detached_fd on every idmapped step of mounts."""

    def __init__(self, mounts: list[MountStep]) -> None:
        self.steps = [m for m in mounts if m.idmap is not None]

    def __enter__(self) -> DetachedMounts:
        if not self.steps:
            return self
        from . import native
        usernses: dict[tuple[str, str], int] = {}   # one namespace per distinct mapping
        try:
            for step in self.steps:
                assert step.idmap is not None and step.source is not None
                key = (step.idmap.uid_map, step.idmap.gid_map)
                try:
                    if key not in usernses:
                        usernses[key] = native.idmap_userns(*key)
                    step.detached_fd = native.idmap_mount(step.source, usernses[key],
                                                          bool(step.flags & k.MS_REC), step.idmap.recursive)
                except PyruncError as exc:
                    raise PyruncError(f"idmapped mount on {step.destination}: {exc}",
                                      errno=exc.errno) from None
        except BaseException:
            self.close()
            raise
        finally:
            # The mounts keep their idmapping; the namespaces are not needed.
            for fd in usernses.values():
                os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for step in self.steps:
            if step.detached_fd >= 0:
                os.close(step.detached_fd)
                step.detached_fd = -1
