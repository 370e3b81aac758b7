"""config.md#posix-platform-hooks: every hook kind runs at its point of
the lifecycle, in the right namespace, with the state on stdin; failures
have the effects the runtime-spec gives them."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import Bundle, Runtime, assert_error, process_alive

HOOK_KINDS_ALL = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def recorder(bundle: Bundle, log: Path) -> str:
    """A host hook script appending `<kind> <mount ns> <state json>` to log."""
    script = bundle.path / "hook.sh"
    script.write_text("#!/bin/sh\n"
                      f'echo "$1 $(readlink /proc/self/ns/mnt) $(cat)" >> {log}\n')
    script.chmod(0o755)
    return str(script)


def hook(path: str, *args: str, **extra: object) -> dict[str, object]:
    return {"path": path, "args": [os.path.basename(path), *args], **extra}


def read_log(log: Path) -> list[tuple[str, str, dict]]:
    entries = []
    for line in log.read_text().splitlines():
        kind, ns, state = line.split(" ", 2)
        entries.append((kind, ns, json.loads(state)))
    return entries


def test_runtime_side_hooks_run_in_order_with_state(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    script = recorder(bundle, log)
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        bundle.append(f"hooks.{kind}", hook(script, kind))
    bundle.set("annotations", {"org.example/key": "value"})
    container = runtime.create(bundle.payload("sleep", "30"))
    assert [entry[0] for entry in read_log(log)] == ["prestart", "createRuntime", "createContainer"]
    container.start().ok()
    container.kill("KILL").ok()
    container.wait_status("stopped")
    container.delete().ok()
    entries = read_log(log)
    assert [e[0] for e in entries] == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    host_ns = os.readlink("/proc/self/ns/mnt")
    namespaces = {kind: ns for kind, ns, _ in entries}
    assert namespaces["prestart"] == namespaces["createRuntime"] == namespaces["poststart"] == host_ns
    assert namespaces["createContainer"] != host_ns     # the container's mount namespace
    statuses = {kind: state["status"] for kind, _, state in entries}
    assert statuses == {"prestart": "created", "createRuntime": "created", "createContainer": "created",
                        "poststart": "running", "poststop": "stopped"}
    for _, _, state in entries:
        assert state["id"] == container.cid and state["bundle"] == str(bundle.path)
        assert state["annotations"] == {"org.example/key": "value"}
    assert entries[0][2]["pid"] == entries[3][2]["pid"] > 0


def test_start_container_hook_runs_inside_the_container(runtime: Runtime, bundle: Bundle) -> None:
    # Its path resolves in the container: use the rootfs's own shell.
    bundle.with_tmp()
    bundle.append("hooks.startContainer",
                  hook("/bin/sh", "-c", "cat > /tmp/state.json; hostname > /tmp/host"))
    result = runtime.run(bundle.set("process.args", ["sh", "-c", "cat /tmp/host /tmp/state.json"])).ok()
    hostname, state = result.stdout.splitlines()
    assert hostname == bundle.get("hostname")
    assert json.loads(state)["status"] == "created"


def test_failing_create_hooks_fail_create_and_leave_nothing(runtime: Runtime, bundle: Bundle) -> None:
    for kind in ("prestart", "createRuntime", "createContainer"):
        bundle.config["hooks"] = {kind: [hook("/bin/sh", "-c", "exit 3")]}
        result = runtime.try_create(bundle.payload("sleep", "30"))
        assert_error(result, f"{kind} hook /bin/sh", "exit status 3")
        assert runtime.listed_ids() == []


def test_hook_timeout_kills_it(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("hooks.createRuntime", hook("/bin/sleep", "30", timeout=1))
    assert_error(runtime.try_create(bundle.payload("sleep", "30")), "createRuntime hook", "timed out")
    bundle.config["hooks"] = {"createContainer": [hook("/bin/sleep", "30", timeout=1)]}
    assert_error(runtime.try_create(bundle.payload("sleep", "30")), "createContainer hook", "timed out")


def test_failing_start_container_hook_fails_start(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("hooks.startContainer", hook("/bin/false"))
    container = runtime.create(bundle.payload("sleep", "30"))
    assert_error(container.start(), "startContainer hook /bin/false", "exit status 1")
    container.wait_status("stopped")


def test_failing_poststart_fails_start_and_deletes_the_container(runtime: Runtime, bundle: Bundle,
                                                                 tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    bundle.append("hooks.poststart", hook("/bin/false"))
    bundle.append("hooks.poststop", hook(recorder(bundle, log), "poststop"))
    container = runtime.create(bundle.payload("sleep", "30"))
    pid = container.pid
    assert_error(container.start(), "poststart hook /bin/false")
    # As runc: stopped and deleted, its poststop hooks run.
    assert runtime.listed_ids() == []
    assert not process_alive(pid)
    assert [e[0] for e in read_log(log)] == ["poststop"]
    assert_error(container.delete(), "does not exist")


def test_failing_poststop_is_logged_and_delete_goes_on(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    script = recorder(bundle, log)
    bundle.append("hooks.poststop", hook("/bin/false"), hook(script, "poststop"))
    container = runtime.create(bundle.payload("sleep", "30"))
    result = container.delete("--force").ok()
    assert [e[0] for e in read_log(log)] == ["poststop"]   # the second hook still ran
    assert any("poststop hook /bin/false" in e.get("msg", "") for e in result.log)
    assert runtime.listed_ids() == []


def test_hook_env_and_args_are_passed(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    bundle.append("hooks.createRuntime", {"path": "/bin/sh", "args": ["sh", "-c", f'echo "$0 $FOO" > {out}', "zero"],
                                          "env": ["FOO=bar"]})
    runtime.run(bundle.payload("echo", "hi")).ok()
    assert out.read_text().strip() == "zero bar"


def test_invalid_hook_is_a_config_error(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("hooks.poststart", {"path": "relative/hook"})
    assert_error(runtime.try_create(bundle), "hooks.poststart[0].path")
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/true", "timeout": 0}]}
    assert_error(runtime.try_create(bundle), "hooks.prestart[0].timeout")


FULL_STATE = {"ociVersion", "id", "status", "pid", "bundle", "annotations"}


def test_every_hook_gets_the_full_state_created_before_start(runtime: Runtime, bundle: Bundle,
                                                             tmp_path: Path) -> None:
    """The runtime-spec's lifecycle (and crun): every hook before start runs
    once the container is created; no annotations is an empty object."""
    log = tmp_path / "hooks.log"
    script = recorder(bundle, log)
    bundle.remove("annotations")
    bundle.with_tmp()
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        bundle.append(f"hooks.{kind}", hook(script, kind))
    bundle.append("hooks.startContainer", hook("/bin/sh", "-c", "cat > /tmp/state.json"))
    container = runtime.create(bundle.set("process.args", ["sh", "-c", "sleep 0.2; cat /tmp/state.json"]))
    container.start().ok()
    container.wait_status("stopped")
    container.delete().ok()
    states = {kind: state for kind, _, state in read_log(log)}
    states["startContainer"] = json.loads(container.output())
    assert {kind: state["status"] for kind, state in states.items()} == {
        "prestart": "created", "createRuntime": "created", "createContainer": "created",
        "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    for kind, state in states.items():
        assert set(state) == FULL_STATE, (kind, state)
        assert state["annotations"] == {} and state["id"] == container.cid, (kind, state)
        assert state["pid"] == (0 if kind == "poststop" else states["prestart"]["pid"]), (kind, state)


def test_hook_working_directories(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """As runc: createContainer in the container's root, startContainer in
    the program's cwd, the runtime's own hooks in the bundle."""
    out = tmp_path / "cwd"
    out.mkdir()
    bundle.with_tmp()
    bundle.set("process.cwd", "/tmp")
    bundle.append("hooks.createContainer", hook("/bin/sh", "-c", f"ls > {out}/createContainer"))
    bundle.append("hooks.startContainer", hook("/bin/sh", "-c", "pwd > startContainer"))
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        bundle.append(f"hooks.{kind}", hook("/bin/sh", "-c", f"pwd > {out}/{kind}"))
    container = runtime.create(bundle.set("process.args", ["sh", "-c", "sleep 0.2; cat startContainer"]))
    container.start().ok()
    container.wait_status("stopped")
    container.delete().ok()
    assert "payload" in (out / "createContainer").read_text().split()
    assert container.output().strip() == "/tmp"
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert (out / kind).read_text().strip() == str(bundle.path), kind


def test_hooks_without_env_get_their_runners_environment(runtime: Runtime, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    """runc's rule: a hook without `env` inherits -- the runtime's environment
    for the runtime's hooks, the program's for those in the container; an
    empty `env` is an empty environment."""
    out = tmp_path / "env"
    out.mkdir()
    bundle.with_tmp()
    bundle.append("process.env", "IN_CONTAINER=yes")
    show = 'echo "${FROM_CALLER:-none} ${IN_CONTAINER:-none}"'
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        bundle.append(f"hooks.{kind}", hook("/bin/sh", "-c", f"{show} > {out}/{kind}"),
                      hook("/bin/sh", "-c", f"{show} > {out}/{kind}.empty", env=[]))
    bundle.append("hooks.startContainer", hook("/bin/sh", "-c", f"{show} > /tmp/start"),
                  hook("/bin/sh", "-c", f"{show} > /tmp/start.empty", env=[]))
    bundle.set("process.args", ["sh", "-c", "sleep 0.2; cat /tmp/start /tmp/start.empty"])
    env = {**os.environ, "FROM_CALLER": "yes"}
    container = runtime.create(bundle, env=env)
    runtime("start", container.cid, env=env).ok()
    container.wait_status("stopped")
    runtime("delete", container.cid, env=env).ok()
    seen = {path.name: path.read_text().strip() for path in out.iterdir()}
    seen["startContainer"], seen["startContainer.empty"] = container.output().splitlines()
    assert seen == {
        "prestart": "yes none", "createRuntime": "yes none", "poststart": "yes none", "poststop": "yes none",
        "createContainer": "none yes", "startContainer": "none yes",
        **{f"{kind}.empty": "none none" for kind in (
            "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")}}


@pytest.mark.parametrize("kind,field,value,where", [
    ("poststop", "timeout", 10_000_000_000, "hooks.poststop[0].timeout"),
    ("startContainer", "timeout", 2 ** 31, "hooks.startContainer[0].timeout"),
    ("createContainer", "timeout", 2 ** 63, "hooks.createContainer[0].timeout"),
    ("prestart", "timeout", 1.5, "hooks.prestart[0].timeout"),
    ("createRuntime", "path", "/bin/tr\0ue", "hooks.createRuntime[0].path"),
    ("poststart", "args", ["true", "a\0b"], "hooks.poststart[0].args[1]"),
    ("poststop", "env", ["A=\ud800"], "hooks.poststop[0].env[0]"),
    ("startContainer", "path", "/bin/\udcff", "hooks.startContainer[0].path"),
])
def test_hook_fields_the_runtime_cannot_hold_fail_create(runtime: Runtime, bundle: Bundle, kind: str,
                                                          field: str, value: object, where: str) -> None:
    bundle.append(f"hooks.{kind}", {"path": "/bin/true", field: value})
    assert_error(runtime.try_create(bundle.payload("sleep", "30")), where)
    assert runtime.listed_ids() == []


def test_longest_timeouts_work(runtime: Runtime, bundle: Bundle) -> None:
    for kind in HOOK_KINDS_ALL:
        bundle.append(f"hooks.{kind}", hook("/bin/true", timeout=2 ** 31 - 1))
    container = runtime.create(bundle.payload("sleep", "30"))
    container.start().ok()
    container.delete("--force").ok()
    assert runtime.listed_ids() == []


def test_delete_force_removes_a_container_whose_hooks_cannot_run(runtime: Runtime, bundle: Bundle) -> None:
    """A state written before its hooks were checked (an older pyrunc)."""
    container = runtime.create(bundle.payload("sleep", "30"))
    state_file = runtime.root / container.cid / "state.json"
    state = json.loads(state_file.read_text())
    state["config"]["hooks"] = {"poststop": [{"path": "/bin/true", "timeout": 10_000_000_000}]}
    state_file.write_text(json.dumps(state))
    result = container.delete("--force").ok()
    assert any("hooks.poststop[0].timeout" in entry.get("msg", "") for entry in result.log)
    assert runtime.listed_ids() == []


def test_a_state_too_large_for_the_init_fails_create(runtime: Runtime, bundle: Bundle) -> None:
    """The init gets the state in one sync message: never a truncated JSON."""
    bundle.set("annotations", {"big": "x" * 70000})
    bundle.append("hooks.startContainer", hook("/bin/true"))
    assert_error(runtime.try_create(bundle.payload("sleep", "30")), "too large")
    assert runtime.listed_ids() == []
    bundle.config["hooks"] = {"prestart": [hook("/bin/true")]}      # the runtime's hooks take any size
    runtime.create(bundle).delete("--force").ok()
