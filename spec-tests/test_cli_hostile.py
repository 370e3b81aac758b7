"""Hostile command lines, for every verb: odd container ids, a --root that
is a file, read-only or a symlink, bad signals, unknown flags, missing
arguments.  Each must give runc's exit status, one clean `pyrunc: ...`
line (never a traceback) and leave nothing behind.  Where runc is
installed, the same argv is run through it (with a --root of its own) and
the statuses must agree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harness import Bundle, Result, Runtime, assert_error, poll

RUNC = shutil.which("runc")

LONG_ID = "x" * 1000
ODD_IDS = ["", ".", "..", "a/b", "../x", "a\nb", LONG_ID, "-", "a b", "\u0669"]
ODD_ID_NAMES = ["empty", "dot", "dotdot", "slash", "dotdot-slash", "newline", "long", "dash", "space", "arabic"]

# Each verb that takes an id, with what it needs besides: (argv before the
# id, argv after it, status of a failure).
ID_VERBS = {
    "start": ((), (), 1), "state": ((), (), 1), "kill": ((), (), 1), "kill-sig": ((), ("KILL",), 1),
    "delete": ((), (), 1), "pause": ((), (), 1), "resume": ((), (), 1), "ps": ((), (), 1),
    "events": (("--stats",), (), 1), "update": (("--pids-limit", "5"), (), 1),
    "exec": ((), ("true",), 255),
}


class Compare:
    """Runs an argv through pyrunc (the `runtime` fixture) and, when runc is
    installed, through runc with its own --root; checks both."""

    def __init__(self, runtime: Runtime, runc_root: Path, cwd: Path) -> None:
        self.runtime, self.runc_root, self.cwd = runtime, runc_root, cwd

    def runc(self, *args: str, quiet: bool = False) -> subprocess.CompletedProcess[bytes] | None:
        """runc ARGS; `quiet` for a call whose container inherits its stdio
        (a pipe would stay open after runc exits)."""
        if RUNC is None:
            return None
        output = subprocess.DEVNULL if quiet else subprocess.PIPE
        return subprocess.run([RUNC, "--root", str(self.runc_root), *args], cwd=self.cwd,
                              stdin=subprocess.DEVNULL, stdout=output, stderr=output, timeout=30)

    def __call__(self, *args: str, status: int, runc_args: tuple[str, ...] | None = None,
                 logged: bool = True) -> Result:
        result = self.runtime(*args, cwd=self.cwd)
        if status:
            assert_error(result, status=status, logged=logged)
        else:
            assert result.returncode == 0 and "Traceback" not in result.stderr, result
        theirs = self.runc(*(args if runc_args is None else runc_args))
        if theirs is not None:
            assert theirs.returncode == status, (args, theirs.stderr.decode(errors="replace"))
        return result


@pytest.fixture
def runc_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "runc-root"
    yield root
    leftovers = sorted(os.listdir(root)) if root.is_dir() else []
    for cid in leftovers:
        subprocess.run([RUNC or "runc", "--root", str(root), "delete", "--force", cid],
                       capture_output=True, timeout=30)
    shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"runc left containers: {leftovers}"


@pytest.fixture
def compare(runtime: Runtime, runc_root: Path, tmp_path: Path) -> Compare:
    cwd = tmp_path / "cwd"     # `spec` and a missing --bundle look here
    cwd.mkdir()
    return Compare(runtime, runc_root, cwd)


# ---- odd ids ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", ODD_IDS, ids=ODD_ID_NAMES)
@pytest.mark.parametrize("verb", sorted(ID_VERBS))
def test_odd_ids(compare: Compare, verb: str, cid: str) -> None:
    before, after, status = ID_VERBS[verb]
    compare(verb.split("-")[0], *before, cid, *after, status=status)


@pytest.mark.parametrize("cid", [c for c in ODD_IDS if c != "-"], ids=[n for n in ODD_ID_NAMES if n != "dash"])
def test_odd_ids_force_delete(compare: Compare, cid: str) -> None:
    # Not there is fine for --force; not valid is an error.
    compare("delete", "--force", cid, status=1)


@pytest.mark.parametrize("cid", ["nope", "-"], ids=["missing", "dash"])
def test_force_delete_of_a_missing_container(compare: Compare, cid: str) -> None:
    compare("delete", "--force", cid, status=0)


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("cid", [c for c in ODD_IDS if c not in ("-", "a b", "\u0669")],
                         ids=[n for n in ODD_ID_NAMES if n not in ("dash", "space", "arabic")])
def test_odd_ids_create(compare: Compare, bundle: Bundle, verb: str, cid: str) -> None:
    bundle.payload("true").write()
    compare(verb, "--bundle", str(bundle.path), cid, status=1)


# ---- usage errors ---------------------------------------------------------------------------------

USAGE = [
    # missing arguments
    ("create",), ("run",), ("start",), ("state",), ("kill",), ("delete",), ("pause",), ("resume",),
    ("ps",), ("events",), ("update",), ("exec",),
    # too many
    ("start", "a", "b"), ("state", "a", "b"), ("kill", "a", "b", "c"), ("delete", "a", "b"),
    ("pause", "a", "b"), ("resume", "a", "b"), ("events", "a", "b"), ("update", "a", "b"),
    ("list", "a"), ("spec", "a"), ("features", "a"), ("create", "a", "b"), ("run", "a", "b"),
    # unknown flags, before and after the id
    ("list", "--bogus"), ("state", "--bogus", "x"), ("state", "x", "--bogus"), ("kill", "--bogus", "x"),
    ("delete", "-bogus", "x"), ("delete", "x", "--bogus"), ("exec", "--bogus", "x", "true"),
    ("ps", "--bogus", "x"), ("spec", "--bogus"), ("features", "--bogus"), ("create", "x", "--bogus"),
    ("update", "x", "--bogus", "1"), ("events", "x", "--bogus"), ("pause", "--bogus", "x"),
    # flags without their value, bad values
    ("create", "--bundle"), ("exec", "--process"), ("list", "--format"),
    ("delete", "--force=maybe", "x"), ("kill", "--all=yes", "x"), ("exec", "--tty=2", "x", "true"),
    ("list", "--format", "xml"), ("events", "--interval", "soon", "x"),
    ("create", "--preserve-fds", "\u00b2", "x"), ("exec", "--additional-gids", "x", "y", "true"),
    ("update", "--pids-limit", "\u0669", "x"), ("update", "--pids-limit", "99999999999999999999", "x"),
    ("---bogus",), ("delete", "---force", "x"), ("help", "-a"), ("h", "--bogus", "state"),
    ("state", "--a\nb", "x"), ("state", "-\r", "x"), ("delete", "-f", "--force", "x"),
    ("kill", "x", "--all", "-a"), ("state", "--help", "-h", "x"), ("-v", "--version"),
    ("--log-format", "xml", "bogus"),
    # globals
    ("--bogus", "list"), ("--debug=maybe", "list"), ("--log-format", "xml", "list"), ("--root",),
]


@pytest.mark.parametrize("argv", USAGE, ids=[" ".join(a) for a in USAGE])
def test_usage_errors(compare: Compare, argv: tuple[str, ...]) -> None:
    # Before the verb runs, runc logs nothing of its own; we do when --log works.
    compare(*argv, status=1, logged=False)


@pytest.mark.parametrize("argv", [("bogus",), ("bogus", "x"), ("help", "bogus"), ("h", "bogus"), ("bogus", "-h"),
                                  ("create2",), ("STATE", "x"), ("help", "\r"), ("a\nb",), ("help", "-")])
def test_unknown_commands(compare: Compare, argv: tuple[str, ...]) -> None:
    compare(*argv, status=3)


@pytest.mark.parametrize("argv", [(), ("-h",), ("--help",), ("help",), ("help", "state"), ("state", "-h"),
                                  ("kill", "x", "-h"), ("exec", "-h"), ("-v",), ("--version",),
                                  ("-h", "bogus"), ("--version", "bogus"), ("help", "-h"), ("help", ""),
                                  ("help", "state", "-a"), ("help", "--", "state"), ("",), ("", "state", "x"),
                                  ("--log-format", "xml", "-h"), ("--log", "/nonexistent/x", "-v"),
                                  ("--log-format", "", "list"), ("--rootless", "maybe", "list")])
def test_help_and_version(compare: Compare, argv: tuple[str, ...]) -> None:
    result = compare(*argv, status=0)
    assert result.stdout and not result.stderr, result


def test_quiet_list_ignores_the_format(compare: Compare) -> None:
    compare("list", "--format", "xml", "-q", status=0)


# ---- signals --------------------------------------------------------------------------------------

BAD_SIGNALS = ["\u0669", "\u00b2", "SIG", "SIGRTMIN", "RTMIN+1", "0x9", " 9", "9 ", "1_0", "9" * 30, "-", "--x",
               "SIGIOT", "KILL\n"]


@pytest.mark.parametrize("signal", BAD_SIGNALS, ids=[repr(s) for s in BAD_SIGNALS])
def test_bad_signals(compare: Compare, bundle: Bundle, signal: str) -> None:
    # On a real container (runc reports a missing one first, as we do).
    container = compare.runtime.create(bundle.payload("sleep", "600"))
    result = compare.runtime("kill", container.cid, signal)
    assert_error(result, "unknown signal")
    assert container.state()["status"] == "created"
    compare("kill", "nope", signal, status=1)


# ---- every verb in every status ---------------------------------------------------------------------

# (the verb and its flags, what follows the id)
STATUS_VERBS = [(("start",), ()), (("kill",), ()), (("kill",), ("0",)), (("kill",), ("KILL",)), (("kill",), ("99",)),
                (("kill", "--all"), ("0",)), (("kill", "--all"), ("99",)), (("delete",), ()), (("pause",), ()),
                (("resume",), ()), (("state",), ()), (("exec",), ("/payload", "echo")),
                (("exec", "-d"), ("/payload", "sleep", "1")), (("ps",), ()), (("ps", "--format", "json"), ()),
                (("update", "--pids-limit", "50"), ()), (("events", "--stats"), ()), (("create", "--bundle"), ())]


@pytest.mark.parametrize("verb, after", STATUS_VERBS, ids=[" ".join(v + a) for v, a in STATUS_VERBS])
@pytest.mark.parametrize("status", ["created", "running", "paused", "stopped"])
def test_every_verb_in_every_status(compare: Compare, bundle: Bundle, status: str, verb: tuple[str, ...],
                                    after: tuple[str, ...]) -> None:
    # Success or failure as runc's (255 from exec), e.g. `kill --all` of a
    # stopped container succeeds, `kill 99` fails, `delete` of a running one fails.
    bundle.payload("sleep", "600").write()
    runtime = compare.runtime
    ours = runtime.new_id()
    theirs = f"{ours}-runc"
    runtime.ids.append(theirs)      # the audit looks for its processes and cgroups too

    def bring(run: Any, cid: str, quiet: dict[str, Any]) -> None:
        run("create", "--bundle", str(bundle.path), cid, **quiet)
        if status != "created":
            run("start", cid, **quiet)
        if status == "paused":
            run("pause", cid)
        if status == "stopped":
            run("kill", cid, "KILL")
            poll(lambda: json.loads(run("state", cid).stdout or "{}").get("status") == "stopped",
                 what=f"{cid} to stop")

    if verb[-1] == "--bundle":
        verb += (str(bundle.path),)
    bring(runtime, ours, {})
    result = runtime(*verb, ours, *after)
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 1, result
    if RUNC is None:
        return
    try:
        bring(compare.runc, theirs, {"quiet": True})
        # Quiet where the container (or a detached process) would hold the pipes.
        got = compare.runc(*verb, theirs, *after, quiet=verb[0] in ("exec", "create"))
        assert got is not None and got.returncode == result.returncode, (result, got.stderr)
    finally:
        compare.runc("delete", "--force", theirs)


# ---- hostile --root -------------------------------------------------------------------------------

@pytest.fixture
def read_only_dir(runtime: Runtime, tmp_path: Path) -> Iterator[Path]:
    """An empty read-only tmpfs; unmounted before the runtime's audit."""
    path = tmp_path / "ro"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


ROOT_VERBS = [("list",), ("state", "x"), ("kill", "x"), ("delete", "x"), ("delete", "--force", "x"),
              ("start", "x"), ("pause", "x"), ("ps", "x"), ("events", "--stats", "x"), ("exec", "x", "true")]


def _failure(argv: tuple[str, ...]) -> int:
    return 255 if argv[0] == "exec" else 1


@pytest.mark.parametrize("argv", ROOT_VERBS, ids=[" ".join(a) for a in ROOT_VERBS])
@pytest.mark.parametrize("kind", ["file", "dev-null"])
def test_root_that_is_not_a_directory(compare: Compare, tmp_path: Path, kind: str,
                                      argv: tuple[str, ...]) -> None:
    root = "/dev/null" if kind == "dev-null" else str(tmp_path / "file")
    Path(tmp_path / "file").write_text("")
    compare("--root", root, *argv, status=_failure(argv), runc_args=("--root", root, *argv))


@pytest.mark.parametrize("argv", ROOT_VERBS, ids=[" ".join(a) for a in ROOT_VERBS])
def test_read_only_root(compare: Compare, read_only_dir: Path, argv: tuple[str, ...]) -> None:
    root = str(read_only_dir)
    status = 0 if argv[0] == "list" or argv[:2] == ("delete", "--force") else _failure(argv)
    compare("--root", root, *argv, status=status, runc_args=("--root", root, *argv))


def test_create_in_a_read_only_root(compare: Compare, read_only_dir: Path, bundle: Bundle) -> None:
    bundle.payload("true").write()
    argv = ("--root", str(read_only_dir), "create", "--bundle", str(bundle.path), "ro-root-x")
    compare(*argv, status=1, runc_args=argv)


@pytest.mark.parametrize("argv", ROOT_VERBS, ids=[" ".join(a) for a in ROOT_VERBS])
def test_symlinked_root(compare: Compare, tmp_path: Path, argv: tuple[str, ...]) -> None:
    (tmp_path / "real-ours").mkdir()
    (tmp_path / "real-runc").mkdir()
    (tmp_path / "link-ours").symlink_to(tmp_path / "real-ours")
    (tmp_path / "link-runc").symlink_to(tmp_path / "real-runc")
    status = 0 if argv[0] == "list" or argv[:2] == ("delete", "--force") else _failure(argv)
    compare("--root", str(tmp_path / "link-ours"), *argv, status=status,
            runc_args=("--root", str(tmp_path / "link-runc"), *argv))


def test_a_container_under_a_symlinked_root(runtime: Runtime, tmp_path: Path, bundle: Bundle) -> None:
    (tmp_path / "link").symlink_to(runtime.root, target_is_directory=True)
    runtime.root.mkdir(parents=True, exist_ok=True)
    root = str(tmp_path / "link")
    cid = runtime.new_id()
    runtime("--root", root, "create", "--bundle", str(bundle.payload("sleep", "60").write().path), cid).ok()
    assert runtime("--root", root, "list", "-q").ok().stdout.split() == [cid]
    runtime("--root", root, "delete", "--force", cid).ok()
    assert runtime.listed_ids() == []


# ---- anything at all -----------------------------------------------------------------------------

SAFE_VERBS = ["state", "kill", "delete", "pause", "resume", "ps", "events", "start", "update", "list", "exec",
              "features", "help", "bogus"]
WORDS = st.sampled_from(["-a", "--all", "-f", "--force", "-d", "--format", "json", "--stats", "--", "-",
                         "-h", "--pids-limit", "--preserve-fds", "9", "KILL", "", ".", "..", "\n", "\u00b2"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(verb=st.sampled_from(SAFE_VERBS), args=st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=4))
def test_any_command_line_fails_cleanly(compare: Compare, verb: str, args: list[str]) -> None:
    # No container exists under the root: whatever the words, a clean line
    # and runc's status.
    args = [arg.replace("\x00", "") for arg in args]     # argv cannot hold NUL
    result = compare.runtime(verb, *args, cwd=compare.cwd)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result
    if result.returncode:
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("pyrunc: "), result
    theirs = compare.runc(verb, *args)
    if theirs is not None:
        assert theirs.returncode == result.returncode, (verb, args, theirs.stderr.decode(errors="replace"),
                                                        result)
