"""The command line around the lifecycle: --version, spec, validate,
features, runc-style flag parsing and its errors."""
from __future__ import annotations

import fcntl
import json
import os
import re
import time
from pathlib import Path

import pytest

from harness import Bundle, MakeBundle, Runtime, assert_error, poll


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(runtime: Runtime, flag: str) -> None:
    # runc's lines, which tools parse: `docker info` shows the commit.
    out = runtime(flag).ok().stdout
    assert re.search(r"^pyrunc version \d+\.\d+\.\d+$", out, re.M), out
    assert re.search(r"^commit: \S+$", out, re.M), out
    assert re.search(r"^spec: 1\.\d+\.\d+$", out, re.M), out


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"], ["h"], []],
                         ids=["help", "h", "help-command", "h-command", "nothing"])
def test_help(runtime: Runtime, argv: list[str]) -> None:
    # runc's layout (urfave/cli's), exit 0 even with no command at all.
    out = runtime(*argv).ok().stdout
    for section in ("NAME:", "USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"):
        assert re.search(f"^{section}$", out, re.M), (section, out)
    for verb in ("create", "start", "state", "kill", "delete", "run", "spec", "list", "help, h"):
        assert re.search(f"^   {verb}  +\\S", out, re.M), (verb, out)
    assert re.search(r"^   --root value  +\S", out, re.M), out


@pytest.mark.parametrize("argv", [["state", "-h"], ["help", "state"], ["state", "x", "--help"]],
                         ids=["flag", "help-command", "after-the-id"])
def test_help_of_a_command(runtime: Runtime, argv: list[str]) -> None:
    out = runtime(*argv).ok().stdout
    assert out.startswith("NAME:\n   pyrunc state - "), out
    assert "USAGE:\n   pyrunc state CONTAINER_ID\n" in out, out


@pytest.mark.parametrize("argv", [["help", "bogus"], ["bogus"], ["bogus", "-h"]],
                         ids=["help", "command", "command-help"])
def test_help_of_an_unknown_command(runtime: Runtime, argv: list[str]) -> None:
    # runc: `No help topic for 'bogus'`, exit 3.
    topic = argv[1] if argv[0] == "help" else argv[0]
    assert_error(runtime(*argv), f"No help topic for '{topic}'", status=3)


# ---- spec --------------------------------------------------------------------------------

@pytest.fixture
def spec_bundle(runtime: Runtime, make_bundle: MakeBundle) -> Bundle:
    """A bundle whose config.json is `pyrunc spec`'s, with a rootfs/ beside it."""
    bundle = make_bundle("spec")
    bundle.private_rootfs()
    runtime("spec", "--bundle", str(bundle.path)).ok()
    bundle.config = json.loads((bundle.path / "config.json").read_text())
    return bundle


def test_spec_writes_runcs_default(spec_bundle: Bundle) -> None:
    config = spec_bundle.config
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["process"]["args"] == ["sh"] and config["process"]["terminal"] is True
    # runc 1.2 adds cgroup to 1.1's five.
    assert {ns["type"] for ns in config["linux"]["namespaces"]} >= {
        "pid", "network", "ipc", "uts", "mount"}


def test_spec_validates_and_runs(runtime: Runtime, spec_bundle: Bundle) -> None:
    runtime("validate", "--bundle", str(spec_bundle.path)).ok()
    # Only what a person changes by hand: no terminal, another program.
    spec_bundle.set("process.terminal", False).payload("hostname")
    assert runtime.run(spec_bundle).json()["hostname"] == spec_bundle.config["hostname"]


def test_spec_in_the_current_directory(runtime: Runtime, tmp_path: Path) -> None:
    runtime("spec", cwd=tmp_path).ok()
    assert json.loads((tmp_path / "config.json").read_text())["ociVersion"].startswith("1.")


def test_spec_refuses_to_overwrite(runtime: Runtime, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    assert_error(runtime("spec", "--bundle", str(tmp_path)), "config.json")
    assert config.read_text() == "{}"


def test_spec_rootless(runtime: Runtime, tmp_path: Path) -> None:
    runtime("spec", "--rootless", "--bundle", str(tmp_path)).ok()
    config = json.loads((tmp_path / "config.json").read_text())
    assert "user" in {ns["type"] for ns in config["linux"]["namespaces"]}
    assert config["linux"]["uidMappings"] and config["linux"]["gidMappings"]


# ---- validate ------------------------------------------------------------------------------

def test_validate_accepts_a_good_bundle(runtime: Runtime, bundle: Bundle) -> None:
    result = runtime("validate", "--bundle", str(bundle.write().path)).ok()
    assert "valid" in result.stdout


def test_validate_accepts_the_example_bundles(runtime: Runtime) -> None:
    examples = Path(__file__).resolve().parent.parent / "bundles"
    for name in ("hello", "shell", "sleeper"):
        runtime("validate", "--bundle", str(examples / name)).ok()


def test_validate_lists_every_problem_with_its_path(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("process.args", "sh").set("linux.namespaces.0.type", "bogus")
    bundle.set("process.user.uid", "root")
    result = runtime("validate", "--bundle", str(bundle.write().path))
    assert_error(result)
    for path in ("process.args", "linux.namespaces[0].type", "process.user.uid"):
        assert any(line.startswith(path) for line in result.stdout.splitlines()), (path, result)


def test_validate_of_a_missing_config(runtime: Runtime, tmp_path: Path) -> None:
    assert_error(runtime("validate", "--bundle", str(tmp_path)), "config.json")


# ---- features ---------------------------------------------------------------------------------

def test_features(runtime: Runtime) -> None:
    features = runtime("features").json()
    assert features["ociVersionMin"].startswith("1.") and features["ociVersionMax"]
    assert {"pid", "network", "mount"} <= set(features["linux"]["namespaces"])


# ---- flags ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (("list", "--bogus"), "flag provided but not defined: -bogus"),
    (("create", "--bogus", "x"), "flag provided but not defined: -bogus"),
    (("state",), '"state" requires exactly 1 argument(s)'),
    (("kill",), '"kill" requires a minimum of 1 argument(s)'),
    (("kill", "a", "b", "c"), '"kill" requires a maximum of 2 argument(s)'),
    (("exec",), '"exec" requires a minimum of 1 argument(s)'),
    (("state", "x", "--bogus"), '"state" requires exactly 1 argument(s)'),
], ids=["list", "create", "missing-id", "kill", "kill-too-many", "exec", "unknown-flag-after-id"])
def test_usage_errors(runtime: Runtime, argv: tuple[str, ...], message: str) -> None:
    # runc's words and status 1, exec's included.
    assert_error(runtime(*argv), message)


@pytest.mark.parametrize("argv", [("--bogus", "list"), ("--log-format", "xml", "list")],
                         ids=["flag", "log-format"])
def test_global_usage_errors(runtime: Runtime, argv: tuple[str, ...]) -> None:
    # Before the log is set up, as runc: stderr only.
    assert_error(runtime(*argv), logged=False)


@pytest.mark.parametrize("style", [["-root", "{}"], ["--root={}"], ["-root={}"]],
                         ids=["single-dash", "equals", "single-dash-equals"])
def test_go_style_global_flags(runtime: Runtime, bundle: Bundle, style: list[str]) -> None:
    # Engines and scripts spell runc's flags every way Go's flag package allows.
    container = runtime.create(bundle.payload("sleep", "600"))
    flags = [part.format(runtime.root) for part in style]
    result = runtime(*flags, "list", "-q", json_log=False)
    assert result.ok().stdout.split() == [container.cid]


def test_known_flags_after_the_id(runtime: Runtime, bundle: Bundle) -> None:
    # runc (urfave/cli) moves a verb's own flags before the id: `update ID
    # --cpuset-cpus 0` works, and `kill ID KILL --all` is `kill --all ID KILL`.
    container = runtime.create(bundle.payload("sleep", "600"))
    runtime("update", container.cid, "--cpuset-cpus", "0").ok()
    runtime("kill", container.cid, "KILL", "--all").ok()
    container.wait_status("stopped")
    runtime("delete", container.cid, "--force").ok()
    assert runtime.listed_ids() == []


def test_exec_takes_what_follows_the_id_as_the_command(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    result = runtime("exec", container.cid, "/payload", "echo", "--detach", "-t", "--", "-x").ok()
    assert result.stdout.split() == ["--detach", "-t", "--", "-x"], result
    # ... so a flag there is the program to run: it cannot be, exit 255.
    assert_error(runtime("exec", container.cid, "--detach", "/payload"), status=255)


def test_exec_that_cannot_run_exits_255(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    container = runtime.create(bundle.payload("sleep", "600"))
    container.start().ok()
    bad = tmp_path / "no-such-dir" / "pid"
    assert_error(runtime("exec", "--detach", "--pid-file", str(bad), container.cid, "/payload", "sleep", "60"),
                 status=255)
    assert_error(runtime("exec", "--user", "²", container.cid, "/payload"), "--user", status=255)
    # A usage error is still 1, as with runc.
    assert_error(runtime("exec", "--additional-gids", "²", container.cid, "true"), "--additional-gids")


# ---- kill ----------------------------------------------------------------------------------

def test_signal_zero_checks_liveness(runtime: Runtime, bundle: Bundle) -> None:
    container = runtime.create(bundle.payload("sleep", "600"))
    container.kill("0").ok()
    container.kill("0", all_processes=True).ok()
    assert container.state()["status"] == "created"
    container.kill("KILL").ok()
    container.wait_status("stopped")
    # As runc: `kill --all` of a stopped container succeeds; alone it does not.
    container.kill("0", all_processes=True).ok()
    container.kill("KILL", all_processes=True).ok()
    assert_error(container.kill("0"), "container not running")


@pytest.mark.parametrize("signal", ["\u0669", "\u00b2", "SIGRTMIN", "0x9", " 9", "9" * 30, "KILL\n"],
                         ids=["arabic-nine", "superscript-two", "rtmin", "hex", "space", "huge", "newline"])
def test_bad_signals_are_refused(runtime: Runtime, bundle: Bundle, signal: str) -> None:
    # "٩" used to be SIGKILL and "²" an internal ValueError.
    container = runtime.create(bundle.payload("sleep", "600"))
    assert_error(container.kill(signal), "unknown signal")
    assert container.state()["status"] == "created"


@pytest.mark.parametrize("signal, expected", [
    ("", "SIGTERM"), ("USR1", "SIGUSR1"), ("SIGUSR1", "SIGUSR1"), ("sigusr1", "SIGUSR1"), ("10", "SIGUSR1"),
    ("+10", "SIGUSR1"), ("PWR", "SIGPWR"),
])
def test_signal_spellings(runtime: Runtime, bundle: Bundle, signal: str, expected: str) -> None:
    # runc's forms; an empty signal is SIGTERM, as runc's.
    container = runtime.create(bundle.payload("signal"))
    container.start().ok()
    poll(lambda: "waiting" in container.errors(), what="the payload's handlers")
    container.kill(signal).ok()
    container.wait_status("stopped")
    assert json.loads(container.output())["signal"] == expected


def test_out_of_range_signal(runtime: Runtime, bundle: Bundle) -> None:
    # runc: refused by the kernel for the init; only a warning with --all.
    container = runtime.create(bundle.payload("sleep", "600"))
    assert_error(container.kill("99"), "invalid argument")
    assert_error(container.kill("-9"), "invalid argument")
    container.kill("99", all_processes=True).ok()
    assert container.state()["status"] == "created"


# ---- delete, list, log ------------------------------------------------------------------------

def test_concurrent_force_deletes_both_succeed(runtime: Runtime, bundle: Bundle) -> None:
    # Hold the container's lock so both deletes wait on it; the one that gets
    # it second finds the container gone, which --force accepts.
    container = runtime.create(bundle.payload("sleep", "600"))
    fd = os.open(runtime.root / container.cid, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        calls = [runtime.spawn("delete", "-f", container.cid) for _ in range(2)]
        time.sleep(0.5)     # both have read the state and wait for the lock
    finally:
        os.close(fd)
    for proc, call in calls:
        call.result(proc.wait(30)).ok()
    assert runtime.listed_ids() == []


@pytest.mark.parametrize("root", ["/dev/null", "file"])
def test_list_with_a_root_that_is_not_a_directory(runtime: Runtime, tmp_path: Path, root: str) -> None:
    if root == "file":
        (tmp_path / "file").write_text("")
        root = str(tmp_path / "file")
    assert_error(runtime("--root", root, "list"), root, "Not a directory")


def test_log_that_cannot_be_opened(runtime: Runtime, tmp_path: Path) -> None:
    # runc fails with the open error; the engine would otherwise lose every line.
    path = tmp_path / "no-such-dir" / "log"
    result = runtime("--log", str(path), "list", json_log=False)
    assert_error(result, f"open {path}", logged=False)
    assert runtime("--log", str(tmp_path), "list", json_log=False).returncode == 1
    # An empty --log is stderr, as with runc.
    runtime("--log", "", "list", json_log=False).ok()


@pytest.mark.parametrize("argv, flag", [
    (("create", "--preserve-fds", "\u00b2", "x"), "preserve-fds"),
    (("create", "--preserve-fds", "99999999999999999999", "x"), "preserve-fds"),
    (("run", "--preserve-fds", "-1", "x"), "preserve-fds"),
    (("exec", "--preserve-fds", "\u0669", "x", "true"), "preserve-fds"),
    (("exec", "--additional-gids", "\u00b2", "x", "true"), "additional-gids"),
    (("exec", "-g", "4294967296", "x", "true"), "additional-gids"),
], ids=["superscript", "overflow", "negative", "arabic-digit", "gids", "gid-range"])
def test_numeric_flags(runtime: Runtime, argv: tuple[str, ...], flag: str) -> None:
    # ValueError/OverflowError used to reach the user as internal errors.
    assert_error(runtime(*argv), f"for flag --{flag}")
