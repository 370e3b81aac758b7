"""Stats: the library's runc-style cgroup statistics as containerd's
cgroup v1 Metrics message (io.containerd.cgroups.v1.Metrics), the type
containerd-shim-runc-v2 answers with on a v1 host."""
from __future__ import annotations

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
