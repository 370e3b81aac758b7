"""A typed model of config.json with a fast, path-naming parser.

This is what `create` reads on every call, so it checks types as it goes
and names the JSON path of the first bad field; the full JSON-schema
explanation of everything wrong lives in validate.py.
"""
from __future__ import annotations

from . import jsonio
from .errors import ConfigError
from .hooks import Hook, parse_hooks
from .linux_constants import CAPABILITY_SETS
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MISSING = object()


class Reader:
    """Typed access to one JSON object, naming paths in errors."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError("must be an object", path=path or "(root)")
        self.data = data
        self.path = path

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ConfigError("is required", path=self.sub(key))
            return default
        # bool is an int in Python; a JSON true is never a valid number here.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise ConfigError(f"must be {_kind_name(kind)}", path=self.sub(key))
        if isinstance(value, str) and "\0" in value:
            raise ConfigError("must not contain a NUL character", path=self.sub(key))
        return value

    def child(self, key: str) -> Reader | None:
        value = self.data.get(key)
        return None if value is None else Reader(value, self.sub(key))

    def objects(self, key: str) -> list[Reader]:
        items = self.get(key, list, [])
        return [Reader(item, f"{self.sub(key)}[{i}]") for i, item in enumerate(items)]

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list, [])
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ConfigError("must be a string", path=f"{self.sub(key)}[{i}]")
            if "\0" in item:
                raise ConfigError("must not contain a NUL character", path=f"{self.sub(key)}[{i}]")
        return items

    def uint(self, key: str, default: Any = _MISSING, bits: int = 32) -> Any:
        return self.integer(key, 0, 2 ** bits - 1, default)

    def integer(self, key: str, low: int, high: int, default: Any = _MISSING) -> Any:
        """An integer in [low, high]: what the kernel (or the C side) takes."""
        value = self.get(key, int, default)
        if value is not default and not low <= value <= high:
            raise ConfigError(f"must be between {low} and {high}", path=self.sub(key))
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


class Mount(Record):
    __slots__ = ("destination", "type", "source", "options", "uid_mappings", "gid_mappings")

    def __init__(self, destination: str, type: str | None, source: str | None, options: list[str],
                 uid_mappings: list[IDMapping] | None = None,
                 gid_mappings: list[IDMapping] | None = None) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options
        self.uid_mappings = uid_mappings or []
        self.gid_mappings = gid_mappings or []


class Capabilities(Record):
    __slots__ = CAPABILITY_SETS

    def __init__(self, **sets: list[str]) -> None:
        for name in CAPABILITY_SETS:
            setattr(self, name, sets.get(name, []))


class Rlimit(Record):
    __slots__ = ("type", "soft", "hard")

    def __init__(self, type: str, soft: int, hard: int) -> None:
        self.type, self.soft, self.hard = type, soft, hard


class User(Record):
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, uid: int = 0, gid: int = 0, umask: int | None = None,
                 additional_gids: list[int] | None = None) -> None:
        self.uid, self.gid, self.umask = uid, gid, umask
        self.additional_gids = additional_gids or []


class Process(Record):
    __slots__ = ("args", "env", "cwd", "terminal", "console_size", "user", "capabilities",
                 "rlimits", "no_new_privileges", "oom_score_adj")

    def __init__(self, args: list[str], env: list[str] | None = None, cwd: str = "/",
                 terminal: bool = False, console_size: tuple[int, int] | None = None,
                 user: User | None = None, capabilities: Capabilities | None = None,
                 rlimits: list[Rlimit] | None = None, no_new_privileges: bool = False,
                 oom_score_adj: int | None = None) -> None:
        self.args = args
        self.env = env or []
        self.cwd = cwd
        self.terminal = terminal
        self.console_size = console_size
        self.user = user or User()
        self.capabilities = capabilities
        self.rlimits = rlimits or []
        self.no_new_privileges = no_new_privileges
        self.oom_score_adj = oom_score_adj


class Namespace(Record):
    __slots__ = ("type", "path")

    def __init__(self, type: str, path: str | None = None) -> None:
        self.type, self.path = type, path


class IDMapping(Record):
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id, self.host_id, self.size = container_id, host_id, size


class Device(Record):
    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, path: str, type: str, major: int = 0, minor: int = 0,
                 file_mode: int | None = None, uid: int = 0, gid: int = 0) -> None:
        self.path, self.type, self.major, self.minor = path, type, major, minor
        self.file_mode, self.uid, self.gid = file_mode, uid, gid


class Linux(Record):
    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "devices", "cgroups_path",
                 "resources", "rootfs_propagation", "sysctl", "masked_paths", "readonly_paths",
                 "seccomp")

    def __init__(self, namespaces: list[Namespace] | None = None,
                 uid_mappings: list[IDMapping] | None = None,
                 gid_mappings: list[IDMapping] | None = None, devices: list[Device] | None = None,
                 cgroups_path: str | None = None, resources: dict | None = None,
                 rootfs_propagation: str | None = None, sysctl: dict[str, str] | None = None,
                 masked_paths: list[str] | None = None, readonly_paths: list[str] | None = None,
                 seccomp: dict | None = None) -> None:
        self.namespaces = namespaces or []
        self.uid_mappings = uid_mappings or []
        self.gid_mappings = gid_mappings or []
        self.devices = devices or []
        self.cgroups_path = cgroups_path
        self.resources = resources or {}
        self.rootfs_propagation = rootfs_propagation
        self.sysctl = sysctl or {}
        self.masked_paths = masked_paths or []
        self.readonly_paths = readonly_paths or []
        self.seccomp = seccomp


class Spec(Record):
    __slots__ = ("oci_version", "root_path", "root_readonly", "process", "mounts", "hostname",
                 "domainname", "annotations", "hooks", "linux", "raw")

    def __init__(self, oci_version: str, root_path: str, root_readonly: bool,
                 process: Process | None, mounts: list[Mount], hostname: str | None,
                 domainname: str | None, annotations: dict[str, str],
                 hooks: dict[str, list[Hook]], linux: Linux, raw: dict) -> None:
        self.oci_version, self.root_path, self.root_readonly = oci_version, root_path, root_readonly
        self.process, self.mounts = process, mounts
        self.hostname, self.domainname = hostname, domainname
        self.annotations, self.hooks, self.linux, self.raw = annotations, hooks, linux, raw


def _parse_user(r: Reader | None) -> User:
    if r is None:
        return User()
    gids = r.get("additionalGids", list, [])
    for i, gid in enumerate(gids):
        if not isinstance(gid, int) or isinstance(gid, bool) or not 0 <= gid < 2 ** 32:
            raise ConfigError("must be a gid (0 to 4294967295)", path=f"{r.sub('additionalGids')}[{i}]")
    return User(uid=r.uint("uid", 0), gid=r.uint("gid", 0), umask=r.uint("umask", None),
                additional_gids=gids)


def _parse_capabilities(r: Reader | None) -> Capabilities | None:
    if r is None:
        return None
    return Capabilities(**{name: r.strings(name) for name in CAPABILITY_SETS})


def _parse_process(r: Reader) -> Process:
    args = r.strings("args")
    if not args:
        raise ConfigError("must name the program to run", path=r.sub("args"))
    if not args[0]:     # runc: exec: "": executable file not found
        raise ConfigError("must not be empty", path=f"{r.sub('args')}[0]")
    size = r.child("consoleSize")
    rlimits = [Rlimit(lr.get("type", str), lr.uint("soft", bits=64), lr.uint("hard", bits=64))
               for lr in r.objects("rlimits")]
    env = r.strings("env")
    for i, entry in enumerate(env):
        if entry.find("=") < 1:     # runc: "invalid environment variable"
            raise ConfigError("must have the form KEY=value", path=f"{r.sub('env')}[{i}]")
    return Process(
        args=args,
        env=env,
        cwd=r.get("cwd", str, "/"),
        terminal=r.get("terminal", bool, False),
        # The kernel's winsize holds 16-bit rows and columns.
        console_size=(size.uint("height", bits=16), size.uint("width", bits=16)) if size else None,
        user=_parse_user(r.child("user")),
        capabilities=_parse_capabilities(r.child("capabilities")),
        rlimits=rlimits,
        no_new_privileges=r.get("noNewPrivileges", bool, False),
        oom_score_adj=r.integer("oomScoreAdj", -1000, 1000, None),
    )


def _parse_mappings(r: Reader, key: str) -> list[IDMapping]:
    return [IDMapping(m.uint("containerID"), m.uint("hostID"), m.uint("size")) for m in r.objects(key)]


# dev_t as mknod(2) takes it: 12 bits of major, 20 of minor; bigger numbers
# would be cut down to another device's.
MAX_MAJOR, MAX_MINOR = 2 ** 12 - 1, 2 ** 20 - 1
# HOST_NAME_MAX: sethostname/setdomainname refuse longer names.
MAX_HOSTNAME = 64


def _parse_device(r: Reader) -> Device:
    return Device(path=r.get("path", str), type=r.get("type", str),
                  major=r.integer("major", 0, MAX_MAJOR, 0), minor=r.integer("minor", 0, MAX_MINOR, 0),
                  file_mode=r.uint("fileMode", None),
                  uid=r.uint("uid", 0), gid=r.uint("gid", 0))


def _parse_linux(r: Reader | None) -> Linux:
    if r is None:
        return Linux()
    sysctl = r.get("sysctl", dict, {})
    for key, value in sysctl.items():
        if not isinstance(value, str):
            raise ConfigError("must be a string", path=f"{r.sub('sysctl')}.{key}")
    return Linux(
        namespaces=[Namespace(n.get("type", str), n.get("path", str, None)) for n in r.objects("namespaces")],
        uid_mappings=_parse_mappings(r, "uidMappings"),
        gid_mappings=_parse_mappings(r, "gidMappings"),
        devices=[_parse_device(d) for d in r.objects("devices")],
        cgroups_path=r.get("cgroupsPath", str, None),
        resources=r.get("resources", dict, {}),
        rootfs_propagation=r.get("rootfsPropagation", str, None),
        sysctl=sysctl,
        masked_paths=r.strings("maskedPaths"),
        readonly_paths=r.strings("readonlyPaths"),
        seccomp=r.get("seccomp", dict, None),
    )


def _parse_mount(r: Reader) -> Mount:
    return Mount(destination=r.get("destination", str), type=r.get("type", str, None),
                 source=r.get("source", str, None), options=r.strings("options"),
                 uid_mappings=_parse_mappings(r, "uidMappings"), gid_mappings=_parse_mappings(r, "gidMappings"))


_SEMVER_TAIL = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-")


def is_v1_version(version: str) -> bool:
    """A 1.x semantic version (1.MINOR.PATCH[-pre][+build]); without `re`,
    which the hot path does not import."""
    core, plus, build = version.partition("+")
    core, minus, pre = core.partition("-")
    numbers = core.split(".")
    return (len(numbers) == 3 and numbers[0] == "1"
            and all(n.isascii() and n.isdigit() and (n == "0" or n[0] != "0") for n in numbers[1:])
            and all(not mark or (tail and _SEMVER_TAIL.issuperset(tail))
                    for mark, tail in ((minus, pre), (plus, build))))


def _version(r: Reader) -> str:
    version = r.get("ociVersion", str)
    if not is_v1_version(version):
        raise ConfigError(f'must be a 1.x semantic version such as "1.2.0" (got {version[:40]!r})',
                          path="ociVersion")
    return version


def _root_path(r: Reader) -> str:
    path = r.get("path", str)
    if not path:    # would be the bundle directory itself
        raise ConfigError("must not be empty", path=r.sub("path"))
    return path


def _name(r: Reader, key: str) -> str | None:
    value = r.get(key, str, None)
    if value is not None and len(value.encode()) > MAX_HOSTNAME:
        raise ConfigError(f"must be at most {MAX_HOSTNAME} bytes long", path=r.sub(key))
    return value


def parse(config: Any) -> Spec:
    r = Reader(config, "")
    root = r.child("root")
    if root is None:
        raise ConfigError("is required", path="root")
    process = r.child("process")
    annotations = r.get("annotations", dict, {})
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise ConfigError("must be a string", path=f"annotations.{key}")
    return Spec(
        oci_version=_version(r),
        root_path=_root_path(root),
        root_readonly=root.get("readonly", bool, False),
        process=_parse_process(process) if process else None,
        mounts=[_parse_mount(m) for m in r.objects("mounts")],
        hostname=_name(r, "hostname"),
        domainname=_name(r, "domainname"),
        annotations=annotations,
        hooks=parse_hooks(r.get("hooks", dict, {})),
        linux=_parse_linux(r.child("linux")),
        raw=config,
    )


def load(bundle: str) -> Spec:
    """Read and parse <bundle>/config.json."""
    return parse(jsonio.read_file(f"{bundle}/config.json", ConfigError))
