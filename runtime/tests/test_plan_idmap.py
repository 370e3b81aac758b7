"""Planning idmapped mounts (mounts[].uidMappings/gidMappings, idmap and
ridmap) and preparing them for a spawn; no root needed."""
from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from plan_decoding import decoded
from pyrunc.runtime import idmap, native, plan, spec
from pyrunc.runtime import linux_constants as k
from pyrunc.runtime.errors import ConfigError, PyruncError

BASE: dict[str, Any] = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/"},
    "mounts": [],
    "linux": {"namespaces": [{"type": "mount"}]},
}
USERNS_LINUX = {
    "namespaces": [{"type": "mount"}, {"type": "user"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
}
UID_MAPPINGS = [{"containerID": 1234, "hostID": 0, "size": 1}, {"containerID": 0, "hostID": 500, "size": 10}]
GID_MAPPINGS = [{"containerID": 42, "hostID": 7, "size": 3}]


@pytest.fixture
def bundle(tmp_path) -> str:  # type: ignore[no-untyped-def]
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "data").mkdir()
    return str(tmp_path)


def make(bundle: str, mount: dict[str, Any], linux: dict[str, Any] | None = None) -> plan.Plan:
    config = copy.deepcopy(BASE)
    config["mounts"] = [mount]
    if linux is not None:
        config["linux"] = copy.deepcopy(linux)
    return plan.make_plan(spec.parse(config), bundle, plan.Host())


def data_mount(options: list[str], **extra: Any) -> dict[str, Any]:
    return {"destination": "/data", "type": "bind", "source": "data", "options": options, **extra}


def error_path(bundle: str, mount: dict[str, Any], linux: dict[str, Any] | None = None) -> str | None:
    with pytest.raises(ConfigError) as info:
        make(bundle, mount, linux)
    return info.value.path


# ---- options --------------------------------------------------------------------

@pytest.mark.parametrize("options, idmap_set, recursive", [
    (["bind"], False, False), (["idmap"], True, False), (["ridmap"], True, True),
    (["ridmap", "idmap"], True, False), (["idmap", "ridmap", "ro"], True, True),
])
def test_idmap_options_are_parsed_not_passed_as_data(options: list[str], idmap_set: bool,
                                                      recursive: bool) -> None:
    parsed = plan.parse_mount_options(options, "mounts[0].options")
    assert (parsed.idmap, parsed.idmap_recursive) == (idmap_set, recursive)
    assert parsed.data == []


def test_recursive_flag_spellings_stay_unsupported() -> None:
    with pytest.raises(ConfigError) as info:
        plan.parse_mount_options(["bind", "rnosuid"], "mounts[3].options")
    assert info.value.path == "mounts[3].options[1]"


def test_supported_options_follow_mount_setattr() -> None:
    assert {"idmap", "ridmap", "rro"} <= set(plan.supported_mount_options(True))
    assert not {"idmap", "ridmap", "rro"} & set(plan.supported_mount_options(False))


# ---- planning --------------------------------------------------------------------

def test_mount_mappings_make_an_idmapped_bind(bundle: str) -> None:
    p = make(bundle, data_mount(["bind", "ro"], uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS))
    step = p.mounts[0]
    assert step.idmap == plan.MountIdmap("1234 0 1\n0 500 10\n", "42 7 3\n", recursive=False)
    assert step.kind == plan.MOUNT_BIND and step.source == os.path.join(bundle, "data")
    assert step.flags == k.MS_BIND and step.remount_flags == k.MS_RDONLY
    assert step.detached_fd == -1        # only the runtime fills it, for a spawn


def test_ridmap_with_rbind_idmaps_the_whole_tree(bundle: str) -> None:
    step = make(bundle, data_mount(["rbind", "ridmap"], uidMappings=UID_MAPPINGS,
                                   gidMappings=GID_MAPPINGS)).mounts[0]
    assert step.flags == k.MS_BIND | k.MS_REC
    assert step.idmap is not None and step.idmap.recursive


def test_bare_idmap_uses_the_containers_user_namespace(bundle: str) -> None:
    p = make(bundle, data_mount(["rbind", "idmap"]), USERNS_LINUX)
    assert p.mounts[0].idmap == plan.MountIdmap(p.uid_map or "", p.gid_map or "", recursive=False)
    assert p.mounts[0].idmap.uid_map == "0 100000 65536\n"


def test_mappings_win_over_the_containers(bundle: str) -> None:
    p = make(bundle, data_mount(["bind", "idmap"], uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS),
             USERNS_LINUX)
    assert p.mounts[0].idmap is not None and p.mounts[0].idmap.gid_map == "42 7 3\n"


def test_plain_binds_are_not_idmapped(bundle: str) -> None:
    assert make(bundle, data_mount(["rbind"]), USERNS_LINUX).mounts[0].idmap is None


@pytest.mark.parametrize("mount, linux, path", [
    (data_mount(["bind", "idmap"]), None, "mounts[0].options"),           # no user namespace to copy
    (data_mount(["bind"], uidMappings=UID_MAPPINGS), None, "mounts[0].gidMappings"),
    (data_mount(["bind"], gidMappings=GID_MAPPINGS), None, "mounts[0].uidMappings"),
    (data_mount(["bind"], uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}], gidMappings=GID_MAPPINGS),
     None, "mounts[0].uidMappings[0].size"),
    (data_mount(["bind"], uidMappings=[{"containerID": "0", "hostID": 1, "size": 1}],
                gidMappings=GID_MAPPINGS), None, "mounts[0].uidMappings[0].containerID"),
    ({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}, USERNS_LINUX,
     "mounts[0].options"),
])
def test_errors_name_the_path(bundle: str, mount: dict[str, Any], linux: dict[str, Any] | None,
                              path: str) -> None:
    assert error_path(bundle, mount, linux) == path


def test_joined_user_namespace_has_no_mappings_to_copy(bundle: str) -> None:
    linux = {"namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]}
    assert error_path(bundle, data_mount(["bind", "idmap"]), linux) == "mounts[0].options"


# ---- encoding and preparing ------------------------------------------------------

def test_detached_fd_reaches_the_c_struct() -> None:
    steps = [plan.MountStep(plan.MOUNT_BIND, "/a", source="/s"),
             plan.MountStep(plan.MOUNT_BIND, "/b", source="/s", detached_fd=9)]
    p = plan.Plan(namespaces=[], rootfs="/r", process=plan.ProcessPlan(argv=["x"], envp=[]), mounts=steps)
    d = decoded(p, sync_fd=1, fifo_fd=2)
    assert [d.plan.mounts[0].detached_fd, d.plan.mounts[1].detached_fd] == [-1, 9]


class FakeNative:
    """native.idmap_userns/idmap_mount returning real (pipe) fds, recorded."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.usernses: list[tuple[str, str]] = []
        self.mounts: list[tuple[str, bool, bool]] = []
        self.fds: list[int] = []
        self.fail_on = fail_on

    def _fd(self) -> int:
        read_end, write_end = os.pipe()
        os.close(write_end)
        self.fds.append(read_end)
        return read_end

    def idmap_userns(self, uid_map: str, gid_map: str) -> int:
        self.usernses.append((uid_map, gid_map))
        return self._fd()

    def idmap_mount(self, source: str, userns_fd: int, recursive_tree: bool, recursive_idmap: bool) -> int:
        if source == self.fail_on:
            raise PyruncError("idmap the mount of /bad: Operation not permitted", errno=1)
        self.mounts.append((source, recursive_tree, recursive_idmap))
        return self._fd()


def open_fds(fds: list[int]) -> list[int]:
    return [fd for fd in fds if os.path.exists(f"/proc/self/fd/{fd}")]


def idmapped(destination: str, source: str, uid_map: str = "0 1 1\n", flags: int = k.MS_BIND,
             recursive: bool = False) -> plan.MountStep:
    return plan.MountStep(plan.MOUNT_BIND, destination, source=source, flags=flags,
                          idmap=plan.MountIdmap(uid_map, "0 1 1\n", recursive))


def test_detached_mounts_are_made_for_the_spawn_and_closed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNative()
    for name in ("idmap_userns", "idmap_mount"):
        monkeypatch.setattr(native, name, getattr(fake, name))
    steps = [idmapped("/a", "/sa"), plan.MountStep(plan.MOUNT_FS, "/t", fstype="tmpfs"),
             idmapped("/b", "/sb", flags=k.MS_BIND | k.MS_REC, recursive=True),
             idmapped("/c", "/sc", uid_map="5 6 7\n")]
    with idmap.DetachedMounts(steps):
        assert [s.detached_fd >= 0 for s in steps] == [True, False, True, True]
        # One namespace per distinct mapping, closed once the mounts exist.
        assert fake.usernses == [("0 1 1\n", "0 1 1\n"), ("5 6 7\n", "0 1 1\n")]
        assert open_fds(fake.fds) == [steps[0].detached_fd, steps[2].detached_fd, steps[3].detached_fd]
    assert fake.mounts == [("/sa", False, False), ("/sb", True, True), ("/sc", False, False)]
    assert [s.detached_fd for s in steps] == [-1, -1, -1, -1] and open_fds(fake.fds) == []


def test_a_failed_mount_closes_what_was_made(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNative(fail_on="/bad")
    for name in ("idmap_userns", "idmap_mount"):
        monkeypatch.setattr(native, name, getattr(fake, name))
    steps = [idmapped("/a", "/sa"), idmapped("/b", "/bad")]
    with pytest.raises(PyruncError, match="idmapped mount on /b: idmap the mount of /bad"):
        with idmap.DetachedMounts(steps):
            pass
    assert open_fds(fake.fds) == [] and steps[0].detached_fd == -1


def test_no_idmapped_mounts_no_native_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "idmap_userns", None)
    with idmap.DetachedMounts([plan.MountStep(plan.MOUNT_BIND, "/a", source="/s")]):
        pass
