"""Stats: what containerd-shim-runc-v2 answers with.  On a v1 host the
library's runc-style cgroup statistics as io.containerd.cgroups.v1.Metrics;
on a v2 host io.containerd.cgroups.v2.Metrics, read from the cgroup's
files as containerd's cgroups package reads them (whose field names are
the files' keys)."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# memory.stat names whose Metrics field is spelt differently.
_RENAMED = {"pgpgin": "pg_pg_in", "pgpgout": "pg_pg_out", "pgfault": "pg_fault", "pgmajfault": "pg_maj_fault"}


def _memory_field(name: str) -> str:
    prefix = "total_" if name.startswith("total_") else ""
    base = name[len(prefix):]
    return prefix + _RENAMED.get(base, base)


def _entry(target: Any, entry: dict[str, int]) -> None:
    target.limit, target.usage = entry.get("limit", 0), entry.get("usage", 0)
    target.max, target.failcnt = entry.get("max", 0), entry.get("failcnt", 0)


def metrics(stats: dict[str, Any]) -> Any:
    from pyrunc.shim.proto.cgroups import metrics_pb2
    result = metrics_pb2.Metrics()
    pids = stats.get("pids") or {}
    result.pids.current, result.pids.limit = pids.get("current", 0), pids.get("limit", 0)
    cpu = stats.get("cpu") or {}
    usage, throttling = cpu.get("usage") or {}, cpu.get("throttling") or {}
    result.cpu.usage.total = usage.get("total", 0)
    result.cpu.usage.kernel, result.cpu.usage.user = usage.get("kernel", 0), usage.get("user", 0)
    result.cpu.usage.per_cpu.extend(usage.get("percpu") or [])
    result.cpu.throttling.periods = throttling.get("periods", 0)
    result.cpu.throttling.throttled_periods = throttling.get("throttledPeriods", 0)
    result.cpu.throttling.throttled_time = throttling.get("throttledTime", 0)
    memory = stats.get("memory") or {}
    fields = metrics_pb2.MemoryStat.DESCRIPTOR.fields_by_name
    for name, value in (memory.get("raw") or {}).items():
        field = _memory_field(name)
        if field in fields and fields[field].message_type is None and isinstance(value, int):
            setattr(result.memory, field, value)
    for key, field in (("usage", "usage"), ("swap", "swap"), ("kernel", "kernel"), ("kernelTCP", "kernel_tcp")):
        _entry(getattr(result.memory, field), memory.get(key) or {})
    for pagesize, entry in (stats.get("hugetlb") or {}).items():
        result.hugetlb.add(pagesize=pagesize, usage=entry.get("usage", 0), max=entry.get("max", 0),
                           failcnt=entry.get("failcnt", 0))
    return result


MAX = 2**64 - 1     # "max" in a limit file, as containerd reports it


def _read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except OSError:
        return ""


def _number(directory: str, name: str) -> int:
    text = _read(directory, name).strip()
    if text == "max":
        return MAX
    return int(text) if text.isdigit() else 0


def _keyed(directory: str, name: str) -> dict[str, int]:
    """A flat-keyed file (cpu.stat, memory.stat, memory.events): key -> value."""
    values = {}
    for line in _read(directory, name).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def _set_all(target: Any, values: dict[str, int]) -> None:
    """Each value whose key names a field of target (unknown keys: newer kernels)."""
    fields = target.DESCRIPTOR.fields_by_name
    for key, value in values.items():
        if key in fields:
            setattr(target, key, value)


def metrics_v2(directory: str) -> Any:
    """io.containerd.cgroups.v2.Metrics of the cgroup at directory."""
    from pyrunc.shim.proto.cgroups import metrics_v2_pb2 as v2
    result = v2.Metrics()
    result.pids.current, result.pids.limit = _number(directory, "pids.current"), _number(directory, "pids.max")
    _set_all(result.cpu, _keyed(directory, "cpu.stat"))
    _set_all(result.memory, _keyed(directory, "memory.stat"))
    result.memory.usage = _number(directory, "memory.current")
    result.memory.usage_limit = _number(directory, "memory.max")
    result.memory.swap_usage = _number(directory, "memory.swap.current")
    result.memory.swap_limit = _number(directory, "memory.swap.max")
    events = _keyed(directory, "memory.events")
    if events:
        _set_all(result.memory_events, events)
    for line in _read(directory, "io.stat").splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        entry = result.io.usage.add(major=int(major), minor=int(minor))
        _set_all(entry, {key: int(value) for key, _, value in (pair.partition("=") for pair in pairs)
                         if value.isdigit()})
    for name, target in (("rdma.current", result.rdma.current), ("rdma.max", result.rdma.limit)):
        for line in _read(directory, name).splitlines():
            device, *pairs = line.split()
            counts = {key: (2**32 - 1 if value == "max" else int(value))
                      for key, _, value in (pair.partition("=") for pair in pairs)}
            target.add(device=device, hca_handles=counts.get("hca_handle", 0), hca_objects=counts.get("hca_object", 0))
    sizes = sorted({name.split(".")[1] for name in _listdir(directory)
                    if name.startswith("hugetlb.") and name.endswith(".current")})
    for size in sizes:
        result.hugetlb.add(pagesize=size, current=_number(directory, f"hugetlb.{size}.current"),
                           max=_number(directory, f"hugetlb.{size}.max"))
    return result


def _listdir(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []
