"""Statistics of a v1 cgroup (`events --stats`, the shim's metrics), in
runc's layout.  Apart from v1.py, which every create loads and which
needs none of this."""
from __future__ import annotations

import os

from . import stats as st
from .base import read_text

BLKIO_STATS = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
               ("ioServicedRecursive", "io_serviced_recursive"),
               ("ioQueueRecursive", "io_queued_recursive"),
               ("ioServiceTimeRecursive", "io_service_time_recursive"),
               ("ioWaitTimeRecursive", "io_wait_time_recursive"),
               ("ioMergedRecursive", "io_merged_recursive"),
               ("ioTimeRecursive", "time_recursive"),
               ("sectorsRecursive", "sectors_recursive"))


def stats(paths: dict[str, str]) -> dict:
    """The statistics of the cgroup whose directories are paths
    (hierarchy -> directory)."""
    data = st.empty_stats()
    part = paths.get
    if part("cpuacct") or part("cpu"):
        data["cpu"] = cpu_stats(part("cpuacct"), part("cpu"))
    if part("cpuset"):
        data["cpuset"] = cpuset_stats(paths["cpuset"])
    if part("memory"):
        data["memory"] = memory_stats(paths["memory"])
    if part("pids"):
        directory = paths["pids"]
        data["pids"] = st.pids_section(st.optional_number(directory, "pids.current"),
                                       st.optional_number(directory, "pids.max"))
    if part("blkio"):
        data["blkio"] = blkio_stats(paths["blkio"])
    data["hugetlb"] = _hugetlb_stats(paths)
    return data


def _hugetlb_stats(paths: dict[str, str]) -> dict:
    if "hugetlb" in paths:
        directory = paths["hugetlb"]
        return {size: st.hugetlb_entry(
            st.optional_number(directory, f"hugetlb.{size}.usage_in_bytes"),
            st.optional_number(directory, f"hugetlb.{size}.max_usage_in_bytes"),
            st.optional_number(directory, f"hugetlb.{size}.failcnt"))
            for size in st.hugepage_sizes(directory, "limit_in_bytes")}
    if "unified" in paths:
        return st.hugetlb_stats_v2(paths["unified"])
    return {}


def _numbers(directory: str | None, name: str) -> list[int]:
    if directory is None:
        return []
    try:
        return [int(n) for n in read_text(directory, name).split()]
    except (OSError, ValueError):
        return []


def cpu_stats(cpuacct: str | None, cpu: str | None) -> dict:
    ticks = os.sysconf("SC_CLK_TCK")  # cpuacct.stat counts USER_HZ ticks
    times = st.optional_keyed(cpuacct, "cpuacct.stat") if cpuacct else {}
    throttle = st.optional_keyed(cpu, "cpu.stat") if cpu else {}
    return st.cpu_section(
        st.optional_number(cpuacct, "cpuacct.usage") if cpuacct else 0,
        _numbers(cpuacct, "cpuacct.usage_percpu"),
        _numbers(cpuacct, "cpuacct.usage_percpu_sys"),
        _numbers(cpuacct, "cpuacct.usage_percpu_user"),
        times.get("system", 0) * st.NANOS_PER_SECOND // ticks,
        times.get("user", 0) * st.NANOS_PER_SECOND // ticks,
        {"periods": throttle.get("nr_periods", 0), "throttledPeriods": throttle.get("nr_throttled", 0),
         "throttledTime": throttle.get("throttled_time", 0)})


def cpuset_stats(directory: str) -> dict:
    flags = {name: st.optional_number(directory, f"cpuset.{name}") for name in st.CPUSET_FLAGS}
    text = lambda name: read_text(directory, name) if os.path.exists(os.path.join(directory, name)) else ""  # noqa: E731
    return st.cpuset_section(text("cpuset.cpus"), text("cpuset.mems"), flags)


def _memory_entry(directory: str, prefix: str) -> dict:
    if not os.path.exists(os.path.join(directory, f"{prefix}.usage_in_bytes")):
        return {}
    value = lambda name: st.optional_number(directory, f"{prefix}.{name}")  # noqa: E731
    return st.memory_entry(value("limit_in_bytes"), value("usage_in_bytes"),
                           value("max_usage_in_bytes"), value("failcnt"))


def memory_stats(directory: str) -> dict:
    raw = st.optional_keyed(directory, "memory.stat")
    return st.memory_section(raw.get("cache", 0), _memory_entry(directory, "memory"),
                             _memory_entry(directory, "memory.memsw"), _memory_entry(directory, "memory.kmem"),
                             _memory_entry(directory, "memory.kmem.tcp"), raw)


def blkio_stats(directory: str) -> dict:
    """CFQ's recursive files if present, else BFQ's, else the throttle ones."""
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if os.path.exists(os.path.join(directory, prefix + "io_serviced_recursive")):
            return st.drop_zero({key: st.parse_blkio_file(directory, prefix + name)
                                 for key, name in BLKIO_STATS})
    return {}

