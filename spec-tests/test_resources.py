"""config-linux.md "Control groups" resources, and the runc verbs over
them: `update`, `pause`/`resume`, `ps`, `events`, `kill --all` and
`delete --force` of a paused container.  Each field is checked in the
cgroup file it must reach and, where it can be, by its effect on a real
process (OOM kill, fork failure, CPU throttling, frozen tasks)."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness import CGROUP_ROOT, Bundle, Container, Runtime, assert_error, cgroup_keyed, poll, process_alive

MIB = 1 << 20
V2 = (CGROUP_ROOT / "cgroup.controllers").exists()
V1_UNLIMITED = "9223372036854771712"  # what v1 shows for -1 (page-rounded INT64_MAX)
BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


# ---- helpers ------------------------------------------------------------------------------

def sleeper(bundle: Bundle) -> Bundle:
    return bundle.payload("sleep", "600")


def started(runtime: Runtime, bundle: Bundle) -> Container:
    container = runtime.create(bundle)
    container.start().ok()
    return container


class Cgroup:
    """A process's cgroup files, found through /proc/PID/cgroup: v1 files by
    controller, v2 files in the unified directory (controller ignored)."""

    def __init__(self, pid: int) -> None:
        self.paths: dict[str, str] = {}
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                self.paths[controller] = path

    def dir(self, controller: str) -> Path:
        if V2:
            return CGROUP_ROOT / self.paths[""].lstrip("/")
        return CGROUP_ROOT / controller / self.paths[controller].lstrip("/")

    def has(self, controller: str, name: str) -> bool:
        return (self.dir(controller) / name).exists()

    def read(self, controller: str, name: str) -> str:
        return (self.dir(controller) / name).read_text().strip()

    def keyed(self, controller: str, name: str) -> dict[str, int]:
        return cgroup_keyed(self.dir(controller), name)

    def cpu_usage_ns(self) -> int:
        if V2:
            return self.keyed("cpu", "cpu.stat")["usage_usec"] * 1000
        return int(self.read("cpuacct", "cpuacct.usage"))

    def frozen(self) -> bool:
        if V2:
            return self.keyed("", "cgroup.events")["frozen"] == 1
        return self.read("freezer", "freezer.state") == "FROZEN"


# v1 controller, v1 file, v2 file for each resource field the tests set.
FILES = {
    "memory.limit": ("memory", "memory.limit_in_bytes", "memory.max"),
    "memory.reservation": ("memory", "memory.soft_limit_in_bytes", "memory.low"),
    "memory.swap": ("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
    "cpu.shares": ("cpu", "cpu.shares", "cpu.weight"),
    "cpu.quota": ("cpu", "cpu.cfs_quota_us", "cpu.max"),
    "cpu.period": ("cpu", "cpu.cfs_period_us", "cpu.max"),
    "cpu.cpus": ("cpuset", "cpuset.cpus", "cpuset.cpus"),
    "cpu.mems": ("cpuset", "cpuset.mems", "cpuset.mems"),
    "pids.limit": ("pids", "pids.max", "pids.max"),
}


def field_file(cgroup: Cgroup, field: str) -> str:
    controller, v1_name, v2_name = FILES[field]
    return cgroup.read(controller, v2_name if V2 else v1_name)


def blkio_weight_file(cgroup: Cgroup) -> str | None:
    """The proportional block IO weight file this host has, if any."""
    names = ("io.bfq.weight", "io.weight") if V2 else ("blkio.weight", "blkio.bfq.weight")
    return next((name for name in names if cgroup.has("blkio", name)), None)


def host_blkio_weight_file() -> str | None:
    """Before any container exists: does the root cgroup offer a weight?"""
    if V2:
        return "io.weight" if "io" in (CGROUP_ROOT / "cgroup.controllers").read_text().split() else None
    return next((name for name in ("blkio.weight", "blkio.bfq.weight")
                 if (CGROUP_ROOT / "blkio" / name).exists()), None)


def saved_resources(runtime: Runtime, cid: str) -> dict[str, Any]:
    """linux.resources as pyrunc recorded it for the container (state.json)."""
    state = json.loads((runtime.root / cid / "state.json").read_text())
    return state["config"]["linux"]["resources"]


def stats(runtime: Runtime, cid: str) -> dict[str, Any]:
    lines = runtime("events", "--stats", cid).ok().stdout.splitlines()
    assert len(lines) == 1, lines
    event = json.loads(lines[0])
    assert (event["type"], event["id"]) == ("stats", cid), event
    return event["data"]


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spawn_events(runtime: Runtime, cid: str, interval: str = "100ms") -> tuple[subprocess.Popen[bytes], Path]:
    """A long-running `events`, already watching (its first stats are out)."""
    proc, call = runtime.spawn("events", "--interval", interval, cid)
    poll(lambda: any(e["type"] == "stats" for e in events_of(call.out)), 10, "the first stats event")
    return proc, call.out


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def proc_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rfind(b")") + 2:][:1].decode()


# ---- resources reach their cgroup files ----------------------------------------------------

def test_resources_reach_their_cgroup_files(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.memory", {"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB})
    bundle.set("linux.resources.cpu", {"shares": 512, "quota": 20000, "period": 100000,
                                        "cpus": "0", "mems": "0"})
    bundle.set("linux.resources.pids", {"limit": 50})
    weight_file = host_blkio_weight_file()
    if weight_file:
        bundle.set("linux.resources.blockIO", {"weight": 300})
    container = runtime.create(sleeper(bundle))
    cgroup = Cgroup(container.pid)
    expected = {
        "memory.limit": str(64 * MIB), "memory.reservation": str(32 * MIB),
        # OCI swap is memory+swap: v1's memsw, while v2's swap.max is swap alone
        "memory.swap": str((32 if V2 else 96) * MIB),
        # v2: the shares -> weight curve maps 512 to 59 (1024 -> 100)
        "cpu.shares": "59" if V2 else "512",
        "cpu.quota": "20000 100000" if V2 else "20000", "cpu.period": "20000 100000" if V2 else "100000",
        "cpu.cpus": "0", "cpu.mems": "0", "pids.limit": "50",
    }
    seen = {field: field_file(cgroup, field) for field in expected}
    assert seen == expected
    if weight_file:
        # io.weight takes 10..1000 scaled to 1..10000; the bfq files take it as is
        weight = "2930" if weight_file == "io.weight" else "300"
        assert weight in cgroup.read("blkio", weight_file).split()


def test_unlimited_values(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.memory", {"limit": -1, "swap": -1})
    bundle.set("linux.resources.cpu", {"quota": -1}).set("linux.resources.pids", {"limit": -1})
    cgroup = Cgroup(runtime.create(sleeper(bundle)).pid)
    unlimited = "max" if V2 else V1_UNLIMITED
    assert field_file(cgroup, "memory.limit") == unlimited
    assert field_file(cgroup, "pids.limit") == "max"
    assert field_file(cgroup, "cpu.quota").split()[0] == ("max" if V2 else "-1")


# ---- enforcement ---------------------------------------------------------------------------

def test_memory_hog_is_oom_killed_and_events_reports_it(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.memory", {"limit": 16 * MIB, "swap": 16 * MIB})
    container = started(runtime, sleeper(bundle))
    events, out = spawn_events(runtime, container.cid)
    try:
        # dd's 64 MiB buffer is charged as dd fills it: the OOM killer takes dd.
        hog = runtime("exec", container.cid, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
        assert hog.returncode != 0, hog
        poll(lambda: {"type": "oom", "id": container.cid} in events_of(out), 10, "an oom event")
        assert container.state()["status"] == "running"  # only the hog died
        oom_file = "memory.events" if V2 else "memory.oom_control"
        assert Cgroup(container.pid).keyed("memory", oom_file)["oom_kill"] >= 1
        container.kill("KILL").ok()
        assert events.wait(10) == 0  # events ends with the container
    finally:
        stop(events)
    assert "Traceback" not in out.with_suffix(".err").read_text()


def test_4mib_memory_limit_is_enough_to_run_true(runtime: Runtime, bundle: Bundle) -> None:
    # Only the small C init is charged to the container, never a Python
    # interpreter (runc's infamous "10 MiB is not enough").
    bundle.set("linux.resources.memory", {"limit": 4 * MIB, "swap": 4 * MIB})
    result = runtime.run(bundle.set("process.args", ["true"]))
    assert result.returncode == 0, result


def test_fork_bomb_stops_at_the_pids_limit(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.pids", {"limit": 16})
    container = started(runtime, sleeper(bundle))
    # Bounded: at most 64 sleepers of 60 s; delete --force ends them.
    bomb = runtime("exec", container.cid, "sh", "-c",
                   "i=0; while [ $i -lt 64 ]; do sleep 60 & i=$((i+1)); done")
    assert bomb.returncode != 0 and "fork" in bomb.stderr, bomb
    cgroup = Cgroup(container.pid)
    assert cgroup.keyed("pids", "pids.events")["max"] > 0
    pids = stats(runtime, container.cid)["pids"]
    assert pids["limit"] == 16 and 2 <= pids["current"] <= 16, pids
    assert len(runtime("ps", "--format", "json", container.cid).json()) == pids["current"]


def test_cpu_quota_caps_usage(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.cpu", {"quota": 20000, "period": 100000})  # 20% of one CPU
    container = started(runtime, bundle.set("process.args", BUSY_LOOP))
    cgroup = Cgroup(container.pid)
    time.sleep(0.2)
    start_usage, start = cgroup.cpu_usage_ns(), time.monotonic()
    time.sleep(1.0)
    share = (cgroup.cpu_usage_ns() - start_usage) / ((time.monotonic() - start) * 1e9)
    assert 0.05 < share < 0.3, share


# ---- update ----------------------------------------------------------------------------------

def test_update_changes_the_limits_of_a_running_container(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.memory", {"limit": 64 * MIB})
    container = started(runtime, sleeper(bundle))
    cgroup = Cgroup(container.pid)
    runtime("update", "--memory", "32m", "--memory-reservation", "16M", "--cpu-share", "256",
            "--cpu-quota", "30000", "--cpu-period", "100000", "--pids-limit", "40",
            "--cpuset-cpus", "0", container.cid).ok()
    assert field_file(cgroup, "memory.limit") == str(32 * MIB)
    assert field_file(cgroup, "memory.reservation") == str(16 * MIB)
    assert field_file(cgroup, "cpu.quota").split()[0] == "30000"
    assert field_file(cgroup, "pids.limit") == "40"
    assert field_file(cgroup, "cpu.cpus") == "0"
    # Another field later: the earlier ones stay, in the cgroup and the saved config.
    runtime("update", "--pids-limit", "41", container.cid).ok()
    assert field_file(cgroup, "memory.limit") == str(32 * MIB)
    saved = saved_resources(runtime, container.cid)
    assert saved["memory"]["limit"] == 32 * MIB and saved["pids"]["limit"] == 41
    assert saved["cpu"]["shares"] == 256 and saved["cpu"]["cpus"] == "0"
    data = stats(runtime, container.cid)
    assert data["memory"]["usage"]["limit"] == 32 * MIB and data["pids"]["limit"] == 41


@pytest.mark.parametrize("style", ["stdin", "file", "file-equals", "short"])
def test_update_reads_resources_json(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                     style: str) -> None:
    container = started(runtime, sleeper(bundle))
    resources = {"memory": {"limit": 48 * MIB, "swap": 0}, "pids": {"limit": 33},
                 # not updated by runc's update either: create's rules stay
                 "devices": [{"allow": True, "access": "rwm"}]}
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(resources))
    if style == "stdin":
        with open(path, "rb") as stdin:
            result = runtime("update", "--resources", "-", container.cid, stdin=stdin)
    else:
        flag = {"file": ["--resources", str(path)], "file-equals": [f"--resources={path}"],
                "short": ["-r", str(path)]}[style]
        result = runtime("update", *flag, container.cid)
    result.ok()
    cgroup = Cgroup(container.pid)
    assert field_file(cgroup, "memory.limit") == str(48 * MIB)
    assert field_file(cgroup, "pids.limit") == "33"
    assert saved_resources(runtime, container.cid)["devices"] == bundle.get("linux.resources.devices")
    if not V2:
        assert "a *:* rwm" not in cgroup.read("devices", "devices.list")


@pytest.mark.parametrize("text, expected", [
    ("10m", 10 * MIB), ("64M", 64 * MIB), ("1g", 1 << 30), ("524288k", 512 * MIB),
    ("100MiB", 100 * MIB), ("20971520", 20 * MIB), ("1.5g", 3 << 29), ("-1", -1),
])
def test_update_memory_units(runtime: Runtime, bundle: Bundle, text: str, expected: int) -> None:
    container = started(runtime, sleeper(bundle))
    runtime("update", "--memory", text, container.cid).ok()
    unlimited = "max" if V2 else V1_UNLIMITED
    assert field_file(Cgroup(container.pid), "memory.limit") == (unlimited if expected == -1 else str(expected))


@pytest.mark.parametrize("args, fragment", [
    (["--memory", "10x"], "invalid value for memory"),
    (["--memory", "lots"], "invalid value for memory"),
    (["--cpu-period", "-5"], "invalid value for cpu-period"),
    (["--cpu-quota", "1.5"], "invalid value for cpu-quota"),
    (["--pids-limit", "many"], "invalid value for pids-limit"),
    (["--l3-cache-schema", "L3:0=f"], "Intel RDT"),
])
def test_update_refuses_bad_values(runtime: Runtime, bundle: Bundle, args: list[str],
                                   fragment: str) -> None:
    container = started(runtime, sleeper(bundle))
    assert_error(runtime("update", *args, container.cid), fragment)


def test_update_of_a_stopped_container_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert_error(runtime("update", "--memory", "32m", container.cid), "container not running")
    assert_error(runtime("update", "--memory", "32m", "nonesuch"), "nonesuch")


# ---- pause / resume -----------------------------------------------------------------------------

def test_pause_freezes_and_resume_thaws(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, bundle.set("process.args", BUSY_LOOP))
    pid, cgroup = container.pid, Cgroup(container.pid)
    runtime("pause", container.cid).ok()
    assert container.state()["status"] == "paused"
    assert cgroup.frozen()
    if not V2:
        assert cgroup.read("freezer", "freezer.state") == "FROZEN"
    # v1 freezes tasks in the kernel's frozen state, shown as D; v2 traps them like a stop
    assert proc_state(pid) in (("D", "S") if V2 else ("D",))
    usage = cgroup.cpu_usage_ns()
    time.sleep(0.3)
    assert cgroup.cpu_usage_ns() == usage  # the busy loop makes no progress
    runtime("resume", container.cid).ok()
    assert container.state()["status"] == "running"
    assert not cgroup.frozen()
    poll(lambda: cgroup.cpu_usage_ns() > usage, 5, "the busy loop to run again")
    assert proc_state(pid) in ("R", "S")


def test_pause_and_resume_refuse_the_wrong_state(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    # A created container can be paused, as with runc; it stays created once resumed.
    runtime("pause", container.cid).ok()
    assert container.state()["status"] == "paused"
    runtime("resume", container.cid).ok()
    assert container.state()["status"] == "created"
    container.start().ok()
    assert_error(runtime("resume", container.cid), "container not paused")
    runtime("pause", container.cid).ok()
    assert_error(runtime("pause", container.cid), "container not running")
    runtime("resume", container.cid).ok()
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert_error(runtime("pause", container.cid), "container not running")
    assert_error(runtime("resume", container.cid), "container not paused")
    assert_error(runtime("pause", "nonesuch"), "nonesuch")


def test_delete_force_of_a_paused_container(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    runtime("exec", "--detach", container.cid, "/payload", "sleep", "600").ok()
    pids = runtime("ps", "--format", "json", container.cid).json()
    cgroup_dir = Cgroup(container.pid).dir("freezer")
    runtime("pause", container.cid).ok()
    assert_error(container.delete(), "not stopped")
    container.delete("--force").ok()
    assert_error(runtime("state", container.cid), container.cid)
    for pid in pids:
        poll(lambda: not process_alive(pid), 5, f"pid {pid} to die")
    assert not cgroup_dir.exists()


def test_kill_all_signals_every_process(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    runtime("exec", "--detach", container.cid, "/payload", "sleep", "600").ok()
    pids = runtime("ps", "--format", "json", container.cid).json()
    assert len(pids) == 2 and container.pid in pids
    runtime("kill", "--all", container.cid, "KILL").ok()
    for pid in pids:
        poll(lambda: not process_alive(pid), 5, f"pid {pid} to die")
    container.wait_status("stopped")


# ---- ps --------------------------------------------------------------------------------------------

def test_ps_json_lists_host_pids(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    assert runtime("ps", "--format", "json", container.cid).json() == [container.pid]
    assert runtime("ps", "-f", "json", container.cid).json() == [container.pid]


def test_ps_table_keeps_the_header_and_the_container_lines(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    lines = runtime("ps", container.cid).ok().stdout.splitlines()
    header = lines[0].split()
    assert "PID" in header and "CMD" in header, lines   # ps -ef by default
    assert [int(line.split()[header.index("PID")]) for line in lines[1:]] == [container.pid]
    assert lines[1].endswith("/payload sleep 600")


def test_ps_passes_its_options_to_ps(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    lines = runtime("ps", container.cid, "-e", "-o", "comm,pid").ok().stdout.splitlines()
    assert lines[0].split() == ["COMMAND", "PID"]
    assert [line.split() for line in lines[1:]] == [["payload", str(container.pid)]]


def test_ps_refuses_an_unknown_format(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    assert_error(runtime("ps", "--format", "yaml", container.cid), "invalid format option")


# ---- events ----------------------------------------------------------------------------------------

def test_events_stats_has_runc_field_names(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.resources.memory", {"limit": 64 * MIB}).set("linux.resources.pids", {"limit": 50})
    container = started(runtime, sleeper(bundle))
    data = stats(runtime, container.cid)
    assert {"cpu", "memory", "pids", "blkio", "hugetlb"} <= set(data), data
    usage = data["cpu"]["usage"]
    assert usage["total"] > 0 and {"kernel", "user"} <= set(usage), usage
    assert "throttling" in data["cpu"]
    memory = data["memory"]
    assert memory["usage"]["limit"] == 64 * MIB and memory["usage"]["usage"] > 0, memory
    assert {"swap", "kernel", "kernelTCP"} <= set(memory) and isinstance(memory.get("raw"), dict)
    assert data["pids"] == {"current": 1, "limit": 50}


def test_events_reports_stats_every_interval_until_the_container_stops(runtime: Runtime,
                                                                       bundle: Bundle) -> None:
    container = started(runtime, sleeper(bundle))
    events, out = spawn_events(runtime, container.cid, "200ms")
    try:
        poll(lambda: len(events_of(out)) >= 3, 10, "three stats events")
        container.kill("KILL").ok()
        assert events.wait(10) == 0
    finally:
        stop(events)
    seen = events_of(out)
    assert {(e["type"], e["id"]) for e in seen} == {("stats", container.cid)}
    assert all(set(e) == {"type", "id", "data"} for e in seen)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_events_stops_cleanly_on_a_signal(runtime: Runtime, bundle: Bundle, sig: int) -> None:
    container = started(runtime, sleeper(bundle))
    events, out = spawn_events(runtime, container.cid)
    try:
        events.send_signal(sig)
        assert events.wait(10) == 0
    finally:
        stop(events)
    assert out.with_suffix(".err").read_text() == ""
    assert container.state()["status"] == "running"


@pytest.mark.parametrize("interval, fragment", [
    ("0s", "duration interval must be greater than 0"),
    ("-1s", "duration interval must be greater than 0"),
    ("5", "missing unit"),
    ("5x", "unknown unit"),
])
def test_events_refuses_a_bad_interval(runtime: Runtime, bundle: Bundle, interval: str,
                                       fragment: str) -> None:
    container = started(runtime, sleeper(bundle))
    assert_error(runtime("events", "--interval", interval, container.cid), fragment)


def test_events_of_a_stopped_container_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = started(runtime, bundle.payload("exit", "0"))
    container.wait_status("stopped")
    assert_error(runtime("events", "--stats", container.cid), "is not running")
    assert_error(runtime("events", container.cid), "is not running")
