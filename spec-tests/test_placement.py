"""process.scheduler, ioPriority, execCPUAffinity, linux.personality,
memoryPolicy, timeOffsets, and the security-module fields a host without
AppArmor/SELinux must refuse clearly."""
from __future__ import annotations

import glob
import os

import pytest

from harness import Bundle, Runtime, assert_error


def shell(bundle: Bundle, script: str) -> Bundle:
    return bundle.set("process.args", ["sh", "-c", script])


def test_scheduler_nice_and_policy(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.scheduler", {"policy": "SCHED_BATCH", "nice": 7})
    out = runtime.run(shell(bundle, "cut -d' ' -f19 /proc/self/stat; grep '^policy' /proc/self/sched")).ok()
    nice, policy = out.stdout.splitlines()
    assert nice == "7" and policy.split()[-1] == "3"    # SCHED_BATCH


def test_realtime_scheduler(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.scheduler", {"policy": "SCHED_FIFO", "priority": 10})
    # cgroup v1 gives a group no real-time budget unless it is asked for.
    bundle.set("linux.resources.cpu", {"realtimeRuntime": 10000, "realtimePeriod": 1000000})
    out = runtime.run(shell(bundle, "cut -d' ' -f18,41 /proc/self/stat")).ok()
    assert out.stdout.split() == ["-11", "1"]      # prio = -1 - rt_priority, policy FIFO


def test_realtime_budget_reaches_a_container_below_new_parents(runtime: Runtime, bundle: Bundle) -> None:
    """The parents pyrunc makes start with no real-time budget of their own;
    they get what the container asks for, and go with it."""
    top = f"{runtime.prefix}-rt"
    bundle.set("linux.cgroupsPath", f"/{top}/a/ctr")
    bundle.set("process.scheduler", {"policy": "SCHED_RR", "priority": 5})
    bundle.set("linux.resources.cpu", {"realtimeRuntime": 10000, "realtimePeriod": 1000000})
    out = runtime.run(shell(bundle, "cut -d' ' -f41 /proc/self/stat")).ok()
    assert out.stdout.split() == ["2"]      # SCHED_RR
    assert not glob.glob(f"/sys/fs/cgroup/*/{top}")


def test_io_priority(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.ioPriority", {"class": "IOPRIO_CLASS_IDLE", "priority": 0})
    assert "idle" in runtime.run(shell(bundle, "ionice -p $$")).ok().stdout


def test_exec_cpu_affinity_final(runtime: Runtime, bundle: Bundle) -> None:
    assert (os.cpu_count() or 1) >= 2, "this test needs two CPUs"
    bundle.set("process.execCPUAffinity", {"initial": "0", "final": "1"})
    out = runtime.run(shell(bundle, "grep Cpus_allowed_list /proc/self/status")).ok()
    assert out.stdout.split()[-1] == "1"


def test_exec_cpu_affinity_final_under_a_filter_that_denies_it(runtime: Runtime,
                                                               bundle: Bundle) -> None:
    """The final affinity is the runtime's act, not the program's: a profile
    that denies sched_setaffinity to the container must not stop it."""
    assert (os.cpu_count() or 1) >= 2, "this test needs two CPUs"
    bundle.set("process.execCPUAffinity", {"initial": "0", "final": "1"})
    bundle.set("process.noNewPrivileges", True)
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["sched_setaffinity"], "action": "SCMP_ACT_ERRNO"}]})
    out = runtime.run(shell(bundle, "grep Cpus_allowed_list /proc/self/status")).ok()
    assert out.stdout.split()[-1] == "1"


def test_personality_linux32(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.personality", {"domain": "LINUX32"})
    assert runtime.run(shell(bundle, "uname -m")).ok().stdout.strip() in ("i686", "i386")


def test_memory_policy(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0"})
    out = runtime.run(shell(bundle, "grep Mems_allowed_list /proc/self/status")).ok()
    assert out.stdout.split()[-1] == "0"
    bundle.set("linux.memoryPolicy", {"mode": "MPOL_BOGUS"})
    assert_error(runtime.try_create(bundle), "linux.memoryPolicy.mode")


def test_time_namespace_offsets(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("linux.namespaces", {"type": "time"})
    bundle.set("linux.timeOffsets", {"boottime": {"secs": 864000, "nanosecs": 0},
                                     "monotonic": {"secs": 3600}})
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    out = runtime.run(shell(bundle, "cat /proc/uptime; cat /proc/self/timens_offsets")).ok()
    lines = out.stdout.splitlines()
    assert float(lines[0].split()[0]) >= host_uptime + 864000 - 5
    assert lines[1].split() == ["monotonic", "3600", "0"]


def test_time_offsets_need_a_time_namespace(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.timeOffsets", {"monotonic": {"secs": 1}})
    assert_error(runtime.try_create(bundle), "linux.timeOffsets", "time namespace")


@pytest.mark.parametrize("field, value, module", [
    ("process.apparmorProfile", "docker-default", "AppArmor"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0", "SELinux"),
])
def test_security_modules_absent_are_refused_clearly(runtime: Runtime, bundle: Bundle, field: str,
                                                     value: str, module: str) -> None:
    if os.path.exists("/sys/fs/selinux/enforce") or os.path.exists("/sys/module/apparmor"):
        pytest.skip("this host has an LSM; the refusal applies where it has none")
    bundle.set(field, value)
    assert_error(runtime.try_create(bundle), field, f"{module} is not enabled")
    assert runtime.listed_ids() == []


def test_intel_rdt_is_refused(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.intelRdt", {"closID": "x"})
    assert_error(runtime.try_create(bundle), "linux.intelRdt", "not supported")


@pytest.mark.parametrize("field, value, path", [
    ("process.scheduler", {"policy": "SCHED_FIFO", "priority": 0}, "process.scheduler.priority"),
    ("process.scheduler", {"policy": "SCHED_NOPE"}, "process.scheduler.policy"),
    ("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 9}, "process.ioPriority.priority"),
    ("process.execCPUAffinity", {"final": "3-1"}, "process.execCPUAffinity.final"),
    ("linux.personality", {"domain": "WINDOWS"}, "linux.personality.domain"),
])
def test_bad_values_name_their_path(runtime: Runtime, bundle: Bundle, field: str, value: object, path: str) -> None:
    bundle.set(field, value)
    assert_error(runtime.try_create(bundle), path)
