"""The cgroup v2 driver: unit tests against a fake cgroupfs (plain files in
tmp_path, checking what gets written), then one test on the real unified
hierarchy when the kernel offers one. The systemd front door is here too."""
from __future__ import annotations

import contextlib
import errno
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.runtime.cgroups import (
    detect_mode, device_rules_v2, manager_from_state, open_manager, parse_sub_cgroups, systemd, v2)
from pyrunc.runtime.cgroups.base import UNLIMITED, read_text, remove_tree, write_file
from pyrunc.runtime.errors import PyruncError

CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma"
LEAF_FILES = {
    "cgroup.procs": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "",
    "cgroup.controllers": CONTROLLERS, "cgroup.subtree_control": "",
    "memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.current": "0",
    "cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
    "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "io.weight": "default 100", "io.max": "",
    "hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max", "rdma.max": "",
}


def fake_level(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def fake(tmp_path: Path) -> v2.V2Manager:
    """A created manager for /pyrunc/c1 over a fake unified hierarchy."""
    for level in (tmp_path, tmp_path / "pyrunc"):
        fake_level(level, {"cgroup.controllers": CONTROLLERS, "cgroup.subtree_control": "", "cgroup.procs": ""})
    manager = open_manager("/pyrunc/c1", "c1", root=str(tmp_path), own={"": "/"})
    assert isinstance(manager, v2.V2Manager)
    manager.create()
    fake_level(Path(manager.path), LEAF_FILES)
    return manager


def fake_mount(manager: v2.V2Manager) -> list[tuple[str, bool]]:
    """The mount table as it would be with the fake hierarchy mounted."""
    return [("/", False), (manager.root, True)]


def written(manager: v2.V2Manager, name: str) -> str:
    return read_text(manager.path, name).strip()


# ---------------------------------------------------------------- paths, lifecycle

def test_detect_mode(tmp_path: Path) -> None:
    assert detect_mode(str(tmp_path)) == "v1"
    fake_level(tmp_path / "unified", {"cgroup.controllers": ""})
    assert detect_mode(str(tmp_path)) == "hybrid"
    fake_level(tmp_path, {"cgroup.controllers": ""})
    assert detect_mode(str(tmp_path)) == "v2"


def test_create_enables_controllers_in_ancestors(fake: v2.V2Manager, tmp_path: Path) -> None:
    assert fake.path == str(tmp_path / "pyrunc" / "c1") and fake.paths == {"unified": fake.path}
    expected = " ".join("+" + c for c in CONTROLLERS.split())
    assert (tmp_path / "cgroup.subtree_control").read_text() == expected
    assert (tmp_path / "pyrunc" / "cgroup.subtree_control").read_text() == expected
    assert written(fake, "cgroup.subtree_control") == ""  # the leaf keeps its own


def test_enable_controllers_only_offered(tmp_path: Path) -> None:
    fake_level(tmp_path, {"cgroup.controllers": "cpu memory", "cgroup.subtree_control": "memory"})
    v2.enable_controllers(str(tmp_path), str(tmp_path / "leaf"), ["cpu", "hugetlb", "memory"])
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"


def test_relative_path_hangs_from_the_parent_of_our_own_cgroup(tmp_path: Path) -> None:
    """As runc's: our own cgroup holds processes, so no controller could be
    enabled for a child of it."""
    fake_level(tmp_path, {"cgroup.controllers": ""})
    own = {"": "/user.slice/session-1.scope"}
    manager = open_manager("a/../b", "x", root=str(tmp_path), own=own)
    assert manager.paths["unified"] == f"{tmp_path}/user.slice/b"
    assert open_manager(None, "ctr", root=str(tmp_path), own=own).paths["unified"] == f"{tmp_path}/user.slice/ctr"
    assert open_manager(None, "ctr", root=str(tmp_path), own={"": "/"}).paths["unified"] == f"{tmp_path}/ctr"


@pytest.mark.parametrize("path", ["session-1.scope", "/user.slice", "/user.slice/session-1.scope", "/",
                                  "..", "x/../..", "."])
def test_paths_that_would_hold_pyrunc_or_the_host_are_refused(tmp_path: Path, path: str) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    with pytest.raises(PyruncError) as caught:
        open_manager(path, "x", root=str(tmp_path), own={"": "/user.slice/session-1.scope"})
    assert caught.value.path == "linux.cgroupsPath"


def test_add_pid_and_state(fake: v2.V2Manager) -> None:
    fake.add_pid(1234)
    assert written(fake, "cgroup.procs") == "1234"
    again = manager_from_state(fake.to_state(), fake_mount(fake))
    assert isinstance(again, v2.V2Manager) and again.path == fake.path and again.to_state() == fake.to_state()
    for broken in ({}, {**fake.to_state(), "version": 99}, {**fake.to_state(), "paths": {}}):
        with pytest.raises(PyruncError):
            manager_from_state(broken, fake_mount(fake))


# ---------------------------------------------------------------- resources

def test_memory(fake: v2.V2Manager) -> None:
    fake.apply({"memory": {"limit": 100 << 20, "swap": 150 << 20, "reservation": 50 << 20}})
    assert written(fake, "memory.max") == str(100 << 20)
    assert written(fake, "memory.swap.max") == str(50 << 20)  # swap alone, not memory+swap
    assert written(fake, "memory.low") == str(50 << 20)
    fake.apply({"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    assert written(fake, "memory.swap.max") == "0"  # equal limits: no swap at all
    fake.apply({"memory": {"limit": -1}})
    assert written(fake, "memory.max") == "max" and written(fake, "memory.swap.max") == "max"


def test_memory_without_swap_file(fake: v2.V2Manager) -> None:
    os.unlink(os.path.join(fake.path, "memory.swap.max"))
    fake.apply({"memory": {"limit": -1}})  # lifting swap that does not exist is fine
    with pytest.raises(PyruncError, match="memory.swap.max") as info:
        fake.apply({"memory": {"limit": 100, "swap": 200}})
    assert info.value.path == "linux.resources.memory.swap"


def test_memory_errors_and_ignored_fields(fake: v2.V2Manager) -> None:
    with pytest.raises(PyruncError, match="without a memory limit") as info:
        fake.apply({"memory": {"swap": 100}})
    assert info.value.path == "linux.resources.memory.swap"
    (Path(fake.path) / "memory.current").write_text(str(10 << 20))
    with pytest.raises(PyruncError, match="already above"):
        fake.apply({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}})
    fake.apply({"memory": {"kernel": 1 << 20, "swappiness": 5, "disableOOMKiller": True, "useHierarchy": False}})
    assert len(fake.warnings) == 4 and all("no cgroup v2 equivalent" in w for w in fake.warnings)


def test_cpu(fake: v2.V2Manager) -> None:
    fake.apply({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1,
                        "cpus": "0-1", "mems": "0"}})
    assert written(fake, "cpu.weight") == "100"
    assert written(fake, "cpu.max") == "50000 100000"
    assert written(fake, "cpu.max.burst") == "1000" and written(fake, "cpu.idle") == "1"
    assert written(fake, "cpuset.cpus") == "0-1" and written(fake, "cpuset.mems") == "0"
    (Path(fake.path) / "cpu.max").write_text("20000 100000\n")
    fake.apply({"cpu": {"period": 50000}})  # only the period: the quota stays
    assert written(fake, "cpu.max") == "20000 50000"
    fake.apply({"cpu": {"quota": -1}})
    assert written(fake, "cpu.max") == "max"
    with pytest.raises(PyruncError, match="real-time") as info:
        fake.apply({"cpu": {"realtimeRuntime": 1000}})
    assert info.value.path == "linux.resources.cpu.realtimeRuntime"


@pytest.mark.parametrize("limit, text", [(5, "5"), (0, "max"), (-1, "max")])
def test_pids(fake: v2.V2Manager, limit: int, text: str) -> None:
    fake.apply({"pids": {"limit": limit}})
    assert written(fake, "pids.max") == text


def test_io(fake: v2.V2Manager) -> None:
    fake.apply({"blockIO": {"weight": 1000, "leafWeight": 10,
                            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1 << 20}]}})
    assert written(fake, "io.weight") == "10000"
    assert written(fake, "io.max") == "8:0 rbps=1048576"
    assert fake.warnings == ["linux.resources.blockIO.leafWeight: ignored, cgroup v2 has no leaf weights"]
    fake.apply({"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}})
    assert written(fake, "io.max") == "8:16 wiops=max"
    (Path(fake.path) / "io.bfq.weight").write_text("100")
    fake.apply({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}})
    assert written(fake, "io.bfq.weight") == "8:0 500"  # BFQ takes v1 weights as they are


def test_hugetlb_rdma_unified(fake: v2.V2Manager) -> None:
    (Path(fake.path) / "memory.high").write_text("max")
    fake.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
                "rdma": {"mlx5_0": {"hcaHandles": 3}},
                "memory": {"limit": 1 << 30}, "unified": {"memory.high": "50M", "memory.max": "2G"}})
    assert written(fake, "hugetlb.2MB.max") == str(4 << 20)
    assert written(fake, "hugetlb.2MB.rsvd.max") == str(4 << 20)
    assert written(fake, "rdma.max") == "mlx5_0 hca_handle=3 hca_object=max"
    assert written(fake, "memory.high") == "50M"
    assert written(fake, "memory.max") == "2G"  # unified is written last and wins
    with pytest.raises(PyruncError, match="no such cgroup file"):
        fake.apply({"unified": {"memory.oom.group": "1"}})


@pytest.mark.parametrize("resources, path, message", [
    ({"unified": {"misc.max": "1"}}, 'linux.resources.unified["misc.max"]', "misc controller is not available"),
    ({"unified": {"../etc": "1"}}, 'linux.resources.unified["../etc"]', "not a cgroup interface file"),
    ({"unified": {"memory.high": 5}}, 'linux.resources.unified["memory.high"]', "must be a string"),
    ({"unified": {"cgroup.kill": "1"}}, 'linux.resources.unified["cgroup.kill"]', "managed by the runtime"),
    ({"hugepageLimits": [{"pageSize": "1GB", "limit": 1}]}, "linux.resources.hugepageLimits[0].limit",
     "hugetlb.1GB.max"),
    ({"rdma": {"mlx": {"hcaObjects": -1}}}, "linux.resources.rdma.mlx.hcaObjects", "out of range"),
    ({"memory": []}, "linux.resources.memory", "must be an object"),
])
def test_errors_name_the_json_path(fake: v2.V2Manager, resources: dict, path: str, message: str) -> None:
    with pytest.raises(PyruncError, match=message) as info:
        fake.apply(resources)
    assert info.value.path == path


@pytest.mark.parametrize("network, controller, path", [
    ({"classID": 1}, "net_cls", "linux.resources.network.classID"),
    ({"priorities": [{"name": "lo", "priority": 3}]}, "net_prio", "linux.resources.network.priorities"),
])
def test_network_is_refused(fake: v2.V2Manager, network: dict, controller: str, path: str) -> None:
    with pytest.raises(PyruncError, match=f"cgroup v2 has no {controller} controller") as info:
        fake.apply({"network": network, "pids": {"limit": 7}})
    assert info.value.path == path and written(fake, "pids.max") == "max"
    fake.apply({"network": {}})     # nothing asked for: nothing to refuse


# ---------------------------------------------------------------- devices

RESTRICTIVE = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]


def test_device_rules_v2_pure() -> None:
    assert device_rules_v2(RESTRICTIVE) == [
        {"allow": False, "type": "a", "major": -1, "minor": -1, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    assert device_rules_v2([]) == [{"allow": True, "type": "a", "major": -1, "minor": -1, "access": "rwm"}]
    with pytest.raises(PyruncError) as info:
        device_rules_v2([{"allow": True, "access": "rwx"}])
    assert info.value.path == "linux.resources.devices[0].access"


def test_devices_without_loader(fake: v2.V2Manager) -> None:
    fake.device_program_loader = None
    fake.apply({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "access": "rwm"}]})
    with pytest.raises(PyruncError, match="not supported yet") as info:
        fake.apply({"devices": RESTRICTIVE})
    assert info.value.errno == errno.ENOTSUP and info.value.path == "linux.resources.devices"


def test_devices_with_loader(fake: v2.V2Manager) -> None:
    loaded: list[list[dict]] = []
    fake.device_program_loader = lambda manager, rules: loaded.append(rules)
    fake.apply({"devices": RESTRICTIVE})
    rules = loaded[0]
    assert rules[0] == {"allow": False, "type": "a", "major": -1, "minor": -1, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in rules  # spec rw + default rwm
    assert {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"} in rules


# ---------------------------------------------------------------- freezer, kill, stats

def test_freeze_thaw(fake: v2.V2Manager) -> None:
    events = Path(fake.path) / "cgroup.events"
    events.write_text("populated 1\nfrozen 1\n")
    fake.freeze()
    assert written(fake, "cgroup.freeze") == "1" and fake.is_frozen()
    events.write_text("populated 1\nfrozen 0\n")
    fake.thaw()
    assert written(fake, "cgroup.freeze") == "0" and not fake.is_frozen()


def test_freeze_timeout_thaws_again(fake: v2.V2Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.05)
    with pytest.raises(PyruncError, match="timed out") as info:
        fake.freeze()
    assert info.value.errno == errno.ETIMEDOUT and written(fake, "cgroup.freeze") == "0"


def test_kill_all_uses_cgroup_kill(fake: v2.V2Manager) -> None:
    fake.kill_all(9)
    assert written(fake, "cgroup.kill") == "1"


def test_pids_recursive(fake: v2.V2Manager) -> None:
    (Path(fake.path) / "cgroup.procs").write_text("10\n11\n")
    fake_level(Path(fake.path) / "sub", {"cgroup.procs": "12\n"})
    assert sorted(fake.pids()) == [10, 11, 12]


def test_stats(fake: v2.V2Manager) -> None:
    fake_level(Path(fake.path), {
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                    "throttled_usec 7\n",
        "cpu.pressure": "some avg10=0.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n",
        "memory.current": "4096", "memory.max": "max", "memory.peak": "8192", "memory.stat": "anon 4096\nfile 100\n",
        "memory.swap.current": "10", "memory.swap.max": "max", "memory.events": "oom 2\noom_kill 1\n",
        "pids.current": "3", "pids.max": "max",
        "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 5\n", "hugetlb.1GB.current": "1073741824",
        "cpuset.cpus.effective": "0-2,5", "cpuset.mems.effective": "0"})
    data = fake.stats()
    assert data["cpu"]["usage"] == {"total": 1_500_000, "kernel": 500_000, "user": 1_000_000}
    assert data["cpu"]["throttling"] == {"periods": 4, "throttledPeriods": 1, "throttledTime": 7000}
    assert data["cpu"]["psi"]["some"] == {"avg10": 0.5, "avg60": 0.0, "avg300": 0.0, "total": 12}
    memory = data["memory"]
    assert memory["usage"] == {"limit": UNLIMITED, "usage": 4096, "max": 8192, "failcnt": 0}
    assert memory["swap"] == {"limit": UNLIMITED, "usage": 4106, "failcnt": 0}
    assert memory["cache"] == 100 and memory["raw"]["anon"] == 4096
    assert memory["kernel"] == {"limit": 0, "failcnt": 0}
    assert data["pids"] == {"current": 3}
    assert data["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "op": "Read", "value": 100},
                                                        {"major": 8, "op": "Write", "value": 200}]
    assert data["hugetlb"] == {"1GB": {"usage": 1 << 30, "failcnt": 0}, "2MB": {"failcnt": 5}}
    assert data["cpuset"]["cpus"] == [0, 1, 2, 5]
    assert data["network_interfaces"] is None and data["intel_rdt"] == {}
    assert fake.oom_count() == 1 and fake.oom_event_fd() is None


def test_destroy_gone_is_fine(tmp_path: Path) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    manager = open_manager("/never/made", "x", root=str(tmp_path))
    manager.destroy()
    manager.kill_all(9)


def test_destroy_removes_only_what_it_made(tmp_path: Path) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    fake_level(tmp_path / "existing" / "theirs", {})
    manager = open_manager("/existing/new/leaf", "x", root=str(tmp_path), own={"": "/"})
    manager.create()
    assert manager.created == [f"{tmp_path}/existing/new", f"{tmp_path}/existing/new/leaf"]
    again = manager_from_state(manager.to_state(), [(str(tmp_path), True)])
    assert again.created == manager.created and again.owned()
    # On the host's mounts, the fake hierarchy is no cgroup filesystem.
    with pytest.raises(PyruncError, match="not a cgroup pyrunc can have made"):
        manager_from_state(manager.to_state())
    (tmp_path / "existing" / "new" / "leaf" / "made-inside").mkdir()
    again.destroy()
    assert not (tmp_path / "existing" / "new").exists()
    assert (tmp_path / "existing" / "theirs").is_dir()


def test_an_existing_cgroup_is_never_removed(tmp_path: Path) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    fake_level(tmp_path / "victim" / "child", {})
    manager = open_manager("/victim", "x", root=str(tmp_path), own={"": "/"})
    manager.create()
    assert manager.created == [] and not manager.owned()
    manager_from_state(manager.to_state()).destroy()
    assert (tmp_path / "victim" / "child").is_dir()


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is no container's."""
    process = subprocess.Popen(["sleep", "600"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_kill_all_in_a_cgroup_not_made_spares_other_processes(tmp_path: Path,
                                                             victim: subprocess.Popen[bytes]) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    fake_level(tmp_path / "victim", {**LEAF_FILES, "cgroup.procs": f"{victim.pid}\n"})
    manager = open_manager("/victim", "x", root=str(tmp_path), own={"": "/"})
    manager.create()
    manager.kill_all(9, belongs=lambda pid: False)
    manager.kill_all(9)
    assert victim.poll() is None
    assert written(manager, "cgroup.kill") == "" and written(manager, "cgroup.freeze") == "0"
    manager.kill_all(9, belongs=lambda pid: pid == victim.pid)   # one the caller vouches for
    assert victim.wait(10) == -9


def test_check_before_use(tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    fake_level(tmp_path / "busy", {**LEAF_FILES, "cgroup.procs": f"{victim.pid}\n"})
    busy = open_manager("/busy", "x", root=str(tmp_path), own={"": "/"})
    busy.create()
    busy.check_before_use()
    assert busy.warnings == ["container's cgroup is not empty: 1 process(es) found"]
    fake_level(tmp_path / "frozen", {**LEAF_FILES, "cgroup.events": "populated 0\nfrozen 1\n"})
    frozen = open_manager("/frozen", "x", root=str(tmp_path), own={"": "/"})
    frozen.create()
    with pytest.raises(PyruncError, match="unexpectedly frozen"):
        frozen.check_before_use()


# ---------------------------------------------------------------- systemd front door

def test_systemd_paths() -> None:
    assert systemd.parse_systemd_path(None, "c1") == ("system.slice", "pyrunc-c1.scope")
    assert systemd.parse_systemd_path(":docker:abc", "c1") == ("system.slice", "docker-abc.scope")
    assert systemd.parse_systemd_path("user.slice::own.slice", "c1") == ("user.slice", "own.slice")
    assert systemd.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert systemd.expand_slice("-.slice") == "/"
    for bad in ("a--b.slice", "-a.slice", "a.scope", "a/b.slice"):
        with pytest.raises(PyruncError, match="not a valid systemd slice"):
            systemd.expand_slice(bad)
    with pytest.raises(PyruncError, match="slice:prefix:name") as info:
        systemd.parse_systemd_path("/plain/path", "c1")
    assert info.value.path == "linux.cgroupsPath"


def test_systemd_not_running(tmp_path: Path) -> None:
    with pytest.raises(PyruncError, match="^systemd cgroup driver: systemd is not running$"):
        systemd.check_systemd(booted=str(tmp_path / "missing"))
    if not os.path.isdir(systemd.SYSTEMD_BOOTED):
        with pytest.raises(PyruncError, match="systemd is not running"):
            open_manager("system.slice:pyrunc:c1", "c1", systemd=True)


# ---------------------------------------------------------------- the real kernel

def _real_unified() -> str | None:
    """The cgroup2 mount to test on: /sys/fs/cgroup itself or hybrid's unified."""
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return root
    return None


@pytest.fixture
def real() -> Iterator[v2.V2Manager]:
    root = _real_unified()
    if os.geteuid() != 0 or root is None:
        pytest.skip("needs root and a mounted cgroup2 hierarchy")
    manager = open_manager(f"/pyrunc-test-{os.getpid()}/v2", "t", root=root)
    assert isinstance(manager, v2.V2Manager)
    with contextlib.ExitStack() as cleanup:  # last-first, each even if another failed
        cleanup.callback(_put_back_subtree_control, root, read_text(root, "cgroup.subtree_control").split())
        cleanup.callback(remove_tree, os.path.dirname(manager.path))
        cleanup.callback(manager.destroy)
        cleanup.callback(manager.kill_all, 9)
        manager.create()
        yield manager


def _put_back_subtree_control(root: str, before: list[str]) -> None:
    enabled = read_text(root, "cgroup.subtree_control").split()
    for controller in set(enabled) - set(before):
        with contextlib.suppress(OSError):  # still used by someone else's cgroup below
            write_file(root, "cgroup.subtree_control", f"-{controller}")


def test_real_cgroup2(real: v2.V2Manager) -> None:
    offered = real.controllers()
    parent = os.path.dirname(real.path)
    assert set(offered) <= set(read_text(parent, "cgroup.subtree_control").split())
    child = subprocess.Popen([sys.executable, "-c", "import sys\nfor line in sys.stdin: print(line.strip(), flush=True)"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    try:
        real.add_pid(child.pid)
        assert real.pids() == [child.pid] and real._events()["populated"] == 1
        if "hugetlb" in offered:
            real.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]})
            assert written(real, "hugetlb.2MB.max") == str(2 << 20)
            assert "2MB" in real.stats()["hugetlb"]
        real.freeze()
        assert real.is_frozen()
        child.stdin.write("hello\n")
        child.stdin.flush()
        assert select.select([child.stdout], [], [], 0.3)[0] == []
        real.thaw()
        assert not real.is_frozen() and child.stdout.readline().strip() == "hello"
        real.kill_all(9)  # through cgroup.kill where the kernel has it
        assert child.wait(10) == -9
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


# ---------------------------------------------------------------- exec --cgroup

@pytest.mark.parametrize("args, parsed", [
    ([], {}), (["sub"], {"": "sub"}), (["memory:a"], {"memory": "a"}),
    (["memory,pids:a", "cpu:b"], {"memory": "a", "pids": "a", "cpu": "b"}),
])
def test_parse_sub_cgroups(args: list[str], parsed: dict) -> None:
    assert parse_sub_cgroups(args) == parsed


@pytest.mark.parametrize("args, message", [
    (["a:b:c"], "invalid --cgroup argument: a:b:c"),
    (["sub", "memory:a"], "missing <controller>: prefix"),
    ([",memory:a"], "empty <controller> prefix"),
    (["memory:a", "memory:b"], "controller memory specified multiple times"),
])
def test_parse_sub_cgroups_refuses(args: list[str], message: str) -> None:
    with pytest.raises(PyruncError, match=message):
        parse_sub_cgroups(args)


def test_add_pid_below(fake: v2.V2Manager) -> None:
    for level in (Path(fake.path) / "sub", Path(fake.path) / "sub" / "deeper"):
        fake_level(level, {"cgroup.procs": ""})
    fake.add_pid_below(1234, {"": "sub/deeper"})
    assert read_text(f"{fake.path}/sub/deeper", "cgroup.procs") == "1234"
    fake.add_pid_below(1235, {"memory": "/sub", "pids": "sub"})   # prefixes name the one hierarchy
    assert read_text(f"{fake.path}/sub", "cgroup.procs") == "1235"


@pytest.mark.parametrize("subs, message", [
    ({"": "../c2"}, "is not a sub cgroup path"), ({"": "sub/../../x"}, "is not a sub cgroup path"),
    ({"": "missing"}, "no such sub-cgroup"), ({"memory": "a", "pids": "b"}, "single hierarchy"),
])
def test_add_pid_below_refuses(fake: v2.V2Manager, tmp_path: Path, subs: dict, message: str) -> None:
    fake_level(tmp_path / "pyrunc" / "c2", {"cgroup.procs": ""})
    with pytest.raises(PyruncError, match=message):
        fake.add_pid_below(1234, subs)
    assert read_text(str(tmp_path / "pyrunc" / "c2"), "cgroup.procs") == ""


def test_a_create_failing_half_way_says_what_it_made(tmp_path: Path) -> None:
    fake_level(tmp_path, {"cgroup.controllers": ""})
    manager = open_manager("/made/" + "x" * 300, "x", root=str(tmp_path), own={"": "/"})
    with pytest.raises(PyruncError, match="cannot create cgroup"):
        manager.create()
    assert manager.created == [f"{tmp_path}/made"]
    manager.destroy()
    assert not (tmp_path / "made").exists()
