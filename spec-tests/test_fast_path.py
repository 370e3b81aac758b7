"""`state` and `list` answered by the launcher in C (native/launcher/
fastpath.c) print exactly what the Python CLI prints, for containers in
every status; and every call it cannot judge (half-made or damaged
containers, unknown ones, odd ids, flags it does not take) goes to the
Python CLI.  Likewise `start`, `kill` and `delete`, and `features` on
whatever the kernel, libseccomp and the host's files say.  PYRUNC_FAST_PATH=only makes the launcher exit 125 instead of
starting Python, so each case also shows which path answered."""
from __future__ import annotations

import errno
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import CGROUP_ROOT, REPO, Bundle, Runtime, process_alive, pyrunc_executable

DECLINED = 125
LIST_FORMS = (["list"], ["list", "-q"], ["list", "--format", "json"], ["list", "-f", "table"],
              ["list", "--format=json", "--quiet"], ["list", "-format", "table"])


def call(argv: list[str], mode: str | None) -> tuple[int, bytes, bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYRUNC_FAST_PATH"}
    if mode is not None:
        env["PYRUNC_FAST_PATH"] = mode
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=30)
    # The times of --debug's log lines differ from call to call.
    return proc.returncode, proc.stdout, re.sub(rb'time="[^"]*"', b"", proc.stderr)


def python_cli(runtime: Runtime, *args: str) -> tuple[int, bytes, bytes]:
    """The Python CLI itself, without the launcher."""
    return call([*runtime.wrapper, sys.executable, "-m", "pyrunc.runtime", "--root", str(runtime.root), *args], None)


def launcher(runtime: Runtime, *args: str, mode: str | None = None) -> tuple[int, bytes, bytes]:
    return call([*runtime.wrapper, pyrunc_executable(), "--root", str(runtime.root), *args], mode)


def assert_fast(runtime: Runtime, *args: str) -> tuple[int, bytes, bytes]:
    """Answered in C, byte for byte as the Python CLI answers."""
    fast = launcher(runtime, *args, mode="only")
    assert fast[0] != DECLINED, fast[2].decode()
    assert fast == python_cli(runtime, *args), args
    return fast


def assert_deferred(runtime: Runtime, *args: str) -> tuple[int, bytes, bytes]:
    """Left to the Python CLI, which answers as it does when called directly."""
    declined = launcher(runtime, *args, mode="only")
    assert declined[0] == DECLINED, declined
    answer = launcher(runtime, *args)
    assert answer == python_cli(runtime, *args), args
    return answer


def state_path(runtime: Runtime, cid: str) -> Path:
    return runtime.root / cid / "state.json"


def edit_state(runtime: Runtime, cid: str, **fields: Any) -> None:
    path = state_path(runtime, cid)
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


@pytest.fixture
def four(runtime: Runtime, make_bundle: Any) -> dict[str, str]:
    """A container in each status; one with annotations that need escaping."""
    annotated = make_bundle("annotated").payload("sleep", "30")
    annotated.set("annotations", {"q\"uote": "back\\slash\nnew\tline\x01\x7f", "empty": ""})
    made = runtime.create(annotated)
    running = runtime.create(make_bundle("running").payload("sleep", "30"))
    running.start().ok()
    paused = runtime.create(make_bundle("paused").payload("sleep", "30"))
    paused.start().ok()
    runtime("pause", paused.cid).ok()
    stopped = runtime.create(make_bundle("stopped").payload("sleep", "30"))
    stopped.start().ok()
    stopped.kill("KILL").ok()
    stopped.wait_status("stopped")
    return {"created": made.cid, "running": running.cid, "paused": paused.cid, "stopped": stopped.cid}


def test_each_status(runtime: Runtime, four: dict[str, str]) -> None:
    for status, cid in four.items():
        _, out, _ = assert_fast(runtime, "state", cid)
        assert json.loads(out)["status"] == status
    for form in LIST_FORMS:
        assert_fast(runtime, *form)
    _, out, _ = assert_fast(runtime, "list", "--format", "json")
    assert {c["id"]: c["status"] for c in json.loads(out)} == {cid: s for s, cid in four.items()}
    runtime("resume", four["paused"]).ok()


def test_global_flags(runtime: Runtime, four: dict[str, str], tmp_path: Path) -> None:
    cid = four["running"]
    log = tmp_path / "fast.log"
    assert_fast(runtime, "--log", str(log), "--log-format", "json", "state", cid)
    # Created as log.configure creates it; no line without --debug.
    assert log.exists() and log.stat().st_mode & 0o777 == 0o600 and log.read_text() == ""
    assert_fast(runtime, "--systemd-cgroup", "--criu", "x", "--rootless", "maybe", "list")
    for flags in (["--debug"], ["--log-format", "yaml"], ["--help"], ["-v"], ["--log", str(tmp_path / "no" / "log")]):
        assert_deferred(runtime, *flags, "state", cid)
    for args in (["state", "--help", cid], ["state"], ["state", cid, cid], ["list", "--format", "yaml"],
                 ["list", "x"], ["list", "-q=true"], ["list", "-f", "json", "--format", "json"], ["ps", cid]):
        assert_deferred(runtime, *args)
    runtime("resume", four["paused"]).ok()


def test_identity_checks(runtime: Runtime, bundle: Bundle) -> None:
    """A recorded pid is trusted only with its start time, pid namespace and
    cgroup: the fast path says stopped where Python does."""
    container = runtime.create(bundle.payload("sleep", "30"))
    cid = container.cid
    good = json.loads(state_path(runtime, cid).read_text())
    for fields in ({"pidStartTime": good["pidStartTime"] + 1}, {"pidStartTime": None},
                   {"initPidNs": good.get("initPidNs", 1) + 1}, {"pid": os.getpid()}):
        edit_state(runtime, cid, **fields)
        _, out, _ = assert_fast(runtime, "state", cid)
        assert json.loads(out)["status"] == "stopped", fields
        state_path(runtime, cid).write_text(json.dumps(good))
    if good.get("initCgroup"):
        hierarchy, path = good["initCgroup"]
        for other in (path + "-other", "/"):
            edit_state(runtime, cid, initCgroup=[hierarchy, other])
            _, out, _ = assert_fast(runtime, "state", cid)
            assert json.loads(out)["status"] == "stopped", other
        state_path(runtime, cid).write_text(json.dumps(good))
    _, out, _ = assert_fast(runtime, "state", cid)
    assert json.loads(out)["status"] == "created"


V2_FROZEN_CASES = [  # cgroup.freeze, cgroup.events, the status (None: left to the Python CLI)
    ("0\n", "populated 1\nfrozen 0\n", "running"),
    ("1\n", "populated 1\nfrozen 1\n", "paused"),
    ("1\n", "populated 1\nfrozen 0\n", "running"),      # freezing, not frozen yet
    ("0\n", "populated 1\nfrozen 1\n", "running"),      # thawing
    (" 1 \n", "frozen 1", "paused"),
    ("1 1\n", "frozen 1\n", "running"),
    ("1\n", None, "running"),
    (None, "frozen 1\n", "running"),
    ("1\n", "frozen one\n", None),
    ("1\n", "frozen\n", None),
]


def test_cgroup_v2_frozen_check(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """cgroup v2 is not mounted on every host: a running container's state
    is edited to name a v2 cgroup directory of our own files, which both
    paths read for the frozen check (cgroup.freeze, cgroup.events)."""
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    cid = container.cid
    good = json.loads(state_path(runtime, cid).read_text())
    fake = tmp_path / "cg"
    fake.mkdir()
    try:
        edit_state(runtime, cid, cgroup={**good["cgroup"], "mode": "v2", "root": str(tmp_path), "path": "/cg",
                                         "paths": {"unified": str(fake)}, "created": []})
        for freeze, events, status in V2_FROZEN_CASES:
            for name, text in (("cgroup.freeze", freeze), ("cgroup.events", events)):
                (fake / name).unlink(missing_ok=True)
                if text is not None:
                    (fake / name).write_text(text)
            case = (freeze, events)
            if status is None:
                assert launcher(runtime, "state", cid, mode="only")[0] == DECLINED, case
                assert launcher(runtime, "list", mode="only")[0] == DECLINED, case
                continue
            _, out, _ = assert_fast(runtime, "state", cid)
            assert json.loads(out)["status"] == status, case
            _, out, _ = assert_fast(runtime, "list", "--format", "json")
            assert [c["status"] for c in json.loads(out) if c["id"] == cid] == [status], case
    finally:
        state_path(runtime, cid).write_text(json.dumps(good))


@pytest.mark.parametrize("damage", [
    "", "{}", "[]", '{"pid": 1', "\ufeff{}", "{\"pid\": 1, \"pid\": 2}",
], ids=["empty", "object-without-fields", "list", "truncated", "bom", "duplicate-key"])
def test_damaged_state_deferred(runtime: Runtime, bundle: Bundle, make_bundle: Any, damage: str) -> None:
    cid = runtime.create(bundle.payload("sleep", "30")).cid
    runtime.create(make_bundle("other").payload("sleep", "30"))
    state_path(runtime, cid).write_text(damage)
    assert_deferred(runtime, "state", cid)
    for form in LIST_FORMS:
        assert_deferred(runtime, *form)


@pytest.mark.parametrize("fields", [
    {"pid": "1"}, {"pid": 1.0}, {"pidStartTime": -1}, {"annotations": ["x"]}, {"annotations": {"a": 1}},
    {"config": []}, {"cgroup": {}}, {"initCgroup": ["", "/a", "/b"]}, {"bundle": "nul\u0000byte"},
    {"bundle": "lone \ud800 surrogate"}, {"initPidNs": None},
], ids=lambda f: "-".join(f"{k}={v!r}"[:24] for k, v in f.items()))
def test_unusual_fields_deferred(runtime: Runtime, bundle: Bundle, fields: dict[str, Any]) -> None:
    cid = runtime.create(bundle.payload("sleep", "30")).cid
    path = state_path(runtime, cid)
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))     # ASCII escapes: \u0000, \ud800
    assert_deferred(runtime, "state", cid)
    assert_deferred(runtime, "list")


def test_escaped_fields(runtime: Runtime, bundle: Bundle) -> None:
    """\\u escapes and raw UTF-8 are read alike; what is not ASCII is
    printed by Python, which encodes it for the locale."""
    cid = runtime.create(bundle.payload("sleep", "30")).cid
    path = state_path(runtime, cid)
    data = json.loads(path.read_text())
    data["annotations"] = {"k": "tab\there \u001f \"q\" \\ /"}
    path.write_text(json.dumps(data))     # with ensure_ascii: \u escapes
    assert_fast(runtime, "state", cid)
    assert_fast(runtime, "list", "--format", "json")
    path.write_text(json.dumps(data, indent=1).replace("/", "\\/"))
    assert_fast(runtime, "state", cid)
    data["annotations"] = {"ünï": "cödé ☃ \u2028"}
    for ascii_only in (True, False):
        path.write_text(json.dumps(data, ensure_ascii=ascii_only))
        assert_deferred(runtime, "state", cid)
        assert_deferred(runtime, "list", "--format", "json")
        assert_fast(runtime, "list")


def test_half_made_and_missing(runtime: Runtime, bundle: Bundle) -> None:
    cid = runtime.create(bundle.payload("sleep", "30")).cid
    assert_fast(runtime, "list")
    half = runtime.new_id()
    (runtime.root / half).mkdir(mode=0o700)     # a create that died before saving
    _, out, _ = assert_deferred(runtime, "list", "--format", "json")
    assert {c["id"]: c["status"] for c in json.loads(out)}[half] == "unknown"
    assert_deferred(runtime, "state", half)
    (runtime.root / half).rmdir()
    assert_deferred(runtime, "state", "no-such-container")
    for odd in ("", ".", "..", "../" + cid, "a/b", "x" * 256, "-x", "é"):
        assert_deferred(runtime, "state", odd)
    # Not directories, and cache directories: not containers.
    (runtime.root / "file").write_text("")
    (runtime.root / "seccomp@cache").mkdir()
    try:
        _, out, _ = assert_fast(runtime, "list", "-q")
        assert out.decode().split() == [cid]
    finally:
        (runtime.root / "file").unlink()
        (runtime.root / "seccomp@cache").rmdir()
    (runtime.root / "bad name").mkdir()
    try:
        assert_deferred(runtime, "list")
    finally:
        (runtime.root / "bad name").rmdir()


def test_no_root(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "absent", tmp_path, "none")
    for form in LIST_FORMS:
        assert_fast(runtime, *form)
    assert_deferred(runtime, "state", "x")
    root_file = Runtime(tmp_path / "file", tmp_path, "file")
    (tmp_path / "file").write_text("")
    assert_deferred(root_file, "list")


# ---- start, kill, delete ------------------------------------------------------

def cgroup_dirs(runtime: Runtime, cid: str) -> list[str]:
    """The cgroups the container's state says pyrunc made, as the tests see them."""
    made = json.loads(state_path(runtime, cid).read_text())["cgroup"]["created"]
    return [str(runtime.cgroup_root_on_host / Path(path).relative_to(CGROUP_ROOT)) for path in made]



def lifecycle(runtime: Runtime, bundle: Bundle, answer: Any) -> list[tuple[int, bytes, bytes]]:
    """create, start, kill, delete of one container; each call answered by
    `answer(runtime, *args)`.  The results, and nothing left behind."""
    container = runtime.create(bundle)
    cid = container.cid
    made = cgroup_dirs(runtime, cid)
    assert made and all(os.path.isdir(path) for path in made)
    results = [answer(runtime, "start", cid)]
    assert container.state()["status"] == "running"
    pid = container.pid
    results.append(answer(runtime, "kill", cid, "KILL"))
    container.wait_status("stopped")
    results.append(answer(runtime, "delete", cid))
    assert not (runtime.root / cid).exists()
    assert not any(os.path.exists(path) for path in made)
    assert not process_alive(pid)
    return results


def test_lifecycle_answered_in_c(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.payload("sleep", "30")
    fast = lifecycle(runtime, bundle, lambda rt, *args: launcher(rt, *args, mode="only"))
    assert fast == lifecycle(runtime, bundle, python_cli) == [(0, b"", b"")] * 3
    log = tmp_path / "engine.log"
    json_log = ("--log", str(log), "--log-format", "json")
    logged = lifecycle(runtime, bundle, lambda rt, *args: launcher(rt, *json_log, *args, mode="only"))
    assert logged == fast and log.read_text() == ""


def test_lifecycle_on_cgroup_v2_answered_in_c(v2_runtime: Runtime, bundle: Bundle) -> None:
    """A real cgroup v2 container: start, state, kill and delete in C as in
    Python, the container's cgroup removed."""
    runtime = v2_runtime
    bundle.payload("sleep", "30")
    container = runtime.create(bundle)
    assert json.loads(state_path(runtime, container.cid).read_text())["cgroup"]["mode"] == "v2"
    assert_fast(runtime, "state", container.cid)
    container.delete().ok()
    fast = lifecycle(runtime, bundle, lambda rt, *args: launcher(rt, *args, mode="only"))
    assert fast == lifecycle(runtime, bundle, python_cli) == [(0, b"", b"")] * 3


def test_cgroup_v2_freezer_in_c(v2_runtime: Runtime, bundle: Bundle) -> None:
    """Paused through the v2 freezer: state says so in C; start and delete
    of a frozen container are the CLI's; delete --force in C once thawed."""
    runtime = v2_runtime
    container = runtime.create(bundle.payload("sleep", "30"))
    made = cgroup_dirs(runtime, container.cid)
    runtime("pause", container.cid).ok()
    assert launcher(runtime, "start", container.cid, mode="only")[0] == DECLINED
    _, out, _ = assert_fast(runtime, "state", container.cid)
    assert json.loads(out)["status"] == "paused"
    runtime("resume", container.cid).ok()
    _, out, _ = assert_fast(runtime, "state", container.cid)
    assert json.loads(out)["status"] == "created"
    assert launcher(runtime, "start", container.cid, mode="only") == (0, b"", b"")
    runtime("pause", container.cid).ok()
    _, out, _ = assert_fast(runtime, "state", container.cid)
    assert json.loads(out)["status"] == "paused"
    assert launcher(runtime, "delete", "--force", container.cid, mode="only")[0] == DECLINED
    runtime("resume", container.cid).ok()
    pid = container.pid
    assert launcher(runtime, "delete", "--force", container.cid, mode="only") == (0, b"", b"")
    assert not process_alive(pid) and not any(os.path.exists(path) for path in made)


def test_signals_answered_in_c(runtime: Runtime, bundle: Bundle) -> None:
    """runc's signal forms; 0 only checks the init is there."""
    bundle.payload("sleep", "30")
    for form in ("9", "KILL", "sigkill", "SIGKILL", "Kill"):
        container = runtime.create(bundle)
        container.start().ok()
        assert launcher(runtime, "kill", container.cid, "0", mode="only") == (0, b"", b"")
        assert container.state()["status"] == "running"
        assert launcher(runtime, "kill", container.cid, form, mode="only") == (0, b"", b""), form
        container.wait_status("stopped")
        assert launcher(runtime, "delete", container.cid, mode="only") == (0, b"", b"")


@pytest.mark.parametrize("status", ["created", "running"])
def test_delete_kills_in_c(runtime: Runtime, bundle: Bundle, status: str) -> None:
    """delete of a created container, delete --force of a running one: the
    init is killed and waited for, then everything goes."""
    container = runtime.create(bundle.payload("sleep", "30"))
    if status == "running":
        container.start().ok()
    pid, made = container.pid, cgroup_dirs(runtime, container.cid)
    flags = ["--force"] if status == "running" else []
    assert launcher(runtime, "delete", *flags, container.cid, mode="only") == (0, b"", b"")
    assert not process_alive(pid)
    assert not (runtime.root / container.cid).exists()
    assert not any(os.path.exists(path) for path in made)


def test_missing_container(runtime: Runtime, tmp_path: Path) -> None:
    """Engines delete --force what may be gone: no error, in C; every
    other verb on a missing container is Python's error."""
    runtime.root.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "missing.log"
    for flag in ("--force", "-f"):
        assert_fast(runtime, "--log", str(log), "--log-format", "json", "delete", flag, "gone")
    assert log.read_text() == ""
    for args in (["delete", "gone"], ["start", "gone"], ["kill", "gone", "KILL"], ["kill", "gone"]):
        code, _, err = assert_deferred(runtime, *args)
        assert code == 1 and b"gone" in err, args


def test_errors_and_unusual_calls_deferred(runtime: Runtime, bundle: Bundle, four: dict[str, str]) -> None:
    """Every error is Python's, word for word, and changes nothing."""
    for args in (["start", four["running"]], ["start", four["stopped"]], ["start", four["paused"]],
                 ["kill", four["stopped"], "KILL"], ["kill", four["running"], "NOSUCH"],
                 ["kill", four["running"], "65"], ["kill", four["running"], "-9"],
                 ["delete", four["running"]], ["delete", four["paused"]]):
        code, _, _ = assert_deferred(runtime, *args)
        assert code == 1, args
    assert {cid: runtime.state(cid)["status"] for cid in four.values()} == \
        {cid: status for status, cid in four.items()}
    # Forms the launcher leaves to Python, errors or not.
    for args in (["kill", "--all", four["running"], "0"], ["kill", four["paused"], "0"],
                 ["delete", four["created"], "--force"], ["delete", "--force=true", four["created"]],
                 ["start", four["created"], "x"], ["start", "--help"], ["kill", four["running"], "0", "x"]):
        assert launcher(runtime, *args, mode="only")[0] == DECLINED, args
    runtime("resume", four["paused"]).ok()


def test_hooks_and_foreign_cgroups_deferred(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """What runs programs or reaches outside the container is Python's:
    the hooks the verb runs, a network record, a cgroup pyrunc did not make."""
    marker = tmp_path / "poststop-ran"
    hooked = bundle.payload("sleep", "30").set("hooks", {"poststop": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}]})
    container = runtime.create(hooked)
    assert launcher(runtime, "start", container.cid, mode="only") == (0, b"", b"")     # no poststart
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert launcher(runtime, "delete", container.cid, mode="only")[0] == DECLINED
    assert launcher(runtime, "delete", container.cid) == (0, b"", b"")
    assert marker.exists()

    started = tmp_path / "poststart-ran"
    hooked = bundle.set("hooks", {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {started}"]}]})
    container = runtime.create(hooked)
    assert launcher(runtime, "start", container.cid, mode="only")[0] == DECLINED
    assert launcher(runtime, "start", container.cid) == (0, b"", b"")
    assert started.exists()
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert launcher(runtime, "delete", container.cid, mode="only") == (0, b"", b"")   # no poststop

    # Hooks that ran at create (Docker adds a prestart hook) keep neither
    # start nor delete off the C path; a hooks section of another shape
    # than create accepts is the CLI's to judge.
    prestarted = tmp_path / "prestart-ran"
    hooked = bundle.set("hooks", {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {prestarted}"]}],
                                  "createRuntime": [], "poststart": [], "poststop": []})
    container = runtime.create(hooked)
    assert prestarted.exists()
    prestarted.unlink()
    data = json.loads(state_path(runtime, container.cid).read_text())
    for odd in ({"poststart": {}}, {"prestart": "x"}, []):
        edit_state(runtime, container.cid, config={**data["config"], "hooks": odd})
        assert launcher(runtime, "start", container.cid, mode="only")[0] == DECLINED, odd
    edit_state(runtime, container.cid, config=data["config"])
    assert launcher(runtime, "start", container.cid, mode="only") == (0, b"", b"")
    container.kill("KILL").ok()
    container.wait_status("stopped")
    assert launcher(runtime, "delete", container.cid, mode="only") == (0, b"", b"")
    assert not prestarted.exists() and not state_path(runtime, container.cid).exists()

    plain = runtime.create(bundle.remove("hooks"))
    net = runtime.root / "net"
    net.mkdir()
    try:
        (net / f"{plain.cid}.json").write_text("{}")
        assert launcher(runtime, "delete", plain.cid, mode="only")[0] == DECLINED
    finally:
        (net / f"{plain.cid}.json").unlink()
        net.rmdir()
    data = json.loads(state_path(runtime, plain.cid).read_text())
    saved = dict(data["cgroup"])
    data["cgroup"]["created"] = []      # as for a cgroupsPath that already existed
    state_path(runtime, plain.cid).write_text(json.dumps(data))
    for args in (["start", plain.cid], ["delete", plain.cid]):
        assert launcher(runtime, *args, mode="only")[0] == DECLINED, args
    data["cgroup"] = saved
    state_path(runtime, plain.cid).write_text(json.dumps(data))
    assert launcher(runtime, "delete", plain.cid, mode="only") == (0, b"", b"")


# ---- features -------------------------------------------------------------------

DENY_SYSCALL = REPO / "build" / "deny-syscall"


def test_features_answered_in_c(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "root", tmp_path, "features")
    _, out, _ = assert_fast(runtime, "features")
    assert json.loads(out)["linux"]["seccomp"]["enabled"] is True
    # Without global flags, against the launcher's own Python path.
    plain = [pyrunc_executable(), "features"]
    assert call(plain, "only") == call(plain, "0") == call(plain, None) == (0, out, b"")
    log = tmp_path / "features.log"
    assert_fast(runtime, "--log", str(log), "--log-format", "json", "features")
    assert log.exists() and log.stat().st_mode & 0o777 == 0o600 and log.read_text() == ""
    assert_fast(runtime, "--systemd-cgroup", "--criu", "x", "--rootless", "maybe", "features")
    for args in (["--debug", "features"], ["--help", "features"], ["features", "--help"], ["features", "-h"],
                 ["features", "x"], ["features", "--bogus"], ["features", "--"]):
        assert_deferred(runtime, *args)


@pytest.mark.parametrize("hidden", ["mount_setattr,openat2", "seccomp", "memfd_create"])
def test_features_where_calls_are_hidden(tmp_path: Path, hidden: str) -> None:
    """The probes' other answers, as under an engine's older seccomp
    profile: no idmapped mounts nor openat2; no seccomp(2) (no flag, and
    libseccomp's lower API level drops actions); no action compiles at all."""
    runtime = Runtime(tmp_path / "root", tmp_path, "features")
    runtime.wrapper = [str(DENY_SYSCALL), str(errno.ENOSYS), hidden]
    document = json.loads(assert_fast(runtime, "features")[1])
    seccomp = document["linux"]["seccomp"]
    if hidden.startswith("mount_setattr"):
        assert "idmap" not in document["mountOptions"] and "rro" not in document["mountOptions"]
        assert document["annotations"]["org.opencontainers.runtime-spec.features.pyrunc.kernel.openat2"] == "false"
    elif hidden == "seccomp":
        assert seccomp["supportedFlags"] == [] and "SCMP_ACT_ERRNO" in seccomp["actions"]
    else:
        assert seccomp["actions"] == [] and seccomp["archs"]


def host_view(tmp_path: Path, files: dict[str, bytes]) -> list[str]:
    """A wrapper that runs the call in a mount namespace whose /sys/fs and
    /sys/module hold only `files` (paths under /sys)."""
    view = tmp_path / "sys"
    for top in ("fs", "module"):
        (view / top).mkdir(parents=True)
    for name, content in files.items():
        path = view / Path(name).relative_to("/sys")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    script = " && ".join(f"mount --bind {shlex.quote(str(view / top))} /sys/{top}" for top in ("fs", "module"))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{script} && exec "$@"', "sh"]


APPARMOR = "/sys/module/apparmor/parameters/enabled"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a view of /sys")
@pytest.mark.parametrize("files, facts", [
    ({}, (False, False, False)),        # cgroup v1: no unified hierarchy
    ({"/sys/fs/cgroup/unified/cgroup.controllers": b"", "/sys/fs/selinux/enforce": b"0\n",
      APPARMOR: b"Y\n"}, (True, True, True)),
    ({"/sys/fs/cgroup/cgroup.controllers": b"", APPARMOR: b" \x1fY\x0b\n"}, (True, True, False)),
    ({APPARMOR: b"N\n"}, (False, False, False)),
    ({APPARMOR: b"y"}, (False, False, False)),
    ({APPARMOR: b"Y\x00"}, (False, False, False)),
], ids=["v1", "hybrid-all-enabled", "v2-stripped", "apparmor-off", "lowercase", "nul"])
def test_features_host_files(tmp_path: Path, files: dict[str, bytes], facts: tuple[bool, bool, bool]) -> None:
    """rdma (cgroup mode), AppArmor and SELinux read from the host's files
    as runtime/cgroups detect_mode and runtime/placement.py read them."""
    runtime = Runtime(tmp_path / "root", tmp_path, "features")
    runtime.wrapper = host_view(tmp_path, files)
    linux = json.loads(assert_fast(runtime, "features")[1])["linux"]
    assert (linux["cgroup"]["rdma"], linux["apparmor"]["enabled"], linux["selinux"]["enabled"]) == facts


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a view of /sys")
def test_features_odd_apparmor_text_deferred(tmp_path: Path) -> None:
    """Text Python decodes for the locale is Python's to judge."""
    runtime = Runtime(tmp_path / "root", tmp_path, "features")
    runtime.wrapper = host_view(tmp_path, {APPARMOR: "Y\u00e9".encode()})
    assert_deferred(runtime, "features")
