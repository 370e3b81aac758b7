"""Resources running out during `create`: a full disk (space or inodes)
under --root, the caller's pids cgroup at its limit, and RLIMIT_NOFILE
low for pyrunc.  Each attempt either makes a sane container or fails
with one clean line naming what ran out; either way nothing is left
(state, cgroup, process), and the same id works once the resource is back."""
from __future__ import annotations

import errno
import os
import resource
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cgroup_sandbox import CgroupSandbox, sandbox  # noqa: F401 (a fixture)
from faults import leftovers_of
from harness import Bundle, Result, Runtime, assert_error, poll

PAGE = os.sysconf("SC_PAGE_SIZE")


def attempt(runtime: Runtime, work: Bundle, cid: str, *ran_out: str, **popen: Any) -> Result:
    """create CID: a container that runs, or an error naming one of
    `ran_out`; then nothing of it may be left."""
    result = runtime("create", *runtime._bundle_args(work), cid, **popen)
    if result.returncode == 0:
        runtime("start", cid).ok()
        assert runtime.state(cid)["status"] == "running"
        runtime("delete", "--force", cid).ok()
    else:
        message = assert_error(result)
        assert any(reason in message for reason in ran_out), message
    assert_nothing_left(runtime, cid, work, result)
    return result


def assert_nothing_left(runtime: Runtime, cid: str, work: Bundle, result: Result) -> None:
    """(after a moment's grace: killed processes take a while to go)"""
    try:
        poll(lambda: not leftovers_of(runtime, cid, [], work), 5)
    except AssertionError:
        pass
    left = leftovers_of(runtime, cid, [], work)
    assert not left, (result, left)


# ---- a full disk under --root --------------------------------------------------------

@pytest.fixture
def small_root(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs with 64 inodes, mounted for the test alone."""
    mount_point = tmp_path / "small-root"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=0700", "tmpfs",
                    str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def leave_free(mount_point: Path, pages: int, inodes: int) -> None:
    """Fill the file system but for `pages` pages and `inodes` inodes."""
    fill = mount_point / "fill"
    fill.mkdir(exist_ok=True)
    for entry in fill.iterdir():
        entry.unlink()
    stats = os.statvfs(mount_point)
    for index in range(stats.f_ffree - inodes - 1):    # the last one holds the data below
        (fill / f"inode-{index}").touch()
    with open(fill / "space", "wb") as f:
        while os.statvfs(mount_point).f_bavail > pages:
            try:
                f.write(b"\0" * PAGE)
                f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    stats = os.statvfs(mount_point)
    assert (stats.f_bavail, stats.f_ffree) == (pages, inodes), (stats.f_bavail, stats.f_ffree)


NO_SPACE = "No space left on device"


def test_full_disk_under_root(runtime: Runtime, bundle: Bundle, small_root: Path) -> None:
    """Every way of running out while create writes its state: no inode
    for the directory, the lock, the fifo or a state file; no page for
    the state file."""
    runtime.root = small_root
    work = bundle.payload("sleep", "30")
    failures = 0
    for pages, inodes in [(0, 0), *((200, n) for n in range(1, 6)), *((p, 64) for p in range(0, 4))]:
        if inodes == 64:
            inodes = os.statvfs(small_root).f_ffree - 1
        leave_free(small_root, pages, inodes)
        cid = runtime.new_id()
        failures += attempt(runtime, work, cid, NO_SPACE).returncode != 0
        assert sorted(os.listdir(small_root)) == ["fill"], f"{pages} pages, {inodes} inodes"
    assert failures >= 4, "the disk never ran out: the test tests nothing"
    # The disk back: the same ids work.
    leave_free(small_root, 200, 40)
    attempt(runtime, work, runtime.ids[0]).ok()


# ---- the caller's pids cgroup at its limit ----------------------------------------------

def in_pids_cgroup(sandbox: CgroupSandbox, limit: int) -> Callable[[], None]:
    """A preexec_fn putting pyrunc into a cgroup of the sandbox's whose
    pids.max is `limit` (counting pyrunc itself and its container's processes,
    whose default cgroup hangs below it)."""
    enter = sandbox.enter(f"pids-{limit}")
    for directory in sandbox.dirs(f"pids-{limit}"):
        if (directory / "pids.max").exists():
            (directory / "pids.max").write_text(str(limit))
    return enter


def test_pid_limit_reached_during_create(runtime: Runtime, bundle: Bundle, sandbox: CgroupSandbox) -> None:
    work = bundle.payload("sleep", "30")
    failures = 0
    for limit in (1, 2, 3, 4):
        cid = runtime.new_id()
        result = attempt(runtime, work, cid, "Resource temporarily unavailable",
                         preexec_fn=in_pids_cgroup(sandbox, limit))
        failures += result.returncode != 0
        # No container's cgroup left below the caller's.
        leftover = [str(d / f"pids-{limit}" / cid) for d in sandbox.dirs() if (d / f"pids-{limit}" / cid).exists()]
        assert not leftover, leftover
    assert failures >= 2, "pids.max never stopped a fork: the test tests nothing"


# ---- RLIMIT_NOFILE low for pyrunc ---------------------------------------------------------

def nofile(limit: int) -> Callable[[], None]:
    # Soft and hard: a hard limit can only be lowered, never raised again.
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_fd_limit_reached_during_create(runtime: Runtime, bundle: Bundle) -> None:
    """From the least the interpreter starts with, up to where create works
    (the container keeps the limit: its config sets none, as it could not
    raise it)."""
    work = bundle.payload("sleep", "30").remove("process.rlimits")
    lowest = next(n for n in range(3, 64)
                  if runtime("--version", preexec_fn=nofile(n)).returncode == 0)
    failures, limit = 0, lowest
    while True:
        result = attempt(runtime, work, runtime.new_id(), "Too many open files", preexec_fn=nofile(limit))
        if result.returncode == 0:
            break
        failures += 1
        limit += 1
        assert limit < 64, "create fails with 64 fds"
    assert failures >= 1, f"create worked with the {lowest} fds the interpreter needs: the test tests nothing"


VERB_ARGS = {"start": ["start"], "state": ["state"], "kill": ["kill", "--all"], "ps": ["ps"],
             "exec": ["exec", "--detach"], "delete": ["delete", "--force"]}


@pytest.mark.parametrize("verb", VERB_ARGS)
def test_fd_limit_reached_in_other_verbs(runtime: Runtime, bundle: Bundle, verb: str) -> None:
    """Out of fds anywhere (even importing a module): one clean line, and
    the container is still whole for the verbs that follow."""
    work = bundle.payload("sleep", "30").remove("process.rlimits")
    lowest = next(n for n in range(3, 64) if runtime("--version", preexec_fn=nofile(n)).returncode == 0)
    for limit in range(lowest, lowest + 8):
        cid = runtime.new_id()
        runtime("create", *runtime._bundle_args(work), cid).ok()
        if verb != "start":
            runtime("start", cid).ok()
        argv = [*VERB_ARGS[verb], cid, *(["KILL"] if verb == "kill" else []),
                *(["/payload", "sleep", "30"] if verb == "exec" else [])]
        result = runtime(*argv, preexec_fn=nofile(limit))
        if result.returncode != 0:
            assert_error(result, "Too many open files", status=255 if verb == "exec" else 1)
        # Nothing taken for what it is not: a running container stays one.
        status = runtime("state", cid).json()["status"] if verb != "delete" or result.returncode else ""
        assert status in {"start": ("created", "running"), "kill": ("running", "stopped"),
                          "delete": ("running", "")}.get(verb, ("running",)), (result, status)
        runtime("delete", "--force", cid).ok()
        assert_nothing_left(runtime, cid, work, result)
