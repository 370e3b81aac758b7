"""Rootless mode, as runc has it: an unprivileged user runs a container
from `pyrunc spec --rootless` (its own uid/gid mapped to root in a user
namespace, no network namespace, /sys bound from the host), without a
cgroup of its own, its state under $XDG_RUNTIME_DIR.

The tests run as root and drop to USER_ID, a uid with no passwd entry,
with setpriv; bigger id maps need newuidmap/newgidmap and a real user
with subordinate ids, so that test makes a throwaway one."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import (ROOTFS, TIMEOUT, Result, assert_error, cgroup_dirs, mounts_under, poll,
                     process_alive, processes_of, pyrunc_executable)

USER_ID = 4242
SETPRIV = shutil.which("setpriv") or "setpriv"     # found with our PATH, not the user's


def _interpreter(executable: str) -> str:
    """What runs the pyrunc script: its #! interpreter (venvs link it)."""
    with open(executable, "rb") as f:
        first = f.readline()
    if first.startswith(b"#!"):
        executable = first[2:].split()[0].decode()
    return os.path.realpath(executable)


def _others_can_run(path: str) -> bool:
    """Executable by "other", and every directory above it searchable."""
    current = path
    while True:
        if not os.stat(current).st_mode & 0o001:
            return False
        if current == "/":
            return True
        current = os.path.dirname(current)


class User:
    """pyrunc run as an unprivileged uid/gid, in a scratch directory of its
    own, with XDG_RUNTIME_DIR there (so the default --root is used)."""

    def __init__(self, uid: int, gid: int, home: Path) -> None:
        self.uid, self.gid, self.home = uid, gid, home
        self.xdg = home / "xdg"
        self.xdg.mkdir(mode=0o700)
        self.calls = 0
        self.ids: list[str] = []
        self.path_env = os.environ.get("PATH", "/usr/bin:/bin")
        os.chown(self.xdg, uid, gid)

    @property
    def state_root(self) -> Path:
        return self.xdg / "pyrunc"

    def new_id(self) -> str:
        self.ids.append(f"rootless-{secrets.token_hex(3)}-{len(self.ids)}")
        return self.ids[-1]

    def __call__(self, *args: str, cwd: Path | None = None, path_env: str | None = None,
                 timeout: float = TIMEOUT, fast_path: str | None = None) -> Result:
        """fast_path: PYRUNC_FAST_PATH for the call (test_fast_path.py)."""
        self.calls += 1
        stem = self.home / f"call-{self.calls}"
        out, err, log = (stem.with_suffix(s) for s in (".out", ".err", ".log"))
        argv = [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
                pyrunc_executable(), "--log", str(log), "--log-format", "json", *args]
        env = {"PATH": path_env or self.path_env, "XDG_RUNTIME_DIR": str(self.xdg), "HOME": str(self.home)}
        if fast_path is not None:
            env["PYRUNC_FAST_PATH"] = fast_path
        with open(out, "wb") as out_file, open(err, "wb") as err_file:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_file, stderr=err_file,
                                    cwd=cwd or self.home, env=env)
        try:
            return Result(argv, proc.wait(timeout), out, err, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def bundle(self, name: str, *args: str) -> Path:
        """A bundle of `pyrunc spec --rootless` (written by the user) on a
        rootfs copy of the user's own, running ARGS without a terminal."""
        path = self.home / name
        path.mkdir()
        subprocess.run(["cp", "-a", str(ROOTFS.resolve()), str(path / "rootfs")], check=True)
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)
        self("spec", "--rootless", cwd=path).ok()
        self.edit(path, lambda config: config["process"].update(args=list(args), terminal=False))
        return path

    def edit(self, bundle: Path, change: Any) -> None:
        config = json.loads((bundle / "config.json").read_text())
        change(config)
        (bundle / "config.json").write_text(json.dumps(config))

    def leftovers(self) -> list[str]:
        """Force-delete every container, then list what is still there."""
        for cid in sorted(os.listdir(self.state_root)) if self.state_root.exists() else []:
            self("delete", "--force", cid)
        problems = []
        if self.state_root.exists() and os.listdir(self.state_root):
            problems.append(f"state dirs left: {os.listdir(self.state_root)}")
        problems += [f"process left: {p}" for p in processes_of(self.ids)]
        problems += [f"cgroup left: {d}" for d in cgroup_dirs(self.ids)]
        problems += [f"mount left: {m}" for m in mounts_under(self.home)]
        return problems


def _processes_of_uid(uid: int) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        real_uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        if int(real_uid) == uid and process_alive(int(pid)):
            pids.append(int(pid))
    return pids


def _kill_all(uid: int) -> list[int]:
    pids = _processes_of_uid(uid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


@pytest.fixture
def scratch(rootfs: Path) -> Iterator[Path]:
    """A directory any user can reach (not pytest's root-only tmp_path)."""
    path = Path(tempfile.mkdtemp(prefix="pyrunc-rootless-", dir="/tmp"))
    try:
        path.chmod(0o711)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_user(uid: int, gid: int, home: Path) -> Iterator[User]:
    """A User for uid/gid whose containers, processes and files are gone
    afterwards, pass or fail; skips when it cannot run pyrunc at all."""
    home.mkdir()
    os.chown(home, uid, gid)
    user = User(uid, gid, home)
    version = user("--version")
    if version.returncode != 0:
        interpreter = _interpreter(pyrunc_executable())
        if not _others_can_run(interpreter):
            pytest.skip(f"{pyrunc_executable()} runs {interpreter}, which uid {uid} cannot execute "
                        "(a venv of a private interpreter; CI's is built from /usr/bin/python3)")
        pytest.fail(f"uid {uid} cannot run pyrunc: {version}")
    try:
        yield user
    finally:
        problems = user.leftovers()
        stray = _kill_all(uid)
        if stray:
            problems.append(f"processes of uid {uid} left: {stray}")
        assert not problems, "test left things behind:\n  " + "\n  ".join(problems)


@pytest.fixture
def user(scratch: Path) -> Iterator[User]:
    yield from _as_user(USER_ID, USER_ID, scratch / "user")


def _ids_of(status_path: str) -> dict[str, list[str]]:
    lines = Path(status_path).read_text().splitlines()
    return {line.split(":")[0]: line.split()[1:] for line in lines if line.startswith(("Uid", "Gid"))}


# ---- running ------------------------------------------------------------------------

def test_a_user_runs_the_rootless_spec(user: User) -> None:
    bundle = user.bundle("bundle", "/payload", "ids")
    config = json.loads((bundle / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": USER_ID, "size": 1}]
    seen = user("run", "--bundle", str(bundle), user.new_id()).json()
    assert (seen["uid"], seen["gid"], seen["euid"]) == (0, 0, 0)
    user.edit(bundle, lambda c: c["process"].update(args=["/payload", "cat", "/proc/self/uid_map"]))
    uid_map = user("run", "--bundle", str(bundle), user.new_id()).json()
    assert uid_map.split() == ["0", str(USER_ID), "1"]
    # The default --root: private to the user.
    root = user.state_root.stat()
    assert (root.st_uid, root.st_mode & 0o777) == (USER_ID, 0o700)


def test_lifecycle_as_the_user(user: User) -> None:
    bundle = user.bundle("bundle", "/payload", "sleep", "30")
    cid = user.new_id()
    user("create", "--bundle", str(bundle), cid).ok()
    state_dir = user.state_root / cid
    assert (state_dir.stat().st_uid, state_dir.stat().st_mode & 0o777) == (USER_ID, 0o700)
    assert (state_dir / "exec.fifo").stat().st_uid == USER_ID
    state = user("state", cid).json()
    assert state["status"] == "created"
    assert_fast_as_python(user, cid)
    user("start", cid, fast_path="only").ok()     # in C, under the user's default root
    assert user("state", cid).json()["status"] == "running"
    assert_fast_as_python(user, cid)
    ids = _ids_of(f"/proc/{state['pid']}/status")
    assert ids["Uid"] == [str(USER_ID)] * 4 and ids["Gid"] == [str(USER_ID)] * 4
    assert cgroup_dirs([cid]) == []            # no cgroup of its own
    user("kill", cid, "KILL").ok()
    poll(lambda: user("state", cid).json()["status"] == "stopped", what=f"{cid} to stop")
    user("delete", cid).ok()
    assert not state_dir.exists()


def assert_fast_as_python(user: User, cid: str) -> None:
    """The launcher answers `state` in C (PYRUNC_FAST_PATH=only) under the
    user's default root as the Python CLI does.  `list` names owners, and
    USER_ID has no passwd entry: a uid the launcher cannot name (it reads
    /etc/passwd only, not NSS) is left to the Python CLI."""
    fast, python = user("state", cid, fast_path="only"), user("state", cid, fast_path="0")
    assert (fast.returncode, fast.stdout, fast.stderr) == (0, python.stdout, python.stderr)
    assert user("list", "-q", fast_path="only").returncode == 125


def test_limits_need_a_cgroup_the_user_cannot_make(user: User) -> None:
    bundle = user.bundle("bundle", "/payload", "ids")
    user.edit(bundle, lambda c: c["linux"].update(resources={"pids": {"limit": 10}}))
    assert_error(user("run", "--bundle", str(bundle), user.new_id()), "linux.resources.pids", "no cgroup")
    # Without rootless mode, the missing cgroup is an error of its own.
    user.edit(bundle, lambda c: c["linux"].pop("resources"))
    assert_error(user("--rootless", "false", "run", "--bundle", str(bundle), user.new_id()),
                 "cannot create cgroup", "Permission denied")
    assert not user.state_root.exists() or os.listdir(user.state_root) == []


def test_more_than_its_own_ids_needs_newuidmap(user: User) -> None:
    bundle = user.bundle("bundle", "/payload", "ids")
    user.edit(bundle, lambda c: c["linux"]["uidMappings"].append({"containerID": 1, "hostID": 300000, "size": 10}))
    result = user("run", "--bundle", str(bundle), user.new_id(), path_env="/nonexistent")
    assert_error(result, "linux.uidMappings", "newuidmap")


# ---- bigger maps through newuidmap/newgidmap ---------------------------------------------

def _subordinate_ranges(path: str) -> dict[str, tuple[int, int]]:
    """name -> (first id, count) of /etc/subuid or /etc/subgid."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return {}
    return {f[0]: (int(f[1]), int(f[2])) for f in (line.split(":") for line in lines) if len(f) == 3}


def _subordinate_start(name: str) -> int:
    """The user's first subordinate uid (and gid), given one if useradd did not."""
    uids, gids = _subordinate_ranges("/etc/subuid"), _subordinate_ranges("/etc/subgid")
    if name in uids and gids.get(name, (None,))[0] == uids[name][0]:
        return uids[name][0]
    start = max([100000] + [first + count for first, count in [*uids.values(), *gids.values()]])
    ids = f"{start}-{start + 65535}"
    subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, name], check=True)
    return start


@pytest.fixture
def subid_user(scratch: Path) -> Iterator[tuple[User, int]]:
    """A throwaway user with subordinate ids, deleted afterwards with its
    group and ids; (User, first subordinate id)."""
    if shutil.which("newuidmap") is None or shutil.which("useradd") is None:
        pytest.skip("newuidmap (Debian package uidmap) or useradd is not installed")
    name = f"pyrunc-rl-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        start = _subordinate_start(name)
        entry = subprocess.run(["getent", "passwd", name], check=True, capture_output=True, text=True)
        uid, gid = (int(field) for field in entry.stdout.split(":")[2:4])
        yield from ((user, start) for user in _as_user(uid, gid, scratch / name))
    finally:
        subprocess.run(["userdel", name], check=True)


def test_more_ids_through_newuidmap(subid_user: tuple[User, int]) -> None:
    user, start = subid_user
    bundle = user.bundle("bundle", "/payload", "ids")

    def more_ids(config: dict[str, Any]) -> None:
        for key in ("uidMappings", "gidMappings"):
            config["linux"][key].append({"containerID": 1, "hostID": start, "size": 1000})
        config["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [3]}
    user.edit(bundle, more_ids)
    seen = user("run", "--bundle", str(bundle), user.new_id()).json()
    assert (seen["uid"], seen["groups"]) == (0, [3])    # setgroups is allowed with newgidmap
    user.edit(bundle, lambda c: c["process"].update(args=["/payload", "cat", "/proc/self/gid_map"]))
    gid_map = user("run", "--bundle", str(bundle), user.new_id()).json()
    assert [line.split() for line in gid_map.splitlines()] == [["0", str(user.gid), "1"],
                                                                ["1", str(start), "1000"]]
