"""cgroup management: one interface (`CgroupManager`) with a v1 driver (also
used on hybrid hosts) and a v2 driver, chosen by what is mounted.

    manager = open_manager(spec_cgroups_path, container_id)
    manager.create(); manager.add_pid(pid); manager.apply(resources)
    state["cgroup"] = manager.to_state()      # later: manager_from_state(...)

Drivers are imported only when a manager is opened: hot CLI verbs import
this package.
"""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError
from .base import DEFAULT_ROOT, STATE_VERSION, CgroupManager, check_inner_path, mount_table, own_cgroups

__all__ = ["CgroupManager", "PyruncError", "detect_mode", "device_rules_v2", "manager_from_state",
           "open_manager", "parse_sub_cgroups"]


def detect_mode(root: str = DEFAULT_ROOT) -> str:
    """"v2" when `root` is the unified hierarchy, "hybrid" when v1
    hierarchies sit beside one at root/unified, else "v1"."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return "v2"
    if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")):
        return "hybrid"
    return "v1"


def _inner_path(cgroups_path: str | None, container_id: str, systemd: bool) -> str:
    if systemd:
        from .systemd import systemd_cgroup_path
        return systemd_cgroup_path(cgroups_path, container_id)
    if cgroups_path:
        return check_inner_path(cgroups_path)
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise PyruncError(f"invalid container id {container_id!r} for a cgroup name", errno.EINVAL)
    return container_id


def open_manager(cgroups_path: str | None, container_id: str, systemd: bool = False,
                 root: str = DEFAULT_ROOT, own: dict[str, str] | None = None) -> CgroupManager:
    """The manager for a container's cgroup, per the OCI cgroupsPath rules:
    absolute paths hang from each hierarchy's root, relative ones from this
    process's own cgroup (`own`, default /proc/self/cgroup; on v2 from its
    parent, as runc: a cgroup with processes cannot delegate controllers),
    None means the container id as a relative path (runc's default); with
    `systemd`, the "slice:prefix:name" form. Nothing is created until
    `create()`."""
    inner = _inner_path(cgroups_path, container_id, systemd)
    mode = detect_mode(root)
    if own is None:
        own = own_cgroups()
    if mode == "v2":
        from .v2 import V2Manager
        manager: CgroupManager = V2Manager.open(root, inner, own)
    else:
        from .v1 import V1Manager
        manager = V1Manager.open(root, inner, mode, own)
    if systemd:
        manager.warnings.append("systemd cgroup driver: systemd is not told about the cgroup; "
                                "pyrunc manages it through cgroupfs")
    return manager


# The manager last rebuilt from the host's mount table, and the saved
# state (the dict itself) it came from.  Loading a state checks its cgroup,
# which rebuilds a manager, and the verb then asks for the manager once or
# twice more; each rebuild read the mount table, which the kernel prints
# anew each time (milliseconds, with a host's many overlay mounts).  A
# state loaded again is a new dict: nothing is reused across loads.
_last_rebuilt: tuple[dict, CgroupManager] | None = None


def manager_from_state(data: dict, mounts: list[tuple[str, bool]] | None = None) -> CgroupManager:
    """Rebuild a manager from `CgroupManager.to_state()`.  mounts: the
    mount table (cgroup_mounts()) to check its created paths against, for
    tests on a fake hierarchy; the host's by default."""
    global _last_rebuilt
    last = _last_rebuilt
    if mounts is None and last is not None and last[0] is data:
        return last[1]
    manager = _rebuild(data, mounts)
    if mounts is None:
        _last_rebuilt = (data, manager)
    return manager


def _rebuild(data: dict, mounts: list[tuple[str, bool]] | None) -> CgroupManager:
    try:
        version, mode, root, inner = data["version"], data["mode"], data["root"], data["path"]
        paths = {str(k): str(v) for k, v in data["paths"].items()}
        created = [str(path) for path in data.get("created", [])]
    except (KeyError, TypeError, AttributeError):
        raise PyruncError("the saved cgroup state is unreadable") from None
    if mounts is None:
        mounts = cgroup_mounts() if created else []
    for path in created:
        if not _removable(root, mode, path) or not inside_cgroup_mount(path, mounts):
            raise PyruncError(f"the saved cgroup state names {path!r}, which is not a cgroup pyrunc can have made")
    if version != STATE_VERSION or mode not in ("v1", "hybrid", "v2"):
        raise PyruncError(f"unsupported saved cgroup state (version {version!r}, mode {mode!r})")
    if mode == "v2":
        from .v2 import V2Manager
        if "unified" not in paths:
            raise PyruncError("the saved cgroup v2 state has no unified path")
        return V2Manager(root, inner, paths, created)
    from .v1 import V1Manager
    return V1Manager(root, inner, paths, mode, created)


def _removable(root: str, mode: str, path: str) -> bool:
    """A directory pyrunc may have made: below the cgroup mounts, written
    plainly, and never a hierarchy's root cgroup (v1 and hybrid mount each
    hierarchy one level below the root, v2 at the root).  An edited state
    must not make delete kill or remove a host cgroup."""
    top = root.rstrip("/") + "/" if isinstance(root, str) else None
    if top is None or not path.startswith(top) or os.path.normpath(path) != path:
        return False
    return len(path[len(top):].split("/")) >= (1 if mode == "v2" else 2)


def cgroup_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, bool]]:
    """Every mount point, in mount order, and whether it is a cgroup or
    cgroup2 filesystem."""
    return [(point, fstype in ("cgroup", "cgroup2")) for point, _root, fstype, _options in mount_table(mountinfo)]


def inside_cgroup_mount(path: str, mounts: list[tuple[str, bool]]) -> bool:
    """Whether the nearest mount holding path (by its text: no link is
    followed) is a cgroup filesystem, and path is below that mount's root:
    a state edited to name a directory elsewhere, reached through a link,
    or a hierarchy's root, must not make delete kill its processes or
    remove it."""
    nearest, on_cgroup = "", False
    for point, is_cgroup in mounts:
        # The last of the mounts on one point is the one on top.
        if path.startswith(point.rstrip("/") + "/") and len(point) >= len(nearest):
            nearest, on_cgroup = point, is_cgroup
    return on_cgroup


def device_rules_v2(rules: list[dict], path: str = "linux.resources.devices") -> list[dict]:
    """See v2.device_rules_v2: OCI device rules -> an eBPF filter's rule list."""
    from .v2 import device_rules_v2 as compile_rules
    return compile_rules(rules, path)


def parse_sub_cgroups(args: list[str]) -> dict[str, str]:
    """runc's `exec --cgroup` values: "PATH" (every controller; given alone)
    or "CONTROLLER[,CONTROLLER]:PATH" -> controller ("" for all) -> path."""
    paths: dict[str, str] = {}
    for arg in args:
        parts = arg.split(":")
        if len(parts) > 2:
            raise PyruncError(f"invalid --cgroup argument: {arg}")
        if len(parts) == 1:
            if len(args) != 1:
                raise PyruncError(f"invalid --cgroup argument: {arg} (missing <controller>: prefix)")
            paths[""] = arg
            continue
        for controller in parts[0].split(","):
            if not controller:
                raise PyruncError(f"invalid --cgroup argument: {arg} (empty <controller> prefix)")
            if controller in paths:
                raise PyruncError(f"invalid --cgroup argument(s): controller {controller} specified multiple times")
            paths[controller] = parts[1]
    return paths
