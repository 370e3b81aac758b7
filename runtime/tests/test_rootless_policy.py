"""Rootless policy without running anything: the state root default,
--rootless, which id maps need newuidmap/newgidmap, and limits without a
cgroup."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from pyrunc.runtime import rootless, spawn
from pyrunc.runtime.errors import ConfigError, PyruncError
from pyrunc.runtime.state import DEFAULT_ROOT, default_root


def test_root_keeps_run_pyrunc() -> None:
    assert default_root(0, {"XDG_RUNTIME_DIR": "/run/user/0"}) == DEFAULT_ROOT


def test_a_user_gets_the_xdg_runtime_dir(tmp_path: Path) -> None:
    assert default_root(4242, {"XDG_RUNTIME_DIR": str(tmp_path)}) == str(tmp_path / "pyrunc")


def test_without_xdg_runtime_dir_run_user_or_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, "isdir", lambda path: path == "/run/user/4242")
    assert default_root(4242, {"XDG_RUNTIME_DIR": ""}) == "/run/user/4242/pyrunc"
    with pytest.raises(PyruncError, match="XDG_RUNTIME_DIR is not set and /run/user/4343 does not exist"):
        default_root(4343, {})


@pytest.mark.parametrize("value, euid, expected", [
    (None, 0, False), (None, 1000, True), ("auto", 0, False), ("AUTO", 5, True),
    ("true", 0, True), ("false", 1000, False),
])
def test_rootless_mode(value: str | None, euid: int, expected: bool) -> None:
    assert rootless.parse_mode(value, euid) is expected


def test_rootless_mode_rejects_other_words() -> None:
    with pytest.raises(PyruncError, match="true, false or auto"):
        rootless.parse_mode("yes please", 0)


def test_limits_without_a_cgroup_name_the_first_limit() -> None:
    reason = PyruncError("cannot create cgroup /sys/fs/cgroup/x: Permission denied", errno.EACCES)
    rootless.check_limits_without_cgroup({}, reason)
    rootless.check_limits_without_cgroup({"devices": [{"allow": False, "access": "rwm"}], "memory": {}},
                                         reason)
    with pytest.raises(PyruncError) as info:
        rootless.check_limits_without_cgroup({"devices": [], "pids": {"limit": 5}}, reason)
    assert info.value.path == "linux.resources.pids" and "Permission denied" in str(info.value)


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(os, "getegid", lambda: 4343)


def test_root_writes_every_map_itself() -> None:
    if os.geteuid() != 0:
        pytest.skip("about root")
    assert rootless.map_helper("uid", "0 100000 65536\n") is None


@pytest.mark.usefixtures("as_user")
def test_a_user_writes_only_its_own_single_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert rootless.map_helper("uid", "0 4242 1\n") is None
    assert rootless.map_helper("gid", "0 4343 1\n") is None
    assert rootless.map_helper("uid", "0 4343 1\n") == "/usr/bin/newuidmap"   # not its uid
    assert rootless.map_helper("gid", "0 4343 2\n") == "/usr/bin/newgidmap"
    assert rootless.map_helper("uid", "0 4242 1\n1 100000 10\n") == "/usr/bin/newuidmap"


@pytest.mark.usefixtures("as_user")
def test_more_than_its_own_ids_without_the_helpers_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    rootless.check_id_maps("0 4242 1\n", "0 4343 1\n")
    rootless.check_id_maps(None, None)
    with pytest.raises(ConfigError) as info:
        rootless.check_id_maps("0 4242 1\n", "0 100000 5\n")
    assert info.value.path == "linux.gidMappings" and "newgidmap" in info.value.message
    with pytest.raises(ConfigError) as info:
        rootless.check_id_maps("0 4242 1\n1 100000 5\n", "0 4343 1\n")
    assert info.value.path == "linux.uidMappings" and "uidmap" in info.value.message


@pytest.mark.usefixtures("as_user")
def test_helpers_get_the_map_as_arguments_and_setgroups_is_left_to_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    writes: list[tuple[str, str]] = []
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "run",
                        lambda argv, **kw: calls.append(argv) or SimpleNamespace(returncode=0))
    monkeypatch.setattr(spawn, "_write_proc", lambda path, text: writes.append((path, text)))
    spawn.write_id_maps(77, "0 4242 1\n1 100000 10\n", "0 4343 1\n")
    assert calls == [["/usr/bin/newuidmap", "77", "0", "4242", "1", "1", "100000", "10"]]
    # gid_map written by us: setgroups must be denied first.
    assert writes == [("/proc/77/setgroups", "deny"), ("/proc/77/gid_map", "0 4343 1\n")]
    calls.clear()
    writes.clear()
    spawn.write_id_maps(78, "0 4242 1\n", "0 4343 1\n1 100000 10\n")
    assert calls == [["/usr/bin/newgidmap", "78", "0", "4343", "1", "1", "100000", "10"]]
    assert writes == [("/proc/78/uid_map", "0 4242 1\n")]


def test_a_failing_helper_says_what_it_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: SimpleNamespace(
        returncode=1, stdout=b"newuidmap: uid range [1-11) -> [100000-100010) not allowed\n"))
    with pytest.raises(PyruncError, match=r"newuidmap 5 1 100000 10 failed: newuidmap: uid range"):
        rootless.run_map_helper("newuidmap", 5, "1 100000 10\n")
