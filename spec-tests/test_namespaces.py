"""config-linux.md "namespaces" (new ones, joined by path), the network
namespace's loopback, the time namespace's offsets, and config.md
"hostname"/"domainname"."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
from typing import Iterator

import pytest

from harness import Bundle, MakeBundle, Runtime, assert_error, ns_inode, poll

# runtime-spec namespace type -> /proc/PID/ns name (and the payload's key).
NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup"}


@pytest.fixture
def named_netns() -> Iterator[str]:
    """A network namespace made with `ip netns add`; its bind-mount path."""
    name = f"spec-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
def unshared_sleeper() -> Iterator[int]:
    """A host process alone in new ipc and uts namespaces; its pid."""
    proc = subprocess.Popen(["unshare", "--ipc", "--uts", "sleep", "600"])
    try:
        # unshare execs sleep once the namespaces exist.
        poll(lambda: ns_inode(proc.pid, "uts") != ns_inode("self", "uts"), what="unshare")
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


# ---- new namespaces -------------------------------------------------------------------

def test_every_requested_namespace_is_new(runtime: Runtime, bundle: Bundle) -> None:
    seen = runtime.probe(bundle, "ns")
    for kind in NS_FILES.values():
        assert seen[kind] != ns_inode("self", kind), kind
    # Not asked for: shared with the host.
    assert seen["user"] == ns_inode("self", "user")


# Not mount: without a mount namespace there is no container root to build.
@pytest.mark.parametrize("dropped", sorted(set(NS_FILES) - {"mount"}))
def test_a_namespace_not_asked_for_is_the_hosts(runtime: Runtime, bundle: Bundle,
                                                dropped: str) -> None:
    bundle.drop_namespace(dropped)
    if dropped == "uts":
        bundle.remove("hostname")  # needs a uts namespace of its own
    seen = runtime.probe(bundle, "ns")
    for type_, kind in NS_FILES.items():
        assert (seen[kind] == ns_inode("self", kind)) == (type_ == dropped), kind


def test_a_mount_namespace_is_required(runtime: Runtime, bundle: Bundle) -> None:
    bundle.drop_namespace("mount")
    assert_error(runtime.try_create(bundle), "linux.namespaces", "mount namespace is required")
    assert runtime.listed_ids() == []


def test_new_pid_namespace_makes_the_process_pid_1(runtime: Runtime, bundle: Bundle) -> None:
    assert runtime.probe(bundle, "pid") == {"pid": 1, "ppid": 0}


def test_new_cgroup_namespace_is_rooted_at_the_container(runtime: Runtime,
                                                         bundle: Bundle) -> None:
    lines = runtime.probe(bundle, "cat", "/proc/self/cgroup").splitlines()
    assert lines and all(line.endswith(":/") for line in lines), lines


# ---- joined namespaces ------------------------------------------------------------------

def join(bundle: Bundle, type_: str, path: str) -> Bundle:
    bundle.drop_namespace(type_)
    return bundle.append("linux.namespaces", {"type": type_, "path": path})


def test_join_a_named_network_namespace(runtime: Runtime, bundle: Bundle,
                                        named_netns: str) -> None:
    join(bundle, "network", named_netns)
    assert runtime.probe(bundle, "ns")["net"] == os.stat(named_netns).st_ino


def test_join_a_process_namespaces(runtime: Runtime, bundle: Bundle,
                                   unshared_sleeper: int) -> None:
    for type_ in ("ipc", "uts"):
        join(bundle, type_, f"/proc/{unshared_sleeper}/ns/{NS_FILES[type_]}")
    bundle.remove("hostname")  # the joined uts namespace keeps its own
    seen = runtime.probe(bundle, "ns")
    assert seen["ipc"] == ns_inode(unshared_sleeper, "ipc")
    assert seen["uts"] == ns_inode(unshared_sleeper, "uts")


def test_join_another_containers_namespaces(runtime: Runtime, bundle: Bundle,
                                            make_bundle: MakeBundle) -> None:
    """A pod: a second container shares the first one's network, ipc and
    pid namespaces, as engines set it up."""
    sandbox = runtime.create(bundle.payload("sleep", "600"))
    sandbox.start().ok()
    pid = sandbox.pid
    member = make_bundle("member")
    for type_ in ("network", "ipc", "pid"):
        join(member, type_, f"/proc/{pid}/ns/{NS_FILES[type_]}")
    seen = runtime.probe(member, "all")
    for kind in ("net", "ipc", "pid"):
        assert seen["ns"][kind] == ns_inode(pid, kind), kind
    assert seen["ns"]["mnt"] != ns_inode(pid, "mnt")
    assert seen["pid"]["pid"] != 1  # the sandbox's init is pid 1 there


def test_join_of_a_missing_namespace_path_fails(runtime: Runtime, bundle: Bundle) -> None:
    join(bundle, "network", "/run/netns/spec-no-such-namespace")
    result = runtime.run(bundle)
    assert result.returncode == 1, result
    assert "spec-no-such-namespace" in result.stderr


def test_join_of_a_namespace_of_the_wrong_type_fails(runtime: Runtime, bundle: Bundle) -> None:
    join(bundle, "network", "/proc/self/ns/uts")
    assert runtime.run(bundle).returncode == 1


# ---- network --------------------------------------------------------------------------

def test_new_network_namespace_has_only_lo_and_it_is_up(runtime: Runtime,
                                                        bundle: Bundle) -> None:
    assert runtime.probe(bundle, "net") == [{"name": "lo", "up": True}]


# ---- time -----------------------------------------------------------------------------

def with_timens(bundle: Bundle) -> Bundle:
    return bundle.append("linux.namespaces", {"type": "time"})


def test_new_time_namespace(runtime: Runtime, bundle: Bundle) -> None:
    assert runtime.probe(with_timens(bundle), "ns")["time"] != ns_inode("self", "time")


def test_time_namespace_offsets(runtime: Runtime, bundle: Bundle) -> None:
    offset = 10_000_000
    with_timens(bundle).set("linux.timeOffsets", {"boottime": {"secs": offset, "nanosecs": 0}})
    uptime = float(runtime.probe(bundle, "cat", "/proc/uptime").split()[0])
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    assert offset - 1 <= uptime - host_uptime < offset + 60   # read a moment apart


# ---- hostname, domainname -----------------------------------------------------------

def test_hostname_and_domainname(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("hostname", "spec-host").set("domainname", "spec.example")
    host_before = socket.gethostname()
    assert runtime.probe(bundle, "hostname") == {"hostname": "spec-host",
                                                 "domainname": "spec.example"}
    assert socket.gethostname() == host_before


def test_without_hostname_the_uts_namespace_keeps_the_hosts(runtime: Runtime,
                                                             bundle: Bundle) -> None:
    bundle.remove("hostname")
    assert runtime.probe(bundle, "hostname")["hostname"] == socket.gethostname()
