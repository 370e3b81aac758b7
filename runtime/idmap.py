"""Detached bind mounts, prepared by the runtime for one spawn.

An init in a new user namespace mounts with that namespace's credentials:
it may not reach a bind source under a directory only the host's root may
enter (runc opens mount sources with its own credentials), and the kernel
sets MOUNT_ATTR_IDMAP only for a caller privileged over the filesystem's
user namespace (the host's).  So, before the spawn, each such step becomes
a detached mount here (open_tree, and for an idmapped one mount_setattr
through a user namespace holding its mappings) and the init only moves it
onto its target.  The fds are closed once the spawn is over: by then the
init has attached the mounts, or failed and the mounts vanish with the fds.
"""
from __future__ import annotations

import errno
import os

from . import linux_constants as k
from .errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .plan import MountStep

# A runtime that may not clone mounts (rootless, or an old kernel): the
# init binds the source by path, as it would without a user namespace.
_CANNOT_CLONE = (errno.EPERM, errno.ENOSYS)


class DetachedMounts:
    """Context manager: sets detached_fd on every idmapped or clone_source
    step of mounts."""

    def __init__(self, mounts: list[MountStep]) -> None:
        self.steps = [m for m in mounts if m.idmap is not None or m.clone_source]

    def __enter__(self) -> DetachedMounts:
        if not self.steps:
            return self
        from . import native
        usernses: dict[tuple[str, str], int] = {}   # one namespace per distinct mapping
        try:
            for step in self.steps:
                assert step.source is not None
                recursive = bool(step.flags & k.MS_REC)
                try:
                    if step.idmap is None:
                        step.detached_fd = native.clone_mount(step.source, recursive)
                        continue
                    key = (step.idmap.uid_map, step.idmap.gid_map)
                    if key not in usernses:
                        usernses[key] = native.idmap_userns(*key)
                    step.detached_fd = native.idmap_mount(step.source, usernses[key], recursive,
                                                          step.idmap.recursive)
                except PyruncError as exc:
                    if step.idmap is None and exc.errno in _CANNOT_CLONE:
                        continue
                    what = "idmapped mount" if step.idmap is not None else "bind mount"
                    raise PyruncError(f"{what} on {step.destination}: {exc}", errno=exc.errno) from None
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
