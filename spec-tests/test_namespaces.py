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


def unshared(kind: str, *flags: str) -> Iterator[int]:
    """A host process made by `unshare FLAGS sleep`; its pid, once its
    KIND namespace is not ours (unshare execs sleep when they exist)."""
    proc = subprocess.Popen(["unshare", *flags, "sleep", "600"])
    try:
        poll(lambda: ns_inode(proc.pid, kind) != ns_inode("self", kind), what="unshare")
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def unshared_sleeper() -> Iterator[int]:
    """A host process alone in new ipc and uts namespaces; its pid."""
    yield from unshared("uts", "--ipc", "--uts")


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


def host_root_propagation() -> str:
    """The optional fields of the host's "/" mount (shared:N, master:N)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                return " ".join(fields[6:fields.index("-")])
    raise AssertionError("no / in mountinfo")


def no_namespaces(bundle: Bundle) -> Bundle:
    """bundles/hello with no namespace at all, and so nothing to mount."""
    bundle.private_rootfs()     # the device nodes are made in it
    bundle.set("linux.namespaces", []).set("mounts", []).set("root.readonly", False)
    bundle.set("linux.maskedPaths", []).set("linux.readonlyPaths", [])
    return bundle.remove("hostname")


def test_no_namespaces_at_all_is_a_chroot_in_the_hosts(runtime: Runtime, bundle: Bundle) -> None:
    """An empty linux.namespaces: the container shares every namespace of
    the runtime (as runc) and gets its root by chroot, with no mount made
    in the host's mount namespace."""
    before = host_root_propagation()
    container = runtime.create(no_namespaces(bundle).payload("sleep", "600"))
    container.start().ok()
    pid = container.pid
    for kind in NS_FILES.values():
        assert ns_inode(pid, kind) == ns_inode("self", kind), kind
    assert os.readlink(f"/proc/{pid}/root") == str(bundle.rootfs)
    assert host_root_propagation() == before
    # exec joins the container's root too (no mount namespace holds it).
    listing = runtime("exec", container.cid, "/payload", "ls", "/").json()
    assert "payload" in listing and "dev" in listing
    assert runtime("exec", container.cid, "/payload", "stat", "/dev/null").json()["type"] == "chr"


@pytest.mark.parametrize("field, value", [
    ("mounts", [{"destination": "/proc", "type": "proc", "source": "proc"}]),
    ("linux.maskedPaths", ["/proc/kcore"]),     # runc: "unable to restrict sys entries"
    ("linux.readonlyPaths", ["/proc/sys"]),
    ("root.readonly", True),
    ("linux.rootfsPropagation", "private"),
])
def test_without_a_mount_namespace_nothing_is_mounted(runtime: Runtime, bundle: Bundle, field: str,
                                                      value: object) -> None:
    no_namespaces(bundle).set(field, value)
    assert_error(runtime.try_create(bundle), field, "mount namespace")
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


@pytest.fixture
def unshared_mount_sleeper() -> Iterator[int]:
    """A host process alone in a private mount namespace (`unshare -m`)."""
    yield from unshared("mnt", "--mount", "--propagation", "private")


def test_join_a_mount_namespace_by_path(runtime: Runtime, bundle: Bundle,
                                        unshared_mount_sleeper: int) -> None:
    """As runc: the container's root is built in the joined namespace (and
    pivot_root moves the root of the process that holds it there too)."""
    join(bundle, "mount", f"/proc/{unshared_mount_sleeper}/ns/mnt")
    assert runtime.probe(bundle, "ns")["mnt"] == ns_inode(unshared_mount_sleeper, "mnt")
    assert "payload" in os.listdir(f"/proc/{unshared_mount_sleeper}/root")


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
