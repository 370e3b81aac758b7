"""pyrunc.runtime._spawn (native/pyext/spawnmodule.c): pyrunc-init's start
from a sealed memfd, the fds it inherits, and the exec fifo."""
from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pyrunc.runtime import _spawn  # type: ignore[attr-defined]

# Stands in for pyrunc-init: run as `PROGRAM PLAN_FD EXE_FD`, it reports
# its arguments, the plan it was given and the fds it holds.
REPORTER = """#!/bin/sh
exec > "{out}"
echo "args $1 $2"
echo "plan $(/bin/cat /proc/self/fd/$1)"
echo "fds $(/bin/ls /proc/self/fd | /usr/bin/tr '\\n' ' ')"
"""


def test_start_hands_over_the_plan_and_only_the_given_fds(tmp_path: Path) -> None:
    program, out = tmp_path / "reporter", tmp_path / "report"
    program.write_text(REPORTER.format(out=out))
    program.chmod(0o700)
    kept = os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)
    other = os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)
    try:
        pid = _spawn.start(str(program), b"the plan", [kept])
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # Inheritable in the child only.
        assert not os.get_inheritable(kept)
        lines = dict(line.split(" ", 1) for line in out.read_text().splitlines())
        plan_fd, exe_fd = (int(fd) for fd in lines["args"].split())
        assert lines["plan"] == "the plan"
        held = {int(fd) for fd in lines["fds"].split()}
        assert {kept, plan_fd, exe_fd} <= held and other not in held
    finally:
        os.close(kept)
        os.close(other)


def test_start_names_the_step_that_failed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as failed:
        _spawn.start(str(tmp_path / "missing"), b"", [])
    assert failed.value.filename == "copy"
    program = tmp_path / "not-executable"
    program.write_text("")
    with pytest.raises(OSError) as failed:
        _spawn.start(str(program), b"", [])
    assert failed.value.filename == "spawn" and failed.value.errno == errno.ENOEXEC


def test_start_refuses_what_is_not_an_fd(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        _spawn.start(str(tmp_path / "x"), b"", [-1])
    with pytest.raises(TypeError):
        _spawn.start(str(tmp_path / "x"), b"", ["3"])


def test_exec_fifo_has_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "exec.fifo"
    old = os.umask(0o077)
    try:
        fd = _spawn.exec_fifo(str(path), 0o622)
    finally:
        os.umask(old)
    try:
        info = os.fstat(fd)
        assert stat.S_ISFIFO(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o622
        assert not os.get_inheritable(fd)
        # O_PATH: a handle, not an end of the fifo (opening one would block).
        with pytest.raises(OSError) as failed:
            os.read(fd, 1)
        assert failed.value.errno == errno.EBADF
    finally:
        os.close(fd)
    with pytest.raises(FileExistsError) as exists:
        _spawn.exec_fifo(str(path), 0o622)
    assert exists.value.filename == str(path)


def test_wait_gives_the_exit_code_or_128_plus_the_signal(tmp_path: Path) -> None:
    exits = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 7"], {})
    assert _spawn.wait(exits) == 7
    killed = os.posix_spawn("/bin/sh", ["sh", "-c", "kill -TERM $$"], {})
    assert _spawn.wait(killed) == 128 + 15
    with pytest.raises(ChildProcessError):
        _spawn.wait(exits)
    with pytest.raises(ValueError):
        _spawn.wait(0)


FORWARDER = """
import os, signal
from pyrunc.runtime import _spawn
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
child = os.posix_spawn("/bin/sleep", ["sleep", "30"], {})
_spawn.forward_signals(child, (signal.SIGUSR1, signal.SIGCHLD))
os.kill(os.getpid(), signal.SIGUSR1)    # not passed on: the child would die of it
os.kill(os.getpid(), signal.SIGTERM)    # passed on, and not the end of us
print(_spawn.wait(child))
"""


def test_forward_signals_passes_on_every_signal_but_the_unforwarded() -> None:
    # In a process of its own: the handlers stay for the rest of its life.
    result = subprocess.run([sys.executable, "-c", FORWARDER], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(128 + signal.SIGTERM)
