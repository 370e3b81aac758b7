"""What tells a container's init from another process with its pid and
start time: the pid namespace and cgroup recorded at create. This process
stands in for the init."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrunc.runtime.state import ContainerState, cgroup_of, process_start_time
from pyrunc.runtime.cgroups.base import STATE_VERSION
from pyrunc.runtime.errors import PyruncError


def unified_or_first() -> tuple[str, str]:
    """A hierarchy of ours as /proc/self/cgroup names it, and our path there
    (the deepest we have)."""
    with open("/proc/self/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2)[1:] for line in f]
    controllers, path = max(lines, key=lambda entry: entry[1].count("/") * (entry[1] != "/"))
    return (controllers.split(",")[0] if controllers else ""), path


def state(**recorded: object) -> ContainerState:
    pid = os.getpid()
    return ContainerState("c", "/nonexistent", {"pid": pid, "pidStartTime": process_start_time(pid), **recorded})


def test_cgroup_of_reads_our_own() -> None:
    hierarchy, path = unified_or_first()
    assert cgroup_of(os.getpid(), hierarchy) == path
    assert cgroup_of(os.getpid(), "no-such-controller") is None
    assert cgroup_of(1 << 30, hierarchy) is None


def test_start_time_alone_without_identity() -> None:
    assert state().init_alive()


def test_the_recorded_cgroup_or_below_it() -> None:
    hierarchy, path = unified_or_first()
    if path == "/":
        pytest.skip("this process is in a root cgroup")
    assert state(initCgroup=[hierarchy, path]).init_alive()
    if os.path.dirname(path) != "/":
        assert state(initCgroup=[hierarchy, os.path.dirname(path)]).init_alive()   # moved itself below
    assert not state(initCgroup=[hierarchy, path + "-other"]).init_alive()
    assert not state(initCgroup=[hierarchy, path + "/below"]).init_alive()


def test_a_root_cgroup_identifies_nothing() -> None:
    hierarchy, _ = unified_or_first()
    assert not state(initCgroup=[hierarchy, "/"]).init_alive()


def test_the_recorded_pid_namespace() -> None:
    own = os.stat("/proc/self/ns/pid").st_ino
    assert state(initPidNs=own).init_alive()
    assert not state(initPidNs=own + 1).init_alive()


@pytest.mark.parametrize("created", [
    "/sys/fs/cgroup/memory",                 # a hierarchy's root cgroup
    "/sys/fs/cgroup/memory/../memory/x",     # not written plainly
    "/sys/fs/cgroup/memory/",                # the root again
    "/etc",                                  # not below the cgroup mounts
])
def test_an_edited_state_cannot_name_a_host_cgroup_as_made_by_pyrunc(created: str) -> None:
    from pyrunc.runtime.cgroups import manager_from_state
    saved = {"version": STATE_VERSION, "mode": "v1", "root": "/sys/fs/cgroup", "path": "/x",
             "paths": {"memory": "/sys/fs/cgroup/memory/x"}, "created": [created]}
    with pytest.raises(PyruncError, match="not a cgroup pyrunc can have made"):
        manager_from_state(saved)


def test_an_edited_state_cannot_name_a_directory_off_the_cgroup_mounts(tmp_path: Path) -> None:
    """A root and created paths that look like a hierarchy, in a directory
    of ours: on this host's mounts they are no cgroup filesystem."""
    from pyrunc.runtime.cgroups import manager_from_state
    root = tmp_path / "fake"
    (root / "memory" / "x").mkdir(parents=True)
    saved = {"version": STATE_VERSION, "mode": "v1", "root": str(root), "path": "/x",
             "paths": {"memory": f"{root}/memory/x"}, "created": [f"{root}/memory/x"]}
    with pytest.raises(PyruncError, match="not a cgroup pyrunc can have made"):
        manager_from_state(saved)


MOUNTS = [("/", False), ("/sys/fs/cgroup", False), ("/sys/fs/cgroup/memory", True),
          ("/sys/fs/cgroup/memory/held", False), ("/sys/fs/cgroup/unified", True), ("/sys/fs/cgroup/unified", False)]


@pytest.mark.parametrize("path, inside", [
    ("/sys/fs/cgroup/memory/x", True),
    ("/sys/fs/cgroup/memory/x/y", True),
    ("/sys/fs/cgroup/memory", False),           # the hierarchy's root
    ("/sys/fs/cgroup/memoryx/y", False),         # a name that only starts alike
    ("/sys/fs/cgroup/memory/held/y", False),     # something else mounted inside it
    ("/sys/fs/cgroup/unified/y", False),         # covered by a later mount
    ("/tmp/memory/x", False),
])
def test_inside_cgroup_mount_goes_by_the_nearest_mount(path: str, inside: bool) -> None:
    from pyrunc.runtime.cgroups import inside_cgroup_mount
    assert inside_cgroup_mount(path, MOUNTS) is inside


def test_cgroup_mounts_reads_the_escaped_mount_points(tmp_path: Path) -> None:
    from pyrunc.runtime.cgroups import cgroup_mounts
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n"
        "30 22 0:26 / /sys/fs/cgroup/my\\040cg rw,nosuid shared:9 - cgroup cgroup rw,memory\n"
        "31 22 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert cgroup_mounts(str(mountinfo)) == [("/", False), ("/sys/fs/cgroup/my cg", True),
                                            ("/sys/fs/cgroup/unified", True)]
    # And this host's own table has its cgroup mounts.
    assert any(is_cgroup for _, is_cgroup in cgroup_mounts())
