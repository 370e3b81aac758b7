"""config-linux.md#user-namespace-mappings: a new user namespace with the
configured id maps, the container's root mapped, everything else set up
inside it."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import Bundle, Runtime, assert_error

HOST_BASE = 200000


def with_userns(bundle: Bundle, size: int = 65536) -> Bundle:
    bundle.append("linux.namespaces", {"type": "user"})
    bundle.set("linux.uidMappings", [{"containerID": 0, "hostID": HOST_BASE, "size": size}])
    bundle.set("linux.gidMappings", [{"containerID": 0, "hostID": HOST_BASE + 1000, "size": size}])
    return bundle


def test_maps_are_written_and_the_process_is_root_inside(runtime: Runtime, bundle: Bundle) -> None:
    with_userns(bundle)
    maps = runtime.run(bundle.set("process.args", ["cat", "/proc/self/uid_map", "/proc/self/gid_map"])).ok()
    assert [line.split() for line in maps.stdout.splitlines()] == [
        ["0", str(HOST_BASE), "65536"], ["0", str(HOST_BASE + 1000), "65536"]]
    seen = runtime.probe(bundle, "all")
    assert (seen["ids"]["uid"], seen["ids"]["gid"]) == (0, 0)
    assert seen["caps"]["effective"] == "0000000020000420"


def test_several_ranges_and_a_non_root_user(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("linux.namespaces", {"type": "user"})
    ranges = [{"containerID": 0, "hostID": HOST_BASE, "size": 1000},
              {"containerID": 1000, "hostID": HOST_BASE + 5000, "size": 10}]
    bundle.set("linux.uidMappings", ranges).set("linux.gidMappings", ranges)
    bundle.set("process.user", {"uid": 1005, "gid": 1005})
    pid_file = bundle.path / "pid"
    container = runtime.create(bundle.payload("sleep", "30"), "--pid-file", str(pid_file))
    host_pid = int(pid_file.read_text())
    container.start().ok()
    status = {line.split(":")[0]: line.split()[1:] for line in
              open(f"/proc/{host_pid}/status").read().splitlines() if line.startswith(("Uid", "Gid"))}
    assert status["Uid"][0] == str(HOST_BASE + 5005)    # container uid 1005, seen from the host
    assert status["Gid"][0] == str(HOST_BASE + 5005)


def test_namespaces_belong_to_the_new_user_namespace(runtime: Runtime, bundle: Bundle) -> None:
    with_userns(bundle)
    seen = runtime.probe(bundle, "ns")
    host_user = int(open("/proc/self/ns/user").name and __import__("os").stat("/proc/self/ns/user").st_ino)
    assert seen["user"] != host_user
    # Mounting proc, sysfs-free /dev and hostname all worked inside it:
    assert runtime.probe(bundle, "hostname")["hostname"] == bundle.get("hostname")


def test_devices_are_usable_inside(runtime: Runtime, bundle: Bundle) -> None:
    with_userns(bundle)
    result = runtime.run(bundle.set("process.args", ["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"]))
    assert result.ok().stdout.strip() == "4"


def test_user_namespace_needs_maps_with_root(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("linux.namespaces", {"type": "user"})
    assert_error(runtime.try_create(bundle), "linux.uidMappings", "needs mappings")
    bundle.set("linux.uidMappings", [{"containerID": 1, "hostID": HOST_BASE, "size": 10}])
    bundle.set("linux.gidMappings", [{"containerID": 0, "hostID": HOST_BASE, "size": 10}])
    assert_error(runtime.try_create(bundle), "linux.uidMappings", "container id 0")
    assert runtime.listed_ids() == []


def test_exec_joins_the_user_namespace(runtime: Runtime, bundle: Bundle) -> None:
    with_userns(bundle)
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    inside = runtime("exec", container.cid, "cat", "/proc/self/uid_map").ok()
    assert inside.stdout.split() == ["0", str(HOST_BASE), "65536"]


@pytest.mark.parametrize("options", [["rbind"], ["rbind", "idmap"]], ids=["plain", "idmapped"])
def test_bind_source_under_a_root_only_directory(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                 options: list[str]) -> None:
    """The runtime opens bind sources with its own credentials (as runc):
    the init, already in the user namespace, could not enter a 0700
    directory of the host's root."""
    private = tmp_path / "root-only"
    (private / "data").mkdir(parents=True)
    (private / "data" / "file").write_text("from the host")
    private.chmod(0o700)
    with_userns(bundle).with_tmp().mount("/tmp/data", "bind", str(private / "data"), options)
    assert runtime.probe(bundle, "cat", "/tmp/data/file") == "from the host"


@pytest.mark.parametrize("options", [["bind"], ["rbind"], ["rbind", "idmap"]],
                         ids=["bind", "rbind", "idmapped"])
def test_host_read_only_bind_source_stays_read_only(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                    options: list[str]) -> None:
    """A source the host mounted read-only (nosuid, ...) keeps those flags
    locked, as the kernel locks them for mounts that enter a less privileged
    user namespace: the container's root, even with CAP_SYS_ADMIN, cannot
    remount it writable and write to the host's files."""
    source, read_only = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    read_only.mkdir()
    os.chown(source, HOST_BASE, HOST_BASE + 1000)   # the container's root may write, but for the flag
    subprocess.run(["mount", "--bind", str(source), str(read_only)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro,nosuid", str(read_only)], check=True)
        caps = ["CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_CHOWN"]
        for kind in ("bounding", "effective", "permitted"):
            bundle.set(f"process.capabilities.{kind}", caps)
        with_userns(bundle).with_tmp().mount("/tmp/data", "bind", str(read_only), options)
        bundle.set("process.args", ["sh", "-c", "mount -o remount,bind,rw /tmp/data && echo remounted; "
                                    "touch /tmp/data/written && echo written; grep ' /tmp/data ' /proc/mounts"])
        out = runtime.run(bundle).ok().stdout
        assert "remounted" not in out and "written" not in out, out
        assert " ro," in out and "nosuid" in out, out
        assert not (source / "written").exists()
    finally:
        subprocess.run(["umount", str(read_only)], check=True)
