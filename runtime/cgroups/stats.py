"""The `events --stats` data layout of runc (types/events.go), and the
cgroupfs parsers the v1 and v2 drivers fill it with.

Go's `omitempty` drops zero numbers, empty lists and maps but never a
nested struct; `drop_zero` plays that part for the fields that have it.
"""
from __future__ import annotations

import os

from .base import parse_cpu_list, read_keyed, read_number, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NANOS_PER_SECOND = 1_000_000_000


def drop_zero(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


def empty_stats() -> dict:
    """runc's Stats with nothing measured: what every field looks like at zero."""
    return {
        "cpu": cpu_section(0, [], [], [], 0, 0, {}),
        "cpuset": cpuset_section("", "", {}),
        "memory": memory_section(0, {}, {}, {}, {}, {}),
        "pids": pids_section(0, 0),
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


def cpu_section(total: int, percpu: list[int], percpu_kernel: list[int], percpu_user: list[int],
                kernel: int, user: int, throttling: dict[str, int]) -> dict:
    usage = drop_zero({"total": total, "percpu": percpu, "percpu_kernel": percpu_kernel,
                       "percpu_user": percpu_user})
    usage.update(kernel=kernel, user=user)
    return {"usage": usage, "throttling": drop_zero(throttling)}


def memory_entry(limit: int = 0, usage: int = 0, peak: int = 0, failcnt: int = 0) -> dict:
    entry = {"limit": limit}
    entry.update(drop_zero({"usage": usage, "max": peak}))
    entry["failcnt"] = failcnt
    return entry


def memory_section(cache: int, usage: dict, swap: dict, kernel: dict, kernel_tcp: dict,
                   raw: dict[str, int]) -> dict:
    section: dict[str, Any] = drop_zero({"cache": cache})
    section.update(usage=usage or memory_entry(), swap=swap or memory_entry(),
                   kernel=kernel or memory_entry(), kernelTCP=kernel_tcp or memory_entry())
    section.update(drop_zero({"raw": raw}))
    return section


def pids_section(current: int, limit: int) -> dict:
    # pids.max "max" is reported as 0 ("no limit"), as runc does.
    return drop_zero({"current": current, "limit": 0 if limit == (1 << 64) - 1 else limit})


def hugetlb_entry(usage: int, peak: int, failcnt: int) -> dict:
    entry = drop_zero({"usage": usage, "max": peak})
    entry["failcnt"] = failcnt
    return entry


CPUSET_FLAGS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure",
                "sched_load_balance", "sched_relax_domain_level")


def cpuset_section(cpus: str, mems: str, flags: dict[str, int]) -> dict:
    section: dict[str, Any] = drop_zero({"cpus": parse_cpu_list(cpus)})
    section["cpu_exclusive"] = flags.get("cpu_exclusive", 0)
    section.update(drop_zero({"mems": parse_cpu_list(mems)}))
    section.update((name, flags.get(name, 0)) for name in CPUSET_FLAGS[1:])
    return section


def blkio_entry(device: str, op: str, value: int) -> dict:
    major, _, minor = device.partition(":")
    return drop_zero({"major": int(major), "minor": int(minor), "op": op, "value": value})


def parse_blkio_file(directory: str, name: str) -> list[dict]:
    """v1 `maj:min Op value` lines ("Total" lines skipped); [] when absent."""
    try:
        text = read_text(directory, name)
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3:
            entries.append(blkio_entry(fields[0], fields[1], int(fields[2])))
        elif len(fields) == 2 and fields[0] != "Total":
            entries.append(blkio_entry(fields[0], "", int(fields[1])))
    return entries


def parse_psi(directory: str, name: str) -> dict | None:
    """A *.pressure file -> {"some": {...}, "full": {...}}; None when absent."""
    try:
        text = read_text(directory, name)
    except OSError:
        return None
    psi = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        values: dict[str, Any] = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            values[key] = int(value) if key == "total" else float(value)
        psi[kind] = values
    return psi


def optional_number(directory: str, name: str) -> int:
    try:
        return read_number(directory, name)
    except (OSError, ValueError):
        return 0


def optional_keyed(directory: str, name: str) -> dict[str, int]:
    try:
        return read_keyed(directory, name)
    except OSError:
        return {}


def hugepage_sizes(directory: str, suffix: str) -> list[str]:
    """Page sizes named by `hugetlb.<size>.<suffix>` files in a cgroup."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    sizes = [n[len("hugetlb."):-len(suffix) - 1] for n in names
             if n.startswith("hugetlb.") and n.endswith("." + suffix) and n.count(".") == 2]
    return sorted(sizes)


def hugetlb_stats_v2(directory: str) -> dict:
    """hugetlb in a v2 cgroup (here, not in v2.py: a v1 host's hybrid
    hierarchy has it, and v2.py loads the device filter and converters)."""
    return {size: hugetlb_entry(optional_number(directory, f"hugetlb.{size}.current"), 0,
                                optional_keyed(directory, f"hugetlb.{size}.events").get("max", 0))
            for size in hugepage_sizes(directory, "current")}
