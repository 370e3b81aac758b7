"""The container's cgroup when cgroupsPath names one that is there already
(frozen, holding processes), `exec --cgroup`, resources the host cannot
apply, and v1 device rules as the kernel lists them."""
from __future__ import annotations

import errno
import subprocess
import time
from pathlib import Path

import pytest

from cgroup_sandbox import V2, CgroupSandbox, alive, sandbox  # noqa: F401 (a fixture)
from harness import CGROUP_ROOT, REPO, TIMEOUT, Bundle, Runtime, assert_error, pyrunc_executable

DENY_SYSCALL = REPO / "build" / "deny-syscall"


def freeze(sandbox: CgroupSandbox, relative: str = "") -> None:
    sandbox.make(relative)
    if V2:
        (CGROUP_ROOT / sandbox.path(relative).lstrip("/") / "cgroup.freeze").write_text("1")
    else:
        (CGROUP_ROOT / "freezer" / sandbox.path(relative).lstrip("/") / "freezer.state").write_text("FROZEN")


# ---- a cgroup that is there already ------------------------------------------------

@pytest.mark.parametrize("below", ["", "child"], ids=["frozen", "below-a-frozen-parent"])
def test_a_frozen_cgroup_is_refused_without_hanging(runtime: Runtime, bundle: Bundle, sandbox: CgroupSandbox,
                                                   below: str) -> None:
    freeze(sandbox)
    bundle.set("linux.cgroupsPath", sandbox.path(below))
    started = time.monotonic()
    result = runtime.run(bundle.payload("sleep", "600"), "-d", timeout=20)
    assert_error(result, "linux.cgroupsPath", "container's cgroup unexpectedly frozen")
    assert time.monotonic() - started < 10
    assert runtime.listed_ids() == []
    assert sandbox.exists() and (below == "" or not sandbox.exists(below))


def test_a_cgroup_holding_processes_gets_a_warning_and_keeps_them(runtime: Runtime, bundle: Bundle,
                                                                  sandbox: CgroupSandbox) -> None:
    neighbours = [sandbox.sleeper(), sandbox.sleeper()]
    bundle.set("linux.cgroupsPath", sandbox.path())
    result = runtime.run(bundle.payload("exit", "0"))
    result.ok()
    assert any(line["level"] == "warning" and line["msg"] == "container's cgroup is not empty: 2 process(es) found"
               for line in result.log)
    assert all(alive(process) for process in neighbours)
    assert sandbox.exists()


def thaw(sandbox: CgroupSandbox) -> None:
    if V2:
        (CGROUP_ROOT / sandbox.path().lstrip("/") / "cgroup.freeze").write_text("0")
    else:
        (CGROUP_ROOT / "freezer" / sandbox.path().lstrip("/") / "freezer.state").write_text("THAWED")


def test_start_in_a_cgroup_frozen_since_create_fails_without_hanging(runtime: Runtime, bundle: Bundle,
                                                                    sandbox: CgroupSandbox) -> None:
    bundle.set("linux.cgroupsPath", sandbox.path("ctr"))
    container = runtime.create(bundle.payload("sleep", "600"))
    freeze(sandbox)
    started = time.monotonic()
    assert_error(container.start(), "cgroup is frozen")
    assert time.monotonic() - started < 10
    thaw(sandbox)
    container.delete("--force").ok()
    assert not sandbox.exists("ctr")


def test_a_cgroup_frozen_during_setup_fails_create_without_hanging(runtime: Runtime, bundle: Bundle,
                                                                    sandbox: CgroupSandbox) -> None:
    """A createRuntime hook freezes the container's own cgroup while the
    init waits to go on: create fails in a bounded time, and the init, its
    cgroup and its state go with it."""
    bundle.set("linux.cgroupsPath", sandbox.path("ctr"))
    state = (CGROUP_ROOT / sandbox.path("ctr").lstrip("/") / "cgroup.freeze" if V2 else
             CGROUP_ROOT / "freezer" / sandbox.path("ctr").lstrip("/") / "freezer.state")
    bundle.set("hooks.createRuntime", [{"path": "/bin/sh",
                                        "args": ["sh", "-c", f"echo {1 if V2 else 'FROZEN'} > {state}"]}])
    started = time.monotonic()
    result = runtime.try_create(bundle.payload("sleep", "600"), timeout=30)
    assert_error(result, "cgroup is frozen while setting up the container")
    assert time.monotonic() - started < 15
    assert runtime.listed_ids() == []
    assert not sandbox.exists("ctr")


# ---- limits the host cannot apply ------------------------------------------------------

def mounted(controller: str) -> bool:
    return not V2 and (CGROUP_ROOT / controller / "cgroup.procs").exists()


@pytest.mark.parametrize("network, controller", [
    ({"classID": 1048577}, "net_cls"),
    ({"priorities": [{"name": "lo", "priority": 2}]}, "net_prio"),
])
def test_network_limits_without_their_controller_are_refused(runtime: Runtime, bundle: Bundle,
                                                             network: dict, controller: str) -> None:
    if mounted(controller):
        pytest.skip(f"{controller} is mounted here")
    bundle.set("linux.resources.network", network)
    result = runtime.try_create(bundle.payload("sleep", "600"))
    assert_error(result, "linux.resources.network", controller)
    assert runtime.listed_ids() == []


# ---- v1 device rules as the kernel lists them ----------------------------------------------

DEFAULT_DEVICE_LINES = {"b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                        "c 5:0 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm"}


@pytest.mark.skipif(V2, reason="devices.list is cgroup v1's")
@pytest.mark.parametrize("rules, shown", [
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}], {"c 10:229 rwm"}),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
      {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "rw"},
      {"allow": True, "type": "c", "major": 4, "access": "r"},
      {"allow": True, "type": "c", "major": 4, "minor": 1, "access": "w"}],
     {"c 10:229 rwm", "b 7:0 rw", "c 4:* r", "c 4:1 w"}),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
      {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "m"}], {"c 10:229 rwm"}),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
      {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "w"}], {"c 10:229 rm"}),
], ids=["fuse", "several", "merged", "narrowed"])
def test_v1_device_list_shows_each_allowed_rule(runtime: Runtime, bundle: Bundle, rules: list[dict],
                                                shown: set[str]) -> None:
    bundle.set("linux.resources.devices", [{"allow": False, "access": "rwm"}, *rules])
    container = runtime.create(bundle.payload("sleep", "600"))
    devices = next(line.split(":", 2)[2] for line in Path(f"/proc/{container.pid}/cgroup").read_text().splitlines()
                   if line.split(":")[1] == "devices")
    listed = set((CGROUP_ROOT / "devices" / devices.lstrip("/") / "devices.list").read_text().splitlines())
    assert listed == DEFAULT_DEVICE_LINES | shown


# ---- exec --cgroup ------------------------------------------------------------------------

def cgroups_of(pid: int) -> dict[str, str]:
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def make_sub_cgroup(container_pid: int, name: str) -> None:
    """`name` below the container's cgroup in each v1 hierarchy (or v2's one)."""
    for controller, path in cgroups_of(container_pid).items():
        base = CGROUP_ROOT / (controller.removeprefix("name=") if controller else "") / path.lstrip("/")
        if (V2 and controller) or (not V2 and not controller) or not base.is_dir():
            continue
        (base / name).mkdir()
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (base / name / knob).exists():
                (base / name / knob).write_text((base / knob).read_text())


def exec_detached(runtime: Runtime, cid: str, *flags: str) -> tuple[int, str]:
    pid_file = runtime.scratch / f"exec-{runtime.calls}.pid"
    result = runtime("exec", "--detach", "--pid-file", str(pid_file), *flags, cid, "/payload", "sleep", "600")
    return (int(pid_file.read_text()) if result.returncode == 0 else 0), result


def test_exec_into_a_sub_cgroup(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    own = cgroups_of(container.pid)
    make_sub_cgroup(container.pid, "sub")
    pid, result = exec_detached(runtime, container.cid, "--cgroup", "sub")
    result.ok()
    placed = {controller: path for controller, path in cgroups_of(pid).items() if bool(controller) != V2}
    assert placed and placed == {controller: own[controller] + "/sub" for controller in placed}
    if not V2:
        pid, result = exec_detached(runtime, container.cid, "--cgroup", "memory,pids:sub")
        result.ok()
        placed = cgroups_of(pid)
        assert placed["memory"] == own["memory"] + "/sub" and placed["pids"] == own["pids"] + "/sub"
        assert placed["freezer"] == own["freezer"]


@pytest.mark.parametrize("arg, message", [
    ("../..", "is not a sub cgroup path"), ("sub/../../elsewhere", "is not a sub cgroup path"),
    ("missing", "no such sub-cgroup"), ("a:b:c", "invalid --cgroup argument"),
])
def test_exec_refuses_a_cgroup_outside_the_container(runtime: Runtime, bundle: Bundle, arg: str,
                                                     message: str) -> None:
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    make_sub_cgroup(container.pid, "sub")
    pid, result = exec_detached(runtime, container.cid, "--cgroup", arg)
    assert_error(result, message, status=255)
    assert container.state()["status"] == "running"


def test_a_cgroup_failing_half_way_leaves_no_parent_behind(runtime: Runtime, bundle: Bundle) -> None:
    parent = f"{runtime.prefix}-made"
    bundle.set("linux.cgroupsPath", f"/{parent}/cgroup.procs/x")    # a file where a directory must go
    assert_error(runtime.try_create(bundle.payload("sleep", "600")), "cannot create cgroup")
    assert not list(CGROUP_ROOT.glob(f"*/{parent}"))


# ---- where clone3 cannot place the init ----------------------------------------------------

def test_the_init_joins_its_cgroup_where_clone3_is_hidden(runtime: Runtime, bundle: Bundle) -> None:
    # Kernels before 5.3 have no clone3, and engines' seccomp profiles make
    # it fail with ENOSYS (so that glibc falls back to clone): the init
    # must then join its cgroup itself.
    reference = runtime.create(bundle.payload("sleep", "600"))
    expected = cgroups_of(reference.pid)
    cid = runtime.new_id()
    argv = [str(DENY_SYSCALL), str(errno.ENOSYS), "clone3", pyrunc_executable(), "--root", str(runtime.root),
            "create", "--bundle", str(bundle.path), cid]
    # Files, not pipes: the created init keeps its stdio open.
    with open(runtime.scratch / "clone3.err", "w+b") as err:
        result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=err, timeout=TIMEOUT)
        err.seek(0)
        assert result.returncode == 0, err.read().decode()
    pid = int(runtime.state(cid)["pid"])
    found = cgroups_of(pid)
    # Each hierarchy's path is the container's own (named after its id).
    assert found.keys() == expected.keys()
    for controller, path in found.items():
        assert path == expected[controller].replace(reference.cid, cid), controller
    assert runtime("delete", "--force", cid).returncode == 0
