"""containerd with pyrunc as its runc: Debian's containerd 1.6 driven by
`ctr`, through containerd-shim-runc-v2 with `--runc-binary`, as it
drives runc in production.  engines.py has the set-up and the checks;
this file says how to ask for each thing with ctr's flags."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import engines
from engines import Ctr, audited, cgroup_of, engine_session, label_for, pending_verb


@pytest.fixture(scope="session")
def containerd() -> Iterator[None]:
    yield from engine_session("containerd", "ctr", "containerd-shim-runc-v2")


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path, containerd: None) -> Iterator[Ctr]:
    yield from audited(Ctr(label_for(request.node.name), tmp_path))


class TestCommon(engines.CommonScenarios):
    """Run, stop, kill, pause, exec, terminals, binds, twenty at once."""


def test_kill_all_signals_every_process(engine: Ctr) -> None:
    # pid 1 ignores SIGTERM; `kill --all` also reaches its children,
    # whose exit ends its wait.
    name = engine.start(cmd=["sh", "-c", "sleep 600 & sleep 600 & wait; exit 5"])
    engine("task", "kill", "--all", "--signal", "SIGTERM", name).ok()
    assert engine.exit_code(name) == 5


@pending_verb("ps")
def test_ps_lists_the_container_processes(engine: Ctr) -> None:
    name = engine.start(cmd=["sh", "-c", "sleep 600 & exec sleep 601"])
    procs = cgroup_of(engine.pid(name), "pids") / "cgroup.procs"
    engines.poll(lambda: len(procs.read_text().split()) == 2, 10, "both sleeps")
    listed = engine("task", "ps", name).ok().stdout.splitlines()[1:]
    assert sorted(line.split()[0] for line in listed) == sorted(procs.read_text().split())


def test_memory_limit_is_set_and_enforced(engine: Ctr) -> None:
    # ctr mounts no cgroupfs in the container: the limit is checked on the host.
    engines.check_memory_limit(engine, "--memory-limit", str(32 << 20))


def test_pids_limit_is_set_and_enforced(engine: Ctr) -> None:
    spec = engine.default_spec()  # ctr has no flag for it
    spec["linux"].setdefault("resources", {})["pids"] = {"limit": 10}
    engines.check_pids_limit(engine, spec=spec)


def test_read_only_rootfs_with_a_tmpfs(engine: Ctr) -> None:
    engines.check_read_only_rootfs_with_tmpfs(
        engine, "--read-only", "--mount", "type=tmpfs,src=tmpfs,dst=/scratch,options=size=1m")


def test_cap_drop_all(engine: Ctr) -> None:
    # ctr knows no ALL: drop each capability its default spec grants.
    granted = engine.default_spec()["process"]["capabilities"]["bounding"]
    engines.check_no_capabilities(engine, *(f"--cap-drop={cap}" for cap in granted))


def test_non_root_user_for_run_and_exec(engine: Ctr) -> None:
    spec = engine.default_spec()  # ctr run has no --user; ctr task exec has
    spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    engines.check_user(engine, spec=spec, exec_flags=["--user", "1000"])


@pytest.mark.parametrize("flags, expected", [
    pytest.param([], True, id="default"),
    pytest.param(["--allow-new-privs"], False, id="allow-new-privs"),
])
def test_no_new_privileges(engine: Ctr, flags: list[str], expected: bool) -> None:
    engines.check_no_new_privs(engine, flags, expected)


@pytest.mark.parametrize("flags, mode", [
    pytest.param([], 0, id="default"),
    pytest.param(["--seccomp"], 2, id="default-profile"),
])
def test_seccomp(engine: Ctr, flags: list[str], mode: int) -> None:
    engines.check_seccomp(engine, flags, mode)


def test_seccomp_profile_filters(engine: Ctr) -> None:
    # containerd's profile allows unshare only with CAP_SYS_ADMIN.
    out = engine.run("--seccomp", cmd=["unshare", "--user", "true"])
    assert out.returncode != 0 and "Operation not permitted" in out.stderr, out


@pytest.mark.parametrize("flags, host", [
    pytest.param([], False, id="none"),  # without --cni: a namespace with no interface
    pytest.param(["--net-host"], True, id="host"),
])
def test_network(engine: Ctr, flags: list[str], host: bool) -> None:
    engines.check_network(engine, flags, host)


def test_a_runtime_error_reaches_the_user(engine: Ctr) -> None:
    bad_option = ["--mount", "type=tmpfs,src=tmpfs,dst=/scratch,options=bogus"]
    engines.check_runtime_error(engine, bad_option, "/scratch", "invalid argument")
