"""Planning of the process fields about where and how it runs, and of the
security labels: scheduler, ioPriority, execCPUAffinity, personality,
memoryPolicy, timeOffsets, apparmorProfile, selinuxLabel, mountLabel,
intelRdt.  Read from the raw config with JSON-path errors."""
from __future__ import annotations

import os

from . import linux_constants as k
from .errors import ConfigError
from .log import logger
from .record import Record
from .spec import Reader


class Placement(Record):
    __slots__ = ("scheduler", "io_priority", "cpu_initial", "cpu_final", "personality",
                 "memory_policy_mode", "memory_policy_nodes", "time_offsets",
                 "apparmor_profile", "selinux_label")

    def __init__(self) -> None:
        # (policy, nice, priority, flags, runtime, deadline, period) or None
        self.scheduler: tuple[int, int, int, int, int, int, int] | None = None
        self.io_priority = -1
        self.cpu_initial: list[int] = []     # bitmask words; [] = not set
        self.cpu_final: list[int] = []
        self.personality = -1
        self.memory_policy_mode = -1
        self.memory_policy_nodes: list[int] = []
        self.time_offsets: str | None = None
        self.apparmor_profile: str | None = None
        self.selinux_label: str | None = None


def parse_id_list(text: str, path: str) -> list[int]:
    """"0-3,7" -> bitmask words (bit n of word n // 64)."""
    ids: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(f"invalid list {text!r}: use forms like 0-3,7", path=path)
        low, high = int(first), int(last) if dash else int(first)
        if low > high or high >= 4096:
            raise ConfigError(f"invalid range {part.strip()!r}", path=path)
        ids.update(range(low, high + 1))
    words = [0] * (max(ids) // 64 + 1)
    for i in ids:
        words[i // 64] |= 1 << (i % 64)
    return words


def _choice(r: Reader, key: str, table: dict[str, int], default: str | None = None) -> int:
    name = r.get(key, str, default)
    if name not in table:
        raise ConfigError(f"unknown value {name!r}; expected one of {', '.join(table)}", path=r.sub(key))
    return table[name]


def _flags(r: Reader, key: str, table: dict[str, int]) -> int:
    value = 0
    for i, name in enumerate(r.strings(key)):
        if name not in table:
            raise ConfigError(f"unknown flag {name!r}", path=f"{r.sub(key)}[{i}]")
        value |= table[name]
    return value


def _scheduler(r: Reader) -> tuple[int, int, int, int, int, int, int]:
    policy = _choice(r, "policy", k.SCHED_POLICIES)
    nice = r.get("nice", int, 0)
    if not -20 <= nice <= 19:
        raise ConfigError("must be between -20 and 19", path=r.sub("nice"))
    priority = r.get("priority", int, 0)
    realtime = policy in (k.SCHED_POLICIES["SCHED_FIFO"], k.SCHED_POLICIES["SCHED_RR"])
    if realtime and not 1 <= priority <= 99:
        raise ConfigError("must be between 1 and 99 for SCHED_FIFO and SCHED_RR", path=r.sub("priority"))
    if not realtime and priority != 0:
        raise ConfigError("must be 0 unless the policy is SCHED_FIFO or SCHED_RR", path=r.sub("priority"))
    return (policy, nice, priority, _flags(r, "flags", k.SCHED_FLAGS), r.uint("runtime", 0, bits=64),
            r.uint("deadline", 0, bits=64), r.uint("period", 0, bits=64))


def _io_priority(r: Reader) -> int:
    klass = _choice(r, "class", k.IOPRIO_CLASSES)
    level = r.get("priority", int, 0)
    if not 0 <= level <= 7:
        raise ConfigError("must be between 0 and 7", path=r.sub("priority"))
    return klass << k.IOPRIO_CLASS_SHIFT | level


def _time_offsets(r: Reader, has_time_ns: bool) -> str:
    if not has_time_ns:
        raise ConfigError("needs a new time namespace", path=r.path)
    lines = []
    for clock in ("monotonic", "boottime"):
        offset = r.child(clock)
        if offset is not None:
            lines.append(f"{clock} {offset.get('secs', int, 0)} {offset.uint('nanosecs', 0)}\n")
    return "".join(lines)


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def _lsm_label(r: Reader, key: str, enabled: bool, module: str) -> str | None:
    label = r.get(key, str, None)
    if label and not enabled:
        raise ConfigError(f"{module} is not enabled on this host; cannot apply {label!r}", path=r.sub(key))
    return label or None


def plan_placement(config: dict, has_new_time_ns: bool) -> Placement:
    result = Placement()
    root = Reader(config, "")
    process = root.child("process")
    linux = root.child("linux")
    if process is not None:
        if (sched := process.child("scheduler")) is not None:
            result.scheduler = _scheduler(sched)
        if (ioprio := process.child("ioPriority")) is not None:
            result.io_priority = _io_priority(ioprio)
        if (affinity := process.child("execCPUAffinity")) is not None:
            for key, attr in (("initial", "cpu_initial"), ("final", "cpu_final")):
                if (text := affinity.get(key, str, None)) is not None:
                    setattr(result, attr, parse_id_list(text, affinity.sub(key)))
        result.apparmor_profile = _lsm_label(process, "apparmorProfile", apparmor_enabled(), "AppArmor")
        result.selinux_label = _lsm_label(process, "selinuxLabel", selinux_enabled(), "SELinux")
    if linux is not None:
        # Only a label for the container's mounts: as crun does, ignored on
        # a host without SELinux, so a config written for one still runs.
        mount_label = linux.get("mountLabel", str, None)
        if mount_label and not selinux_enabled():
            logger.debug(f"linux.mountLabel: SELinux is not enabled on this host; ignoring {mount_label!r}")
        if linux.child("intelRdt") is not None:
            raise ConfigError("Intel RDT (resctrl) is not supported by pyrunc", path="linux.intelRdt")
        if (persona := linux.child("personality")) is not None:
            result.personality = _choice(persona, "domain", k.PERSONALITY_DOMAINS) | _flags(persona, "flags", {})
        if (policy := linux.child("memoryPolicy")) is not None:
            result.memory_policy_mode = (_choice(policy, "mode", k.MPOL_MODES)
                                         | _flags(policy, "flags", k.MPOL_FLAGS))
            if (nodes := policy.get("nodes", str, None)) is not None:
                result.memory_policy_nodes = parse_id_list(nodes, policy.sub("nodes"))
        if (offsets := linux.child("timeOffsets")) is not None:
            result.time_offsets = _time_offsets(offsets, has_new_time_ns)
    return result
