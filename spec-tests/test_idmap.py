"""config.md mounts[].uidMappings/gidMappings and runc's idmap/ridmap
options: idmapped bind mounts.  A mapping {containerID: C, hostID: H}
shows files owned by C on the source filesystem as owned by H (runc's
and the kernel's reading), and files created through the mount are
stored with the reverse mapping."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import Bundle, Runtime, assert_error, mount_by_point
from test_userns import HOST_BASE, with_userns

OWNER = 1234        # owns the host files
# Files of OWNER show as root; nothing else is mapped.
AS_ROOT = [{"containerID": OWNER, "hostID": 0, "size": 1}]
OVERFLOW_ID = int(Path("/proc/sys/kernel/overflowuid").read_text())


def _kernel_at_least(major: int, minor: int) -> bool:
    numbers = os.uname().release.split("-")[0].split(".")
    return (int(numbers[0]), int(numbers[1])) >= (major, minor)


pytestmark = pytest.mark.skipif(not _kernel_at_least(5, 12), reason="idmapped mounts need Linux 5.12")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A host directory owned by OWNER with a file of OWNER's and one of root's."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "owned.txt").write_text("owned by 1234")
    (src / "root.txt").write_text("owned by root")
    for path in (src, src / "owned.txt"):
        os.chown(path, OWNER, OWNER)
    return src


@pytest.fixture
def nested(runtime: Runtime, source: Path) -> Iterator[Path]:
    """`source` with a tmpfs on its sub/ holding a file of OWNER's (after
    `runtime`, so it is unmounted before the leftover audit)."""
    sub = source / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "spec-idmap-nested", str(sub)], check=True)
    try:
        (sub / "inner.txt").write_text("inner")
        os.chown(sub / "inner.txt", OWNER, OWNER)
        yield source
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


def idmapped(bundle: Bundle, source: Path, options: list[str],
             mappings: list[dict[str, int]] | None = AS_ROOT, destination: str = "/tmp/m") -> Bundle:
    entry: dict[str, Any] = {"destination": destination, "type": "bind", "source": str(source),
                             "options": options}
    if mappings is not None:
        entry.update(uidMappings=mappings, gidMappings=mappings)
    return bundle.with_tmp().append("mounts", entry)


def owner(runtime: Runtime, bundle: Bundle, path: str) -> tuple[int, int]:
    seen = runtime.probe(bundle, "stat", path)
    assert seen["exists"], seen
    return seen["uid"], seen["gid"]


def test_features_report_idmapped_mounts(runtime: Runtime) -> None:
    features = runtime("features").json()
    assert features["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    assert {"idmap", "ridmap"} <= set(features["mountOptions"])


def test_mapped_owner_shows_as_root(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    idmapped(bundle, source, ["bind"])
    assert owner(runtime, bundle, "/tmp/m/owned.txt") == (0, 0)
    assert owner(runtime, bundle, "/tmp/m") == (0, 0)
    # Root's file is outside the mapping: the overflow id, as in a user namespace.
    assert owner(runtime, bundle, "/tmp/m/root.txt") == (OVERFLOW_ID, OVERFLOW_ID)
    mount = mount_by_point(runtime.probe(bundle, "mounts"), "/tmp/m")
    assert "idmapped" in mount["options"].split(",")


def test_reads_and_writes_go_through_the_mapping(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    idmapped(bundle, source, ["bind"])
    assert runtime.probe(bundle, "cat", "/tmp/m/owned.txt") == "owned by 1234"
    assert runtime.probe(bundle, "write", "/tmp/m/new.txt", "from root inside") == {"ok": True, "errno": 0}
    created = (source / "new.txt").stat()
    assert (created.st_uid, created.st_gid) == (OWNER, OWNER)
    assert (source / "new.txt").read_text() == "from root inside"


def test_other_options_still_apply(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    idmapped(bundle, source, ["bind", "ro", "nosuid"])
    mount = mount_by_point(runtime.probe(bundle, "mounts"), "/tmp/m")
    assert {"idmapped", "ro", "nosuid"} <= set(mount["options"].split(","))
    assert runtime.probe(bundle, "write", "/tmp/m/new.txt", "x")["errno"] == errno.EROFS


@pytest.mark.parametrize("option, sub_mapped", [("ridmap", True), ("idmap", False)])
def test_ridmap_maps_the_submounts_too(runtime: Runtime, bundle: Bundle, nested: Path, option: str,
                                       sub_mapped: bool) -> None:
    idmapped(bundle, nested, ["rbind", option])
    assert owner(runtime, bundle, "/tmp/m/owned.txt") == (0, 0)
    assert owner(runtime, bundle, "/tmp/m/sub/inner.txt") == ((0, 0) if sub_mapped else (OWNER, OWNER))
    mounts = runtime.probe(bundle, "mounts")
    assert ("idmapped" in mount_by_point(mounts, "/tmp/m/sub")["options"].split(",")) == sub_mapped


def test_bare_idmap_uses_the_containers_user_namespace(runtime: Runtime, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    # Host ids 0 and 1000: inside a user namespace mapping 0 -> HOST_BASE
    # they would be unmapped; idmapped like the namespace, they show as is.
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "user.txt").write_text("x")
    os.chown(shared / "user.txt", 1000, 1000)
    idmapped(with_userns(bundle), shared, ["bind", "idmap"], mappings=None)
    assert owner(runtime, bundle, "/tmp/m") == (0, 0)
    assert owner(runtime, bundle, "/tmp/m/user.txt") == (1000, 1000)
    assert runtime.probe(bundle, "write", "/tmp/m/new.txt", "x")["ok"]
    created = (shared / "new.txt").stat()
    assert (created.st_uid, created.st_gid) == (0, 0)       # container root is host root on disk
    assert runtime.run(bundle.set("process.args", ["cat", "/proc/self/uid_map"])).ok().stdout.split() == [
        "0", str(HOST_BASE), "65536"]


def test_mount_mappings_inside_a_user_namespace(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    # runc's case: OWNER on disk -> the host id of the container's root -> root inside.
    idmapped(with_userns(bundle), source, ["bind"],
             mappings=[{"containerID": OWNER, "hostID": HOST_BASE, "size": 1}])
    bundle.get("mounts")[-1]["gidMappings"] = [{"containerID": OWNER, "hostID": HOST_BASE + 1000, "size": 1}]
    assert owner(runtime, bundle, "/tmp/m/owned.txt") == (0, 0)


def test_idmap_needs_mappings_from_somewhere(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    idmapped(bundle, source, ["bind", "idmap"], mappings=None)
    index = len(bundle.get("mounts")) - 1
    assert_error(runtime.try_create(bundle), f"mounts[{index}].options", "user namespace")
    bundle.get("mounts")[index].update(uidMappings=AS_ROOT)
    assert_error(runtime.try_create(bundle), f"mounts[{index}].gidMappings")
    assert runtime.listed_ids() == []


def _processes_with_uid_map(fields: list[str]) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines = Path(f"/proc/{pid}/uid_map").read_text().splitlines()
        except OSError:
            continue
        if [line.split() for line in lines] == [fields]:
            found.append(pid)
    return found


def test_nothing_of_the_preparation_is_left(runtime: Runtime, bundle: Bundle, source: Path) -> None:
    # A distinctive mapping: any process still in its user namespace leaked.
    mapping = [{"containerID": OWNER, "hostID": 4321, "size": 1}]
    idmapped(bundle, source, ["bind"], mappings=mapping)
    container = runtime.create(bundle.payload("fds"))
    assert _processes_with_uid_map([str(OWNER), "4321", "1"]) == []
    container.start().ok()
    container.wait_status("stopped")
    # Only stdio reached the program: the detached mount's fd did not.
    assert [fd["fd"] for fd in json.loads(container.output())] == [0, 1, 2]
    container.delete().ok()
    assert _processes_with_uid_map([str(OWNER), "4321", "1"]) == []

