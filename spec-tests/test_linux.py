"""config-linux.md "sysctl", "maskedPaths", "readonlyPaths" and
"cgroupsPath", checked from inside the container (and the host kept
unchanged)."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from harness import (CGROUP_ROOT, Bundle, Runtime, assert_error, default_cgroup, mount_by_point,
                     mount_options)

# Namespaced sysctls (net: network namespace, kernel.shm*/msg*, fs.mqueue: ipc).
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1234",
           "kernel.shmmax": "65536", "kernel.msgmax": "4096", "fs.mqueue.msg_max": "20"}


def host_sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text().strip()


# ---- sysctl --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SYSCTLS))
def test_sysctl(runtime: Runtime, bundle: Bundle, name: str) -> None:
    host_before = host_sysctl(name)
    bundle.set("linux.sysctl", SYSCTLS)
    assert runtime.probe(bundle, "sysctl", name) == SYSCTLS[name]
    assert host_sysctl(name) == host_before


@pytest.mark.parametrize("name, value, dropped", [
    ("vm.swappiness", "10", None),               # no namespace at all
    ("kernel.panic", "5", None),
    ("net.ipv4.ip_forward", "1", "network"),     # namespaced, but not a new namespace
    ("kernel.shmmax", "65536", "ipc"),
], ids=["vm", "kernel", "net-without-netns", "shm-without-ipcns"])
def test_sysctl_that_would_change_the_host_is_refused(runtime: Runtime, bundle: Bundle,
                                                     name: str, value: str,
                                                     dropped: str | None) -> None:
    host_before = host_sysctl(name)
    if dropped:
        bundle.drop_namespace(dropped)
    bundle.set("linux.sysctl", {name: value})
    assert_error(runtime.try_create(bundle), "linux.sysctl", name)
    assert host_sysctl(name) == host_before
    assert runtime.listed_ids() == []


# ---- maskedPaths -------------------------------------------------------------------------

def test_masked_file_reads_empty(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.maskedPaths", ["/etc/passwd"])
    assert runtime.probe(bundle, "cat", "/etc/passwd") == ""
    seen = runtime.probe(bundle, "stat", "/etc/passwd")
    assert (seen["type"], seen["major"], seen["minor"]) == ("chr", 1, 3)  # /dev/null


def test_masked_directory_is_an_empty_read_only_tmpfs(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.maskedPaths", ["/etc"])
    assert runtime.probe(bundle, "ls", "/etc") == []
    mount = mount_by_point(runtime.probe(bundle, "mounts"), "/etc")
    assert mount["fstype"] == "tmpfs" and "ro" in mount_options(mount)
    assert runtime.probe(bundle, "write", "/etc/new", "x")["errno"] == errno.EROFS


# Those this kernel has (some kernels build without /proc/kcore).
@pytest.mark.parametrize("path", [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list")
                                  if os.path.exists(p)])
def test_default_masked_proc_files(runtime: Runtime, bundle: Bundle, path: str) -> None:
    assert runtime.probe(bundle, "cat", path) == ""


def test_default_masked_sys_firmware(runtime: Runtime, bundle: Bundle) -> None:
    assert runtime.probe(bundle, "ls", "/sys/firmware") == []


def test_missing_masked_path_is_ignored(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.maskedPaths", ["/no/such/path", "/proc/no-such-file"])
    assert runtime.probe(bundle, "cwd") == "/"


# ---- readonlyPaths -------------------------------------------------------------------------

def test_default_readonly_proc_sys(runtime: Runtime, bundle: Bundle) -> None:
    # Writable otherwise: the hostname is the container's own (uts namespace).
    seen = runtime.probe(bundle, "write", "/proc/sys/kernel/hostname", "x")
    assert seen["errno"] == errno.EROFS


def test_readonly_path(runtime: Runtime, bundle: Bundle) -> None:
    bundle.with_tmp().mount("/tmp/ro")
    bundle.set("linux.readonlyPaths", ["/tmp/ro"])
    assert runtime.probe(bundle, "write", "/tmp/ro/file", "x")["errno"] == errno.EROFS
    assert runtime.probe(bundle, "write", "/tmp/rw-file", "x")["ok"]


def test_missing_readonly_path_is_ignored(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.readonlyPaths", ["/no/such/path"])
    assert runtime.probe(bundle, "cwd") == "/"


# ---- cgroupsPath ----------------------------------------------------------------------------

def in_cgroup(pid: int, controller: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise AssertionError(f"no {controller} line for pid {pid}")


def test_default_cgroup(runtime: Runtime, bundle: Bundle) -> None:
    """No cgroupsPath: the id below the caller's own cgroup, in every
    hierarchy (as runc), so a limit on the caller holds for the container."""
    container = runtime.create(bundle.payload("sleep", "600"))
    for controller in ("pids", "memory"):
        assert (default_cgroup(controller, container.cid) / "cgroup.procs").read_text().split() == \
            [str(container.pid)]


def test_cgroups_path_and_a_pids_limit(runtime: Runtime, bundle: Bundle) -> None:
    path = f"/{runtime.prefix}-custom"
    bundle.set("linux.cgroupsPath", path).set("linux.resources.pids", {"limit": 42})
    container = runtime.create(bundle.payload("sleep", "600"))
    assert in_cgroup(container.pid, "pids") == path
    assert (CGROUP_ROOT / "pids" / path.lstrip("/") / "pids.max").read_text().strip() == "42"
