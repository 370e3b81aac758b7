"""The cgroup manager interface and what the v1 and v2 drivers share.

Besides the interface: `Section`, checked access to the OCI
`linux.resources` object so every error names its JSON path, with the
planning helpers both drivers use; small cgroupfs file helpers; and the
devices-cgroup emulator (the v1 semantics of
a default policy plus exceptions, as runc models them), which gives v1
minimal updates and v2 the same effective rule list.

Only os/errno/time at module level: hot CLI verbs import this package.
"""
from __future__ import annotations

import errno
import os
import time

from ..errors import PyruncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

DEFAULT_ROOT = "/sys/fs/cgroup"
CGROUPS_PATH = "linux.cgroupsPath"
STATE_VERSION = 1
SIGKILL = 9  # spelled out: importing `signal` pulls in enum

INT64 = (-(1 << 63), (1 << 63) - 1)
UINT64 = (0, (1 << 64) - 1)
UINT32 = (0, (1 << 32) - 1)
UINT16 = (0, (1 << 16) - 1)
UNLIMITED = (1 << 64) - 1  # how stats report "max", as runc does
FREEZE_TIMEOUT = 10.0
THROTTLES = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
             ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
             ("throttleReadIOPSDevice", "read_iops_device", "riops"),
             ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))
# Neighbouring writes the kernel may accept only in the other order: memsw
# must stay >= the memory limit, cfs period and quota are checked together,
# a burst may not exceed the quota.
SWAPPABLE = {("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
             ("cpu.cfs_period_us", "cpu.cfs_quota_us"), ("cpu.cfs_quota_us", "cpu.cfs_burst_us"),
             ("cpu.rt_period_us", "cpu.rt_runtime_us"), ("cpu.max", "cpu.max.burst")}

# A pending cgroupfs write: (hierarchy, file, value, JSON path it came from).
Write = tuple  # tuple[str, str, str, str]


def invalid(path: str, message: str) -> PyruncError:
    return PyruncError(message, errno.EINVAL, path)


class Section:
    """One JSON object of linux.resources plus its JSON path."""

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise invalid(path, "must be an object")
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def sub(self, key: str) -> Section | None:
        value = self.data.get(key)
        return None if value is None else Section(value, self.at(key))

    def entries(self, key: str) -> list[Section]:
        """The objects of the array at `key` ([] when absent)."""
        items = self.data.get(key)
        if items is None:
            return []
        if not isinstance(items, list):
            raise invalid(self.at(key), "must be an array")
        return [Section(item, f"{self.at(key)}[{i}]") for i, item in enumerate(items)]

    def mapping(self, key: str) -> dict:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid(self.at(key), "must be an object")
        return value

    def integer(self, key: str, bounds: tuple[int, int] = INT64) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        # JSON true is a Python int; it is never a valid number here.
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self.at(key), f"must be an integer, not {type(value).__name__}")
        low, high = bounds
        if not low <= value <= high:
            raise invalid(self.at(key), f"{value} is out of range [{low}, {high}]")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise invalid(self.at(key), "must be a boolean")
        return value

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(self.at(key), "must be a string")
        return value

    def required(self, key: str, getter: Callable[[str], Any]) -> Any:
        value = getter(key)
        if value is None:
            raise invalid(self.at(key), "is required")
        return value

    def limit(self, key: str) -> int | None:
        """A byte/count limit: None when unset (absent or 0), -1 for unlimited."""
        value = self.integer(key)
        if value is None or value == 0:
            return None
        if value < -1:
            raise invalid(self.at(key), f"{value} is invalid: use -1 for unlimited or a positive value")
        return value

    def device_numbers(self) -> str:
        """`major:minor` of a blockIO device entry."""
        major = self.required("major", lambda k: self.integer(k, UINT32))
        minor = self.required("minor", lambda k: self.integer(k, UINT32))
        return f"{major}:{minor}"


def check_usage(mem: Section, limit: int, usage: int) -> None:
    if usage >= limit:
        raise PyruncError(f"memory usage {usage} is already above the new limit {limit}",
                          errno.EBUSY, mem.at("limit"))


def cpu_list(cpu: Section, key: str) -> str | None:
    text = cpu.string(key)
    if text:
        try:
            parse_cpu_list(text)
        except ValueError:
            raise invalid(cpu.at(key), f"{text!r} is not a list such as \"0-3,7\"") from None
    return text or None


def parse_cpu_list(text: str) -> list[int]:
    """"0-3,7" -> [0, 1, 2, 3, 7]."""
    numbers: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        numbers.extend(range(int(low), int(high or low) + 1))
    return numbers


def check_page_size(entry: Section) -> str:
    size = entry.required("pageSize", entry.string)
    digits = size[:-2]
    if not (size[-2:-1] in ("K", "M", "G", "T", "P") and size.endswith("B")
            and digits.isdigit() and not digits.startswith("0")):
        raise invalid(entry.at("pageSize"), f"{size!r} is not a page size such as \"2MB\"")
    return size


def rdma_lines(res: Section) -> list[tuple[str, str]]:
    """(rdma.max line, JSON path) per device; fields left out mean "max"."""
    lines = []
    for device, limits in res.mapping("rdma").items():
        entry = Section(limits, f"{res.at('rdma')}.{device}")
        handles = entry.integer("hcaHandles", UINT32)
        objects = entry.integer("hcaObjects", UINT32)
        text = (f"{device} hca_handle={'max' if handles is None else handles}"
                f" hca_object={'max' if objects is None else objects}")
        lines.append((text, entry.path))
    return lines


def plan_pids(res: Section, fs: object) -> list[Write]:
    pids = res.sub("pids")
    limit = pids.integer("limit") if pids else None
    if limit is None:
        return []
    return [("pids", "pids.max", str(limit) if limit > 0 else "max", pids.at("limit"))]


def cpuset_rows(cpu: Section) -> list[tuple]:
    return [(key, "cpuset", f"cpuset.{key}", cpu_list(cpu, key)) for key in ("cpus", "mems")]


def rows_to_writes(section: Section, rows: list[tuple]) -> list[Write]:
    """(key, hierarchy, file, value) rows -> writes, skipping unset values."""
    return [(hierarchy, name, str(value), section.at(key))
            for key, hierarchy, name, value in rows if value is not None]


# ---------------------------------------------------------------- files

def read_text(directory: str, name: str) -> str:
    with open(os.path.join(directory, name), encoding="ascii", errors="replace") as f:
        return f.read()


def read_number(directory: str, name: str) -> int:
    """A single-value file; "max" reads as UNLIMITED."""
    text = read_text(directory, name).split()
    if not text:
        return 0
    return UNLIMITED if text[0] == "max" else int(text[0])


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file of `key value` lines (memory.stat, cpu.stat, ...)."""
    values = {}
    for line in read_text(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


def write_file(directory: str, name: str, value: str) -> None:
    """One write(2) of the whole value, as cgroupfs wants (O_TRUNC like runc,
    which also makes plain directories usable as a fake cgroupfs)."""
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_error(name: str, value: str, exc: OSError, path: str | None) -> PyruncError:
    if exc.errno == errno.ENOENT:
        message = f"cannot set {name}: not supported here (no such cgroup file)"
    else:
        message = f"cannot write {value!r} to {name}: {exc.strerror or os.strerror(exc.errno or 0)}"
    return PyruncError(message, exc.errno, path)


def add_pid_to(directory: str, pid: int) -> None:
    # EINVAL can mean the task is still TASK_NEW; runc retries the same way.
    for attempt in range(5):
        try:
            write_file(directory, "cgroup.procs", str(pid))
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL or attempt == 4:
                raise PyruncError(f"cannot move pid {pid} into cgroup {directory}: {exc.strerror}",
                                  exc.errno) from None
            time.sleep(0.03)


def open_for_join(directory: str, name: str, flags: int) -> int:
    path = os.path.join(directory, name)
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError as exc:
        raise PyruncError(f"cannot open {path}: {exc.strerror}", exc.errno) from None


def procs_under(directory: str) -> list[int]:
    """Pids in `directory` and every cgroup below it."""
    pids: list[int] = []
    for current in walk_dirs(directory):
        try:
            text = read_text(current, "cgroup.procs")
        except FileNotFoundError:
            continue
        pids.extend(int(line) for line in text.split())
    return pids


def walk_dirs(directory: str) -> Iterator[str]:
    """`directory` then its sub-directories, parents before children."""
    yield directory
    try:
        children = [e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return
    for child in children:
        yield from walk_dirs(child)


def make_dirs(directory: str, made: list[str]) -> None:
    """mkdir -p, appending each directory it makes to `made` (outermost
    first) as it goes, so a failure half-way still says what to remove. A
    parent removed meanwhile (the container that made it going away) is
    made again."""
    for attempt in range(3):
        try:
            _make_dirs_once(directory, made)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise PyruncError(f"cannot create cgroup {directory}: a parent keeps going away",
                                  errno.ENOENT) from None


def _make_dirs_once(directory: str, made: list[str]) -> None:
    missing = []
    current = directory
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o755)
            made.append(path)
        except FileExistsError:
            pass
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise PyruncError(f"cannot create cgroup {path}: {exc.strerror}", exc.errno) from None


def remove_tree(directory: str, timeout: float = 2.0) -> None:
    """rmdir `directory` and its sub-cgroups, children first. EBUSY is retried
    for a while: the kernel lets go of a cgroup a moment after its last task
    exits. A directory already gone is fine."""
    for current in reversed(list(walk_dirs(directory))):
        _rmdir_retrying(current, time.monotonic() + timeout)


def _rmdir_retrying(directory: str, deadline: float) -> None:
    delay = 0.002
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise PyruncError(f"cannot remove cgroup {directory}: {exc.strerror}", exc.errno) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` with a short growing sleep; True once it holds."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True


# ---------------------------------------------------------------- paths

def clean_path(path: str) -> str:
    """Normalise an absolute cgroupsPath so '..' can never climb out (runc's CleanPath)."""
    cleaned = os.path.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = cleaned[1:]
    return cleaned if path.startswith("/") else cleaned.lstrip("/")


def check_inner_path(path: str) -> str:
    """A cgroupsPath, normalised; refused when it names the root of the
    hierarchies, or (relative) pyrunc's own cgroup or one above it: that
    cgroup holds the caller and its neighbours, never only the container."""
    if path.startswith("/"):
        cleaned = clean_path(path)
        if cleaned == "/":
            raise PyruncError(f"{path!r} is the root cgroup, which holds the whole host",
                              errno.EINVAL, CGROUPS_PATH)
        return cleaned
    cleaned = os.path.normpath(path)
    if cleaned == "." or cleaned == ".." or cleaned.startswith("../"):
        raise PyruncError(f"{path!r} resolves to pyrunc's own cgroup or one above it; "
                          "name a cgroup below it", errno.EINVAL, CGROUPS_PATH)
    return cleaned


def mount_table(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, str, str]]:
    """Every mount, in mount order: (mount point, the root of the mount,
    filesystem type, super options), paths with mountinfo's octal escapes
    (space, tab, newline, backslash) undone."""
    table = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split() + ["", "", ""]
            if len(fields) >= 5:
                table.append((_unescape(fields[4]), _unescape(fields[3]), tail[0], tail[2]))
    return table


def _unescape(field: str) -> str:
    for escape, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escape, char)
    return field


def own_cgroups(proc_file: str = "/proc/self/cgroup") -> dict[str, str]:
    """This process's cgroup per hierarchy: controller (or name=X) -> path;
    the unified hierarchy is under ""."""
    result: dict[str, str] = {}
    with open(proc_file, encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                result[controller] = path
    return result


def cgroup_dir(mountpoint: str, mount_root: str, own: str, inner: str, base: str | None = None) -> str:
    """Absolute cgroupsPaths (checked by check_inner_path) hang from the mount
    point; relative ones from `base` (default: our own cgroup), seen through
    what the mount shows (it may be a subtree). A cgroup that holds pyrunc
    itself is refused: killing or freezing it would hit the caller."""
    if mount_root != "/" and (own == mount_root or own.startswith(mount_root + "/")):
        own = own[len(mount_root):] or "/"
    if inner.startswith("/"):
        target = inner
    else:
        target = os.path.join(own if base is None else base, inner)
    if own == target or own.startswith(target.rstrip("/") + "/"):
        raise PyruncError(f"cgroup {target} holds pyrunc itself; name a cgroup of the container's own",
                          errno.EINVAL, CGROUPS_PATH)
    return join_cgroup(mountpoint, target)


def join_cgroup(mountpoint: str, inner: str) -> str:
    return os.path.join(mountpoint, inner.lstrip("/")).rstrip("/") or "/"


# ---------------------------------------------------------------- devices

WILDCARD = -1
# (allow, type, major, minor, access); type "a" means every device.
DeviceRule = tuple

# What runc always allows after the spec's own rules (specconv.AllowedDevices).
DEFAULT_ALLOWED_DEVICES: list[DeviceRule] = [
    (True, "c", WILDCARD, WILDCARD, "m"),
    (True, "b", WILDCARD, WILDCARD, "m"),
    (True, "c", 1, 3, "rwm"),         # /dev/null
    (True, "c", 1, 8, "rwm"),         # /dev/random
    (True, "c", 1, 7, "rwm"),         # /dev/full
    (True, "c", 5, 0, "rwm"),         # /dev/tty
    (True, "c", 1, 5, "rwm"),         # /dev/zero
    (True, "c", 1, 9, "rwm"),         # /dev/urandom
    (True, "c", 136, WILDCARD, "rwm"),  # /dev/pts/*
    (True, "c", 5, 2, "rwm"),         # /dev/ptmx
    (True, "c", 10, 200, "rwm"),      # /dev/net/tun
]


def _access(text: str) -> str:
    return "".join(c for c in "rwm" if c in text)


def parse_device_rules(entries: list[Section]) -> list[tuple[DeviceRule, str]]:
    """OCI linux.resources.devices -> [(rule, JSON path)]."""
    rules = []
    for entry in entries:
        allow = entry.required("allow", entry.boolean)
        kind = entry.string("type") or "a"
        if kind not in ("a", "b", "c"):
            raise invalid(entry.at("type"), f"{kind!r} is not a device rule type (a, b or c)")
        numbers = []
        for key in ("major", "minor"):
            number = entry.integer(key, (WILDCARD, UINT32[1]))
            numbers.append(WILDCARD if number is None else number)
        access = entry.string("access") or "rwm"
        if set(access) - set("rwm"):
            raise invalid(entry.at("access"), f"{access!r} is not a combination of r, w and m")
        rules.append(((allow, kind, numbers[0], numbers[1], _access(access)), entry.path))
    return rules


def format_device_rule(rule: DeviceRule) -> str:
    """The v1 devices.allow / devices.deny line."""
    _, kind, major, minor, access = rule
    if kind == "a":
        return "a"
    number = lambda n: "*" if n == WILDCARD else str(n)  # noqa: E731
    return f"{kind} {number(major)}:{number(minor)} {access}"


def _ordered(exceptions: dict[tuple[str, int, int], str]) -> list[tuple[tuple[str, int, int], str]]:
    """Exceptions by (major, minor, type), so the same state always writes
    the same rules."""
    return sorted(exceptions.items(), key=lambda item: (item[0][1], item[0][2], item[0][0]))


class DeviceEmulator:
    """A devices cgroup as v1 sees it: a default policy plus exceptions keyed
    by (type, major, minor) with their access letters."""

    def __init__(self, default_allow: bool = True) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[tuple[str, int, int], str] = {}

    @classmethod
    def from_rules(cls, rules: list[tuple[DeviceRule, str]]) -> DeviceEmulator:
        emulator = cls()
        for rule, path in rules:
            emulator.apply(rule, path)
        return emulator

    @classmethod
    def from_list(cls, text: str) -> DeviceEmulator:
        """The state behind a v1 devices.list (an allow list; "a *:* rwm" means
        allow-all, whose deny exceptions the kernel does not show)."""
        emulator = cls(default_allow=False)
        for line in text.splitlines():
            fields = line.replace(":", " ").split()
            if len(fields) != 4:
                continue
            number = lambda n: WILDCARD if n == "*" else int(n)  # noqa: E731
            emulator.apply((True, fields[0], number(fields[1]), number(fields[2]), fields[3]), "devices.list")
        return emulator

    def is_allow_all(self) -> bool:
        return self.default_allow and not self.exceptions

    def apply(self, rule: DeviceRule, path: str) -> None:
        allow, kind, major, minor, access = rule
        if kind == "a":
            self.default_allow, self.exceptions = allow, {}
        elif allow == self.default_allow:
            self._remove((kind, major, minor), access, path)
        else:
            key = (kind, major, minor)
            self.exceptions[key] = _access(self.exceptions.get(key, "") + access)

    def _remove(self, key: tuple[str, int, int], access: str, path: str) -> None:
        kind, major, minor = key
        # v1 silently ignores removing part of a wildcard exception; refuse,
        # as runc does, rather than leave access the user meant to take away.
        for wider in ((kind, WILDCARD, minor), (kind, major, WILDCARD), (kind, WILDCARD, WILDCARD)):
            if wider != key and set(self.exceptions.get(wider, "")) & set(access):
                shown = format_device_rule((True, *wider, self.exceptions[wider]))
                raise invalid(path, f"cannot punch a hole in the wildcard device rule {shown!r}")
        left = "".join(c for c in self.exceptions.get(key, "") if c not in access)
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    def transition(self, target: DeviceEmulator) -> list[DeviceRule]:
        """The fewest v1 writes taking this state to `target`: a disruptive
        "a" rule only when the policy changes (or this is an allow list of
        unknown deny exceptions)."""
        rules: list[DeviceRule] = []
        old = dict(self.exceptions)
        if self.default_allow or self.default_allow != target.default_allow:
            rules.append((target.default_allow, "a", WILDCARD, WILDCARD, "rwm"))
            old = {}
        for key, access in _ordered(old):
            dropped = "".join(c for c in access if c not in target.exceptions.get(key, ""))
            if dropped:
                rules.append((target.default_allow, *key, dropped))
        for key, access in _ordered(target.exceptions):
            gained = "".join(c for c in access if c not in old.get(key, ""))
            if gained:
                rules.append((not target.default_allow, *key, gained))
        return rules

    def rules(self) -> list[DeviceRule]:
        """This state as rules applied in order to a deny-all cgroup: the
        first is always the type-"a" default, later ones override it."""
        default = (self.default_allow, "a", WILDCARD, WILDCARD, "rwm")
        return [default] + [(not self.default_allow, *key, access) for key, access in _ordered(self.exceptions)]


# ---------------------------------------------------------------- manager

class CgroupManager:
    """One container's cgroup in every hierarchy. Drivers fill in the
    kernel-specific parts; pids, kill_all, destroy and to_state are shared."""

    mode = ""

    def __init__(self, root: str, inner: str, paths: dict[str, str], created: list[str] | None = None) -> None:
        self.root = root
        self.inner = inner  # the resolved cgroupsPath, for messages and state
        self.paths = paths
        # The directories pyrunc made for this container, outermost first: the
        # only ones it removes, and its cgroup is wholly the container's only
        # when pyrunc made it.
        self.created: list[str] = list(created or [])
        # Called as loader(manager, device_rules_v2(...)) to install a v2 eBPF
        # device filter; None means v2 device restrictions cannot be applied.
        self.device_program_loader: Callable[[CgroupManager, list[dict]], None] | None = None
        # Rules appended after linux.resources.devices (runc's defaults); the
        # caller may add allow rules for linux.devices entries.
        self.extra_device_rules: list[DeviceRule] = list(DEFAULT_ALLOWED_DEVICES)
        self.warnings: list[str] = []  # things accepted but not applied

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r}, {self.paths!r})"

    # -- to be provided by drivers
    def create(self) -> None:
        """mkdir in every hierarchy (v2: enable controllers in the ancestors)."""
        raise NotImplementedError

    def add_pid(self, pid: int, only: list[str] | None = None) -> None:
        """Move `pid` (a whole process) into the cgroup everywhere (or in
        the directories `only`)."""
        raise NotImplementedError

    def init_joins(self, clone_into: bool) -> tuple[list[int], int, list[str]]:
        """How a new init joins the cgroup by itself, which the kernel does
        without the global lock that a move by pid takes (an RCU grace
        period, milliseconds, per hierarchy): fds of v1 `tasks` files for
        it to write "0" to, the fd of a v2 directory to clone it into
        (when clone_into, else -1), and the directories left to add_pid."""
        raise NotImplementedError

    def apply(self, resources: dict, path: str = "linux.resources") -> None:
        """Apply an OCI linux.resources object. Everything is checked before
        anything is written; errors name the JSON path under `path`. Only the
        fields present are touched, so `update` can pass a partial object;
        a present "devices" (even []) means deny-all + those rules +
        `extra_device_rules`. Unappliable but harmless fields land in
        `warnings`."""
        raise NotImplementedError

    def freeze(self) -> None:
        """Freeze every process and wait until the kernel says frozen."""
        raise NotImplementedError

    def thaw(self) -> None:
        """Undo `freeze` and wait until the kernel says thawed."""
        raise NotImplementedError

    def is_frozen(self) -> bool:
        """True when this cgroup itself is frozen (paused)."""
        raise NotImplementedError

    def stats(self) -> dict:
        """runc's `events --stats` "data" object."""
        raise NotImplementedError

    def oom_event_fd(self) -> int | None:
        """v1: an eventfd signalled on OOM; v2: None (watch memory.events)."""
        raise NotImplementedError

    def oom_count(self) -> int:
        """How many processes the OOM killer has killed in the cgroup."""
        raise NotImplementedError

    def held_frozen(self) -> bool:
        """True when the kernel keeps the cgroup frozen (or freezing), by
        itself or through an ancestor: a process moved in would not run."""
        raise NotImplementedError

    def procs_hierarchy(self) -> str:
        """The hierarchy of `_procs_dir`, as /proc/PID/cgroup names it in
        its controllers field ("" for the unified one)."""
        raise NotImplementedError

    def _procs_dir(self) -> str:
        """The cgroup whose tree holds every process of the container."""
        raise NotImplementedError

    def _can_freeze(self) -> bool:
        raise NotImplementedError

    def _kill_file(self, sig: int) -> bool:
        """Kill through the kernel in one go when it can; True if done."""
        return False

    # -- shared
    def _run(self, writes: list[Write]) -> None:
        """Perform planned writes; a failing write is retried swapped with its
        neighbour when the kernel may want the other order."""
        pending = list(writes)
        while pending:
            first = pending.pop(0)
            try:
                self._write(first)
                continue
            except OSError as exc:
                error = exc
            if pending and (first[1], pending[0][1]) in SWAPPABLE:
                second = pending.pop(0)
                if self._try_in_order(second, first):
                    continue
            if self._recover(first, error):
                continue
            raise self._explain(first, error)

    def _try_in_order(self, *writes: Write) -> bool:
        try:
            for write in writes:
                self._write(write)
        except OSError:
            return False
        return True

    def _write(self, write: Write) -> None:
        raise NotImplementedError

    def _recover(self, write: Write, exc: OSError) -> bool:
        """A driver's last chance to make a failed write succeed."""
        return False

    def _explain(self, write: Write, exc: OSError) -> PyruncError:
        return write_error(write[1], write[2], exc, write[3])

    def to_make(self) -> list[str]:
        """The directories create() would make now, outermost first: saved
        before they are made, so that a runtime killed half-way leaves a
        record of them for delete to find."""
        missing: list[str] = []
        for directory in self.unique_dirs():
            chain = []
            while not os.path.isdir(directory) and directory.startswith(self.root.rstrip("/") + "/"):
                chain.append(directory)
                directory = os.path.dirname(directory)
            missing += [path for path in reversed(chain) if path not in missing]
        return missing

    def unique_dirs(self) -> list[str]:
        """Each cgroup directory once (co-mounted controllers share one)."""
        return list(dict.fromkeys(self.paths.values()))

    def _device_rules(self, res: Section) -> list[tuple[DeviceRule, str]]:
        """Deny everything, then the spec's rules, then the defaults, as runc."""
        base = [((False, "a", WILDCARD, WILDCARD, "rwm"), res.at("devices"))]
        extra = [(rule, res.at("devices")) for rule in self.extra_device_rules]
        return base + parse_device_rules(res.entries("devices")) + extra

    def pids(self) -> list[int]:
        return procs_under(self._procs_dir())

    def check_before_use(self) -> None:
        """runc's checks of the cgroup before the init joins it: a frozen
        one would hold the init for good (refused); processes already in it
        are not the container's (a warning: they are never killed)."""
        self.refuse_frozen()
        if not self.owned():
            try:
                pids = self.pids()
            except OSError:
                pids = []   # not ours to read: nothing to warn about then
            if pids:
                self.warnings.append(f"container's cgroup is not empty: {len(pids)} process(es) found")

    def add_pid_below(self, pid: int, subs: dict[str, str]) -> None:
        """`exec --cgroup`: into the container's cgroup, then into the
        existing sub-cgroups `subs` names (parse_sub_cgroups), each of which
        must lie within the container's cgroup."""
        self.add_pid(pid)
        for directory, sub in self._sub_cgroups(subs).items():
            target = os.path.normpath(f"{directory}/{sub}")
            if target != directory and not target.startswith(directory + "/"):
                raise PyruncError(f"{sub} is not a sub cgroup path", errno.EINVAL)
            if not os.path.isdir(target):
                raise PyruncError(f"--cgroup {sub}: no such sub-cgroup {target}", errno.ENOENT)
            add_pid_to(target, pid)

    def _sub_cgroups(self, subs: dict[str, str]) -> dict[str, str]:
        """Container cgroup directory -> the sub-path asked for below it."""
        raise NotImplementedError

    def refuse_frozen(self) -> None:
        if self.held_frozen():
            raise PyruncError(f"container's cgroup unexpectedly frozen ({self._procs_dir()})", errno.EBUSY,
                              CGROUPS_PATH)

    def owned(self) -> bool:
        """True when pyrunc made the container's cgroup, so that every
        process in it is the container's."""
        return self._procs_dir() in self.created

    def kill_all(self, sig: int, belongs: Callable[[int], bool] | None = None) -> None:
        """Signal every process. In a cgroup pyrunc did not make, only those
        `belongs` vouches for: the others are not the container's. SIGKILL
        goes through cgroup.kill when the kernel has it, else the cgroup is
        frozen first so nothing forks away between listing and killing, then
        thawed so the kills land."""
        if not os.path.isdir(self._procs_dir()):
            return  # already destroyed: nothing left to signal
        if not self.owned():
            self._signal_each(sig, [pid for pid in self.pids() if belongs is not None and belongs(pid)])
            return
        if sig == SIGKILL and self._kill_file(sig):
            return
        freeze = sig == SIGKILL and self._can_freeze()
        try:
            if freeze:
                self.freeze()   # a freeze that fails half-way is undone too
            self._signal_each(sig, self.pids())
        finally:
            if freeze:
                self.thaw()

    @staticmethod
    def _signal_each(sig: int, pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        """Remove what pyrunc made, innermost first: the container's cgroup
        with whatever the container made below it, then the parents made for
        it if they are empty (another container may use them still)."""
        leaves = set(self.unique_dirs())
        for directory in reversed(self.created):
            if directory in leaves:
                remove_tree(directory)
                continue
            try:
                os.rmdir(directory)
            except OSError:
                pass    # still in use, or already gone

    def to_state(self) -> dict:
        return {"version": STATE_VERSION, "mode": self.mode, "root": self.root,
                "path": self.inner, "paths": dict(self.paths), "created": list(self.created)}
