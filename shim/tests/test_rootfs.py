"""A task's root filesystem as containerd lists it (shim/rootfs.py), on
real mounts: mounted in order, options as flags or data, every layer
detached again, and a mount the kernel refuses named in one line with
nothing left mounted."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.runtime.errors import PyruncError
from pyrunc.shim import rootfs
from pyrunc.shim.proto.types.mount_pb2 import Mount


def mounted_on(target: Path) -> list[list[str]]:
    """/proc/self/mountinfo's rows for target, oldest first."""
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    return [row for row in rows if row[4] == str(target)]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "rootfs"
    try:
        yield path
    finally:
        rootfs.unmount(str(path))


def test_layers_mount_in_order_and_unmount_all(target: Path) -> None:
    layers = [Mount(type="tmpfs", source="first", options=["size=1m"]),
              Mount(type="tmpfs", source="second", options=["ro", "nosuid", "size=2m"])]
    assert rootfs.mount_all(layers, str(target))
    rows = mounted_on(target)
    assert [row[-2] for row in rows] == ["first", "second"]
    assert "ro" in rows[-1][5].split(",") and "nosuid" in rows[-1][5].split(",")
    with pytest.raises(OSError):
        (target / "file").write_text("read-only")
    rootfs.unmount(str(target))
    assert mounted_on(target) == []


def test_a_bind_with_flags_is_remounted_with_them(target: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    assert rootfs.mount_all([Mount(type="bind", source=str(source), options=["rbind", "ro"])], str(target))
    assert "ro" in mounted_on(target)[-1][5].split(",")


def test_a_refused_mount_is_named_and_leaves_nothing(target: Path) -> None:
    layers = [Mount(type="tmpfs", source="first", options=[]),
              Mount(type="no-such-fs", source="second", options=[])]
    with pytest.raises(PyruncError) as error:
        rootfs.mount_all(layers, str(target))
    assert str(error.value) == f"mount rootfs no-such-fs second on {target}: No such device"
    assert mounted_on(target) == []


def test_nothing_to_mount_and_nothing_to_unmount(target: Path) -> None:
    assert not rootfs.mount_all([], str(target))
    target.mkdir()
    rootfs.unmount(str(target))     # nothing mounted: no error
    assert os.path.isdir(target)
