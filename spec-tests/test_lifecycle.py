"""runtime.md: the lifecycle (create, start, kill, delete, state), `run`,
`list`, container ids, and that a failed create leaves nothing behind."""
from __future__ import annotations

import json
import os
import re
import signal as signal_module
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from harness import (Bundle, Container, Runtime, assert_error, default_cgroup, mounts_under,
                     ns_inode, poll, process_alive)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
STATE_KEYS = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}


def sleeper(bundle: Bundle) -> Bundle:
    """pid 1 sleeping; as a pid-namespace init it only dies of SIGKILL."""
    return bundle.payload("sleep", "600")


def cgroup_pids(cid: str) -> list[int]:
    """The pids in the container's (default) pids cgroup."""
    procs = default_cgroup("pids", cid) / "cgroup.procs"
    return [int(pid) for pid in procs.read_text().split()] if procs.exists() else []


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def parse_created(stamp: str) -> datetime:
    assert RFC3339.match(stamp), stamp
    # Python parses at most microseconds; the spec allows nanoseconds.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp)


def assert_gone(runtime: Runtime, cid: str, pid: int) -> None:
    assert_error(runtime("state", cid), cid)
    assert cid not in runtime.listed_ids()
    poll(lambda: not process_alive(pid), 5, f"pid {pid} to die")


# ---- create / start / kill / delete ------------------------------------------------

def test_create_leaves_a_blocked_init_and_reports_created(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    state = container.state()
    assert set(state) >= STATE_KEYS, state
    assert state["id"] == container.cid
    assert state["status"] == "created"
    assert state["bundle"] == str(bundle.path)
    assert os.path.samefile(state["rootfs"], bundle.rootfs)
    assert re.match(r"^1\.\d+\.\d+", state["ociVersion"]), state
    created = parse_created(state["created"])
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 120
    pid = state["pid"]
    assert process_alive(pid)
    # The init is already in the container's namespaces, but the user
    # program must not run before `start`.
    assert ns_inode(pid, "pid") != ns_inode("self", "pid")
    assert cmdline(pid) != bundle.config["process"]["args"]


def test_start_runs_the_process(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    pid = container.pid
    container.start().ok()
    state = container.state()
    assert state["status"] == "running" and state["pid"] == pid
    # start returns once the init took the go, as runc's does; its execve
    # follows (meanwhile /proc/PID/cmdline can read empty).
    deadline = time.monotonic() + 10
    while cmdline(pid) != bundle.config["process"]["args"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cmdline(pid) == bundle.config["process"]["args"]


def test_kill_stops_and_delete_removes(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    pid = container.pid
    container.start().ok()
    container.kill("KILL").ok()
    state = container.wait_status("stopped")
    assert state["pid"] == 0  # as runc: a stopped container has no pid
    container.delete().ok()
    assert_gone(runtime, container.cid, pid)


def test_program_exit_stops_the_container(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("echo", "bye"))
    container.start().ok()
    container.wait_status("stopped")
    assert container.output() == "bye\n"


@pytest.mark.parametrize("signal, expected", [
    ((), "SIGTERM"),  # kill's default, as in runc
    (("TERM",), "SIGTERM"),
    (("SIGUSR1",), "SIGUSR1"),
    (("12",), "SIGUSR2"),
    (("hup",), "SIGHUP"),
])
def test_kill_delivers_the_signal(runtime: Runtime, bundle: Bundle, signal: tuple[str, ...],
                                  expected: str) -> None:
    container = runtime.create(bundle.payload("signal"))
    container.start().ok()
    # The payload says so on stderr once its handlers are in place.
    poll(lambda: "waiting" in container.errors(), what="the payload's handlers")
    container.kill(*signal).ok()
    container.wait_status("stopped")
    assert json.loads(container.output())["signal"] == expected


@pytest.mark.parametrize("signal", ["TERM", "HUP", "INT", "QUIT"])
@pytest.mark.parametrize("pid_namespace", [True, False], ids=["own-pidns", "host-pidns"])
def test_stop_signal_ends_a_created_container(runtime: Runtime, bundle: Bundle, signal: str,
                                              pid_namespace: bool) -> None:
    """As runc's init, ours dies of these while it waits for start, even
    as pid 1 of its namespace (which ignores a signal without a handler)."""
    if not pid_namespace:
        bundle.drop_namespace("pid")
    container = runtime.create(bundle.payload("sleep", "30"))
    container.kill(signal).ok()
    container.wait_status("stopped")
    assert_error(container.start(), "cannot start a container that has stopped")


def test_kill_all_reaches_every_process(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.args", ["sh", "-c", "/payload sleep 600 & exec /payload sleep 600"])
    container = runtime.create(bundle)
    container.start().ok()
    poll(lambda: len(cgroup_pids(container.cid)) == 2, what="two processes")
    container.kill("KILL", all_processes=True).ok()
    container.wait_status("stopped")
    poll(lambda: not cgroup_pids(container.cid), 5, "the cgroup to empty")


def test_kill_of_unknown_signal_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    assert_error(container.kill("SIGNOPE"))
    assert container.state()["status"] == "created"


def test_kill_of_a_created_container_stops_it(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    container.kill("KILL").ok()
    container.wait_status("stopped")


def test_start_twice_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    container.start().ok()
    assert_error(container.start(), "cannot start an already running container")   # runc's words
    assert container.state()["status"] == "running"


def test_start_of_a_stopped_container_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert_error(container.start(), "cannot start a container that has stopped")


def test_kill_of_a_stopped_container_fails(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("exit", "0"))
    container.start().ok()
    container.wait_status("stopped")
    assert_error(container.kill("KILL"), "not running")


def test_delete_of_a_running_container_needs_force(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(sleeper(bundle))
    pid = container.pid
    container.start().ok()
    assert_error(container.delete(), container.cid)
    assert container.state()["status"] == "running"
    container.delete("--force").ok()
    assert_gone(runtime, container.cid, pid)


@pytest.mark.parametrize("flags", [("--force",), ()], ids=["force", "plain"])
def test_delete_of_a_created_container(runtime: Runtime, bundle: Bundle,
                                       flags: tuple[str, ...]) -> None:
    # runc deletes a created container without --force too: nothing runs yet.
    container = runtime.create(sleeper(bundle))
    pid = container.pid
    container.delete(*flags).ok()
    assert_gone(runtime, container.cid, pid)


def test_delete_force_of_a_missing_container_succeeds(runtime: Runtime) -> None:
    # Engines clean up with delete --force whether or not it still exists.
    runtime("delete", "--force", runtime.new_id()).ok()


@pytest.mark.parametrize("verb", ["state", "start", "kill", "delete"])
def test_verbs_on_a_missing_container_fail(runtime: Runtime, verb: str) -> None:
    cid = runtime.new_id()
    assert_error(runtime(verb, cid), cid)


# ---- run ---------------------------------------------------------------------------

@pytest.mark.parametrize("status", [0, 3, 255])
def test_run_exits_with_the_container_status(runtime: Runtime, bundle: Bundle,
                                             status: int) -> None:
    result = runtime.run(bundle.payload("exit", str(status)))
    assert result.returncode == status, result
    assert runtime.listed_ids() == []


def test_run_of_a_killed_container_exits_128_plus_signal(runtime: Runtime,
                                                        bundle: Bundle) -> None:
    proc, container = runtime.spawn_run(sleeper(bundle))
    container.wait_status("running")
    container.kill("KILL").ok()
    assert proc.wait(10) == 128 + 9


def test_run_of_a_self_signalled_process_exits_128_plus_signal(runtime: Runtime,
                                                               bundle: Bundle) -> None:
    # Outside a new pid namespace, a process is not an init and its own
    # SIGTERM kills it.
    bundle.drop_namespace("pid").set("process.args", ["sh", "-c", "kill -TERM $$"])
    assert runtime.run(bundle).returncode == 128 + 15


def test_run_forwards_signals_to_the_container(runtime: Runtime, bundle: Bundle) -> None:
    proc, container = runtime.spawn_run(bundle.payload("signal"))
    poll(lambda: "waiting" in container.errors(), what="the payload's handlers")
    proc.send_signal(signal_module.SIGUSR1)
    assert proc.wait(10) == 0
    assert json.loads(container.output())["signal"] == "SIGUSR1"


def test_run_keep_leaves_a_stopped_container(runtime: Runtime, bundle: Bundle) -> None:
    cid = runtime.new_id()
    assert runtime.run(bundle.payload("exit", "0"), "--keep", cid=cid).returncode == 0
    assert runtime.state(cid)["status"] == "stopped"
    runtime("delete", cid).ok()
    assert runtime.listed_ids() == []


def test_run_detach_returns_with_the_container_running(runtime: Runtime, bundle: Bundle) -> None:
    cid = runtime.new_id()
    runtime.run(sleeper(bundle), "--detach", cid=cid).ok()
    assert runtime.state(cid)["status"] == "running"


def test_run_of_a_missing_bundle_fails(runtime: Runtime, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-bundle")
    assert_error(runtime("run", "--bundle", missing, runtime.new_id()), "config.json")
    assert runtime.listed_ids() == []


def test_state_carries_the_annotations(runtime: Runtime, bundle: Bundle) -> None:
    annotations = {"org.example.key": "value", "empty": ""}
    container = runtime.create(sleeper(bundle).set("annotations", annotations))
    assert container.state()["annotations"] == annotations


# ---- pid file, ids ---------------------------------------------------------------------

def test_pid_file_holds_the_init_pid(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    pid_file = tmp_path / "init.pid"
    container = runtime.create(sleeper(bundle), "--pid-file", str(pid_file))
    assert int(pid_file.read_text()) == container.pid


def test_relative_pid_file_is_relative_to_the_cwd(runtime: Runtime, bundle: Bundle,
                                                  tmp_path: Path) -> None:
    container = runtime.create(sleeper(bundle), "--pid-file", "rel.pid", cwd=tmp_path)
    assert int((tmp_path / "rel.pid").read_text()) == container.pid


def test_duplicate_id_is_refused(runtime: Runtime, bundle: Bundle) -> None:
    first = runtime.create(sleeper(bundle))
    before = first.state()
    assert_error(runtime.try_create(bundle, cid=first.cid), first.cid)
    assert first.state() == before
    assert runtime.listed_ids() == [first.cid]


@pytest.mark.parametrize("cid", ["a/b", "../escape", "..", ".", "x" * 300, "x" * 5000, "sp ace",
                                 ""],
                         ids=["slash", "dotdot-slash", "dotdot", "dot", "300", "5000", "space",
                              "empty"])
def test_invalid_ids_are_refused(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                 cid: str) -> None:
    before = set(os.listdir(tmp_path)) | {runtime.root.name}
    assert_error(runtime.try_create(sleeper(bundle), cid=cid))
    assert runtime.listed_ids() == []
    assert set(os.listdir(tmp_path)) <= before  # nothing made beside --root ("../escape")


# ---- list ----------------------------------------------------------------------------

@pytest.fixture
def two_containers(runtime: Runtime, bundle: Bundle) -> list[Container]:
    created = runtime.create(sleeper(bundle))
    running = runtime.create(bundle)
    running.start().ok()
    return sorted([created, running], key=lambda c: c.cid)


def test_list_table(runtime: Runtime, two_containers: list[Container], bundle: Bundle) -> None:
    lines = runtime("list").ok().stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = sorted(line.split() for line in lines[1:])
    for row, container in zip(rows, two_containers, strict=True):
        state = container.state()
        assert row[:5] == [container.cid, str(state["pid"]), state["status"], str(bundle.path),
                           state["created"]]


def test_list_json(runtime: Runtime, two_containers: list[Container]) -> None:
    listed = sorted(runtime("list", "--format", "json").json(), key=lambda c: c["id"])
    assert [c["id"] for c in listed] == [c.cid for c in two_containers]
    for entry, container in zip(listed, two_containers):
        assert set(entry) >= STATE_KEYS, entry
        state = container.state()
        assert {k: entry[k] for k in ("pid", "status", "bundle", "created")} == {
            k: state[k] for k in ("pid", "status", "bundle", "created")}
    assert {c["status"] for c in listed} == {"created", "running"}


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_list_quiet(runtime: Runtime, two_containers: list[Container], flag: str) -> None:
    assert runtime("list", flag).ok().stdout.split() == [c.cid for c in two_containers]


def test_list_of_an_empty_root(runtime: Runtime) -> None:
    assert runtime("list", "-q").ok().stdout == ""
    assert runtime("list").ok().stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                                   "OWNER"]


# ---- a failed create leaves nothing behind -----------------------------------------------

Breakage = Callable[[Bundle, Path], None]


def missing_program(bundle: Bundle, tmp_path: Path) -> None:
    bundle.set("process.args", ["/no/such/program"])


def program_not_on_path(bundle: Bundle, tmp_path: Path) -> None:
    bundle.set("process.args", ["no-such-program"])


def bad_bind_source(bundle: Bundle, tmp_path: Path) -> None:
    bundle.with_tmp().mount("/tmp/mnt", "bind", str(tmp_path / "no-such-dir"), ["bind"])


def bad_mount_type(bundle: Bundle, tmp_path: Path) -> None:
    bundle.with_tmp().mount("/tmp/mnt", "no-such-fs", "none")


def failing_after_binds(bundle: Bundle, tmp_path: Path) -> None:
    # Fails late, with a bind of a host directory already in place.
    (tmp_path / "src").mkdir()
    bundle.with_tmp().mount("/tmp/mnt", "bind", str(tmp_path / "src"), ["rbind"])
    bundle.set("process.args", ["/no/such/program"])


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("breakage", [missing_program, program_not_on_path, bad_bind_source,
                                      bad_mount_type, failing_after_binds])
def test_failed_create_leaves_nothing(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                      breakage: Breakage, verb: str) -> None:
    breakage(bundle, tmp_path)
    start = time.monotonic()
    result = runtime.try_create(bundle) if verb == "create" else runtime.run(bundle)
    assert time.monotonic() - start < 10
    assert result.returncode == 1 and result.stderr.startswith("pyrunc: "), result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result
    assert [e for e in result.log if e["level"] == "error"], result.log
    # The runtime fixture audits processes and cgroups; state and mounts here too.
    assert runtime.listed_ids() == []
    assert mounts_under(tmp_path, bundle.rootfs) == []


@pytest.mark.parametrize("breakage, cause", [
    (missing_program, "no such file or directory"),
    (bad_mount_type, "No such device"),
])
def test_failed_create_reports_one_line(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                        breakage: Breakage, cause: str) -> None:
    """An error met inside the container's init reads like any other: one
    line (the init must not also print it to the stderr it shares with
    create), with the reason."""
    breakage(bundle, tmp_path)
    for _ in range(3):  # it used to be a race
        assert_error(runtime.try_create(bundle), cause)
