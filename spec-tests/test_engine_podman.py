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


class TestDockerCli(engines.DockerCliScenarios):
    """Limits, capabilities, users, no-new-privileges, seccomp, network,
    a runtime error: with the flags Podman shares with Docker."""


@pytest.mark.parametrize("flags", [
    # --read-only also puts tmpfs on /tmp, /var/tmp and /run; podman asks
    # for every such tmpfs with runc's "tmpcopyup" option.
    pytest.param(["--tmpfs", "/scratch"], id="podman-defaults"),
    pytest.param(["--read-only-tmpfs=false", "--tmpfs", "/scratch:notmpcopyup"],
                 id="no-tmpcopyup"),
])
def test_read_only_rootfs_with_a_tmpfs(engine: Podman, flags: list[str]) -> None:
    engines.check_read_only_rootfs_with_tmpfs(engine, "--read-only", *flags)
