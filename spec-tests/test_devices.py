"""config-linux.md "Default Devices", "/dev symbolic links" and
"devices": what /dev holds inside the container, and that the devices
cgroup still lets the container use them under a deny-all policy."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from harness import Bundle, Runtime

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}
LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
         "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}


def stat(runtime: Runtime, bundle: Bundle, path: str) -> dict[str, Any]:
    return runtime.probe(bundle, "stat", path)


@pytest.mark.parametrize("name", sorted(DEFAULT_DEVICES))
def test_default_device(runtime: Runtime, bundle: Bundle, name: str) -> None:
    seen = stat(runtime, bundle, f"/dev/{name}")
    assert (seen["type"], seen["major"], seen["minor"]) == ("chr", *DEFAULT_DEVICES[name])
    assert (seen["mode"], seen["uid"], seen["gid"]) == (0o666, 0, 0)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_dev_symlink(runtime: Runtime, bundle: Bundle, name: str) -> None:
    seen = stat(runtime, bundle, f"/dev/{name}")
    assert (seen["type"], seen["target"]) == ("link", LINKS[name])


def test_no_console_without_a_terminal(runtime: Runtime, bundle: Bundle) -> None:
    assert stat(runtime, bundle, "/dev/console") == {"exists": False, "errno": errno.ENOENT}


def test_dev_holds_only_what_the_spec_asks_for(runtime: Runtime, bundle: Bundle) -> None:
    # No host device may leak into the tmpfs /dev.
    expected = {*DEFAULT_DEVICES, *LINKS, "pts", "shm", "mqueue"}
    assert set(runtime.probe(bundle, "ls", "/dev")) == expected


def test_default_devices_work_under_a_deny_all_cgroup_policy(runtime: Runtime,
                                                             bundle: Bundle) -> None:
    # bundles/hello denies every device; the defaults are allowed anyway.
    assert bundle.get("linux.resources.devices") == [{"allow": False, "access": "rwm"}]
    assert runtime.probe(bundle, "write", "/dev/null", "x") == {"ok": True, "errno": 0}
    assert runtime.probe(bundle, "write", "/dev/full", "x")["errno"] == errno.ENOSPC


LINUX_DEVICES = [
    ({"path": "/dev/spec-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
      "uid": 1000, "gid": 5}, ("chr", 1, 3, 0o640, 1000, 5)),
    ({"path": "/dev/sub/dir/spec-loop", "type": "b", "major": 7, "minor": 0},
     ("blk", 7, 0, 0o666, 0, 0)),
    ({"path": "/dev/spec-fifo", "type": "p", "fileMode": 0o600}, ("fifo", 0, 0, 0o600, 0, 0)),
    ({"path": "/dev/spec-unbuffered", "type": "u", "major": 1, "minor": 5},
     ("chr", 1, 5, 0o666, 0, 0)),
]


@pytest.mark.parametrize("device, expected", LINUX_DEVICES,
                         ids=[d["path"].rsplit("/", 1)[-1] for d, _ in LINUX_DEVICES])
def test_linux_devices_entry(runtime: Runtime, bundle: Bundle, device: dict[str, Any],
                             expected: tuple[Any, ...]) -> None:
    bundle.set("linux.devices", [device])
    seen = stat(runtime, bundle, device["path"])
    assert tuple(seen[k] for k in ("type", "major", "minor", "mode", "uid", "gid")) == expected


@pytest.mark.parametrize("path, where", [("/spec-foo-dev", "/spec-foo-dev"), ("/spec-mnt/", "/spec-mnt"),
                                         ("/spec-dir/sub/node", "/spec-dir/sub/node")])
def test_a_device_outside_dev(runtime: Runtime, bundle: Bundle, path: str, where: str) -> None:
    """The spec puts no device under /dev only, and runc makes them where
    asked; like every path of the config, inside the rootfs."""
    bundle.private_rootfs()
    bundle.set("linux.devices", [{"path": path, "type": "c", "major": 1, "minor": 5}])
    seen = stat(runtime, bundle, where)
    assert (seen["type"], seen["major"], seen["minor"]) == ("chr", 1, 5)


def test_a_device_never_deletes_a_file_of_the_image(runtime: Runtime, bundle: Bundle) -> None:
    """runc's mknod fails with EEXIST and leaves what the image has."""
    rootfs = bundle.private_rootfs()
    (rootfs / "spec-file").write_text("the image's")
    bundle.set("linux.devices", [{"path": "/spec-file", "type": "c", "major": 1, "minor": 5}])
    assert runtime.probe(bundle, "cat", "/spec-file") == "the image's"
    assert (rootfs / "spec-file").read_text() == "the image's"


def test_a_device_outside_dev_stays_in_the_rootfs(runtime: Runtime, bundle: Bundle,
                                                  tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    rootfs = bundle.private_rootfs()
    (rootfs / "spec-escape").symlink_to("../" * 20 + str(host).lstrip("/"))
    bundle.set("linux.devices", [{"path": "/spec-escape/node", "type": "c", "major": 1, "minor": 5}])
    assert stat(runtime, bundle, "/spec-escape/node")["type"] == "chr"
    assert list(host.iterdir()) == []
    assert (rootfs / str(host).lstrip("/") / "node").is_char_device()


# Not in runc's implicit allow list (unlike tun); writing to it does
# nothing but fail with EINVAL once it is open.
LOOP_CONTROL = {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237}


@pytest.mark.parametrize("allowed", [True, False])
def test_a_listed_device_obeys_the_devices_cgroup(runtime: Runtime, bundle: Bundle,
                                                  allowed: bool) -> None:
    """linux.devices makes the node; only linux.resources.devices lets the
    container open it (as runc)."""
    bundle.set("linux.devices", [LOOP_CONTROL])
    if allowed:
        bundle.append("linux.resources.devices", {"allow": True, "type": "c", "major": 10,
                                                  "minor": 237, "access": "rw"})
    result = runtime.probe(bundle, "write", LOOP_CONTROL["path"], "x")
    assert result["errno"] == (errno.EINVAL if allowed else errno.EPERM), result
