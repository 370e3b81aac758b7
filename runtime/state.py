"""The state directory of each container: <root>/<id>/state.json under an
flock, written atomically, with the status recomputed from kernel facts on
every read (init alive, same start time, not a zombie; exec.fifo present
means created; a frozen cgroup means paused)."""
from __future__ import annotations

import errno
import fcntl
import os
import time

from . import jsonio
from .errors import ContainerNotFound, PyruncError, from_os_error
from .record import Record
from .linux_constants import CAPABILITY_SETS     # not from spec: every verb loads a state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, Mapping

DEFAULT_ROOT = "/run/pyrunc"
STATE_FILE = "state.json"
# What a create in progress has made (cgroup paths, init pid), saved before
# it makes each: all that tells a half-made container's parts apart.
CREATING_FILE = "creating.json"
FIFO_NAME = "exec.fifo"
MAX_ID_LENGTH = 255     # NAME_MAX: a longer id could never name its state directory
# In the names of the root's cache directories, never in a container id.
CACHE_MARK = "@"

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-")

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"


def default_root(euid: int, environ: Mapping[str, str]) -> str:
    """root's /run/pyrunc; another user's $XDG_RUNTIME_DIR/pyrunc (runc:
    .../runc), else /run/user/<uid>/pyrunc when that directory exists."""
    if euid == 0:
        return DEFAULT_ROOT
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or ""
    if not runtime_dir:
        runtime_dir = f"/run/user/{euid}"
        if not os.path.isdir(runtime_dir):
            raise PyruncError(f"no state directory for uid {euid}: XDG_RUNTIME_DIR is not set and "
                              f"{runtime_dir} does not exist; set one of them or pass --root")
    return os.path.join(runtime_dir, "pyrunc")


def validate_id(container_id: str) -> None:
    if not container_id:
        raise PyruncError("container id cannot be empty")
    if (len(container_id) > MAX_ID_LENGTH or container_id in (".", "..")
            or not _ID_CHARS.issuperset(container_id)):
        raise PyruncError(f"invalid container id {container_id!r}: use letters, digits, "
                          f"'_', '+', '-' and '.', at most {MAX_ID_LENGTH} characters")


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, or None when the pid is gone or a zombie.
    Parsed as text: the bytes methods would page in 64 KiB more of the
    interpreter on every create."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            stat = os.read(fd, 4096).decode("ascii", "replace")
        finally:
            os.close(fd)
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as exc:  # out of fds: not a sign that the process is gone
        raise from_os_error(f"read /proc/{pid}/stat", exc) from None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def cgroup_of(pid: int, hierarchy: str) -> str | None:
    """The cgroup of `pid` in the hierarchy whose controllers field in
    /proc/PID/cgroup names `hierarchy` ("" for the unified one)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as exc:
        raise from_os_error(f"read /proc/{pid}/cgroup", exc) from None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (hierarchy in controllers.split(",")) if hierarchy else not controllers:
            return path
    return None


def now_rfc3339() -> str:
    # From the float clock: dividing time_ns() would page in the
    # interpreter's long division (64 KiB); its grain, a quarter of a
    # microsecond, is finer than anything `created` is read for.
    now = time.time()
    seconds = int(now)
    return rfc3339(seconds, int((now - seconds) * 1e9))


def rfc3339(seconds: int, nanoseconds: int) -> str:
    """A time since the epoch as RFC 3339 in UTC with nanoseconds, as runc
    writes `created`.  Computed here, not with time.strftime: its code is
    another 100 KiB of the interpreter paged in by every create."""
    days, second_of_day = divmod(seconds, 86400)
    # Days since 1970-01-01 to the proleptic Gregorian date, by 400-year
    # eras of 146097 days, with years starting in March so that the leap
    # day comes last (H. Hinnant's civil_from_days).
    era, day_of_era = divmod(days + 719468, 146097)
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_from_march = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_from_march + 2) // 5 + 1
    month = month_from_march + 3 if month_from_march < 10 else month_from_march - 9
    year = era * 400 + year_of_era + (month <= 2)
    hour, minute_second = divmod(second_of_day, 3600)
    minute, second = divmod(minute_second, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{nanoseconds:09d}Z"


class ContainerState(Record):
    __slots__ = ("id", "dir", "data")

    def __init__(self, container_id: str, directory: str, data: dict[str, Any]) -> None:
        self.id, self.dir, self.data = container_id, directory, data

    @property
    def pid(self) -> int:
        return int(self.data.get("pid", 0))

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.dir, FIFO_NAME)

    def init_alive(self) -> bool:
        pid = self.pid
        # None: gone or a zombie (also when it died before create saved its start time).
        start = process_start_time(pid) if pid > 0 else None
        return start is not None and start == self.data.get("pidStartTime") and self._is_init(pid)

    def _is_init(self, pid: int) -> bool:
        """The process is the one create made, as far as create recorded it:
        in the same pid namespace and in the container's cgroup (or below,
        where the container may move itself). Never a host process that a
        stale or forged pid and start time point at."""
        pid_ns = self.data.get("initPidNs")
        if pid_ns is not None:
            try:
                if os.stat(f"/proc/{pid}/ns/pid").st_ino != pid_ns:
                    return False
            except OSError:
                return False
        recorded = self.data.get("initCgroup")
        if recorded:
            hierarchy, path = recorded
            actual = cgroup_of(pid, hierarchy)
            # A root cgroup is never a container's: it tells nothing apart.
            return path != "/" and actual is not None and (actual == path or actual.startswith(path + "/"))
        return True

    def status(self, is_frozen: Any = None) -> str:
        if not self.init_alive():
            return STOPPED
        # Frozen first (as runc): a created container can be paused too.
        if is_frozen is not None and is_frozen():
            return PAUSED
        if os.path.exists(self.fifo_path):
            return CREATED
        return RUNNING

    def save(self) -> None:
        """Atomic replace: readers see the old or the new file, never half.
        No fsync (4 ms a call on a disk): the rename is atomic for every
        reader, and a state outlives no reboot (its processes are gone), as
        with runc, which does not sync its state either."""
        _write_atomically(self.dir, STATE_FILE, jsonio.dumps(self.data).encode())
        try:
            os.unlink(os.path.join(self.dir, CREATING_FILE))
        except FileNotFoundError:
            pass

    def save_progress(self, fields: dict[str, Any]) -> None:
        """Note what create is about to make, before it makes it (see
        CREATING_FILE)."""
        _write_atomically(self.dir, CREATING_FILE, jsonio.dumps(fields).encode())


def _write_atomically(directory: str, name: str, data: bytes) -> None:
    tmp = os.path.join(directory, f".{name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(directory, name))
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise from_os_error(f"write {os.path.join(directory, name)}", exc) from None


# What each state field must be: (check, what the error says).  The state
# is ours, but a file on disk can be truncated or edited: anything else is
# refused by name here, not met as a TypeError further on.
def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_cgroup(value: Any) -> bool:
    from .cgroups import manager_from_state     # every verb that loads a state needs it
    try:
        manager_from_state(value)
    except PyruncError:
        return False
    return True


def _is_config(value: Any) -> bool:
    """The saved config.json, as far as the verbs read it from the state
    (the rest was checked by create and is checked again where used)."""
    if not isinstance(value, dict) or not isinstance(value.get("hooks") or {}, dict):
        return False
    process = value.get("process") or {}
    if not isinstance(process, dict) or not isinstance(process.get("env") or [], list):
        return False
    capabilities = process.get("capabilities") or {}
    return isinstance(capabilities, dict) and all(isinstance(capabilities.get(name) or [], list)
                                                  for name in CAPABILITY_SETS)


_FIELDS: dict[str, tuple[Any, str]] = {
    "pid": (lambda v: _is_int(v, 0, 2 ** 31 - 1), "a pid"),
    "pidStartTime": (lambda v: v is None or _is_int(v, 0, 2 ** 64 - 1), "a start time in clock ticks"),
    "ociVersion": (lambda v: isinstance(v, str), "a string"),
    "bundle": (lambda v: isinstance(v, str), "a string"),
    "rootfs": (lambda v: isinstance(v, str), "a string"),
    "created": (lambda v: isinstance(v, str), "a string"),
    "owner": (lambda v: isinstance(v, str), "a string"),
    "annotations": (lambda v: v is None or _is_str_map(v), "an object of strings"),
    "cgroup": (lambda v: v is None or _is_cgroup(v), "a saved cgroup"),
    "initPidNs": (lambda v: _is_int(v, 1, 2 ** 64 - 1), "a namespace inode number"),
    "initCgroup": (lambda v: isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v),
                   "a [hierarchy, path] pair of strings"),
    "config": (_is_config, "a config object (with object process, capabilities and hooks)"),
    "noNewKeyring": (lambda v: isinstance(v, bool), "a boolean"),
}
# Without these nothing can be done with the container but delete it.
_REQUIRED = ("pid", "pidStartTime", "config")


def check_state(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The fields of a state that are sound, and what is wrong with the rest."""
    good: dict[str, Any] = {}
    bad: list[str] = []
    for key, (check, what) in _FIELDS.items():
        if key not in data:
            if key in _REQUIRED:
                bad.append(f"{key} is missing")
        elif check(data[key]):
            good[key] = data[key]
        else:
            bad.append(f"{key} must be {what}")
    return good, bad


class CorruptState(PyruncError):
    """A state file that cannot be used as it is; `good` holds the fields
    that are still sound, for `delete --force` to clean up with."""

    def __init__(self, container_id: str, directory: str, reason: str, good: dict[str, Any],
                 half_made: bool = False) -> None:
        super().__init__(f"container {container_id}: corrupt state: {reason}")
        self.container_id, self.dir, self.reason, self.good = container_id, directory, reason, good
        self.half_made = half_made      # its create died before saving any state


def _interrupted_create(root: str, directory: str, file: str) -> bool:
    """A state directory without a state file whose lock is free: the
    create that made it died (a live one holds the lock until it saves).
    The root's lock waits out a create between its mkdir and its flock."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(root_fd, fcntl.LOCK_EX)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    finally:
        os.close(root_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False    # a create (or delete) is at work on it
    finally:
        os.close(fd)
    return not os.path.exists(file)     # else saved just before we looked


def _progress(directory: str) -> dict[str, Any]:
    """The sound fields of an interrupted create's CREATING_FILE."""
    try:
        with open(os.path.join(directory, CREATING_FILE), "rb") as f:
            value = jsonio.loads(f.read(jsonio.MAX_DOCUMENT + 1))
    except (OSError, ValueError):
        return {}
    return check_state(value)[0] if isinstance(value, dict) else {}


class StateStore:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root

    def container_dir(self, container_id: str) -> str:
        validate_id(container_id)
        return os.path.join(self.root, container_id)

    def ensure_root(self) -> None:
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise from_os_error(f"create state root {self.root}", exc) from None

    def new(self, container_id: str) -> tuple[ContainerState, Lock]:
        """Claim the id: mkdir is the atomic 'does it exist' check.  The new
        directory comes locked, the lock to be held until its state file is
        saved (see _interrupted_create), and the caller releases it."""
        path = self.container_dir(container_id)
        self.ensure_root()
        try:
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise from_os_error(f"open state root {self.root}", exc) from None
        try:
            # Shared: creates of other ids go on at once.
            fcntl.flock(root_fd, fcntl.LOCK_SH)
            os.mkdir(path, 0o700)
            try:
                return ContainerState(container_id, path, {}), Lock(path).acquire()
            except ContainerNotFound:
                # A delete took the lock between our mkdir and our flock.
                raise PyruncError(f"container {container_id} was deleted while it was created") from None
            except PyruncError:     # out of fds
                os.rmdir(path)
                raise
        except FileExistsError:
            raise PyruncError(f"container with id {container_id} already exists", errno=17) from None
        except OSError as exc:
            raise from_os_error(f"create state directory {path}", exc) from None
        finally:
            os.close(root_fd)

    def load(self, container_id: str, locked: bool = False) -> ContainerState:
        """The container's state; `locked`: the caller holds its Lock."""
        path = self.container_dir(container_id)
        file = os.path.join(path, STATE_FILE)
        try:
            with open(file, "rb") as f:
                data = f.read(jsonio.MAX_DOCUMENT + 1)
        except FileNotFoundError:
            # Under the lock, a directory without a state file is a dead create's.
            half_made = os.path.isdir(path) if locked else _interrupted_create(self.root, path, file)
            if half_made:
                raise CorruptState(container_id, path, "no state file: its create was interrupted",
                                   _progress(path), half_made=True) from None
            raise ContainerNotFound(container_id) from None
        except OSError as exc:
            raise CorruptState(container_id, path, f"cannot read {file}: {exc.strerror}", {}) from None
        try:
            value = jsonio.loads(data)
        except ValueError as exc:
            raise CorruptState(container_id, path, f"{file} is not valid JSON: {exc}", {}) from None
        if not isinstance(value, dict):
            raise CorruptState(container_id, path, f"{file} does not hold an object", {})
        good, bad = check_state(value)
        if bad:
            raise CorruptState(container_id, path, f"{file}: {bad[0]}", good)
        return ContainerState(container_id, path, value)

    def ids(self) -> Iterator[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        for name in names:
            # Half-made containers too, so that `list` shows them.
            if CACHE_MARK not in name and os.path.isdir(os.path.join(self.root, name)):
                yield name

    def remove(self, state: ContainerState) -> None:
        _remove_flat_dir(state.dir)
        self._drop_caches_if_unused()

    def _drop_caches_if_unused(self) -> None:
        """Caches under the root (compiled seccomp filters) serve the
        containers there: with the last one gone they go too, so nothing
        outlives the containers.  Their names hold '@', which ids cannot."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        if names and all(CACHE_MARK in name for name in names):
            for name in names:
                try:
                    _remove_flat_dir(os.path.join(self.root, name))
                except OSError:
                    pass    # a create is filling it again: it is in use


def _remove_flat_dir(path: str) -> None:
    for name in os.listdir(path):
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    os.rmdir(path)


class Lock:
    """Exclusive flock on a container's state directory for one operation.
    Once held, the directory is still the one at its path: a directory
    removed while we waited is a container gone (ContainerNotFound)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def acquire(self) -> Lock:
        name = os.path.basename(self.path)
        while True:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise ContainerNotFound(name) from None
            except OSError as exc:
                raise from_os_error(f"open state directory {self.path}", exc) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                raise ContainerNotFound(name) from None
            locked = os.fstat(fd)
            if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                self.fd = fd
                return self
            os.close(fd)    # removed and made again meanwhile: lock the new one

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
