"""Docker with pyrunc as an added runtime: Debian's dockerd 20.10, with
the containerd it starts and runc's shim, pyrunc chosen per container
with `--runtime pyrunc`, on cgroupfs.  engines.py has the set-up and the
checks; this file says how to ask for each thing with Docker's flags."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

import engines
from engines import (DOCKER, DOCKER_RUNTIME, SLEEPER, TERM_TRAPPER, Docker, audited, cgroup_of,
                     engine_session, label_for, poll)

# Two processes: pid 1 and a child.
TWO_SLEEPS = ["sh", "-c", "sleep 600 & exec sleep 601"]


@pytest.fixture(scope="session")
def docker() -> Iterator[None]:
    yield from engine_session("dockerd", DOCKER, "containerd", "containerd-shim-runc-v2",
                              prepare=engines.prepare_docker)


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path, docker: None) -> Iterator[Docker]:
    yield from audited(Docker(label_for(request.node.name), tmp_path))


class TestCommon(engines.CommonScenarios):
    """Run, stop, kill, pause, exec, terminals, binds, twenty at once."""


class TestDockerCli(engines.DockerCliScenarios):
    """Limits, capabilities, users, no-new-privileges, seccomp, network,
    a runtime error: with the flags Docker shares with Podman."""


def wait_for_processes(engine: Docker, name: str, count: int) -> list[str]:
    """The container's pids once it has `count` processes."""
    procs = cgroup_of(engine.pid(name), "pids") / "cgroup.procs"
    poll(lambda: len(procs.read_text().split()) == count, 10, f"{count} processes in {name}")
    return sorted(procs.read_text().split())


# ---- docker run ---------------------------------------------------------------------

def test_the_container_runs_on_pyrunc(engine: Docker) -> None:
    # Not on Docker's runc by mistake: pyrunc knows it, by Docker's id.
    name = engine.start(cmd=SLEEPER)
    assert engine.inspect(name, "{{.HostConfig.Runtime}}") == DOCKER_RUNTIME
    cid = engine.inspect(name, "{{.Id}}")
    state = json.loads(engines.execute([engines.runtime_path(), "--root", str(engine.runtime_root),
                                        "state", cid]).ok().stdout)
    assert (state["status"], state["pid"]) == ("running", engine.pid(name)), state


@pytest.mark.parametrize("program, status", [
    pytest.param("/nonexistent", 127, id="missing"),
    pytest.param("no-such-program", 127, id="not-on-path"),
    pytest.param("/etc/passwd", 126, id="not-executable"),
])
def test_run_of_a_program_that_cannot_start(engine: Docker, program: str, status: int) -> None:
    # Docker tells these apart by the runtime's error text, as runc words it.
    out = engine.run(cmd=[program])
    assert out.returncode == status, out
    assert f'exec: "{program}"' in out.stderr, out


def test_run_interactive_passes_stdin(engine: Docker) -> None:
    payload = "x" * (1 << 20)
    out = engine.run("--interactive", input=f"hello\n{payload}",
                     cmd=["sh", "-c", 'read line; echo "got $line"; wc -c; exit 4'])
    assert out.returncode == 4, out
    assert out.stdout.split() == ["got", "hello", str(len(payload))], out


def test_run_with_a_terminal_and_no_stdin(engine: Docker) -> None:
    out = engine.run("--tty", cmd=["sh", "-c", "/payload isatty; exit 3"])
    assert out.returncode == 3, out
    assert out.json() == {"stdin": True, "stdout": True, "stderr": True}


# ---- the running container --------------------------------------------------------

def test_exec_with_user_workdir_env_and_detach(engine: Docker) -> None:
    name = engine.start(cmd=SLEEPER)
    out = engine.exec(name, "--user", "1000:1000", "--workdir", "/tmp", "--env", "GREETING=hi",
                      cmd=["sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g)"'])
    assert out.ok().stdout == "hi /tmp 1000:1000\n"
    engine.exec(name, "--detach", cmd=["touch", "/tmp/detached"]).ok()
    poll(lambda: engine.exec(name, cmd=["test", "-e", "/tmp/detached"]).returncode == 0, 10,
         "the detached exec to run")


def test_kill_sends_sigkill_by_default(engine: Docker) -> None:
    name = engine.start(cmd=TERM_TRAPPER)
    engine("kill", name).ok()
    assert engine.exit_code(name) == 137
    assert engine.inspect(name, "{{.State.OOMKilled}}") == "false"


def test_restart_runs_the_same_container_again(engine: Docker) -> None:
    # The runtime deletes the container and creates it again under its id.
    name = engine.start(cmd=SLEEPER)
    first = engine.pid(name)
    engine("restart", "--time", "0", name).ok()
    assert engine.status(name) == "running"
    assert engine.pid(name) != first
    assert engine.inspect(name, "{{.RestartCount}} {{.State.ExitCode}}") == "0 0"


def test_update_changes_the_limits_of_a_running_container(engine: Docker) -> None:
    name = engine.start("--memory", "32m", cmd=SLEEPER)
    engine("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "20",
           "--cpus", "0.5", name).ok()
    pid = engine.pid(name)
    memory, pids, cpu = (cgroup_of(pid, controller) for controller in ("memory", "pids", "cpu"))
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    memsw = memory / "memory.memsw.limit_in_bytes"  # only with swap accounting
    assert not memsw.exists() or memsw.read_text().strip() == str(128 << 20)
    assert (pids / "pids.max").read_text().strip() == "20"
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_stats_read_the_container_cgroups(engine: Docker) -> None:
    name = engine.start("--memory", "32m", cmd=TWO_SLEEPS)
    wait_for_processes(engine, name, 2)
    stats = engine("stats", "--no-stream", "--format", "{{.PIDs}} {{.MemUsage}}", name).ok()
    pids, _usage, _slash, limit = stats.stdout.split()
    assert (pids, limit) == ("2", "32MiB"), stats


def test_top_lists_the_container_processes(engine: Docker) -> None:
    # Docker asks the runtime (`ps --format json`) for the pids.
    name = engine.start(cmd=TWO_SLEEPS)
    expected = wait_for_processes(engine, name, 2)
    listed = engine("top", name, "-o", "pid").ok().stdout.split()
    assert listed[0] == "PID" and sorted(listed[1:]) == expected, listed


# ---- what a container is given ------------------------------------------------------

def test_read_only_rootfs_with_a_tmpfs(engine: Docker) -> None:
    engines.check_read_only_rootfs_with_tmpfs(engine, "--read-only", "--tmpfs", "/scratch")


def test_default_seccomp_profile_filters(engine: Docker) -> None:
    # Docker's profile allows unshare only with CAP_SYS_ADMIN.
    out = engine.run(cmd=["unshare", "--user", "true"])
    assert out.returncode != 0 and "Operation not permitted" in out.stderr, out


def test_seccomp_profile_from_a_file(engine: Docker, tmp_path: Path) -> None:
    # Docker's profile format, with an errno of the profile's choosing.
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))
    out = engine.run("--security-opt", f"seccomp={profile}", cmd=["mkdir", "/made"])
    assert out.returncode == 1 and "Permission denied" in out.stderr, out


def test_network_by_default(engine: Docker) -> None:
    # No bridge: a namespace of its own with loopback only.
    engines.check_network(engine, [], False)
