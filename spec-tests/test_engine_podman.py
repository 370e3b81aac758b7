"""Podman with pyrunc as its OCI runtime: Debian's podman 4.3 with
`--runtime`, through conmon, on cgroupfs.  engines.py has the set-up and
the checks; this file says how to ask for each thing with podman's flags."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import engines
from engines import Podman, audited, engine_session, label_for


@pytest.fixture(scope="session")
def podman() -> Iterator[None]:
    yield from engine_session("podman", "conmon")


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path, podman: None) -> Iterator[Podman]:
    yield from audited(Podman(label_for(request.node.name), tmp_path))


class TestCommon(engines.CommonScenarios):
    """Run, stop, kill, pause, exec, terminals, binds, twenty at once."""


def test_memory_limit_is_set_and_enforced(engine: Podman) -> None:
    engines.check_memory_limit(engine, "--memory", "32m")


def test_pids_limit_is_set_and_enforced(engine: Podman) -> None:
    engines.check_pids_limit(engine, "--pids-limit", "10")


def test_limits_are_visible_inside(engine: Podman) -> None:
    engines.check_limits_visible_inside(engine, "--memory", "32m", "--pids-limit", "10")


@pytest.mark.parametrize("flags", [
    # --read-only also puts tmpfs on /tmp, /var/tmp and /run; podman asks
    # for every such tmpfs with runc's "tmpcopyup" option.
    pytest.param(["--tmpfs", "/scratch"], id="podman-defaults"),
    pytest.param(["--read-only-tmpfs=false", "--tmpfs", "/scratch:notmpcopyup"],
                 id="no-tmpcopyup"),
])
def test_read_only_rootfs_with_a_tmpfs(engine: Podman, flags: list[str]) -> None:
    engines.check_read_only_rootfs_with_tmpfs(engine, "--read-only", *flags)


def test_cap_drop_all(engine: Podman) -> None:
    engines.check_no_capabilities(engine, "--cap-drop", "ALL")


def test_non_root_user_for_run_and_exec(engine: Podman) -> None:
    engines.check_user(engine, "--user", "1000:1000")  # exec inherits the user


@pytest.mark.parametrize("flags, expected", [
    pytest.param([], False, id="default"),
    pytest.param(["--security-opt", "no-new-privileges"], True, id="no-new-privileges"),
])
def test_no_new_privileges(engine: Podman, flags: list[str], expected: bool) -> None:
    engines.check_no_new_privs(engine, flags, expected)


@pytest.mark.parametrize("flags, mode", [
    pytest.param([], 2, id="default-profile"),
    pytest.param(["--security-opt", "seccomp=unconfined"], 0, id="unconfined"),
])
def test_seccomp(engine: Podman, flags: list[str], mode: int) -> None:
    engines.check_seccomp(engine, flags, mode)


@pytest.mark.parametrize("network", ["none", "host"])
def test_network(engine: Podman, network: str) -> None:
    engines.check_network(engine, ["--network", network], network == "host")


def test_a_runtime_error_reaches_the_user(engine: Podman) -> None:
    # Above fs.nr_open: setrlimit fails for root too.
    too_many = int(Path("/proc/sys/fs/nr_open").read_text()) + 1
    engines.check_runtime_error(engine, ["--ulimit", f"nofile={too_many}:{too_many}"],
                                "rlimit", "operation not permitted")
