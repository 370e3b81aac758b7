"""The cgroup v2 driver: one directory in the unified hierarchy, with the
controllers it needs enabled in every ancestor's cgroup.subtree_control."""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError
from . import convert
from . import stats as st
from .base import (
    FREEZE_TIMEOUT, THROTTLES, UINT16, UINT64, UNLIMITED, CgroupManager, DeviceEmulator, Section,
    Write, add_pid_to, open_for_join, cgroup_dir, check_page_size, check_usage, cpuset_rows, invalid, make_dirs,
    parse_device_rules, plan_pids, rdma_lines, read_text, rows_to_writes, wait_until,
    write_error, write_file)
from .devices_bpf import load_device_program


def resolve_path(root: str, inner: str, own: dict[str, str]) -> str:
    # Relative paths hang from our cgroup's parent, as runc's: ours holds
    # processes, so the kernel lets no controller reach a child of it.
    mine = own.get("", "/")
    return cgroup_dir(root, "/", mine, inner, base=os.path.dirname(mine))


def _words(directory: str, name: str) -> list[str]:
    try:
        return read_text(directory, name).split()
    except OSError:
        return []


def enable_controllers(root: str, leaf: str, controllers: list[str] | None) -> None:
    """Enable `controllers` (None: all each level offers, as runc does) in the
    subtree_control of the root and every ancestor of `leaf`. A controller
    the kernel refuses at some level is left out rather than failing."""
    relative = os.path.relpath(os.path.dirname(leaf), root)
    level = root
    for part in [""] + ([] if relative == "." else relative.split("/")):
        level = os.path.join(level, part) if part else level
        offered = _words(level, "cgroup.controllers")
        wanted = [c for c in (offered if controllers is None else controllers) if c in offered]
        todo = [c for c in wanted if c not in _words(level, "cgroup.subtree_control")]
        if not todo:
            continue
        try:
            write_file(level, "cgroup.subtree_control", " ".join("+" + c for c in todo))
        except OSError:
            for controller in todo:
                try:
                    write_file(level, "cgroup.subtree_control", "+" + controller)
                except OSError:
                    pass


# ---------------------------------------------------------------- devices

def _rule_dicts(rules: list) -> list[dict]:
    return [{"allow": allow, "type": kind, "major": major, "minor": minor, "access": access}
            for allow, kind, major, minor, access in rules]


def device_rules_v2(rules: list[dict], path: str = "linux.resources.devices") -> list[dict]:
    """OCI device rules (applied in order to a cgroup that allows everything,
    the kernel default) -> the effective rule list for an eBPF filter.

    Each entry is {"allow", "type" ("a"|"b"|"c"), "major", "minor" (-1 =
    any), "access"}; the first is the type-"a" default and later entries
    override earlier ones, so a filter checks them last-to-first and takes the
    first match. The v1 emulator computes it, so v1 and v2 agree (runc does
    the same)."""
    if not isinstance(rules, list):
        raise invalid(path, "must be an array")
    entries = [Section(rule, f"{path}[{i}]") for i, rule in enumerate(rules)]
    emulator = DeviceEmulator.from_rules(parse_device_rules(entries))
    return _rule_dicts(emulator.rules())


# ---------------------------------------------------------------- planning

def plan(res: Section, fs: V2Manager) -> list[Write]:
    writes: list[Write] = []
    for planner in (plan_memory, plan_cpu, plan_pids, plan_io, plan_hugetlb, plan_rdma, plan_unified):
        writes.extend(planner(res, fs))
    net = res.sub("network")
    if net is not None:
        for key, controller in (("classID", "net_cls"), ("priorities", "net_prio")):
            if net.data.get(key) is not None:
                raise PyruncError(f"cannot be applied: cgroup v2 has no {controller} controller",
                                  errno.ENOTSUP, net.at(key))
    return writes


def plan_memory(res: Section, fs: V2Manager) -> list[Write]:
    mem = res.sub("memory")
    if mem is None:
        return []
    limit, swap, reservation = mem.limit("limit"), mem.limit("swap"), mem.limit("reservation")
    if mem.boolean("checkBeforeUpdate") and limit and limit > 0:
        check_usage(mem, limit, st.optional_number(fs.path, "memory.current"))
    writes = []
    try:
        swap_only = convert.memory_swap_to_v2(swap or 0, limit or 0)
    except ValueError as exc:
        raise invalid(mem.at("swap"), str(exc)) from None
    # 0 is "unset" unless memory and memory+swap are equal: no swap at all.
    if swap_only != 0 or (swap or 0) > 0:
        value = convert.v2_limit(swap_only)
        if fs.has_file("memory.swap.max") or value not in ("max", "0"):
            writes.append(("memory", "memory.swap.max", value, mem.at("swap")))
    for key, name, value in (("limit", "memory.max", limit), ("reservation", "memory.low", reservation)):
        if value is not None:
            writes.append(("memory", name, convert.v2_limit(value), mem.at(key)))
    ignored = [key for key, unsupported in
               (("kernel", mem.limit("kernel") is not None), ("kernelTCP", mem.limit("kernelTCP") is not None),
                ("swappiness", mem.integer("swappiness", (0, 100)) is not None),
                ("disableOOMKiller", mem.boolean("disableOOMKiller")),
                ("useHierarchy", mem.boolean("useHierarchy") is False)) if unsupported]
    fs.warnings.extend(f"{mem.at(key)}: ignored, no cgroup v2 equivalent" for key in ignored)
    return writes


def plan_cpu(res: Section, fs: V2Manager) -> list[Write]:
    cpu = res.sub("cpu")
    if cpu is None:
        return []
    for key in ("realtimeRuntime", "realtimePeriod"):
        if cpu.integer(key):
            raise PyruncError("real-time CPU limits are not supported on cgroup v2", errno.ENOTSUP, cpu.at(key))
    quota, period = cpu.integer("quota") or None, cpu.integer("period", UINT64) or None
    current = _words(fs.path, "cpu.max")[:1] or ["max"]
    shares = cpu.integer("shares", UINT64)
    rows = [
        ("shares", "cpu", "cpu.weight", convert.cpu_shares_to_weight(shares) if shares else None),
        ("quota" if quota else "period", "cpu", "cpu.max", convert.cpu_max(quota, period, current[0])),
        ("burst", "cpu", "cpu.max.burst", cpu.integer("burst", UINT64)),
        ("idle", "cpu", "cpu.idle", cpu.integer("idle")),
    ]
    return rows_to_writes(cpu, rows + cpuset_rows(cpu))


def plan_io(res: Section, fs: V2Manager) -> list[Write]:
    bio = res.sub("blockIO")
    if bio is None:
        return []
    # io.bfq.weight takes v1's blkio weights as they are; io.weight needs converting.
    bfq = fs.has_file("io.bfq.weight")
    name = "io.bfq.weight" if bfq else "io.weight"
    scale = (lambda w: w) if bfq else convert.blkio_weight_to_io_weight
    writes = []
    weight = bio.integer("weight", UINT16)
    if weight:
        writes.append(("io", name, str(scale(weight)), bio.at("weight")))
    leaf_weights = [bio.at("leafWeight")] if bio.integer("leafWeight", UINT16) else []
    for device in bio.entries("weightDevice"):
        weight = device.integer("weight", UINT16)
        if weight is not None:
            writes.append(("io", name, f"{device.device_numbers()} {scale(weight)}", device.at("weight")))
        if device.integer("leafWeight", UINT16) is not None:
            leaf_weights.append(device.at("leafWeight"))
    fs.warnings.extend(f"{path}: ignored, cgroup v2 has no leaf weights" for path in leaf_weights)
    for key, _, field in THROTTLES:
        for device in bio.entries(key):
            rate = device.required("rate", lambda k: device.integer(k, UINT64))
            # v1 removes a throttle with 0; "max" is how v2 says it.
            writes.append(("io", "io.max", f"{device.device_numbers()} {field}={rate or 'max'}", device.path))
    return writes


def plan_hugetlb(res: Section, fs: V2Manager) -> list[Write]:
    writes = []
    for entry in res.entries("hugepageLimits"):
        size = check_page_size(entry)
        limit = str(entry.required("limit", lambda k: entry.integer(k, UINT64)))
        writes.append(("hugetlb", f"hugetlb.{size}.max", limit, entry.at("limit")))
        # Reservations are charged separately; limit them alike (runc does).
        if fs.has_file(f"hugetlb.{size}.rsvd.max"):
            writes.append(("hugetlb", f"hugetlb.{size}.rsvd.max", limit, entry.at("limit")))
    return writes


def plan_rdma(res: Section, fs: V2Manager) -> list[Write]:
    return [("rdma", "rdma.max", line, path) for line, path in rdma_lines(res)]


# Files whose writes would move, kill, freeze or re-type the cgroup under us.
RUNTIME_OWNED = {"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze", "cgroup.type",
                 "cgroup.subtree_control"}


def plan_unified(res: Section, fs: V2Manager) -> list[Write]:
    """Raw cgroup v2 files, written last so they override the mapped fields."""
    writes = []
    for key, value in res.mapping("unified").items():
        path = f'{res.at("unified")}["{key}"]'
        if "/" in key or "." not in key.strip("."):
            raise invalid(path, f"{key!r} is not a cgroup interface file name")
        if key in RUNTIME_OWNED:
            raise invalid(path, f"{key} is managed by the runtime, not by unified")
        if not isinstance(value, str):
            raise invalid(path, "must be a string")
        writes.append((key.split(".")[0], key, value, path))
    return writes


# ---------------------------------------------------------------- manager

class V2Manager(CgroupManager):
    mode = "v2"

    def __init__(self, root: str, inner: str, paths: dict[str, str], created: list[str] | None = None) -> None:
        super().__init__(root, inner, paths, created)
        self.path = paths["unified"]
        self.device_program_loader = load_device_program

    @classmethod
    def open(cls, root: str, inner: str, own: dict[str, str]) -> V2Manager:
        return cls(root, inner, {"unified": resolve_path(root, inner, own)})

    def has_file(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.path, name))

    def controllers(self) -> list[str]:
        return _words(self.path, "cgroup.controllers")

    # -- lifecycle
    def create(self) -> None:
        make_dirs(self.path, self.created)
        enable_controllers(self.root, self.path, None)

    def add_pid(self, pid: int, only: list[str] | None = None) -> None:
        if only is None or self.path in only:
            add_pid_to(self.path, pid)

    def init_joins(self, clone_into: bool) -> tuple[list[int], int, list[str]]:
        if not clone_into:
            return [], -1, [self.path]
        return [], open_for_join(self.path, "", os.O_PATH | os.O_DIRECTORY), []

    def _sub_cgroups(self, subs: dict[str, str]) -> dict[str, str]:
        # One hierarchy: controller prefixes may name it, but only one path.
        paths = {sub.strip("/") for sub in subs.values()}
        if len(paths) != 1:
            raise PyruncError("--cgroup: cgroup v2 has a single hierarchy, give one path", errno.EINVAL)
        return {self.path: paths.pop()}

    # -- resources
    def apply(self, resources: dict, path: str = "linux.resources") -> None:
        res = Section(resources, path)
        writes = plan(res, self)
        self._apply_devices(res)
        self._run(writes)

    def _apply_devices(self, res: Section) -> None:
        if res.data.get("devices") is None:
            return
        emulator = DeviceEmulator.from_rules(self._device_rules(res))
        if self.device_program_loader is not None:
            self.device_program_loader(self, _rule_dicts(emulator.rules()))
        elif not emulator.is_allow_all():
            raise PyruncError("device access rules need an eBPF device filter on cgroup v2, "
                              "which is not supported yet", errno.ENOTSUP, res.at("devices"))

    def _write(self, write: Write) -> None:
        write_file(self.path, write[1], write[2])

    def _explain(self, write: Write, exc: OSError) -> PyruncError:
        controller, name, value, path = write
        if exc.errno == errno.ENOENT and controller != "cgroup" and controller not in self.controllers():
            return PyruncError(f"cannot set {name}: the {controller} controller is not available "
                               f"in {self.path}", exc.errno, path)
        return write_error(name, value, exc, path)

    # -- freezer
    def _can_freeze(self) -> bool:
        return self.has_file("cgroup.freeze")

    def _events(self) -> dict[str, int]:
        return st.optional_keyed(self.path, "cgroup.events")

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        verb = "freeze" if frozen else "thaw"
        try:
            write_file(self.path, "cgroup.freeze", "1" if frozen else "0")
        except OSError as exc:
            raise PyruncError(f"cannot {verb} cgroup {self.path}: {exc.strerror}", exc.errno) from None
        if not wait_until(lambda: self._events().get("frozen") == int(frozen), FREEZE_TIMEOUT):
            if frozen:
                write_file(self.path, "cgroup.freeze", "0")
            raise PyruncError(f"timed out trying to {verb} cgroup {self.path}", errno.ETIMEDOUT)

    def is_frozen(self) -> bool:
        return _words(self.path, "cgroup.freeze") == ["1"] and self._events().get("frozen") == 1

    def _kill_file(self, sig: int) -> bool:
        if not self.has_file("cgroup.kill"):
            return False
        try:
            write_file(self.path, "cgroup.kill", "1")
        except FileNotFoundError:
            return True  # the cgroup is gone: nothing left to kill
        except OSError as exc:
            raise PyruncError(f"cannot kill cgroup {self.path}: {exc.strerror}", exc.errno) from None
        return True

    def held_frozen(self) -> bool:
        return _words(self.path, "cgroup.freeze") == ["1"] or self._events().get("frozen") == 1

    def procs_hierarchy(self) -> str:
        return ""

    def _procs_dir(self) -> str:
        return self.path

    # -- events and stats
    def oom_event_fd(self) -> int | None:
        return None  # v2 callers watch memory.events (poll for POLLPRI)

    def oom_count(self) -> int:
        return st.optional_keyed(self.path, "memory.events").get("oom_kill", 0)

    def stats(self) -> dict:
        data = st.empty_stats()
        data["cpu"] = cpu_stats(self.path)
        if self.has_file("cpuset.cpus.effective"):
            data["cpuset"] = st.cpuset_section(read_text(self.path, "cpuset.cpus.effective"),
                                               read_text(self.path, "cpuset.mems.effective"), {})
        if self.has_file("memory.current"):
            data["memory"] = memory_stats(self.path)
        if self.has_file("pids.current"):
            data["pids"] = st.pids_section(st.optional_number(self.path, "pids.current"),
                                           st.optional_number(self.path, "pids.max"))
        data["blkio"] = io_stats(self.path)
        data["hugetlb"] = st.hugetlb_stats_v2(self.path)
        return data


def _with_psi(section: dict, directory: str, name: str) -> dict:
    psi = st.parse_psi(directory, name)
    if psi:
        section["psi"] = psi
    return section


def cpu_stats(directory: str) -> dict:
    stat = st.optional_keyed(directory, "cpu.stat")
    micros = lambda key: stat.get(key, 0) * 1000  # noqa: E731  (µs -> ns)
    section = st.cpu_section(micros("usage_usec"), [], [], [], micros("system_usec"), micros("user_usec"),
                             {"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                              "throttledTime": micros("throttled_usec")})
    return _with_psi(section, directory, "cpu.pressure")


def _usage(directory: str, prefix: str) -> dict:
    value = lambda suffix: st.optional_number(directory, f"{prefix}.{suffix}")  # noqa: E731
    return st.memory_entry(value("max"), value("current"), value("peak"))


def memory_stats(directory: str) -> dict:
    raw = st.optional_keyed(directory, "memory.stat")
    usage = _usage(directory, "memory")
    swap: dict = {}
    if os.path.exists(os.path.join(directory, "memory.swap.current")):
        # runc reports v1's memory+swap: add memory to swap, drop the peak.
        only = _usage(directory, "memory.swap")
        limit = UNLIMITED if UNLIMITED in (only["limit"], usage["limit"]) else only["limit"] + usage["limit"]
        swap = st.memory_entry(limit, only.get("usage", 0) + usage.get("usage", 0))
    section = st.memory_section(raw.get("file", 0), usage, swap, {}, {}, raw)
    return _with_psi(section, directory, "memory.pressure")


IO_OPS = {"rbytes": ("ioServiceBytesRecursive", "Read"), "wbytes": ("ioServiceBytesRecursive", "Write"),
          "rios": ("ioServicedRecursive", "Read"), "wios": ("ioServicedRecursive", "Write")}


def io_stats(directory: str) -> dict:
    """io.stat in v1's tables, as runc maps it."""
    tables: dict[str, list] = {}
    try:
        text = read_text(directory, "io.stat")
    except OSError:
        text = ""
    for line in text.splitlines():
        device, *pairs = line.split()
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key in IO_OPS:
                table, op = IO_OPS[key]
                tables.setdefault(table, []).append(st.blkio_entry(device, op, int(value)))
    return _with_psi(tables, directory, "io.pressure")

