"""cgroup v2 for real, on this host's cgroup2 hierarchy (harness.cgroup2_view:
on a hybrid host, a mount namespace where /sys/fs/cgroup/unified is bound
over /sys/fs/cgroup, so pyrunc sees a v2 host).  A hybrid host keeps its
controllers in the v1 hierarchies, so these tests use what needs none:
cgroup.procs, the freezer (cgroup.freeze), cgroup.kill, cpu.stat and the
eBPF device filter."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from harness import CGROUP_ROOT, Bundle, Runtime, cgroup_keyed, cgroup_procs, poll


def v2_dir(runtime: Runtime, cid: str) -> Path:
    """The container's cgroup, as the tests see it."""
    data = json.loads((runtime.root / cid / "state.json").read_text())["cgroup"]
    assert data["mode"] == "v2", data
    return runtime.cgroup_root_on_host / Path(data["paths"]["unified"]).relative_to(CGROUP_ROOT)


def test_the_init_is_alone_in_its_cgroup_which_delete_removes(v2_runtime: Runtime, bundle: Bundle) -> None:
    runtime = v2_runtime
    container = runtime.create(bundle.payload("sleep", "30"))
    directory = v2_dir(runtime, container.cid)
    assert cgroup_procs(directory) == [container.pid]
    container.start().ok()
    # In its own cgroup namespace the container sees its cgroup as the root
    # (a hybrid host lists its v1 hierarchies too).
    seen = runtime("exec", container.cid, "/payload", "cat", "/proc/self/cgroup").json()
    assert [line for line in seen.splitlines() if line.startswith("0::")] == ["0::/"]
    container.delete("--force").ok()
    assert not directory.exists()


# Not in runc's implicit allow list; writing to it fails with EINVAL once it is open.
LOOP_CONTROL = {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237}


@pytest.mark.parametrize("allowed", [True, False])
def test_device_rules_through_the_ebpf_filter(v2_runtime: Runtime, bundle: Bundle, allowed: bool) -> None:
    """linux.devices makes the node; only linux.resources.devices lets the
    container open it: on v2, through the eBPF program pyrunc attaches."""
    bundle.set("linux.devices", [LOOP_CONTROL])
    if allowed:
        bundle.append("linux.resources.devices", {"allow": True, "type": "c", "major": 10, "minor": 237,
                                                  "access": "rw"})
    result = v2_runtime.probe(bundle, "write", LOOP_CONTROL["path"], "x")
    assert result["errno"] == (errno.EINVAL if allowed else errno.EPERM), result
    # The default devices stay usable under the deny-all policy.
    assert v2_runtime.probe(bundle, "write", "/dev/null", "x") == {"ok": True, "errno": 0}


def test_pause_and_resume_through_cgroup_freeze(v2_runtime: Runtime, bundle: Bundle) -> None:
    runtime = v2_runtime
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    directory = v2_dir(runtime, container.cid)
    runtime("pause", container.cid).ok()
    assert (directory / "cgroup.freeze").read_text().strip() == "1"
    assert cgroup_keyed(directory, "cgroup.events")["frozen"] == 1
    assert container.state()["status"] == "paused"
    runtime("resume", container.cid).ok()
    assert (directory / "cgroup.freeze").read_text().strip() == "0"
    assert cgroup_keyed(directory, "cgroup.events")["frozen"] == 0
    assert container.state()["status"] == "running"


def test_kill_all_empties_the_cgroup(v2_runtime: Runtime, bundle: Bundle) -> None:
    runtime = v2_runtime
    bundle.set("process.args", ["sh", "-c", "/payload sleep 600 & exec /payload sleep 600"])
    container = runtime.create(bundle)
    container.start().ok()
    directory = v2_dir(runtime, container.cid)
    poll(lambda: len(cgroup_procs(directory)) == 2, what="two processes")
    container.kill("KILL", all_processes=True).ok()
    container.wait_status("stopped")
    poll(lambda: not cgroup_procs(directory), 5, "the cgroup to empty")
    container.delete().ok()
    assert not directory.exists()


def test_exec_joins_the_cgroup_and_ps_lists_it(v2_runtime: Runtime, bundle: Bundle) -> None:
    runtime = v2_runtime
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    directory = v2_dir(runtime, container.cid)
    runtime("exec", "--detach", container.cid, "/payload", "sleep", "30").ok()
    poll(lambda: len(cgroup_procs(directory)) == 2, what="the exec'd process in the cgroup")
    assert sorted(runtime("ps", "--format", "json", container.cid).json()) == sorted(cgroup_procs(directory))


def test_events_stats_read_cpu_stat(v2_runtime: Runtime, bundle: Bundle) -> None:
    """cpu.stat is there without the cpu controller: `events --stats`
    reports the container's CPU time from it."""
    runtime = v2_runtime
    container = runtime.create(bundle.set("process.args", ["sh", "-c", "while :; do :; done"]))
    container.start().ok()
    directory = v2_dir(runtime, container.cid)
    poll(lambda: cgroup_keyed(directory, "cpu.stat")["usage_usec"] > 20000, 10, "some CPU time")
    lines = runtime("events", "--stats", container.cid).ok().stdout.splitlines()
    event = json.loads(lines[0])
    assert (event["type"], event["id"]) == ("stats", container.cid)
    usage = event["data"]["cpu"]["usage"]
    assert usage["total"] >= 20000 * 1000 and {"kernel", "user"} <= set(usage), usage
