"""cgroup v1 values (what the OCI spec speaks) -> cgroup v2 values, the way
runc (opencontainers/cgroups) and crun convert them. Pure functions."""
from __future__ import annotations

import math

CPU_SHARES_MIN, CPU_SHARES_DEFAULT, CPU_SHARES_MAX = 2, 1024, 262144  # kernel MIN/MAX_SHARES
CPU_WEIGHT_MIN, CPU_WEIGHT_DEFAULT, CPU_WEIGHT_MAX = 1, 100, 10000
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000
IO_WEIGHT_MIN, IO_WEIGHT_MAX = 1, 10000


def cpu_shares_to_weight(shares: int) -> int:
    """cpu.shares -> cpu.weight with the quadratic-in-log curve of runc >= 1.3.2
    and crun >= 1.23: it maps min->min, the default 1024->100 and max->max,
    which the old linear formula did not (1024 became 39). 0 means unset."""
    if shares == 0:
        return 0
    if shares <= CPU_SHARES_MIN:
        return CPU_WEIGHT_MIN
    if shares >= CPU_SHARES_MAX:
        return CPU_WEIGHT_MAX
    log = math.log2(shares)
    exponent = (log * log + 125 * log) / 612.0 - 7.0 / 34.0
    return int(math.ceil(math.pow(10, exponent)))


def cpu_shares_to_weight_linear(shares: int) -> int:
    """The older runc/crun formula, kept for comparison and for hosts whose
    other tools still expect it."""
    if shares == 0:
        return 0
    shares = min(max(shares, CPU_SHARES_MIN), CPU_SHARES_MAX)
    return 1 + (shares - CPU_SHARES_MIN) * 9999 // (CPU_SHARES_MAX - CPU_SHARES_MIN)


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000], linearly. 0 means unset."""
    if weight == 0:
        return 0
    weight = min(max(weight, BLKIO_WEIGHT_MIN), BLKIO_WEIGHT_MAX)
    return 1 + (weight - BLKIO_WEIGHT_MIN) * 9999 // (BLKIO_WEIGHT_MAX - BLKIO_WEIGHT_MIN)


def memory_swap_to_v2(swap: int, memory: int) -> int:
    """OCI memory.swap is memory+swap (v1's memsw); v2's memory.swap.max is
    swap alone. -1 means unlimited, 0 unset. Raises ValueError on a request
    that cannot be expressed."""
    if memory == -1 and swap == 0:
        return -1  # "memory unlimited" also lifts swap, as on v1
    if swap in (-1, 0) or memory == -1:
        return swap
    if memory == 0:
        raise ValueError("cannot set a swap limit without a memory limit")
    if memory < 0:
        raise ValueError(f"invalid memory limit {memory}")
    if swap < memory:
        raise ValueError(f"memory+swap limit {swap} must be at least the memory limit {memory}")
    return swap - memory


def v2_limit(value: int) -> str:
    """A v2 .max/.low/.high value: -1 (v1's unlimited) is "max"."""
    return "max" if value == -1 else str(value)


def cpu_max(quota: int | None, period: int | None, current_quota: str = "max") -> str | None:
    """cpu.max from cfs quota/period (µs). A quota <= 0 is unlimited. With
    only a period, the current quota is kept (runc would reset it to max)."""
    if quota is None and period is None:
        return None
    text = current_quota if quota is None else ("max" if quota <= 0 else str(quota))
    return text if period is None else f"{text} {period}"
