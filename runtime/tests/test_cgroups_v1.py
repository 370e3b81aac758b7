"""The cgroup v1 driver against the real kernel (v1 or hybrid hosts, root).

Every test works under /pyrunc-test-<pid>/ in each hierarchy and removes
what it made, processes included, even when it fails.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import subprocess
import sys
import time
from typing import Iterator

import pytest

from pyrunc.runtime.cgroups import detect_mode, manager_from_state, open_manager
from pyrunc.runtime.cgroups import v1
from pyrunc.runtime.cgroups.base import DEFAULT_ALLOWED_DEVICES, Section, read_text, remove_tree
from pyrunc.runtime.errors import PyruncError

ROOT = "/sys/fs/cgroup"
BASE = f"/pyrunc-test-{os.getpid()}"
MiB = 1 << 20

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or detect_mode(ROOT) == "v2" or not os.path.isdir(f"{ROOT}/memory"),
    reason="needs root and a cgroup v1 (or hybrid) host with the memory controller mounted")

# A process the tests steer over stdin, one command and one answer a line.
HELPER = r"""
import os, sys, time
keep = []
def fork_until_refused(limit):
    r, w = os.pipe()
    count = 0
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        count += 1
    keep.append(w)
    return count
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "ping":
        out = "pong"
    elif cmd == "alloc":
        block = bytearray(int(arg))
        block[::4096] = b"x" * len(range(0, len(block), 4096))
        keep.append(block)
        out = "ok"
    elif cmd == "fork":
        out = str(fork_until_refused(int(arg)))
    elif cmd == "open":
        try:
            os.close(os.open(arg, os.O_RDONLY))
            out = "ok"
        except OSError as exc:
            out = f"errno {exc.errno}"
    elif cmd == "spin":
        end = time.monotonic() + float(arg)
        while time.monotonic() < end:
            pass
        out = "ok"
    print(out, flush=True)
"""


class Helper:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, command: str, timeout: float = 10.0) -> str | None:
        """The answer, or None when none comes in time (e.g. frozen)."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if ready else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _words(path: str) -> set[str]:
    try:
        return set(read_text(path, "cgroup.subtree_control").split())
    except OSError:
        return set()


def _put_back_subtree_control(root: str, before: set[str]) -> None:
    for controller in _words(root) - before:
        # EBUSY: someone else's cgroup below uses it now; leave it on then.
        with contextlib.suppress(OSError), open(f"{root}/cgroup.subtree_control", "w") as f:
            f.write(f"-{controller}")


@pytest.fixture
def cg(request: pytest.FixtureRequest) -> Iterator[v1.V1Manager]:
    """A created cgroup; afterwards (callbacks run last-first, each even if
    another failed) its processes are killed, it and the test base removed,
    and controllers we enabled on the unified root put back."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    manager = open_manager(f"{BASE}/{name}", "test")
    assert isinstance(manager, v1.V1Manager)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_put_back_subtree_control, f"{ROOT}/unified", _words(f"{ROOT}/unified"))
        for directory in {os.path.dirname(p) for p in manager.paths.values()}:
            cleanup.callback(remove_tree, directory)
        cleanup.callback(manager.destroy)
        cleanup.callback(manager.kill_all, 9)
        manager.create()
        yield manager


@pytest.fixture
def helper(cg: v1.V1Manager) -> Iterator[Helper]:
    """A helper process already inside `cg`."""
    process = Helper()
    try:
        assert process.ask("ping") == "pong"
        cg.add_pid(process.proc.pid)
        yield process
    finally:
        process.stop()


def value(cg: v1.V1Manager, hierarchy: str, name: str) -> str:
    return read_text(cg.paths[hierarchy], name).strip()


# ---------------------------------------------------------------- paths

def test_cgroups_path_forms() -> None:
    absolute = open_manager("/a/b", "x")
    assert absolute.paths["memory"] == f"{ROOT}/memory/a/b"
    assert absolute.paths["name=systemd"] == f"{ROOT}/systemd/a/b"
    assert open_manager("/../../etc", "x").paths["pids"] == f"{ROOT}/pids/etc"
    own = {"memory": "/caller/job", "pids": "/"}
    # No cgroupsPath: the id below the caller's cgroup in each hierarchy, as runc.
    default = open_manager(None, "ctr", own=own)
    assert default.paths["pids"] == f"{ROOT}/pids/ctr"
    assert default.paths["memory"] == f"{ROOT}/memory/caller/job/ctr"
    relative = open_manager("sub/../x", "y", own=own)
    assert relative.paths["memory"] == f"{ROOT}/memory/caller/job/x"
    with pytest.raises(PyruncError, match="invalid container id"):
        open_manager(None, "../x")


@pytest.mark.parametrize("path", [".", "..", "../..", "x/../..", "./", "../sibling", "a/../../b"])
def test_relative_paths_at_or_above_our_own_cgroup_are_refused(path: str) -> None:
    with pytest.raises(PyruncError, match="own cgroup or one above it") as caught:
        open_manager(path, "x", own={"memory": "/caller/job"})
    assert caught.value.path == "linux.cgroupsPath"


@pytest.mark.parametrize("path", ["/", "/..", "//", "/a/.."])
def test_the_root_cgroup_is_refused(path: str) -> None:
    with pytest.raises(PyruncError, match="root cgroup") as caught:
        open_manager(path, "x")
    assert caught.value.path == "linux.cgroupsPath"


@pytest.mark.parametrize("path", ["/caller", "/caller/job"])
def test_a_cgroup_holding_pyrunc_itself_is_refused(path: str) -> None:
    with pytest.raises(PyruncError, match="holds pyrunc itself"):
        open_manager(path, "x", own={"memory": "/caller/job"})
    assert open_manager("/caller/other", "x", own={"memory": "/caller/job"}).paths["memory"] == \
        f"{ROOT}/memory/caller/other"


def test_mode_and_hierarchies() -> None:
    assert detect_mode(ROOT) in ("v1", "hybrid")
    found = v1.find_hierarchies(ROOT)
    assert found["memory"][0] == f"{ROOT}/memory"
    assert "name=systemd" not in found or found["name=systemd"][0].startswith(ROOT)


def test_create_destroy(cg: v1.V1Manager) -> None:
    for directory in cg.paths.values():
        assert os.path.isdir(directory)
    # A new v1 cpuset is empty until filled from its parent.
    assert value(cg, "cpuset", "cpuset.cpus") and value(cg, "cpuset", "cpuset.mems")
    cg.destroy()
    assert not any(os.path.exists(p) for p in cg.paths.values())
    cg.destroy()  # already gone is fine


def test_state_round_trip(cg: v1.V1Manager) -> None:
    again = manager_from_state(cg.to_state())
    assert type(again) is type(cg) and again.paths == cg.paths and again.mode == cg.mode
    assert again.is_frozen() is False



def test_a_saved_state_is_rebuilt_once_per_load(cg: v1.V1Manager) -> None:
    """Loading a state checks its cgroup and the verb asks for the manager
    again: one rebuild (one read of the mount table) for one loaded dict;
    the same state loaded again (a new dict) is read afresh."""
    saved = {**cg.to_state(), "created": cg.to_make()}
    first = manager_from_state(saved)
    assert manager_from_state(saved) is first
    loaded_again = json.loads(json.dumps(saved))
    assert manager_from_state(loaded_again) is not first
    assert manager_from_state(saved) is not first      # only the last one is kept


# ---------------------------------------------------------------- memory

def test_memory_limits(cg: v1.V1Manager) -> None:
    cg.apply({"memory": {"limit": 128 * MiB, "swap": 256 * MiB, "reservation": 64 * MiB,
                         "swappiness": 10, "disableOOMKiller": True, "useHierarchy": True}})
    assert value(cg, "memory", "memory.limit_in_bytes") == str(128 * MiB)
    assert value(cg, "memory", "memory.memsw.limit_in_bytes") == str(256 * MiB)
    assert value(cg, "memory", "memory.soft_limit_in_bytes") == str(64 * MiB)
    assert value(cg, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in value(cg, "memory", "memory.oom_control")
    # Shrinking then growing both needs the writes in opposite orders.
    cg.apply({"memory": {"limit": 32 * MiB, "swap": 48 * MiB}})
    assert value(cg, "memory", "memory.memsw.limit_in_bytes") == str(48 * MiB)
    cg.apply({"memory": {"limit": 512 * MiB, "swap": 1024 * MiB}})
    assert value(cg, "memory", "memory.limit_in_bytes") == str(512 * MiB)
    cg.apply({"memory": {"limit": -1}})  # unlimited memory lifts memory+swap too
    assert int(value(cg, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_memory_limit_below_usage(cg: v1.V1Manager, helper: Helper) -> None:
    cg.apply({"memory": {"limit": 256 * MiB, "swap": 256 * MiB}})
    assert helper.ask(f"alloc {24 * MiB}") == "ok"
    with pytest.raises(PyruncError, match="already above the new limit") as info:
        cg.apply({"memory": {"limit": 4 * MiB, "checkBeforeUpdate": True}})
    assert info.value.path == "linux.resources.memory.limit"
    with pytest.raises(PyruncError, match=r"current usage: \d+") as info:
        cg.apply({"memory": {"limit": 4 * MiB, "swap": 4 * MiB}})
    assert info.value.errno == errno.EBUSY


def test_oom_event_and_count(cg: v1.V1Manager, helper: Helper) -> None:
    cg.apply({"memory": {"limit": 48 * MiB, "swap": 48 * MiB}})
    event_fd = cg.oom_event_fd()
    assert event_fd is not None
    try:
        assert cg.oom_count() == 0
        assert helper.ask(f"alloc {96 * MiB}", timeout=20) in (None, "")
        assert helper.proc.wait(20) == -9
        assert select.select([event_fd], [], [], 5)[0] == [event_fd]
        assert int.from_bytes(os.read(event_fd, 8), sys.byteorder) >= 1
        assert cg.oom_count() >= 1
    finally:
        os.close(event_fd)


# ---------------------------------------------------------------- cpu, pids

def test_cpu_values(cg: v1.V1Manager) -> None:
    resources = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}
    extras = {"burst": ("cpu.cfs_burst_us", 1000), "idle": ("cpu.idle", 0),
              "realtimePeriod": ("cpu.rt_period_us", 1000000), "realtimeRuntime": ("cpu.rt_runtime_us", 2000)}
    present = {key: spec for key, spec in extras.items() if cg.has_file("cpu", spec[0])}
    resources.update({key: number for key, (_, number) in present.items()})
    cg.apply({"cpu": resources})  # the real-time runtime needs its ancestors granted some first
    assert value(cg, "cpu", "cpu.shares") == "512"
    assert value(cg, "cpu", "cpu.cfs_quota_us") == "50000"
    assert value(cg, "cpu", "cpu.cfs_period_us") == "100000"
    assert value(cg, "cpuset", "cpuset.cpus") == "0"
    for name, number in present.values():
        assert value(cg, "cpu", name) == str(number)
    cg.apply({"cpu": {"quota": -1, "period": 10000}})
    assert value(cg, "cpu", "cpu.cfs_quota_us") == "-1"
    with pytest.raises(PyruncError, match="out of range") as info:
        cg.apply({"cpu": {"shares": 1}})  # the kernel clamps it to 2
    assert info.value.path == "linux.resources.cpu.shares"


def test_pids_limit_enforced(cg: v1.V1Manager, helper: Helper) -> None:
    cg.apply({"pids": {"limit": 4}})
    assert value(cg, "pids", "pids.max") == "4"
    assert helper.ask("fork 10") == "3"  # the helper itself is the fourth
    assert sorted(cg.pids())[0] == helper.proc.pid and len(cg.pids()) == 4
    assert cg.stats()["pids"] == {"current": 4, "limit": 4}
    cg.apply({"pids": {"limit": -1}})
    assert value(cg, "pids", "pids.max") == "max"


# ---------------------------------------------------------------- freezer, kill

def test_freeze_and_thaw(cg: v1.V1Manager, helper: Helper) -> None:
    cg.freeze()
    assert cg.is_frozen()
    assert helper.ask("ping", timeout=0.3) is None
    cg.thaw()
    assert not cg.is_frozen()
    assert helper.proc.stdout and helper.proc.stdout.readline().strip() == "pong"


def test_kill_all(cg: v1.V1Manager, helper: Helper) -> None:
    assert helper.ask("fork 3") == "3"
    assert len(cg.pids()) == 4
    cg.kill_all(9)
    assert helper.proc.wait(10) == -9
    deadline = time.monotonic() + 10
    while cg.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cg.pids() == [] and not cg.is_frozen()


def test_kill_all_other_signal(cg: v1.V1Manager, helper: Helper) -> None:
    cg.kill_all(15)
    assert helper.proc.wait(10) == -15


def test_destroy_busy_reports(cg: v1.V1Manager, helper: Helper) -> None:
    with pytest.raises(PyruncError, match="cannot remove cgroup") as info:
        remove_tree(cg.paths["pids"], timeout=0.05)
    assert info.value.errno == errno.EBUSY


# ---------------------------------------------------------------- devices, io

def test_devices_enforced_and_minimal(cg: v1.V1Manager, helper: Helper) -> None:
    cg.extra_device_rules = []
    rules = {"devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]}
    cg.apply(rules)
    assert value(cg, "devices", "devices.list") == "c 1:3 rw"
    assert helper.ask("open /dev/null") == "ok"
    assert helper.ask("open /dev/zero") == f"errno {errno.EPERM}"
    # Re-applying the same rules writes nothing (no deny-all blip).
    assert v1.plan_devices(Section(rules, "linux.resources"), cg) == []
    cg.extra_device_rules = list(DEFAULT_ALLOWED_DEVICES)
    cg.apply(rules)
    assert helper.ask("open /dev/zero") == "ok"


def test_devices_refuse_wildcard_hole(cg: v1.V1Manager) -> None:
    with pytest.raises(PyruncError, match="punch a hole") as info:
        cg.apply({"devices": [{"allow": True, "type": "c", "access": "rwm"},
                              {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert info.value.path == "linux.resources.devices[1]"


def _block_device() -> str | None:
    for name in sorted(os.listdir("/sys/block")):
        try:
            return read_text(f"/sys/block/{name}", "dev").strip()
        except OSError:
            continue
    return None


def test_blkio(cg: v1.V1Manager) -> None:
    device = _block_device()
    if device is None or "blkio" not in cg.paths:
        pytest.skip("no block device or no blkio hierarchy")
    major, minor = (int(n) for n in device.split(":"))
    cg.apply({"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": MiB}],
                          "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}})
    weight_file = "blkio.weight" if cg.has_file("blkio", "blkio.weight") else "blkio.bfq.weight"
    assert value(cg, "blkio", weight_file).split()[-1] == "300"
    assert value(cg, "blkio", "blkio.throttle.read_bps_device") == f"{device} {MiB}"
    assert value(cg, "blkio", "blkio.throttle.write_iops_device") == f"{device} 100"


def test_hugetlb(cg: v1.V1Manager) -> None:
    target = "hugetlb" if "hugetlb" in cg.paths else "unified"
    if target == "unified" and not cg.unified_offers("hugetlb"):
        pytest.skip("hugetlb is available neither in v1 nor in the unified hierarchy")
    cg.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    name = "hugetlb.2MB.limit_in_bytes" if target == "hugetlb" else "hugetlb.2MB.max"
    assert value(cg, target, name) == str(4 * MiB)
    assert "2MB" in cg.stats()["hugetlb"]


# ---------------------------------------------------------------- errors, stats

@pytest.mark.parametrize("resources, path, message", [
    ({"memory": {"limit": "1G"}}, "linux.resources.memory.limit", "must be an integer"),
    ({"memory": {"limit": -5}}, "linux.resources.memory.limit", "use -1 for unlimited"),
    ({"memory": {"limit": 100 * MiB, "swap": 50 * MiB}}, "linux.resources.memory.swap", "at least the memory limit"),
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness", "out of range"),
    ({"cpu": {"cpus": "0-x"}}, "linux.resources.cpu.cpus", "is not a list"),
    ({"pids": {"limit": True}}, "linux.resources.pids.limit", "must be an integer"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "linux.resources.hugepageLimits[0].pageSize", "page size"),
    ({"devices": [{"allow": True, "type": "x"}]}, "linux.resources.devices[0].type", "device rule type"),
    ({"devices": [{"type": "c"}]}, "linux.resources.devices[0].allow", "is required"),
    ({"blockIO": {"weightDevice": [{"major": 8, "weight": 10}]}}, "linux.resources.blockIO.weightDevice[0].minor",
     "is required"),
    ({"unified": {"memory.high": "1G"}}, "linux.resources.unified", "need cgroup v2"),
])
def test_bad_values_name_the_json_path(cg: v1.V1Manager, resources: dict, path: str, message: str) -> None:
    with pytest.raises(PyruncError, match=message) as info:
        cg.apply(resources)
    assert info.value.path == path and str(info.value).startswith(path + ": ")


@pytest.mark.parametrize("network, controller, path", [
    ({"classID": 0x100001}, "net_cls", "linux.resources.network.classID"),
    ({"priorities": [{"name": "lo", "priority": 3}]}, "net_prio", "linux.resources.network.priorities[0]"),
])
def test_network_without_its_controller_is_refused(cg: v1.V1Manager, network: dict, controller: str,
                                                   path: str) -> None:
    if controller in cg.paths:
        pytest.skip(f"{controller} is mounted here")
    with pytest.raises(PyruncError, match=f"the {controller} cgroup controller is not mounted") as info:
        cg.apply({"network": network, "pids": {"limit": 7}})
    assert info.value.path == path
    assert value(cg, "pids", "pids.max") == "max"   # refused before anything was written


def test_stats_layout(cg: v1.V1Manager, helper: Helper) -> None:
    cg.apply({"memory": {"limit": 256 * MiB}, "pids": {"limit": 10}})
    assert helper.ask("spin 0.2") == "ok" and helper.ask(f"alloc {8 * MiB}") == "ok"
    data = cg.stats()
    assert set(data) >= {"cpu", "memory", "pids", "blkio", "hugetlb", "cpuset"}
    usage = data["cpu"]["usage"]
    assert usage["total"] > 0 and len(usage["percpu"]) == os.cpu_count()
    assert usage["user"] + usage["kernel"] > 0 and "throttling" in data["cpu"]
    memory = data["memory"]
    assert memory["usage"]["limit"] == 256 * MiB and memory["usage"]["usage"] >= 8 * MiB
    assert {"limit", "failcnt"} <= set(memory["swap"]) and "rss" in memory["raw"]
    assert data["pids"] == {"current": 1, "limit": 10}


def test_unmounted_controller_is_refused_before_any_write(cg: v1.V1Manager) -> None:
    if "rdma" in cg.paths:
        pytest.skip("rdma is mounted here")
    with pytest.raises(PyruncError, match="rdma cgroup controller is not mounted") as info:
        cg.apply({"pids": {"limit": 7}, "rdma": {"mlx5_0": {"hcaHandles": 1}}})
    assert info.value.path == "linux.resources.rdma.mlx5_0"
    assert value(cg, "pids", "pids.max") == "max"
