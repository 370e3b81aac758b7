"""Stats on a cgroup v2 host: io.containerd.cgroups.v2.Metrics from the
cgroup's files.  This host is v1 (hybrid), so a v2 cgroup directory is
written out as the kernel shows one, files and formats as they are."""
from __future__ import annotations

from pathlib import Path

from pyrunc.shim.stats import MAX, metrics_v2

FILES = {
    "pids.current": "3\n",
    "pids.max": "max\n",
    "cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 2\n"
                "throttled_usec 700\nnr_bursts 0\nburst_usec 0\n",
    "memory.current": "1048576\n",
    "memory.max": "33554432\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "max\n",
    "memory.stat": "anon 4096\nfile 8192\nkernel_stack 16384\nslab 100\nsock 0\nshmem 12\nfile_mapped 7\n"
                   "pgfault 42\npgmajfault 1\nworkingset_refault_anon 5\nthp_fault_alloc 3\n",
    "memory.events": "low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\noom_group_kill 0\n",
    "io.stat": "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=5 wbytes=6 rios=7 wios=8\n",
    "rdma.current": "mlx4_0 hca_handle=2 hca_object=2000\n",
    "rdma.max": "mlx4_0 hca_handle=max hca_object=max\n",
    "hugetlb.2MB.current": "2097152\n",
    "hugetlb.2MB.max": "max\n",
    "hugetlb.1GB.current": "0\n",
    "hugetlb.1GB.max": "0\n",
}


def test_v2_metrics_read_every_file_containerd_reads(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    found = metrics_v2(str(tmp_path))
    assert found.DESCRIPTOR.full_name == "io.containerd.cgroups.v2.Metrics"
    assert (found.pids.current, found.pids.limit) == (3, MAX)
    assert (found.cpu.usage_usec, found.cpu.user_usec, found.cpu.system_usec) == (5000, 3000, 2000)
    assert (found.cpu.nr_periods, found.cpu.nr_throttled, found.cpu.throttled_usec) == (10, 2, 700)
    memory = found.memory
    assert (memory.usage, memory.usage_limit, memory.swap_usage, memory.swap_limit) == (1 << 20, 32 << 20, 0, MAX)
    assert (memory.anon, memory.file, memory.kernel_stack, memory.pgfault, memory.thp_fault_alloc) == \
        (4096, 8192, 16384, 42, 3)
    events = found.memory_events
    assert (events.low, events.high, events.max, events.oom, events.oom_kill) == (0, 1, 2, 3, 4)
    assert [(e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios) for e in found.io.usage] == \
        [(8, 0, 1024, 2048, 1, 2), (253, 1, 5, 6, 7, 8)]
    assert [(e.device, e.hca_handles, e.hca_objects) for e in found.rdma.current] == [("mlx4_0", 2, 2000)]
    assert [(e.hca_handles, e.hca_objects) for e in found.rdma.limit] == [(2**32 - 1, 2**32 - 1)]
    assert sorted((h.pagesize, h.current, h.max) for h in found.hugetlb) == [("1GB", 0, 0), ("2MB", 2 << 20, MAX)]


def test_v2_metrics_of_a_cgroup_without_controllers(tmp_path: Path) -> None:
    """Only cgroup.* files (no controller enabled): zeros, no error."""
    (tmp_path / "cgroup.procs").write_text("")
    found = metrics_v2(str(tmp_path))
    assert (found.pids.current, found.memory.usage, len(found.io.usage), len(found.hugetlb)) == (0, 0, 0, 0)
    assert not found.HasField("memory_events")
