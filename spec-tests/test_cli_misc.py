"""The command line around the lifecycle: --version, spec, validate,
features, runc-style flag parsing and its errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness import Bundle, MakeBundle, Runtime, assert_error


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(runtime: Runtime, flag: str) -> None:
    out = runtime(flag).ok().stdout
    assert re.search(r"^pyrunc version \d+\.\d+\.\d+", out, re.M), out
    assert re.search(r"^spec: 1\.\d+\.\d+", out, re.M), out


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(runtime: Runtime, flag: str) -> None:
    out = runtime(flag).ok().stdout
    for verb in ("create", "start", "state", "kill", "delete", "run", "spec", "list"):
        assert verb in out


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

@pytest.mark.parametrize("argv", [
    ("list", "--bogus"), ("create", "--bogus", "x"), ("state",), ("bogus-command",), ("kill",),
], ids=["list", "create", "missing-id", "command", "kill"])
def test_usage_errors(runtime: Runtime, argv: tuple[str, ...]) -> None:
    assert_error(runtime(*argv))


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


def test_flags_after_the_id_belong_to_the_container(runtime: Runtime, bundle: Bundle) -> None:
    # `kill ID --all`: flag parsing stops at the first argument, as runc.
    container = runtime.create(bundle.payload("sleep", "600"))
    assert runtime("kill", container.cid, "--all").returncode == 1
    assert container.state()["status"] == "created"
