"""config.json (as a Spec) -> a flat Plan the native init executes.

Pure: reads the host only through the small `Host` facts object, so every
decision here is unit-testable without root.  Nothing below parses JSON,
and the C side makes no decisions.
"""
from __future__ import annotations

import os
import posixpath
from . import linux_constants as k
from .errors import ConfigError
from .hooks import Hook
from .placement import Placement, plan_placement
from .log import logger
from .record import Record
from .spec import Capabilities, Mount, Spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .seccomp import Program

# Mount kinds, as in native/plan.h.
MOUNT_FS = 0
MOUNT_BIND = 1
MOUNT_SYMLINK = 2

# What the init does with the rootfs, as in native/plan.h.
ROOTFS_KEEP = 0     # exec: the joined mount namespace is the container's view
ROOTFS_BUILD = 1    # mounts, devices and pivot_root, in a new or joined mount namespace
ROOTFS_CHROOT = 2   # no mount namespace: files only, then chroot; never a mount


class MountIdmap(Record):
    """The idmapping of a bind mount: uid_map/gid_map text of a user
    namespace, applied to the top mount or (recursive) to every mount."""
    __slots__ = ("uid_map", "gid_map", "recursive")

    def __init__(self, uid_map: str, gid_map: str, recursive: bool = False) -> None:
        self.uid_map, self.gid_map, self.recursive = uid_map, gid_map, recursive


class MountStep(Record):
    __slots__ = ("kind", "destination", "source", "fstype", "flags", "remount_flags",
                 "propagation", "data", "recursive_readonly", "source_is_dir", "idmap", "detached_fd",
                 "copy_up", "keep_covered_mode", "readonly_later", "clone_source")

    def __init__(self, kind: int, destination: str, source: str | None = None,
                 fstype: str | None = None, flags: int = 0, remount_flags: int = 0,
                 propagation: int = 0, data: str | None = None, recursive_readonly: bool = False,
                 source_is_dir: bool = True, idmap: MountIdmap | None = None,
                 detached_fd: int = -1, copy_up: bool = False, keep_covered_mode: bool = False,
                 readonly_later: bool = False, clone_source: bool = False) -> None:
        self.kind, self.destination, self.source, self.fstype = kind, destination, source, fstype
        self.flags, self.remount_flags, self.propagation = flags, remount_flags, propagation
        self.data, self.recursive_readonly, self.source_is_dir = data, recursive_readonly, source_is_dir
        self.idmap = idmap
        # The prepared detached mount (runtime/idmap.py fills it just for the spawn).
        self.detached_fd = detached_fd
        self.copy_up = copy_up      # tmpcopyup: start with what the image had there
        # tmpfs without mode=: the mode of the directory it covers, as runc gives it.
        self.keep_covered_mode = keep_covered_mode
        # Mounted writable and made read-only at the end, once the init has
        # put its files in (a tmpfs's mode, /dev's nodes), as runc does.
        self.readonly_later = readonly_later
        # bind: the runtime opens the source with its own credentials (a
        # detached clone); the init, in its user namespace, may not reach it.
        self.clone_source = clone_source


class DeviceNode(Record):
    __slots__ = ("path", "mode", "major", "minor", "uid", "gid", "bind_from_host")

    def __init__(self, path: str, mode: int, major: int, minor: int, uid: int = 0, gid: int = 0,
                 bind_from_host: bool = False) -> None:
        self.path, self.mode, self.major, self.minor = path, mode, major, minor
        self.uid, self.gid, self.bind_from_host = uid, gid, bind_from_host


class ProcessPlan(Record):
    __slots__ = ("argv", "envp", "cwd", "uid", "gid", "additional_gids", "umask", "rlimits",
                 "oom_score_adj", "no_new_privileges", "capabilities", "preserve_fds")

    def __init__(self, argv: list[str], envp: list[str], cwd: str = "/", uid: int = 0,
                 gid: int = 0, additional_gids: list[int] | None = None, umask: int = -1,
                 rlimits: list[tuple[int, int, int]] | None = None,
                 oom_score_adj: int | None = None, no_new_privileges: bool = False,
                 capabilities: tuple[int, int, int, int, int] | None = None,
                 preserve_fds: int = 0) -> None:
        self.argv, self.envp, self.cwd = argv, envp, cwd
        self.uid, self.gid, self.additional_gids = uid, gid, additional_gids or []
        self.umask, self.rlimits = umask, rlimits or []
        self.oom_score_adj, self.no_new_privileges = oom_score_adj, no_new_privileges
        # bounding, effective, permitted, inheritable, ambient; None = untouched
        self.capabilities = capabilities
        self.preserve_fds = preserve_fds


class Plan(Record):
    __slots__ = ("namespaces", "rootfs_setup", "rootfs", "process", "rootfs_readonly", "rootfs_propagation",
                 "no_pivot", "session_keyring", "session_keyring_perm", "mounts", "devices", "masked_paths", "readonly_paths", "hostname",
                 "domainname", "sysctls", "terminal", "console_size", "hooks", "uid_map",
                 "gid_map", "placement", "seccomp", "staging_dir")

    def __init__(self, namespaces: list[tuple[int, str | None]], rootfs: str, process: ProcessPlan,
                 rootfs_readonly: bool = False, rootfs_propagation: int = 0, no_pivot: bool = False,
                 session_keyring: str | None = None, session_keyring_perm: int = 0,
                 mounts: list[MountStep] | None = None, devices: list[DeviceNode] | None = None,
                 masked_paths: list[str] | None = None, readonly_paths: list[str] | None = None,
                 hostname: str | None = None, domainname: str | None = None,
                 sysctls: list[tuple[str, str]] | None = None, terminal: bool = False,
                 console_size: tuple[int, int] | None = None,
                 hooks: dict[str, list[Hook]] | None = None, uid_map: str | None = None,
                 gid_map: str | None = None, placement: Placement | None = None,
                 seccomp: Program | None = None, rootfs_setup: int = ROOTFS_KEEP) -> None:
        self.namespaces, self.rootfs, self.process = namespaces, rootfs, process
        self.rootfs_setup = rootfs_setup
        self.rootfs_readonly, self.rootfs_propagation = rootfs_readonly, rootfs_propagation
        self.no_pivot = no_pivot
        self.session_keyring, self.session_keyring_perm = session_keyring, session_keyring_perm
        self.mounts, self.devices = mounts or [], devices or []
        self.masked_paths, self.readonly_paths = masked_paths or [], readonly_paths or []
        self.hostname, self.domainname = hostname, domainname
        self.sysctls = sysctls or []
        self.terminal, self.console_size = terminal, console_size  # (height, width)
        self.hooks = hooks or {}    # kind -> hooks, all six kinds
        # /proc/<pid>/uid_map and gid_map text for a new user namespace.
        self.uid_map, self.gid_map = uid_map, gid_map
        self.placement = placement or Placement()
        self.seccomp = seccomp      # compiled by runtime/seccomp.py
        # An empty directory of ours on the host where the init locks the
        # flags of detached bind sources (native/stage.h): the state dir.
        self.staging_dir: str | None = None

    @property
    def seccomp_load_at(self) -> int:
        return seccomp_load_point(self.seccomp, self.process.no_new_privileges)

    @property
    def runtime_hooks(self) -> bool:
        """Whether the init must stop for prestart/createRuntime hooks."""
        return bool(self.hooks.get("prestart") or self.hooks.get("createRuntime"))


class Host(Record):
    """The few host facts planning depends on."""
    __slots__ = ("cgroup_v1_hierarchies", "container_cgroups")

    def __init__(self, cgroup_v1_hierarchies: list[tuple[str, str]] | None = None,
                 container_cgroups: dict[str, str] | None = None) -> None:
        # (directory name under /sys/fs/cgroup, mount data) of each v1
        # hierarchy; empty on a pure cgroup v2 host.
        self.cgroup_v1_hierarchies = cgroup_v1_hierarchies or []
        # The container's own cgroup directories (the cgroup manager's paths).
        self.container_cgroups = container_cgroups or {}

    def container_cgroup(self, hierarchy_dir: str) -> str | None:
        """The container's cgroup in the hierarchy mounted at
        /sys/fs/cgroup/<hierarchy_dir> (or the unified one for "")."""
        prefix = "/sys/fs/cgroup" + (f"/{hierarchy_dir}" if hierarchy_dir else "")
        for path in self.container_cgroups.values():
            if path == prefix or path.startswith(prefix + "/"):
                if hierarchy_dir or not any(path.startswith(f"/sys/fs/cgroup/{d}/")
                                            for d, _ in self.cgroup_v1_hierarchies):
                    return path
        return None


def read_host(container_cgroups: dict[str, str] | None = None) -> Host:
    """Host facts from /proc/self/mountinfo."""
    from .cgroups.base import mount_table
    hierarchies = []
    for mount_point, _root, fstype, super_options in mount_table():
        if fstype == "cgroup" and mount_point.startswith("/sys/fs/cgroup/"):
            controllers = [o for o in super_options.split(",")
                           if o not in ("rw", "ro") and not o.startswith("release_agent")]
            hierarchies.append((posixpath.basename(mount_point), ",".join(controllers)))
    return Host(cgroup_v1_hierarchies=hierarchies, container_cgroups=container_cgroups)


# ---- namespaces -------------------------------------------------------------

# Namespace types the init cannot set up yet (reported by `features`).
UNSUPPORTED_NAMESPACES: frozenset[str] = frozenset()


def supported_namespaces() -> list[str]:
    return sorted(set(k.NAMESPACES) - UNSUPPORTED_NAMESPACES)

def plan_namespaces(spec: Spec) -> list[tuple[int, str | None]]:
    result = []
    seen = set()
    for i, ns in enumerate(spec.linux.namespaces):
        path = f"linux.namespaces[{i}]"
        flag = k.NAMESPACES.get(ns.type)
        if flag is None:
            raise ConfigError(f"unknown namespace type {ns.type!r}", path=f"{path}.type")
        if ns.type in seen:
            raise ConfigError(f"namespace {ns.type} given twice", path=f"{path}.type")
        if ns.type in UNSUPPORTED_NAMESPACES:
            raise ConfigError(f"{ns.type} namespaces are not supported yet", path=f"{path}.type")
        if ns.path is not None and not ns.path.startswith("/"):
            raise ConfigError("must be an absolute path", path=f"{path}.path")
        seen.add(ns.type)
        result.append((flag, ns.path))
    return result


def _check_without_mount_namespace(spec: Spec) -> None:
    """Without a mount namespace (new or joined) the container shares the
    runtime's, and gets its root by chroot alone.  Whatever would need a
    mount is refused: in that namespace it would be the host's mount (runc
    makes them there; runc refuses masked and read-only paths only)."""
    needs_mounts = [("mounts", bool(spec.mounts), "these mounts"),
                    ("linux.maskedPaths", bool(spec.linux.masked_paths), "masking"),
                    ("linux.readonlyPaths", bool(spec.linux.readonly_paths), "read-only paths"),
                    ("root.readonly", spec.root_readonly, "a read-only root"),
                    ("linux.rootfsPropagation", bool(spec.linux.rootfs_propagation), "the propagation"),
                    # runc binds the pty onto /dev/console.
                    ("process.terminal", bool(spec.process and spec.process.terminal), "the console"),
                    ("linux.namespaces", new_user_namespace(spec),
                     "a new user namespace's device nodes (bind mounts)")]
    for path, given, what in needs_mounts:
        if given:
            raise ConfigError(f"needs a mount namespace of the container's own: without one, {what} "
                              "would change the host's mounts", path=path)


def _has_new_or_joined(spec: Spec, ns_type: str) -> bool:
    return any(ns.type == ns_type for ns in spec.linux.namespaces)


def new_user_namespace(spec: Spec) -> bool:
    return any(ns.type == "user" and ns.path is None for ns in spec.linux.namespaces)


def _map_text(mappings: list, path: str) -> str:
    """The text for /proc/<pid>/{uid,gid}_map."""
    lines = []
    for i, m in enumerate(mappings):
        if m.size == 0:
            raise ConfigError("size must be at least 1", path=f"{path}[{i}].size")
        lines.append(f"{m.container_id} {m.host_id} {m.size}\n")
    return "".join(lines)


def _id_map(mappings: list, key: str) -> str:
    """The id map text of the new user namespace; container id 0 must be
    mapped (the init becomes root in the namespace before anything else)."""
    if not mappings:
        raise ConfigError("a new user namespace needs mappings", path=f"linux.{key}")
    text = _map_text(mappings, f"linux.{key}")
    if not any(m.container_id <= 0 < m.container_id + m.size for m in mappings):
        raise ConfigError("must map container id 0", path=f"linux.{key}")
    return text


def plan_id_maps(spec: Spec) -> tuple[str | None, str | None]:
    if not new_user_namespace(spec):
        if spec.linux.uid_mappings or spec.linux.gid_mappings:
            if not _has_new_or_joined(spec, "user"):
                raise ConfigError("id mappings need a user namespace", path="linux.uidMappings")
        return None, None
    return _id_map(spec.linux.uid_mappings, "uidMappings"), _id_map(spec.linux.gid_mappings, "gidMappings")


# ---- mounts -----------------------------------------------------------------

class MountOptions(Record):
    __slots__ = ("flags", "propagation", "data", "recursive_readonly", "idmap", "idmap_recursive",
                 "copy_up")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation = 0
        self.data: list[str] = []
        self.recursive_readonly = False
        self.idmap = False              # idmap or ridmap given
        self.idmap_recursive = False    # ridmap
        self.copy_up = False            # tmpcopyup


def supported_mount_options(mount_setattr: bool) -> list[str]:
    """Every option parse_mount_options acts on (not passed through as data);
    rro/rrw and idmap/ridmap need the kernel's mount_setattr."""
    names = set(k.MOUNT_FLAGS) | set(k.PROPAGATION) | {"tmpcopyup"}
    if mount_setattr:
        names |= {"rro", "rrw", "idmap", "ridmap"}
    return sorted(names)


def parse_mount_options(options: list[str], path: str) -> MountOptions:
    result = MountOptions()
    for i, option in enumerate(options):
        if option in k.MOUNT_FLAGS:
            clear, flag = k.MOUNT_FLAGS[option]
            result.flags = result.flags & ~flag if clear else result.flags | flag
        elif option in k.PROPAGATION:
            result.propagation = k.PROPAGATION[option]
        elif option == "rro":
            result.recursive_readonly = True
        elif option in ("rrw",):
            result.recursive_readonly = False
        elif option in ("idmap", "ridmap"):
            result.idmap, result.idmap_recursive = True, option == "ridmap"
        elif option == "tmpcopyup":
            result.copy_up = True
        elif (option.startswith("r") and option[1:] in k.MOUNT_FLAGS
              and option not in ("relatime", "remount", "rw", "ro", "rbind")):
            raise ConfigError(f"mount option {option!r} is not supported yet", path=f"{path}[{i}]")
        else:
            result.data.append(option)
    return result


def _normalize_destination(destination: str, path: str) -> str:
    if not destination:
        raise ConfigError("must not be empty", path=path)
    # Relative destinations are relative to "/", as runc treats them.
    return posixpath.normpath(posixpath.join("/", destination))


def _is_bind(mount: Mount, options: MountOptions) -> bool:
    return bool(options.flags & k.MS_BIND) or mount.type == "bind"


def _plan_idmap(spec: Spec, mount: Mount, options: MountOptions, path: str) -> MountIdmap | None:
    """The mount's own uidMappings/gidMappings (given, they make it idmapped,
    as in runc), else with a bare idmap/ridmap option the mappings of the
    container's new user namespace."""
    if mount.uid_mappings or mount.gid_mappings:
        for key, mappings in (("uidMappings", mount.uid_mappings), ("gidMappings", mount.gid_mappings)):
            if not mappings:
                raise ConfigError("an idmapped mount needs both uidMappings and gidMappings",
                                  path=f"{path}.{key}")
        return MountIdmap(_map_text(mount.uid_mappings, f"{path}.uidMappings"),
                          _map_text(mount.gid_mappings, f"{path}.gidMappings"), options.idmap_recursive)
    if not options.idmap:
        return None
    if not new_user_namespace(spec):
        raise ConfigError("idmap without uidMappings and gidMappings maps ids as the container's "
                          "user namespace does, but the config creates none", path=f"{path}.options")
    uid_map, gid_map = plan_id_maps(spec)
    return MountIdmap(uid_map or "", gid_map or "", options.idmap_recursive)


def _plan_bind(mount: Mount, options: MountOptions, destination: str, bundle: str, path: str,
               idmap: MountIdmap | None = None) -> MountStep:
    if not mount.source:
        raise ConfigError("a bind mount needs a source", path=f"{path}.source")
    source = posixpath.normpath(posixpath.join(bundle, mount.source))
    try:
        is_dir = os.path.isdir(source) if os.path.exists(source) else None
    except OSError:
        is_dir = None
    if is_dir is None:
        raise ConfigError(f"bind source {source} does not exist", path=f"{path}.source")
    first = k.MS_BIND | (options.flags & k.MS_REC)
    remount = options.flags & ~(k.MS_BIND | k.MS_REC | k.MS_REMOUNT)
    return MountStep(MOUNT_BIND, destination, source=source, flags=first, remount_flags=remount,
                     propagation=options.propagation, data=None,
                     recursive_readonly=options.recursive_readonly, source_is_dir=is_dir, idmap=idmap)


def _bind_cgroup(destination: str, source: str, flags: int, propagation: int) -> MountStep:
    return MountStep(MOUNT_BIND, destination, source=source, flags=k.MS_BIND | k.MS_REC,
                     remount_flags=flags, propagation=propagation)


def _plan_cgroup_mount(mount: Mount, options: MountOptions, destination: str, host: Host,
                       in_user_namespace: bool, cgroup_namespace: bool) -> list[MountStep]:
    """A `cgroup` mount shows the container its own cgroup as the root, as
    runc does.  Inside a cgroup namespace a fresh mount does that (cgroup2,
    or on v1 a tmpfs holding one mount per hierarchy); without one, or in
    a user namespace (which may not mount v1 hierarchies), the container's
    cgroup directories are bound from the host."""
    flags = options.flags & ~k.MS_BIND
    bind = in_user_namespace or not cgroup_namespace
    if not host.cgroup_v1_hierarchies:
        unified = host.container_cgroup("")
        if bind and unified:
            return [_bind_cgroup(destination, unified, flags, options.propagation)]
        return [MountStep(MOUNT_FS, destination, source="cgroup", fstype="cgroup2", flags=flags,
                          propagation=options.propagation)]
    base = k.MS_NOSUID | k.MS_NODEV | k.MS_NOEXEC
    steps = [MountStep(MOUNT_FS, destination, source="tmpfs", fstype="tmpfs", flags=base, data="mode=755")]
    for name, controllers in host.cgroup_v1_hierarchies:
        target = posixpath.join(destination, name)
        own = host.container_cgroup(name)
        if bind and own:
            steps.append(_bind_cgroup(target, own, flags, options.propagation))
        elif bind:      # no cgroup of its own here (rootless): the hierarchy, read-only
            steps.append(_bind_cgroup(target, f"/sys/fs/cgroup/{name}", flags | k.MS_RDONLY,
                                      options.propagation))
        else:
            steps.append(MountStep(MOUNT_FS, target, source="cgroup", fstype="cgroup", flags=flags,
                                   data=controllers))
    if flags & k.MS_RDONLY:
        # Read-only only after the hierarchy directories exist in the tmpfs.
        steps.append(MountStep(MOUNT_FS, destination, fstype="tmpfs",
                               flags=base | k.MS_REMOUNT | k.MS_RDONLY, data="mode=755"))
    return steps


def plan_mounts(spec: Spec, bundle: str, host: Host) -> list[MountStep]:
    steps: list[MountStep] = []
    for i, mount in enumerate(spec.mounts):
        path = f"mounts[{i}]"
        destination = _normalize_destination(mount.destination, f"{path}.destination")
        options = parse_mount_options(mount.options, f"{path}.options")
        idmap = _plan_idmap(spec, mount, options, path)
        if _is_bind(mount, options):
            steps.append(_plan_bind(mount, options, destination, bundle, path, idmap))
        elif idmap is not None:
            raise ConfigError("idmapped mounts must be bind mounts", path=f"{path}.options")
        elif mount.type == "cgroup":
            steps.extend(_plan_cgroup_mount(mount, options, destination, host, new_user_namespace(spec),
                                            _has_new_or_joined(spec, "cgroup")))
        else:
            if not mount.type:
                raise ConfigError("is required for a non-bind mount", path=f"{path}.type")
            if options.copy_up and mount.type != "tmpfs":
                raise ConfigError("tmpcopyup applies to tmpfs mounts only", path=f"{path}.options")
            steps.append(_plan_filesystem(mount, options, destination))
    return steps


def _plan_filesystem(mount: Mount, options: MountOptions, destination: str) -> MountStep:
    flags = options.flags & ~k.MS_REC
    tmpfs = mount.type == "tmpfs"
    # A read-only tmpfs or /dev still gets its mode, copy or nodes first.
    readonly_later = bool(flags & k.MS_RDONLY) and (tmpfs or destination == "/dev")
    if readonly_later:
        flags &= ~k.MS_RDONLY
    return MountStep(MOUNT_FS, destination, source=mount.source or mount.type, fstype=mount.type,
                     flags=flags, propagation=options.propagation, data=",".join(options.data) or None,
                     recursive_readonly=options.recursive_readonly, copy_up=options.copy_up,
                     keep_covered_mode=tmpfs and not any(d.startswith("mode=") for d in options.data),
                     readonly_later=readonly_later)


# ---- /dev -------------------------------------------------------------------

_DEFAULT_DEVICES = [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]

_DEV_SYMLINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                 ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
                 ("pts/ptmx", "/dev/ptmx")]


def _dev_is_bind_mounted(mounts: list[MountStep]) -> bool:
    return any(m.destination == "/dev" and m.kind == MOUNT_BIND for m in mounts)


def plan_devices(spec: Spec, mounts: list[MountStep]) -> list[DeviceNode]:
    """Device nodes to create; a user namespace may not mknod, so there
    the host's nodes are bind-mounted instead (as runc does)."""
    devices: dict[str, DeviceNode] = {}
    bind = new_user_namespace(spec)
    if not _dev_is_bind_mounted(mounts):
        for dev_path, major, minor in _DEFAULT_DEVICES:
            devices[dev_path] = DeviceNode(dev_path, k.S_IFCHR | 0o666, major, minor, bind_from_host=bind)
    for i, dev in enumerate(spec.linux.devices):
        path = f"linux.devices[{i}]"
        kind = k.DEVICE_TYPES.get(dev.type)
        if kind is None:
            raise ConfigError(f"unknown device type {dev.type!r}", path=f"{path}.type")
        # Anywhere in the rootfs, as runc allows; the init resolves it inside the root.
        if not dev.path.startswith("/"):
            raise ConfigError("must be an absolute path", path=f"{path}.path")
        dev_path = posixpath.normpath(dev.path)
        if dev_path == "/":
            raise ConfigError("must name a file, not the root", path=f"{path}.path")
        mode = dev.file_mode if dev.file_mode is not None else 0o666
        devices[dev_path] = DeviceNode(dev_path, kind | (mode & 0o7777), dev.major, dev.minor, dev.uid,
                                       dev.gid, bind_from_host=bind)
    return list(devices.values())


def plan_dev_symlinks(mounts: list[MountStep]) -> list[MountStep]:
    if _dev_is_bind_mounted(mounts):
        return []
    return [MountStep(MOUNT_SYMLINK, link, source=target) for target, link in _DEV_SYMLINKS]


# ---- sysctl -----------------------------------------------------------------

def plan_sysctls(spec: Spec) -> list[tuple[str, str]]:
    """Only namespaced sysctls, each needing a namespace of the container's
    own, created or joined, never the runtime's (as runc)."""
    result = []
    for key, value in spec.linux.sysctl.items():
        path = f"linux.sysctl.{key}"
        parts = key.split(".")
        if not key or "/" in key or any(p in ("", "..", ".") for p in parts):
            raise ConfigError("is not a valid sysctl name", path=path)
        needed = k.sysctl_namespace(key)
        if needed is None:
            raise ConfigError("is not a namespaced sysctl; refusing to change it for the host", path=path)
        if not _private_namespace(spec, needed):
            raise ConfigError(f"is not allowed in the host's {needed} namespace: it would change the host",
                              path=path)
        if key in k.SYSCTL_FIELDS:
            raise ConfigError(f'is not allowed: it conflicts with the OCI "{k.SYSCTL_FIELDS[key]}" field',
                              path=path)
        result.append(("/proc/sys/" + "/".join(parts), value))
    return result


def _private_namespace(spec: Spec, ns_type: str) -> bool:
    """The config creates a namespace of this type, or joins one by path that
    is not the one pyrunc runs in."""
    for ns in spec.linux.namespaces:
        if ns.type != ns_type:
            continue
        if not ns.path:
            return True
        try:
            joined = os.stat(ns.path)
            own = os.stat(f"/proc/self/ns/{_PROC_NS_NAMES[ns_type]}")
        except OSError as exc:
            raise ConfigError(f"cannot inspect the namespace {ns.path}: {exc.strerror}",
                              path="linux.namespaces") from None
        return (joined.st_dev, joined.st_ino) != (own.st_dev, own.st_ino)
    return False


# ---- process ----------------------------------------------------------------

def capability_mask(names: list[str], path: str) -> int:
    mask = 0
    for name in names:
        bit = k.CAPABILITY_BITS.get(name)
        if bit is None:
            # runc ignores capabilities this kernel or build does not know.
            logger.warning(f"{path}: ignoring unknown capability {name}")
            continue
        mask |= 1 << bit
    return mask


def raisable_ambient(ambient: int, permitted: int, inheritable: int) -> int:
    """The kernel raises an ambient capability only if it is permitted and
    inheritable; runc skips the others (`runc spec` asks for some), so do we."""
    raisable = ambient & permitted & inheritable
    for name, bit in k.CAPABILITY_BITS.items():
        if (ambient & ~raisable) >> bit & 1:
            logger.debug(f"process.capabilities.ambient: {name} is not both permitted and "
                         "inheritable: not raised")
    return raisable


def plan_process(spec: Spec, preserve_fds: int) -> ProcessPlan:
    process = spec.process
    if process is None:
        raise ConfigError("is required to start a container", path="process")
    if not process.cwd.startswith("/"):
        raise ConfigError("must be an absolute path", path="process.cwd")
    rlimits = []
    seen = set()
    for i, rl in enumerate(process.rlimits):
        path = f"process.rlimits[{i}]"
        resource = k.RLIMITS.get(rl.type)
        if resource is None:
            raise ConfigError(f"unknown rlimit {rl.type!r}", path=f"{path}.type")
        if rl.type in seen:
            raise ConfigError(f"{rl.type} given twice", path=f"{path}.type")
        if rl.soft > rl.hard:
            raise ConfigError("soft limit is above the hard limit", path=f"{path}.soft")
        seen.add(rl.type)
        rlimits.append((resource, rl.soft, rl.hard))
    # No capabilities object means no capabilities, as with runc.
    c = process.capabilities or Capabilities()
    bounding, effective, permitted, inheritable, ambient = (
        capability_mask(getattr(c, name), f"process.capabilities.{name}")
        for name in ("bounding", "effective", "permitted", "inheritable", "ambient"))
    caps = (bounding, effective, permitted, inheritable, raisable_ambient(ambient, permitted, inheritable))
    if process.oom_score_adj is not None and not -1000 <= process.oom_score_adj <= 1000:
        raise ConfigError("must be between -1000 and 1000", path="process.oomScoreAdj")
    return ProcessPlan(
        argv=list(process.args),
        envp=list(process.env),
        cwd=posixpath.normpath(process.cwd),
        uid=process.user.uid,
        gid=process.user.gid,
        additional_gids=list(process.user.additional_gids),
        umask=process.user.umask if process.user.umask is not None else -1,
        rlimits=rlimits,
        oom_score_adj=process.oom_score_adj,
        no_new_privileges=process.no_new_privileges,
        capabilities=caps,  # type: ignore[arg-type]
        preserve_fds=preserve_fds,
    )


# ---- seccomp -----------------------------------------------------------------

# Where the init loads the filter, as in native/plan.h.
SECCOMP_NONE = 0
SECCOMP_BEFORE_IDENTITY = 1
SECCOMP_BEFORE_READY = 2
SECCOMP_BEFORE_START_HOOKS = 3


def seccomp_load_point(program: Program | None, no_new_privileges: bool) -> int:
    """runc's order: without no_new_privs loading needs CAP_SYS_ADMIN, so
    before the process drops it; with it, as late as possible so the filter
    need not allow the init's own calls, yet before the startContainer hooks,
    which run under it (as with runc).  A notify filter must be loaded
    while `create` still listens, to take its listener fd."""
    if program is None:
        return SECCOMP_NONE
    if not no_new_privileges:
        return SECCOMP_BEFORE_IDENTITY
    return SECCOMP_BEFORE_READY if program.notify else SECCOMP_BEFORE_START_HOOKS


# ---- the whole plan ---------------------------------------------------------

def resolve_rootfs(spec: Spec, bundle: str) -> str:
    given = posixpath.normpath(posixpath.join(os.path.realpath(bundle), spec.root_path))
    rootfs = os.path.realpath(given)
    if not os.path.isdir(rootfs):
        raise ConfigError(f"rootfs {rootfs} is not a directory", path="root.path")
    if rootfs != given:     # as runc: the rootfs is named by its real path
        raise ConfigError(f"rootfs {given} is a symlink or has one in its path (to {rootfs})",
                          path="root.path")
    return rootfs


def _check_names(spec: Spec) -> None:
    for key, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
        if value is not None and not _has_new_or_joined(spec, "uts"):
            raise ConfigError("needs a uts namespace", path=key)


def _plain_paths(paths: list[str], key: str) -> list[str]:
    for i, p in enumerate(paths):
        if not p.startswith("/"):
            raise ConfigError("must be an absolute path", path=f"{key}[{i}]")
    return [posixpath.normpath(p) for p in paths]


# The search permission an init adds to its session keyring, so that a
# process exec'd later finds it by name: the owner's (runc's), and with a
# user namespace everyone's too (runc's there: the exec may map to another
# user; yet it is mostly the owner, to whom only the owner's bits apply,
# so runc's execs there make a keyring of their own).
KEY_USR_SEARCH, KEY_OTH_SEARCH = 0x00080000, 0x00000008


def session_keyring_name(container_id: str) -> str:
    """A container's session keyring (runc's name), which its execs join."""
    return "_ses." + container_id


def make_plan(spec: Spec, bundle: str, host: Host, *, container_id: str = "", no_pivot: bool = False,
              no_new_keyring: bool = False, preserve_fds: int = 0,
              seccomp: Program | None = None) -> Plan:
    namespaces = plan_namespaces(spec)
    rootfs_setup = ROOTFS_BUILD if _has_new_or_joined(spec, "mount") else ROOTFS_CHROOT
    if rootfs_setup == ROOTFS_CHROOT:
        _check_without_mount_namespace(spec)
    uid_map, gid_map = plan_id_maps(spec)
    _check_names(spec)
    mounts = plan_mounts(spec, bundle, host)
    if _has_new_or_joined(spec, "user"):
        # The init is in the user namespace when it mounts, with no
        # right to reach a source under a directory only the host root may
        # enter: the runtime clones the sources with its own credentials.
        for step in mounts:
            step.clone_source = step.kind == MOUNT_BIND
    propagation = 0
    if spec.linux.rootfs_propagation:
        propagation = k.PROPAGATION.get(spec.linux.rootfs_propagation, -1)
        if propagation < 0:
            raise ConfigError(f"unknown propagation {spec.linux.rootfs_propagation!r}",
                              path="linux.rootfsPropagation")
    return Plan(
        namespaces=namespaces,
        rootfs_setup=rootfs_setup,
        rootfs=resolve_rootfs(spec, bundle),
        process=plan_process(spec, preserve_fds),
        rootfs_readonly=spec.root_readonly,
        rootfs_propagation=propagation,
        no_pivot=no_pivot,
        session_keyring=None if no_new_keyring else session_keyring_name(container_id),
        session_keyring_perm=0 if no_new_keyring else (
            KEY_USR_SEARCH | (KEY_OTH_SEARCH if _has_new_or_joined(spec, "user") else 0)),
        mounts=mounts + plan_dev_symlinks(mounts),
        devices=plan_devices(spec, mounts),
        masked_paths=_plain_paths(spec.linux.masked_paths, "linux.maskedPaths"),
        readonly_paths=_plain_paths(spec.linux.readonly_paths, "linux.readonlyPaths"),
        hostname=spec.hostname,
        domainname=spec.domainname,
        sysctls=plan_sysctls(spec),
        terminal=spec.process.terminal if spec.process else False,
        console_size=spec.process.console_size if spec.process else None,
        hooks=spec.hooks,
        uid_map=uid_map,
        gid_map=gid_map,
        placement=plan_placement(spec.raw, any(ns.type == "time" and ns.path is None
                                               for ns in spec.linux.namespaces)),
        seccomp=seccomp,
    )


# /proc/<pid>/ns/<name> for each namespace type of the config.
_PROC_NS_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
                  "user": "user", "cgroup": "cgroup", "time": "time"}


def make_exec_plan(spec: Spec, init_pid: int, preserve_fds: int = 0,
                   seccomp: Program | None = None, session_keyring: str | None = None) -> Plan:
    """A process joining every namespace of a running container (exec):
    nothing is created and no filesystem is set up, since joining the
    mount namespace lands in the container's root.  session_keyring: the
    container's (session_keyring_name), unless it keeps its caller's."""
    namespaces = [(k.NAMESPACES[ns.type], f"/proc/{init_pid}/ns/{_PROC_NS_NAMES[ns.type]}")
                  for ns in spec.linux.namespaces if ns.type in _PROC_NS_NAMES]
    process = plan_process(spec, preserve_fds)
    placement = plan_placement(spec.raw, False)
    placement.time_offsets = None       # the container's time namespace exists already
    # Without a mount namespace to join, the init's root is the container's.
    shared_mounts = not _has_new_or_joined(spec, "mount")
    return Plan(
        namespaces=namespaces,
        rootfs_setup=ROOTFS_CHROOT if shared_mounts else ROOTFS_KEEP,
        rootfs=f"/proc/{init_pid}/root" if shared_mounts else "/",
        process=process,
        placement=placement,
        seccomp=seccomp,
        session_keyring=session_keyring,
        terminal=spec.process.terminal if spec.process else False,
        console_size=spec.process.console_size if spec.process else None,
    )
