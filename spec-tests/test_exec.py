"""runc's exec: another process in a running container, in every one of
its namespaces and its cgroup, with the config's security settings and
the flags' changes."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import Bundle, Container, Runtime, assert_error, hex_mask, pyrunc_executable


@pytest.fixture
def running(runtime: Runtime, bundle: Bundle) -> Container:
    container = runtime.create(bundle.payload("sleep", "60"))
    container.start().ok()
    return container


def exec_payload(runtime: Runtime, container: Container, *args: str, flags: tuple[str, ...] = ()) -> object:
    return json.loads(runtime("exec", *flags, container.cid, "/payload", *args).ok().stdout)


def test_exec_joins_every_namespace_of_the_init(runtime: Runtime, running: Container) -> None:
    seen = exec_payload(runtime, running, "ns")
    init = running.pid
    for kind in ("pid", "mnt", "net", "ipc", "uts", "cgroup"):
        assert seen[kind] == os.stat(f"/proc/{init}/ns/{kind}").st_ino, kind  # type: ignore[index]


def test_exec_is_in_the_container_cgroup(runtime: Runtime, running: Container) -> None:
    out = runtime("exec", "--detach", "--pid-file", str(running.runtime.scratch / "e.pid"), running.cid,
                  "/payload", "sleep", "30").ok()
    pid = int((running.runtime.scratch / "e.pid").read_text())
    with open(f"/proc/{pid}/cgroup") as mine, open(f"/proc/{running.pid}/cgroup") as init:
        assert sorted(mine.read().split()) == sorted(init.read().split())
    assert out.returncode == 0


def test_exit_status_and_output(runtime: Runtime, running: Container) -> None:
    result = runtime("exec", running.cid, "sh", "-c", "echo out; echo err >&2; exit 42")
    assert result.returncode == 42
    assert result.stdout == "out\n" and "err" in result.stderr


def test_flags_change_env_cwd_user_and_caps(runtime: Runtime, running: Container) -> None:
    env = exec_payload(runtime, running, "env", flags=("--env", "EXTRA=1", "-e", "MORE=2"))
    assert "EXTRA=1" in env and "MORE=2" in env  # type: ignore[operator]
    assert exec_payload(runtime, running, "cwd", flags=("--cwd", "/tmp")) == "/tmp"
    ids = exec_payload(runtime, running, "ids", flags=("--user", "1000:100", "--additional-gids", "5"))
    assert (ids["uid"], ids["gid"], ids["groups"]) == (1000, 100, [5])  # type: ignore[index]
    caps = exec_payload(runtime, running, "caps", flags=("--cap", "CAP_CHOWN"))
    assert int(caps["effective"], 16) & 1  # type: ignore[index]


def test_process_file(runtime: Runtime, running: Container, tmp_path: Path) -> None:
    process = {"args": ["/payload", "all"], "env": ["ONLY=this"], "cwd": "/etc",
               "user": {"uid": 7, "gid": 8}, "noNewPrivileges": True,
               "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                "permitted": ["CAP_KILL"]}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    seen = json.loads(runtime("exec", "--process", str(path), running.cid).ok().stdout)
    assert seen["env"][0] == "ONLY=this" and seen["cwd"] == "/etc"
    assert (seen["ids"]["uid"], seen["ids"]["gid"]) == (7, 8)
    assert seen["caps"]["no_new_privs"] is True
    assert seen["caps"]["bounding"] == hex_mask(5)


def test_detach_and_pid_file(runtime: Runtime, running: Container, tmp_path: Path) -> None:
    pid_file = tmp_path / "exec.pid"
    runtime("exec", "--detach", "--pid-file", str(pid_file), running.cid, "/payload", "sleep", "30").ok()
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"/payload", b"sleep"]
    assert pid in json.loads(runtime("ps", "--format", "json", running.cid).ok().stdout)


def test_preserve_fds(runtime: Runtime, running: Container, tmp_path: Path) -> None:
    # A shell gives pyrunc an fd 3 (this process's fd 3 may be pytest's).
    argv = [pyrunc_executable(), "--root", str(runtime.root), "exec", "--preserve-fds", "1",
            running.cid, "/payload", "fds"]
    out = subprocess.run(["sh", "-c", 'exec 3< "$0"; exec "$@"', str(tmp_path), *argv],
                         capture_output=True, timeout=30, check=True)
    assert [entry["fd"] for entry in json.loads(out.stdout)] == [0, 1, 2, 3]


def test_errors(runtime: Runtime, bundle: Bundle, running: Container) -> None:
    # runc's exec exits 255 when it cannot run the process: engines read that.
    assert_error(runtime("exec", running.cid, "no-such-program"), "executable file not found", status=255)
    assert_error(runtime("exec", "nonesuch", "true"), "nonesuch", status=255)
    runtime("pause", running.cid).ok()
    assert_error(runtime("exec", running.cid, "true"), "paused", status=255)
    runtime("resume", running.cid).ok()
    running.kill("KILL").ok()
    running.wait_status("stopped")
    assert_error(runtime("exec", running.cid, "true"), "stopped", status=255)


def test_exec_gets_the_config_seccomp_and_rlimits(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                               "errnoRet": 1}]})
    bundle.with_tmp()
    container = runtime.create(bundle.payload("sleep", "60"))
    container.start().ok()
    blocked = runtime("exec", container.cid, "mkdir", "/tmp/x")
    assert blocked.returncode != 0 and "Operation not permitted" in blocked.stderr
    limits = json.loads(runtime("exec", container.cid, "/payload", "rlimits").ok().stdout)
    assert limits["RLIMIT_NOFILE"] == [1024, 1024]
