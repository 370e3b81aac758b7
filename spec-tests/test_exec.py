"""runc's exec: another process in a running container, in every one of
its namespaces and its cgroup, with the config's security settings and
the flags' changes."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import secrets
import subprocess
from pathlib import Path
from typing import Any, Iterator

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


# keyctl(2) and add_key(2), which Python does not wrap (x86_64's, aarch64's numbers).
ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
KEYCTL_SETPERM, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_UNLINK, KEYCTL_READ, KEYCTL_INVALIDATE = 5, 1, 9, 11, 21
KEY_SPEC_PROCESS_KEYRING = -2


class CallerKey:
    """A key in a keyring that a runtime call takes as its session keyring
    (join, its preexec_fn): the caller's, which no process of a container
    may read unless the container keeps its caller's (--no-new-keyring)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.name = f"pyrunc-test-{secrets.token_hex(4)}".encode()
        self.ring = self.call(ADD_KEY, b"keyring", self.name, None, 0, KEY_SPEC_PROCESS_KEYRING)
        # Possessor all; the user may view, read and search it (to join it by name).
        self.call(KEYCTL, KEYCTL_SETPERM, self.ring, 0x3F0B0000)
        self.key = self.call(ADD_KEY, b"user", b"caller-secret", b"s3cret", 6, self.ring)

    def call(self, number: int, *args: Any) -> int:
        result = self.libc.syscall(number, *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
        assert result >= 0, os.strerror(ctypes.get_errno())
        return int(result)

    def join(self) -> None:
        self.libc.syscall(KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, self.name)

    def read_argv(self) -> list[str]:
        """The payload's read of the key: {"ok": true} if it may."""
        return ["/payload", "syscall", str(KEYCTL), str(KEYCTL_READ), str(self.key), "0", "0"]

    def close(self) -> None:
        self.libc.syscall(KEYCTL, KEYCTL_INVALIDATE, ctypes.c_long(self.key))
        self.libc.syscall(KEYCTL, KEYCTL_UNLINK, ctypes.c_long(self.ring), ctypes.c_long(KEY_SPEC_PROCESS_KEYRING))
        self.libc.syscall(KEYCTL, KEYCTL_INVALIDATE, ctypes.c_long(self.ring))


@pytest.fixture
def caller_key() -> Iterator[CallerKey]:
    key = CallerKey()
    try:
        yield key
    finally:
        key.close()


@pytest.mark.parametrize("keep", [False, True], ids=["own-keyring", "no-new-keyring"])
def test_no_process_of_the_container_reads_its_callers_keys(runtime: Runtime, bundle: Bundle,
                                                            caller_key: CallerKey, keep: bool) -> None:
    """The init and every exec'd process are in the container's session
    keyring, not their caller's (runc's exec joins the init's by name; it
    used to keep the exec caller's here, and read its keys); with
    --no-new-keyring both keep their caller's, as runc's do."""
    flags = ("--no-new-keyring",) if keep else ()
    container = runtime.create(bundle.payload("sleep", "60"), *flags, preexec_fn=caller_key.join)
    container.start().ok()
    expected = {"ok": True, "errno": 0} if keep else {"ok": False, "errno": errno.EACCES}
    init = runtime.run(bundle.payload(*caller_key.read_argv()[1:]), *flags, preexec_fn=caller_key.join)
    assert init.ok().json() == expected
    execd = runtime("exec", container.cid, *caller_key.read_argv(), preexec_fn=caller_key.join)
    assert execd.ok().json() == expected


@pytest.mark.parametrize("userns", [False, True], ids=["host-users", "user-namespace"])
def test_exec_joins_the_session_keyring_of_the_init(runtime: Runtime, bundle: Bundle, userns: bool) -> None:
    """One keyring for the container, named as runc names it: an exec finds
    the init's (which lets its owner search it, and with a user namespace
    anyone) rather than making its own.  runc's execs make their own in a
    user namespace: it lets only others search the init's there."""
    from test_userns import with_userns
    if userns:
        with_userns(bundle)
    bundle.set("linux.maskedPaths", [p for p in bundle.get("linux.maskedPaths", []) if p != "/proc/keys"])
    container = runtime.create(bundle.payload("sleep", "60"))
    container.start().ok()
    keys = runtime("exec", container.cid, "cat", "/proc/keys").ok().stdout.splitlines()
    ours = [line for line in keys if line.endswith(f" _ses.{container.cid}: empty")]
    assert len(ours) == 1, keys
    search = 0x00080008 if userns else 0x00080000      # the owner's, and anyone's
    assert int(ours[0].split()[4], 16) & search == search, ours
