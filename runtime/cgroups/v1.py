"""The cgroup v1 driver: one directory per mounted hierarchy (co-mounted
controllers share one), plus the unified hierarchy on hybrid hosts, where
it serves controllers that v1 does not have mounted (hugetlb here)."""
from __future__ import annotations

import errno
import os

from ..errors import PyruncError, from_os_error
from .base import (
    FREEZE_TIMEOUT, INT64, THROTTLES, UINT16, UINT32, UINT64, CgroupManager, DeviceEmulator,
    Section, Write, add_pid_to, open_for_join, cgroup_dir, check_page_size, check_usage, cpuset_rows,
    format_device_rule, invalid, make_dirs, mount_table, plan_pids, rdma_lines, read_number,
    read_text, rows_to_writes, wait_until, write_error, write_file)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

MEMORY_LIMIT = "memory.limit_in_bytes"
MEMSW_LIMIT = "memory.memsw.limit_in_bytes"
# Where the container's processes are listed, best first.
PROCS_HIERARCHIES = ("freezer", "pids", "memory", "devices", "cpu", "name=systemd")


# ---------------------------------------------------------------- discovery

def known_controllers() -> set[str]:
    try:
        with open("/proc/cgroups", encoding="ascii") as f:
            return {line.split()[0] for line in f if not line.startswith("#")}
    except FileNotFoundError:
        return set()
    except OSError as exc:  # out of fds: not "no controller is mounted"
        raise from_os_error("read /proc/cgroups", exc) from None


def find_hierarchies(root: str, mountinfo: str = "/proc/self/mountinfo") -> dict[str, tuple[str, str]]:
    """Mounted v1 hierarchies under `root`: name -> (mount point, the cgroup
    the mount shows as its root). Names are controllers or "name=X"."""
    found: dict[str, tuple[str, str]] = {}
    known = known_controllers()
    prefix = root.rstrip("/") + "/"
    for point, mount_root, fstype, options in mount_table(mountinfo):
        if fstype != "cgroup" or not point.startswith(prefix):
            continue
        for option in options.split(","):
            if option in known or option.startswith("name="):
                found.setdefault(option, (point, mount_root))
    return found


def resolve_paths(root: str, inner: str, own: dict[str, str]) -> dict[str, str]:
    hierarchies = find_hierarchies(root)
    if not hierarchies:
        raise PyruncError(f"no cgroup v1 hierarchy is mounted under {root}", errno.ENOENT)
    paths = {name: cgroup_dir(mountpoint, mount_root, own.get(name, "/"), inner)
             for name, (mountpoint, mount_root) in hierarchies.items()}
    unified = os.path.join(root, "unified")
    if os.path.exists(os.path.join(unified, "cgroup.controllers")):
        paths["unified"] = cgroup_dir(unified, "/", own.get("", "/"), inner)
    return paths


# ---------------------------------------------------------------- planning

def plan(res: Section, fs: V1Manager) -> list[Write]:
    """linux.resources -> the v1 writes, in runc's controller order."""
    writes: list[Write] = []
    for planner in (plan_devices, plan_memory, plan_cpu, plan_pids, plan_blkio, plan_hugetlb,
                    plan_network, plan_rdma):
        writes.extend(planner(res, fs))
    return writes


def plan_devices(res: Section, fs: V1Manager) -> list[Write]:
    if res.data.get("devices") is None:
        return []
    target = DeviceEmulator.from_rules(fs._device_rules(res))
    current = DeviceEmulator.from_list(fs.read("devices", "devices.list", res.at("devices")))
    return [("devices", "devices.allow" if rule[0] else "devices.deny", format_device_rule(rule),
             res.at("devices")) for rule in current.transition(target)]


def plan_memory(res: Section, fs: V1Manager) -> list[Write]:
    mem = res.sub("memory")
    if mem is None:
        return []
    limit, swap = mem.limit("limit"), mem.limit("swap")
    if mem.boolean("checkBeforeUpdate") and limit and limit > 0:
        check_usage(mem, limit, int(fs.read("memory", "memory.usage_in_bytes", mem.path)))
    has_memsw = fs.has_file("memory", MEMSW_LIMIT)
    if limit == -1 and swap is None and has_memsw:
        swap = -1  # unlimited memory also lifts memory+swap, as runc does
    if swap is not None and not has_memsw:
        if swap not in (-1, limit):
            raise PyruncError("a swap limit needs swap accounting (no memory.memsw.limit_in_bytes; "
                              "boot with swapaccount=1)", errno.ENOTSUP, mem.at("swap"))
        swap = None
    if limit and swap and -1 not in (limit, swap) and swap < limit:
        raise invalid(mem.at("swap"), f"memory+swap limit {swap} must be at least the memory limit {limit}")
    writes = [("memory", name, str(value), mem.at(key)) for key, name, value in
              (("limit", MEMORY_LIMIT, limit), ("swap", MEMSW_LIMIT, swap),
               ("reservation", "memory.soft_limit_in_bytes", mem.limit("reservation")))
              if value is not None]
    for key, name in (("kernel", "memory.kmem.limit_in_bytes"), ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")):
        value = mem.limit(key)
        if value is not None and fs.has_file("memory", name):
            writes.append(("memory", name, str(value), mem.at(key)))
        elif value is not None:
            fs.warnings.append(f"{mem.at(key)}: ignored, this kernel has no {name}")
    swappiness = mem.integer("swappiness", (0, 100))
    if swappiness is not None:
        writes.append(("memory", "memory.swappiness", str(swappiness), mem.at("swappiness")))
    for key, name in (("disableOOMKiller", "memory.oom_control"), ("useHierarchy", "memory.use_hierarchy")):
        flag = mem.boolean(key)
        if flag is not None:
            writes.append(("memory", name, "1" if flag else "0", mem.at(key)))
    return writes


def plan_cpu(res: Section, fs: V1Manager) -> list[Write]:
    cpu = res.sub("cpu")
    if cpu is None:
        return []
    quota = cpu.integer("quota") or None
    rows = [
        ("shares", "cpu", "cpu.shares", cpu.integer("shares", UINT64) or None),
        ("period", "cpu", "cpu.cfs_period_us", cpu.integer("period", UINT64) or None),
        ("quota", "cpu", "cpu.cfs_quota_us", None if quota is None else max(quota, -1)),
        ("burst", "cpu", "cpu.cfs_burst_us", cpu.integer("burst", UINT64)),
        ("realtimePeriod", "cpu", "cpu.rt_period_us", cpu.integer("realtimePeriod", UINT64) or None),
        ("realtimeRuntime", "cpu", "cpu.rt_runtime_us", cpu.integer("realtimeRuntime", INT64)),
        ("idle", "cpu", "cpu.idle", cpu.integer("idle")),
    ]
    return rows_to_writes(cpu, rows + cpuset_rows(cpu))


def plan_blkio(res: Section, fs: V1Manager) -> list[Write]:
    bio = res.sub("blockIO")
    if bio is None:
        return []
    # Without CFQ the proportional weight lives in BFQ's files.
    prefix = "blkio." if fs.has_file("blkio", "blkio.weight") else "blkio.bfq."
    writes = [("blkio", name, str(value), bio.at(key)) for key, name, value in
              (("weight", prefix + "weight", bio.integer("weight", UINT16)),
               ("leafWeight", "blkio.leaf_weight", bio.integer("leafWeight", UINT16)))
              if value]
    for device in bio.entries("weightDevice"):
        numbers = device.device_numbers()
        for key, name in (("weight", prefix + "weight_device"), ("leafWeight", "blkio.leaf_weight_device")):
            value = device.integer(key, UINT16)
            if value is not None:
                writes.append(("blkio", name, f"{numbers} {value}", device.at(key)))
    for key, name, _ in THROTTLES:
        for device in bio.entries(key):
            rate = device.required("rate", lambda k: device.integer(k, UINT64))
            writes.append(("blkio", f"blkio.throttle.{name}", f"{device.device_numbers()} {rate}", device.path))
    return writes


def plan_hugetlb(res: Section, fs: V1Manager) -> list[Write]:
    entries = res.entries("hugepageLimits")
    if not entries:
        return []
    if "hugetlb" in fs.paths:
        hierarchy, suffix = "hugetlb", "limit_in_bytes"
    elif fs.unified_offers("hugetlb"):
        hierarchy, suffix = "unified", "max"  # hybrid: hugetlb is only on cgroup2
    else:
        raise PyruncError("hugepage limits are set but the hugetlb cgroup controller is not available",
                          errno.ENOTSUP, res.at("hugepageLimits"))
    return [(hierarchy, f"hugetlb.{check_page_size(entry)}.{suffix}",
             str(entry.required("limit", lambda k: entry.integer(k, UINT64))), entry.at("limit"))
            for entry in entries]


def plan_network(res: Section, fs: V1Manager) -> list[Write]:
    net = res.sub("network")
    if net is None:
        return []
    writes = []
    class_id = net.integer("classID", UINT32)
    if class_id is not None:
        writes.append(("net_cls", "net_cls.classid", str(class_id), net.at("classID")))
    for entry in net.entries("priorities"):
        name = entry.required("name", entry.string)
        priority = entry.required("priority", lambda k: entry.integer(k, UINT32))
        writes.append(("net_prio", "net_prio.ifpriomap", f"{name} {priority}", entry.path))
    for controller, _, _, path in writes:
        if controller not in fs.paths:
            # A limit asked for and not applied would be a silent lie.
            raise PyruncError(f"cannot be applied: the {controller} cgroup controller is not mounted",
                              errno.ENOTSUP, path)
    return writes


def plan_rdma(res: Section, fs: V1Manager) -> list[Write]:
    return [("rdma", "rdma.max", line, path) for line, path in rdma_lines(res)]


# ---------------------------------------------------------------- manager

class V1Manager(CgroupManager):
    def __init__(self, root: str, inner: str, paths: dict[str, str], mode: str = "v1",
                 created: list[str] | None = None) -> None:
        super().__init__(root, inner, paths, created)
        self.mode = mode

    @classmethod
    def open(cls, root: str, inner: str, mode: str, own: dict[str, str]) -> V1Manager:
        return cls(root, inner, resolve_paths(root, inner, own), mode)

    # -- files
    def _dir(self, hierarchy: str, path: str | None = None) -> str:
        directory = self.paths.get(hierarchy)
        if directory is None:
            raise PyruncError(f"the {hierarchy} cgroup controller is not mounted", errno.ENOTSUP, path)
        return directory

    def has_file(self, hierarchy: str, name: str) -> bool:
        directory = self.paths.get(hierarchy)
        return directory is not None and os.path.exists(os.path.join(directory, name))

    def read(self, hierarchy: str, name: str, path: str | None = None) -> str:
        directory = self._dir(hierarchy, path)
        try:
            return read_text(directory, name)
        except OSError as exc:
            raise PyruncError(f"cannot read {name} in {directory}: {exc.strerror}", exc.errno, path) from None

    def unified_offers(self, controller: str) -> bool:
        unified = os.path.join(self.root, "unified")
        try:
            return "unified" in self.paths and controller in read_text(unified, "cgroup.controllers").split()
        except OSError:
            return False

    # -- lifecycle
    def create(self) -> None:
        for name, directory in self._named_dirs():
            try:
                make_dirs(directory, self.created)
            except PyruncError as exc:
                if name != "unified":
                    raise
                self._drop_unified(exc)
            if name == "cpuset":
                fill_cpuset(directory)

    def add_pid(self, pid: int, only: list[str] | None = None) -> None:
        for name, directory in self._named_dirs():
            if only is not None and directory not in only:
                continue
            try:
                add_pid_to(directory, pid)
            except PyruncError as exc:
                if name != "unified":
                    raise
                self._drop_unified(exc)

    def init_joins(self, clone_into: bool) -> tuple[list[int], int, list[str]]:
        fds: list[int] = []
        dir_fd, rest = -1, []
        try:
            for name, directory in self._named_dirs():
                if name != "unified":
                    fds.append(open_for_join(directory, "tasks", os.O_WRONLY))
                elif clone_into:
                    dir_fd = open_for_join(directory, "", os.O_PATH | os.O_DIRECTORY)
                else:
                    rest.append(directory)
        except BaseException:
            for fd in fds + ([dir_fd] if dir_fd >= 0 else []):
                os.close(fd)
            raise
        return fds, dir_fd, rest

    def _sub_cgroups(self, subs: dict[str, str]) -> dict[str, str]:
        if "" in subs:
            # Every v1 hierarchy (the unified one of hybrid hosts is ours only for hugetlb).
            return {directory: subs[""] for name, directory in self._named_dirs() if name != "unified"}
        chosen: dict[str, str] = {}
        for controller, sub in subs.items():
            directory = self.paths.get(controller)
            if directory is None:
                raise PyruncError(f"unknown controller {controller} in --cgroup", errno.EINVAL)
            if chosen.setdefault(directory, sub) != sub:
                raise PyruncError(f"--cgroup gives co-mounted controllers different paths ({controller})",
                                  errno.EINVAL)
        return chosen

    def _named_dirs(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for name, directory in self.paths.items():
            seen.setdefault(directory, name)
        return [(name, directory) for directory, name in seen.items()]

    def _drop_unified(self, exc: PyruncError) -> None:
        # Hybrid hosts work without the unified hierarchy (it may be read-only
        # in a nested container); only hugetlb limits would then be refused.
        self.warnings.append(f"unified cgroup hierarchy skipped: {exc}")
        self.paths.pop("unified", None)

    # -- resources
    def apply(self, resources: dict, path: str = "linux.resources") -> None:
        res = Section(resources, path)
        if res.mapping("unified"):
            raise PyruncError("unified resources need cgroup v2, and this host uses cgroup v1",
                              errno.ENOTSUP, res.at("unified"))
        writes = plan(res, self)
        for hierarchy, _, _, json_path in writes:
            self._dir(hierarchy, json_path)  # refuse before writing anything
        if any(w[0] == "unified" for w in writes):
            from .v2 import enable_controllers
            enable_controllers(os.path.join(self.root, "unified"), self.paths["unified"], ["hugetlb"])
        self._run(writes)

    def _write(self, write: Write) -> None:
        hierarchy, name, value, path = write
        directory = self._dir(hierarchy, path)
        write_file(directory, name, value)
        if name == "cpu.shares":
            # The kernel clamps shares silently; runc reports it instead.
            actual = read_text(directory, name).strip()
            if actual != value:
                raise PyruncError(f"cpu shares {value} are out of range: the kernel set {actual}",
                                  errno.ERANGE, path)

    def _recover(self, write: Write, exc: OSError) -> bool:
        """Real-time runtime must fit in every ancestor's, and a parent that
        pyrunc made starts with none: give those at least as much, top-down,
        then retry. Cgroups pyrunc did not make are not its to change."""
        hierarchy, name, value, _ = write
        if name != "cpu.rt_runtime_us" or exc.errno != errno.EINVAL:
            return False
        chain = []
        current = os.path.dirname(self._dir(hierarchy))
        while current in self.created:
            chain.append(current)
            current = os.path.dirname(current)
        try:
            for ancestor in reversed(chain):
                if read_number(ancestor, name) < int(value):
                    write_file(ancestor, name, value)
        except (OSError, ValueError):
            return False
        return self._try_in_order(write)

    def _explain(self, write: Write, exc: OSError) -> PyruncError:
        hierarchy, name, value, path = write
        if name == MEMORY_LIMIT and exc.errno == errno.EBUSY:
            from . import stats as st
            usage = st.optional_number(self.paths[hierarchy], "memory.usage_in_bytes")
            peak = st.optional_number(self.paths[hierarchy], "memory.max_usage_in_bytes")
            return PyruncError(f"cannot set memory limit to {value} (current usage: {usage}, "
                               f"peak usage: {peak})", exc.errno, path)
        return super()._explain(write, exc)

    # -- freezer
    def _can_freeze(self) -> bool:
        return "freezer" in self.paths

    def freeze(self) -> None:
        directory = self._dir("freezer")
        attempts = [0]

        def frozen() -> bool:
            # Re-asking helps a cgroup stuck in FREEZING (runc does the same,
            # thawing now and then to let stragglers reach a freezable point).
            attempts[0] += 1
            if attempts[0] % 50 == 0:
                write_file(directory, "freezer.state", "THAWED")
            write_file(directory, "freezer.state", "FROZEN")
            return read_text(directory, "freezer.state").strip() == "FROZEN"

        self._set_freezer(frozen, "freeze")

    def thaw(self) -> None:
        directory = self._dir("freezer")

        def thawed() -> bool:
            write_file(directory, "freezer.state", "THAWED")
            return read_text(directory, "freezer.state").strip() == "THAWED"

        self._set_freezer(thawed, "thaw")

    def _set_freezer(self, check: Callable[[], bool], verb: str) -> None:
        try:
            done = wait_until(check, FREEZE_TIMEOUT)
        except OSError as exc:
            raise PyruncError(f"cannot {verb} cgroup {self.paths['freezer']}: {exc.strerror}", exc.errno) from None
        if not done:
            if verb == "freeze":
                self.thaw()
            raise PyruncError(f"timed out trying to {verb} cgroup {self.paths['freezer']}", errno.ETIMEDOUT)

    def is_frozen(self) -> bool:
        directory = self.paths.get("freezer")
        if directory is None:
            return False
        try:
            # FROZEN because an ancestor is frozen does not make us paused.
            return (read_text(directory, "freezer.state").strip() == "FROZEN"
                    and read_text(directory, "freezer.self_freezing").strip() == "1")
        except OSError:
            return False

    def held_frozen(self) -> bool:
        directory = self.paths.get("freezer")
        try:
            return directory is not None and read_text(directory, "freezer.state").strip() != "THAWED"
        except OSError:
            return False    # not there (yet), or not ours to read: nothing holds it

    def procs_hierarchy(self) -> str:
        return next((name for name in PROCS_HIERARCHIES if name in self.paths), next(iter(self.paths)))

    def _procs_dir(self) -> str:
        return self.paths[self.procs_hierarchy()]

    # -- events and stats
    def oom_event_fd(self) -> int | None:
        """An eventfd the kernel signals on each OOM in the memory cgroup
        (also once when the cgroup is removed); the caller owns it."""
        directory = self._dir("memory")
        event_fd = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                write_file(directory, "cgroup.event_control", f"{event_fd} {control}")
            finally:
                os.close(control)
        except OSError as exc:
            os.close(event_fd)
            raise PyruncError(f"cannot watch OOM events of {directory}: {exc.strerror}", exc.errno) from None
        return event_fd

    def oom_count(self) -> int:
        from . import stats as st
        directory = self.paths.get("memory")
        return st.optional_keyed(directory, "memory.oom_control").get("oom_kill", 0) if directory else 0

    def stats(self) -> dict:
        from .v1_stats import stats
        return stats(self.paths)

def fill_cpuset(directory: str) -> None:
    """A new v1 cpuset starts with no cpus and mems, and no task may join it;
    copy them down from the nearest ancestor that has them (runc does too)."""
    chain = []
    current = directory
    while _cpuset_empty(current) and os.path.exists(os.path.join(os.path.dirname(current), "cpuset.cpus")):
        chain.append(current)
        current = os.path.dirname(current)
    for cgroup in reversed(chain):
        parent = os.path.dirname(cgroup)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read_text(cgroup, name).strip():
                try:
                    write_file(cgroup, name, read_text(parent, name).strip())
                except OSError as exc:
                    raise write_error(name, "", exc, None) from None


def _cpuset_empty(directory: str) -> bool:
    return not all(read_text(directory, name).strip() for name in ("cpuset.cpus", "cpuset.mems"))
