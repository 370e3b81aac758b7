"""What tells a container's init from another process with its pid and
start time: the pid namespace and cgroup recorded at create. This process
stands in for the init."""
from __future__ import annotations

import os

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
