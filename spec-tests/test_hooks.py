"""config.md#posix-platform-hooks: every hook kind runs at its point of
the lifecycle, in the right namespace, with the state on stdin; failures
have the effects the runtime-spec gives them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from harness import Bundle, Runtime, assert_error


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
    assert statuses == {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
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


def test_failing_poststart_fails_start_and_stops_the_container(runtime: Runtime, bundle: Bundle) -> None:
    bundle.append("hooks.poststart", hook("/bin/false"))
    container = runtime.create(bundle.payload("sleep", "30"))
    assert_error(container.start(), "poststart hook /bin/false")
    container.wait_status("stopped")


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
