"""The resource verbs: update, pause, resume, ps and events.

The library behind `pyrunc update|pause|resume|ps|events` (and the shim):
each operation takes the state store and plain values and raises
PyruncError.  Also the parsers for runc's human-friendly values: memory
sizes as docker/go-units' RAMInBytes reads them ("10m", "1.5GiB") and Go
durations ("500ms", "1m30s").

Only os/select/time/_signal at module level: these verbs are called by
engines in loops (`events`, `ps`, `update`).
"""
from __future__ import annotations

import _signal
import os
import select
import time

from .container import cgroup_manager, container_process, pidfd_for, status_of
from .errors import PyruncError, from_os_error
from .log import logger
from .integers import DIGITS, INT64_MAX, UINT64_MAX, parse_integer
from .state import CREATED, PAUSED, RUNNING, STOPPED, ContainerState, Lock, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable


# ---- values: sizes, integers, durations --------------------------------------

_BINARY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
# What Go's strconv.ParseFloat takes in a size (hex floats and Inf aside);
# Python's float() also takes spaces, underscores and "nan", which Go refuses.
_FLOAT_CHARS = frozenset(DIGITS + ".eE+-")


def _size_multiplier(suffix: str) -> int:
    """"", "b", or k/m/g/t/p optionally followed by "b" or "ib", any case."""
    lower = suffix.lower()
    if not suffix:
        return 1
    if lower == "b":
        return 1
    unit = _BINARY_UNITS.get(lower[0])
    if unit is not None and lower[1:] in ("", "b", "ib"):
        return unit
    raise ValueError(f"invalid suffix: '{suffix}'")


def parse_size(text: str) -> int:
    """Bytes from a size as go-units' RAMInBytes reads it (runc's memory
    flags): a decimal number, one optional space, an optional binary suffix."""
    sep = max(text.rfind(c) for c in DIGITS + ". ")
    if sep < 0:
        raise ValueError(f"invalid size: '{text}'")
    number = text[:sep] if text[sep] == " " else text[:sep + 1]
    multiplier = _size_multiplier(text[sep + 1:])
    if not number or not _FLOAT_CHARS.issuperset(number):
        raise ValueError(f"invalid size: '{text}'")
    try:
        size = float(number)
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    if not 0 <= size * multiplier < 2.0 ** 63:   # also refuses nan and inf
        raise ValueError(f"invalid size: '{text}'")
    return int(size * multiplier)


def parse_memory(text: str) -> int:
    """A memory flag of `update`: -1 (unlimited) or a size."""
    return -1 if text == "-1" else parse_size(text)


def parse_int(text: str) -> int:
    return parse_integer(text, -INT64_MAX - 1, INT64_MAX, signed=True)


def parse_uint(text: str) -> int:
    return parse_integer(text, 0, UINT64_MAX, signed=False)


_DURATION_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def _leading(text: str, chars: str, inside: bool) -> tuple[str, str]:
    """Split `text` after its leading run of characters in (or, with
    inside=False, not in) `chars`."""
    end = 0
    while end < len(text) and (text[end] in chars) == inside:
        end += 1
    return text[:end], text[end:]


def parse_duration(text: str) -> int:
    """Nanoseconds from a Go duration, as time.ParseDuration reads it:
    "300ms", "-1.5h", "2h45m"; units ns, us (µs), ms, s, m, h."""
    rest = text[1:] if text[:1] in ("+", "-") else text
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        whole, rest = _leading(rest, DIGITS, True)
        fraction, dotted = "", rest[:1] == "."
        if dotted:
            fraction, rest = _leading(rest[1:], DIGITS, True)
        if not whole and not fraction:
            raise ValueError(f'time: invalid duration "{text}"')
        unit, rest = _leading(rest, DIGITS + ".", False)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        scale = _DURATION_UNITS.get(unit)
        if scale is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += int(whole or "0") * scale + int(fraction or "0") * scale // 10 ** len(fraction)
        if total > INT64_MAX + 1:
            raise ValueError(f'time: invalid duration "{text}"')
    negative = text[:1] == "-"
    if total > INT64_MAX + negative:
        raise ValueError(f'time: invalid duration "{text}"')
    return -total if negative else total


# ---- shared ------------------------------------------------------------------

def _manager(state: ContainerState) -> Any:
    manager = cgroup_manager(state)
    if manager is None:
        raise PyruncError(f"container {state.id} has no cgroup")
    return manager


def _check_live(state: ContainerState, message: str) -> None:
    """Refuse a container that has stopped, with `message`."""
    if status_of(state) == STOPPED:
        raise PyruncError(message)


# ---- update ------------------------------------------------------------------

# (flag, section, key, parser, help): update's value flags, runc's names.
UPDATE_FLAGS: tuple[tuple[str, str, str, Callable[[str], Any], str], ...] = (
    ("memory", "memory", "limit", parse_memory, "memory limit (in bytes, or 10m, 1g; -1: unlimited)"),
    ("memory-reservation", "memory", "reservation", parse_memory, "memory soft limit"),
    ("memory-swap", "memory", "swap", parse_memory, "memory plus swap limit (-1: unlimited swap)"),
    ("kernel-memory", "memory", "kernel", parse_memory, "kernel memory limit (ignored, as by runc)"),
    ("kernel-memory-tcp", "memory", "kernelTCP", parse_memory, "kernel TCP memory limit (ignored)"),
    ("cpu-share", "cpu", "shares", parse_uint, "CPU shares (relative weight)"),
    ("cpu-quota", "cpu", "quota", parse_int, "CFS quota in microseconds per period"),
    ("cpu-period", "cpu", "period", parse_uint, "CFS period in microseconds"),
    ("cpu-rt-runtime", "cpu", "realtimeRuntime", parse_int, "real-time runtime in microseconds"),
    ("cpu-rt-period", "cpu", "realtimePeriod", parse_uint, "real-time period in microseconds"),
    ("cpu-idle", "cpu", "idle", parse_int, "1 makes the cgroup SCHED_IDLE"),
    ("cpuset-cpus", "cpu", "cpus", str, "CPUs to run on (0-3, 0,1)"),
    ("cpuset-mems", "cpu", "mems", str, "memory nodes to use (0-3, 0,1)"),
    ("pids-limit", "pids", "limit", parse_int, "maximum number of tasks (-1: unlimited)"),
    ("blkio-weight", "blockIO", "weight", parse_uint, "block IO weight, 10 to 1000"),
)
FLAG_ALIASES = {"cpu-share": ("cpu-shares",)}

# What `update` changes, the fields runc's update copies into its config;
# the rest of linux.resources (devices, hugepages, network, rdma, throttles)
# keeps what create set.  Re-applying devices here would also drop the
# rules create added for linux.devices.
UPDATABLE = {
    "memory": ("limit", "reservation", "swap", "checkBeforeUpdate"),
    "cpu": ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems",
            "idle", "burst"),
    "blockIO": ("weight",),
    "pids": ("limit",),
}
# runc's update reads 0 (or "") as "leave it", except for these.
ZERO_IS_A_VALUE = {("cpu", "idle"), ("cpu", "burst")}
KERNEL_MEMORY = ("kernel", "kernelTCP")


def resources_from_flags(values: dict[str, str | None]) -> dict[str, Any]:
    """A partial linux.resources from update's flags (flag name -> text)."""
    resources: dict[str, Any] = {}
    for flag, section, key, parser, _ in UPDATE_FLAGS:
        text = values.get(flag)
        if text is None or text == "":
            continue
        try:
            value = parser(text)
        except ValueError as exc:
            raise PyruncError(f"invalid value for {flag}: {exc}") from None
        resources.setdefault(section, {})[key] = value
    return resources


def read_resources(source: str) -> dict[str, Any]:
    """The linux.resources JSON object in file `source`, or stdin for "-"."""
    from . import jsonio
    try:
        if source == "-":
            data = _read_all(0)
        else:
            with open(source, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise from_os_error(f"read resources from {source}", exc) from None
    try:
        resources = jsonio.loads(data)
    except ValueError as exc:
        raise PyruncError(f"cannot parse the resources in {source}: {exc}") from None
    if not isinstance(resources, dict):
        raise PyruncError(f"the resources in {source} must be a JSON object")
    return resources


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def check_rdt(l3_cache_schema: str | None, mem_bw_schema: str | None) -> None:
    """runc's --l3-cache-schema/--mem-bw-schema; pyrunc has no Intel RDT."""
    for schema, resource, what in ((l3_cache_schema, "L3", "CAT: l3 cache schema"),
                                   (mem_bw_schema, "MB", "MBA: memory bandwidth schema")):
        if not schema:
            continue
        if not os.path.isdir(f"/sys/fs/resctrl/info/{resource}"):
            raise PyruncError(f"Intel RDT/{what} is not enabled")
        raise PyruncError(f"Intel RDT/{what}: not supported by pyrunc")


def _keeps(section: str, key: str, value: Any) -> bool:
    if value is None:
        return False
    # JSON false is an int in Python; leave type errors to the cgroup library.
    return isinstance(value, bool) or (section, key) in ZERO_IS_A_VALUE or value not in (0, "")


def update_request(resources: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The part of `resources` that update applies, and the JSON paths of
    the fields it leaves alone."""
    request: dict[str, Any] = {}
    ignored: list[str] = []
    for section, value in resources.items():
        keys = UPDATABLE.get(section)
        if section == "unified" and value:
            request[section] = value
        elif keys is not None and not isinstance(value, dict):
            request[section] = value        # the library names the type error
        elif keys is not None:
            chosen = {key: value[key] for key in keys if _keeps(section, key, value.get(key))}
            ignored += [f"{section}.{key}" for key in value if key not in keys and value[key]]
            if chosen:
                request[section] = chosen
        elif value:
            ignored.append(section)
    memory = request.get("memory")
    if isinstance(memory, dict) and memory.get("limit") == -1:
        memory.setdefault("swap", -1)   # what the cgroup gets anyway: record it
    return request, ignored


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _saved_resources(state: ContainerState) -> dict[str, Any]:
    """The container's saved linux.resources (made a dict if missing)."""
    linux = state.data.setdefault("config", {}).setdefault("linux", {})
    if not isinstance(linux.get("resources"), dict):
        linux["resources"] = {}
    return linux["resources"]


def update(store: StateStore, container_id: str, resources: dict[str, Any]) -> None:
    """Apply runc's updatable subset of a linux.resources object to the
    container's cgroup and record it in the saved config, so a later update
    of another field keeps this one."""
    request, ignored = update_request(resources)
    state = store.load(container_id)
    with Lock(state.dir):
        _check_live(state, "container not running")
        manager = _manager(state)
        manager.apply(request)
        _merge(_saved_resources(state), request)
        state.save()
    for path in ignored:
        # runc warns about kernel memory only; engines send whole objects
        level = logger.warning if path.rpartition(".")[2] in KERNEL_MEMORY else logger.debug
        level(f"update: linux.resources.{path} is not updated")
    for warning in manager.warnings:
        logger.warning(warning)


# ---- pause / resume ------------------------------------------------------------

def _set_frozen(store: StateStore, container_id: str, frozen: bool) -> None:
    state = store.load(container_id)
    with Lock(state.dir):
        # runc's messages (ErrNotRunning, ErrNotPaused)
        status = status_of(state)
        allowed = (RUNNING, CREATED) if frozen else (PAUSED,)
        if status not in allowed:
            raise PyruncError("container not running" if frozen else "container not paused")
        if frozen:
            _manager(state).freeze()
        else:
            _manager(state).thaw()


def pause(store: StateStore, container_id: str) -> None:
    """Freeze every process of a running container."""
    _set_frozen(store, container_id, True)


def resume(store: StateStore, container_id: str) -> None:
    """Thaw a paused container."""
    _set_frozen(store, container_id, False)


# ---- ps --------------------------------------------------------------------------

def container_pids(store: StateStore, container_id: str) -> list[int]:
    """Host pids of every process in the container's cgroup (in one pyrunc
    did not make, only the container's own)."""
    state = store.load(container_id)
    manager = cgroup_manager(state)
    if manager is None:
        return []
    if manager.owned():
        return manager.pids()
    return [pid for pid in manager.pids() if container_process(state)(pid)]


def run_ps(args: list[str]) -> str:
    """The output of the host's `ps ARGS` (default -ef), as runc runs it:
    stdout and stderr together, stdin /dev/null.  posix_spawn and a pipe,
    not subprocess, which loads threading, selectors, signal and re (1.5
    MiB of the call's peak RSS)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            pid = os.posix_spawnp("ps", ["ps", *(args or ["-ef"])], os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)])
        except OSError as exc:
            raise from_os_error("run ps", exc) from None
        finally:
            os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    output = b"".join(chunks).decode(errors="replace")
    if code:
        raise PyruncError(f"ps: exit status {code}: {output.strip()}")
    return output


def ps_table(output: str, pids: Iterable[int]) -> str:
    """`ps` output cut to its header and the lines of `pids`, found by the
    header's PID column (runc's way, so any ps options work)."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise PyruncError("couldn't find PID field in ps output")
    column, wanted = titles.index("PID"), set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        if len(fields) <= column or not (fields[column].isascii() and fields[column].isdigit()):
            raise PyruncError(f"unable to parse pid: {line!r}")
        if int(fields[column]) in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"


# ---- events ------------------------------------------------------------------------

def stats_event(container_id: str, manager: Any, pid: int) -> dict[str, Any]:
    """runc's `{"type": "stats", "id", "data"}` envelope, with the counters
    of the interfaces in the container's network namespace."""
    from .net.stats import interfaces
    data = manager.stats()
    data["network_interfaces"] = interfaces(pid) or None
    return {"type": "stats", "id": container_id, "data": data}


def oom_event(container_id: str) -> dict[str, Any]:
    return {"type": "oom", "id": container_id}


class OomWatch:
    """Says when the OOM killer struck in a container's cgroup. v1: the
    kernel signals an eventfd (also once when the cgroup is removed); v2:
    memory.events polls POLLPRI on every change, and a rising oom_kill count
    says it was a kill. `fd` is -1 when the cgroup has no memory controller."""

    def __init__(self, manager: Any) -> None:
        self.manager, self.fd, self.mask, self.gone = manager, -1, 0, False
        self.count, self.control = 0, ""
        try:
            event_fd = manager.oom_event_fd()
        except PyruncError as exc:
            logger.warning(f"events: OOM kills will not be reported: {exc}")
            return
        if event_fd is not None:
            self.fd, self.mask = event_fd, select.POLLIN
            self.control = os.path.join(manager.paths["memory"], "cgroup.event_control")
            return
        try:
            self.fd = os.open(os.path.join(manager.paths["unified"], "memory.events"),
                              os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            logger.warning(f"events: OOM kills will not be reported: {exc.strerror}")
            return
        self.mask = select.POLLPRI
        self._rearm()
        self.count = manager.oom_count()

    def _rearm(self) -> None:
        # kernfs signals a change until the file is read again through this fd.
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.read(self.fd, 4096)

    def fired(self) -> bool:
        """After `fd` polled ready: whether it was an OOM kill (else, on v1,
        `gone` tells whether the cgroup was removed)."""
        if self.mask == select.POLLIN:
            os.eventfd_read(self.fd)
            self.gone = not os.path.exists(self.control)
            return not self.gone
        self._rearm()
        count = self.manager.oom_count()
        fired, self.count = count > self.count, count
        return fired

    def pending(self) -> bool:
        """An OOM kill not collected yet (checked once more at the end)."""
        if self.fd < 0:
            return False
        poller = select.poll()
        poller.register(self.fd, self.mask)
        return bool(poller.poll(0)) and self.fired()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _tick_ms(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000) + 1)


def _watch(container_id: str, manager: Any, pid: int, pidfd: int, oom: OomWatch, interval: float,
           emit: Callable[[dict[str, Any]], None], stop_fd: int | None) -> None:
    """Stats every `interval` seconds, OOM events as they come, until the
    init exits, the cgroup goes or `stop_fd` turns readable."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if oom.fd >= 0:
        poller.register(oom.fd, oom.mask)
    if stop_fd is not None:
        poller.register(stop_fd, select.POLLIN)
    deadline = time.monotonic() + interval  # runc's first stats come after one interval too
    while True:
        ready = {fd for fd, _ in poller.poll(_tick_ms(deadline))}
        if oom.fd in ready and oom.fired():
            emit(oom_event(container_id))
        if oom.gone or stop_fd in ready:
            return
        if pidfd in ready:
            if oom.pending():        # a kill that took the init with it
                emit(oom_event(container_id))
            return
        now = time.monotonic()
        if now >= deadline:
            emit(stats_event(container_id, manager, pid))
            # like Go's time.Tick: ticks a slow reader missed are dropped
            deadline = max(deadline + interval, now)


def events(store: StateStore, container_id: str, interval_ns: int,
           emit: Callable[[dict[str, Any]], None], stats_only: bool = False,
           stop_fd: int | None = None) -> None:
    """runc's `events`: with stats_only one stats event, else stats every
    interval and an "oom" event per OOM kill until the container stops (or
    `stop_fd` becomes readable). `emit` gets each event as a dict."""
    if interval_ns <= 0:
        raise PyruncError("duration interval must be greater than 0")
    state = store.load(container_id)
    _check_live(state, f"container with id {container_id} is not running")
    manager = _manager(state)
    if stats_only:
        emit(stats_event(container_id, manager, state.pid))
        return
    pidfd = pidfd_for(state)
    if pidfd is None:
        raise PyruncError(f"container with id {container_id} is not running")
    oom = OomWatch(manager)
    try:
        _watch(container_id, manager, state.pid, pidfd, oom, interval_ns / 1e9, emit, stop_fd)
    finally:
        oom.close()
        os.close(pidfd)


def _note_signal(signum: int, frame: object) -> None:
    """The wakeup fd does the work; a handler that raised could cut an
    event line in half."""


class SignalStop:
    """SIGINT and SIGTERM as a readable fd for a poll loop (`with SignalStop()
    as stop_fd`), instead of a KeyboardInterrupt or a silent death."""

    SIGNALS = (_signal.SIGINT, _signal.SIGTERM)

    def __enter__(self) -> int:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.old_wakeup = _signal.set_wakeup_fd(self.write_fd)
        self.old_handlers = [_signal.signal(sig, _note_signal) for sig in self.SIGNALS]
        return self.read_fd

    def __exit__(self, *exc: object) -> None:
        for sig, handler in zip(self.SIGNALS, self.old_handlers):
            _signal.signal(sig, handler)
        _signal.set_wakeup_fd(self.old_wakeup)
        os.close(self.read_fd)
        os.close(self.write_fd)
