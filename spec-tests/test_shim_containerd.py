"""containerd running containers through pyrunc's own shim: `ctr run
--runtime io.containerd.pyrunc.v2`, the way it loads any shim v2 runtime
(the binary containerd-shim-pyrunc-v2 on its PATH).  The common engine
scenarios, and what only a shim does: stdin, exec, kill of one process or
all, ps, pause, events, and a shim killed under a container."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

# ctr events: "DATE TIME +0000 UTC NAMESPACE TOPIC JSON"

import pytest

import engines
from engines import (CTR_NAMESPACE, IMAGE, SHIM_ROOT, Ctr, audited, ctr_argv, engine_session, label_for,
                     runtime_path)
from harness import TIMEOUT, poll, process_alive, server_of_relay

RUNTIME = "io.containerd.pyrunc.v2"


@pytest.fixture(scope="session")
def containerd() -> Iterator[None]:
    session = engine_session("containerd", "ctr")
    next(session)
    try:
        yield
    finally:
        remove_leftover_shims()
        next(session, None)     # the engines' own teardown


def remove_leftover_shims() -> None:
    """Shims live in sessions of their own: one a failed test left behind
    outlives containerd.  Its containers go first, then the shim."""
    root = SHIM_ROOT / CTR_NAMESPACE
    for state in root.glob("*/state.json") if root.exists() else []:
        subprocess.run([runtime_path(), "--root", str(root), "delete", "--force", state.parent.name],
                       capture_output=True, timeout=TIMEOUT)
    for pid in engines.shim_pids(str(engines.CTR_SOCKET), zygote=True):
        os.kill(pid, signal.SIGKILL)


class ShimCtr(Ctr):
    """ctr with the pyrunc shim as the runtime (not runc's shim + pyrunc)."""

    @property
    def runtime_root(self) -> Path:
        return SHIM_ROOT / CTR_NAMESPACE

    def _run(self, flags: Sequence[str], cmd: Sequence[str], name: str,
             spec: dict[str, Any] | None = None) -> list[str]:
        argv = super()._run(flags, cmd, name, spec)
        at = argv.index("--runc-binary")
        argv[at:at + 4] = ["--runtime", RUNTIME]
        return argv


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path, containerd: None) -> Iterator[ShimCtr]:
    yield from audited(ShimCtr(label_for(request.node.name), tmp_path))


class TestCommon(engines.CommonScenarios):
    """Run, stop, kill, pause, exec, terminals, binds, twenty at once."""


class Events:
    """`ctr events`, read in a thread: (topic, event JSON) of one container."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(ctr_argv("events"), stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout or []), daemon=True)
        self.reader.start()

    def of(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        fields = [line.split(None, 6) for line in list(self.lines) if f'"{name}"' in line]
        return [(f[5], json.loads(f[6])) for f in fields if len(f) == 7]

    def wait_for(self, name: str, topics: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """Until every topic was seen (events are sent after the call that
        caused them returns): the container's events."""
        poll(lambda: topics <= {topic for topic, _ in self.of(name)}, TIMEOUT, f"events {sorted(topics)}")
        return self.of(name)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(TIMEOUT)
        self.reader.join(TIMEOUT)


def shim_pid(name: str) -> int:
    return engines.shim_of_task(CTR_NAMESPACE, name)


def test_stdin_reaches_the_container(engine: ShimCtr) -> None:
    name = engine.new_name()
    out = subprocess.run(ctr_argv("run", "--runtime", RUNTIME, "--rm", IMAGE, name, "sh", "-c", "cat; exit 3"),
                         input="typed in\n", capture_output=True, text=True, timeout=TIMEOUT)
    assert (out.returncode, out.stdout) == (3, "typed in\n"), out


def test_exec_ps_and_kill_of_one_process_or_all(engine: ShimCtr) -> None:
    name = engine.start(cmd=["sh", "-c", "sleep 600 & sleep 600 & wait"])
    out = engine.exec(name, cmd=["sh", "-c", "echo from exec; echo err >&2; exit 5"])
    assert (out.returncode, out.stdout) == (5, "from exec\n"), out
    assert "err" in out.stderr
    engine("task", "exec", "-d", "--exec-id", "bg", name, "sleep", "600").ok()
    rows = engine("task", "ps", name).ok().stdout.splitlines()[1:]
    assert len(rows) == 4, rows   # sh, two sleeps, the exec'd sleep
    assert any("bg" in row for row in rows), rows
    init = engine.pid(name)
    children = [int(row.split()[0]) for row in rows if int(row.split()[0]) != init]
    engine("task", "kill", "--signal", "SIGKILL", "--exec-id", "bg", name).ok()   # one process
    poll(lambda: len(engine("task", "ps", name).ok().stdout.splitlines()) == 4, TIMEOUT, "the exec to die")
    assert engine.status(name) == "running"
    engine("task", "kill", "--all", "--signal", "SIGKILL", name).ok()
    engine.wait_status(name, "stopped", TIMEOUT)
    assert not any(process_alive(pid) for pid in children)
    assert engine.exit_code(name) == 137


def test_detached_run_deleted_after_exit_reports_its_status(engine: ShimCtr) -> None:
    name = engine.start(cmd=["sh", "-c", "echo logged; sleep 0.5; exit 6"])
    assert engine.exit_code(name) == 6
    assert engine.logs(name) == "logged\n"


def test_pause_resume_and_events(engine: ShimCtr) -> None:
    events = Events()
    try:
        name = engine.start(cmd=["sleep", "600"])
        engine.pause(name).ok()
        assert engine.status(name) == "paused"
        engine.resume(name).ok()
        assert engine.status(name) == "running"
        engine("task", "exec", "--exec-id", "ev", name, "true").ok()
        engine.kill(name, "SIGKILL").ok()
        assert engine.exit_code(name) == 137
        seen = events.wait_for(name, {"/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed",
                                      "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", "/tasks/delete"})
    finally:
        events.close()
    exits = [event for topic, event in seen if topic == "/tasks/exit" and event.get("id") == name]
    assert [event.get("exit_status") for event in exits] == [137], seen


def test_an_oom_kill_is_a_task_oom_event(engine: ShimCtr) -> None:
    events = Events()
    try:
        name = engine.start("--memory-limit", str(32 << 20), cmd=engines.SLEEPER)
        assert engine.exec(name, cmd=engines.MEMORY_HOG).returncode == 137
        events.wait_for(name, {"/tasks/oom"})
        assert engine.status(name) == "running"     # the init lives on
        engine.kill(name, "SIGKILL").ok()
        assert engine.exit_code(name) == 137
    finally:
        events.close()


def set_size(tty: int, rows: int, columns: int) -> None:
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def test_a_terminal_has_the_size_of_ctrs_and_follows_it(engine: ShimCtr) -> None:
    """`ctr run -t`: the container's terminal takes the size of ctr's
    (ResizePty at start) and follows when ctr's is resized (SIGWINCH,
    then ResizePty), as a person at a shell sees it."""
    master, slave = pty.openpty()
    set_size(slave, 37, 91)
    client = subprocess.Popen(ctr_argv("run", "--runtime", RUNTIME, "--rm", "-t", IMAGE, engine.new_name(), "sh"),
                              stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                              preexec_fn=engines._take_terminal, cwd=engines.CLIENT_CWD)
    os.close(slave)
    screen = bytearray()

    def shows(text: str) -> bool:
        """Asks the shell for its size again; has `text` come?"""
        os.write(master, b"stty size\n")
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and text.encode() not in screen:
            if select.select([master], [], [], 0.1)[0]:
                screen.extend(os.read(master, 65536))
        return text.encode() in screen

    try:
        poll(lambda: shows("37 91"), TIMEOUT, "the size ctr started with")
        set_size(master, 50, 120)
        poll(lambda: shows("50 120"), TIMEOUT, "the new size")
        os.write(master, b"exit 4\n")
        assert client.wait(TIMEOUT) == 4, screen
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        os.close(master)


def oom_score_adj(pid: int | str) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def test_the_oom_killer_takes_the_shim_before_containerd(engine: ShimCtr, tmp_path: Path) -> None:
    """As containerd's runc shim: the shim's processes rank one above
    containerd, and a container whose spec sets no oomScoreAdj (ctr's
    sets none) inherits that, as it does under the runc shim."""
    above_containerd = min(oom_score_adj(engines.CTR_PIDFILE.read_text().strip()) + 1, 1000)
    probe = ["cat", "/proc/self/oom_score_adj"]
    on_runc_shim = Ctr(label_for("oom-score-runc-shim"), tmp_path)
    try:
        assert on_runc_shim.run(cmd=probe).ok().stdout.split() == [str(above_containerd)]
    finally:
        left = on_runc_shim.cleanup()
    assert not left, left
    assert engine.run(cmd=probe).ok().stdout.split() == [str(above_containerd)]
    engine.start(cmd=engines.SLEEPER)
    shims = engines.shim_pids(str(engines.CTR_SOCKET), zygote=True)
    assert len(shims) >= 3, shims     # the zygote, a server, a relay
    assert {pid: oom_score_adj(pid) for pid in shims} == {pid: above_containerd for pid in shims}


def test_a_killed_shim_leaves_its_recorded_exit_status(engine: ShimCtr) -> None:
    events = Events()
    try:
        name = engine.start(cmd=["sh", "-c", "sleep 1; exit 9"])
        engine.wait_status(name, "stopped", TIMEOUT)
        pid = shim_pid(name)
        os.kill(pid, signal.SIGKILL)
        poll(lambda: not process_alive(pid), TIMEOUT, "the shim to die")
        # containerd runs `containerd-shim-pyrunc-v2 delete` for the dead shim
        # and tells the exit it reports: the one the shim recorded (as its own
        # TaskExit, sent before it died, did).
        poll(lambda: engine.status(name) is None, TIMEOUT, "containerd to clean up")
        exits = [event for topic, event in events.wait_for(name, {"/tasks/exit"}) if topic == "/tasks/exit"]
    finally:
        events.close()
    assert all(event.get("exit_status") == 9 for event in exits), exits
    # The delete command removed the container's state (containerd may list
    # the task as gone a moment before the command ends).
    poll(lambda: not (SHIM_ROOT / CTR_NAMESPACE / name).exists(), TIMEOUT, "the state to go")


def test_a_killed_server_loses_no_output(engine: ShimCtr) -> None:
    """The server behind the container's relay is killed while it
    writes: the zygote held the pipe's other end, its successor copies on
    to the log, and every line arrives, in order, with the real status."""
    script = "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); sleep 0.05; done"
    name = engine.start(cmd=["sh", "-c", script])
    server = server_of_relay(shim_pid(name))
    poll(lambda: "line3\n" in engine.logs(name), TIMEOUT, "some output")
    os.kill(server, signal.SIGKILL)
    assert engine.exit_code(name) == 0
    assert engine.logs(name).split() == [f"line{i}" for i in range(30)]


def test_metrics_come_from_the_cgroup(engine: ShimCtr) -> None:
    name = engine.start("--memory-limit", str(64 << 20), cmd=engines.SLEEPER)
    out = engine("task", "metrics", "--format", "json", name).ok().stdout
    metrics = json.loads(out)
    assert metrics["pids"]["current"] == 1, metrics
    assert metrics["memory"]["usage"]["limit"] == 64 << 20, metrics
    assert metrics["cpu"]["usage"]["total"] > 0, metrics
    engine.kill(name, "SIGKILL").ok()
    assert engine.exit_code(name) == 137


def test_containerd_restarted_finds_its_running_shims_again(engine: ShimCtr) -> None:
    name = engine.start(cmd=engines.SLEEPER)
    shim = shim_pid(name)
    engines.stop_containerd()
    engines.start_containerd()
    # Reconnected through the address the shim left in the bundle: same shim.
    assert engine.status(name) == "running"
    assert shim_pid(name) == shim
    engine.kill(name, "SIGKILL").ok()
    assert engine.exit_code(name) == 137


def test_runtime_options_run_the_task_on_runc(engine: ShimCtr, tmp_path: Path) -> None:
    """`ctr --runtime-config-path` hands the shim a TOML file of containerd's
    runc options: BinaryName=runc runs the task on runc (its state under
    Root), with the shim's own stdio, exits and metrics."""
    root = tmp_path / "runc-root"
    config = tmp_path / "runtime.toml"
    config.write_text(f'BinaryName = "runc"\nRoot = "{root}"\n')
    name = engine.start("--runtime-config-path", str(config), cmd=["sh", "-c", "echo on-runc; sleep 600"])
    assert (root / CTR_NAMESPACE / name / "state.json").exists()
    runc_state = json.loads(subprocess.run(["runc", "--root", str(root / CTR_NAMESPACE), "state", name],
                                           capture_output=True, text=True, timeout=TIMEOUT).stdout)
    assert (runc_state["status"], runc_state["pid"]) == ("running", engine.pid(name))
    assert not (SHIM_ROOT / CTR_NAMESPACE / name).exists()     # not pyrunc's
    metrics = json.loads(engine("task", "metrics", "--format", "json", name).ok().stdout)
    assert metrics["pids"]["current"] == 1     # sh execs the sleep
    poll(lambda: engine.logs(name) == "on-runc\n", TIMEOUT, "the output")
    engine.kill(name, "SIGKILL").ok()
    assert engine.exit_code(name) == 137
    assert not (root / CTR_NAMESPACE / name).exists()


def test_a_binary_log_uri_from_ctr(engine: ShimCtr, tmp_path: Path) -> None:
    """`ctr run --log-uri binary://...`: containerd's logging protocol."""
    from test_shim_server import LOGGER
    logger, dest = tmp_path / "logger", tmp_path / "log"
    logger.write_text(LOGGER)
    logger.chmod(0o755)
    name = engine.start("--log-uri", f"binary://{logger}?dest={dest}",
                        cmd=["sh", "-c", "echo hi; echo ho >&2; sleep 1"])
    assert engine.exit_code(name) == 0
    poll(lambda: dest.exists() and len(dest.read_text().splitlines()) == 2, TIMEOUT, "the logger to write")
    assert sorted(dest.read_text().splitlines()) == ["err: ho", "out: hi"]
    assert json.loads((tmp_path / "log.meta").read_text())["env"]["CONTAINER_ID"] == name
