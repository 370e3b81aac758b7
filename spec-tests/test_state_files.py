"""Damaged state files: every verb says which file is bad in one line,
`list` still shows the other containers, and `delete --force` removes
what it can identify safely and fails, naming the rest, rather than
report success with anything left."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from harness import Bundle, Runtime, assert_error, poll, process_alive

Tamper = Callable[[dict[str, Any]], Any]


def state_file(runtime: Runtime, cid: str) -> Path:
    return runtime.root / cid / "state.json"


def created(runtime: Runtime, bundle: Bundle) -> tuple[str, int]:
    container = runtime.create(bundle.payload("sleep", "30"))
    return container.cid, container.pid


def rewrite(runtime: Runtime, cid: str, tamper: Tamper) -> None:
    path = state_file(runtime, cid)
    data = json.loads(path.read_text())
    replacement = tamper(data)
    path.write_text(json.dumps(data if replacement is None else replacement))


# Each breaks the state in a way that was an internal error (TypeError,
# AttributeError) or a silent success of `delete -f` before.
TAMPERINGS: list[tuple[str, Tamper | str]] = [
    ("empty", ""),
    ("truncated", "{\"ociVersion\": \"1.2.0\", \"id\""),
    ("deep", "[" * 2000 + "]" * 2000),
    ("list", lambda data: [data]),
    ("pid-string", lambda data: data.update(pid=str(data["pid"]))),
    ("pid-list", lambda data: data.update(pid=[data["pid"]])),
    ("config-list", lambda data: data.update(config=[])),
    ("annotations-list", lambda data: data.update(annotations=["x"])),
]


def tamper_with(runtime: Runtime, cid: str, how: Tamper | str) -> None:
    if isinstance(how, str):
        state_file(runtime, cid).write_text(how)
    else:
        rewrite(runtime, cid, how)


@pytest.mark.parametrize("how", [h for _, h in TAMPERINGS], ids=[i for i, _ in TAMPERINGS])
def test_damaged_state(runtime: Runtime, bundle: Bundle, make_bundle: Any, how: Tamper | str) -> None:
    cid, pid = created(runtime, bundle)
    other = runtime.create(make_bundle("other").payload("sleep", "30"))
    tamper_with(runtime, cid, how)
    for verb in (["state", cid], ["kill", cid, "KILL"], ["delete", cid], ["start", cid]):
        assert_error(runtime(*verb), cid, "corrupt state", str(state_file(runtime, cid)))
    # list shows every container, the damaged one marked.
    listed = {c["id"]: c for c in json.loads(runtime("list", "--format", "json").ok().stdout)}
    assert listed[other.cid]["status"] == "created"
    assert listed[cid]["status"] == "unknown"
    # delete --force removes it: its cgroup, found by name, holds the init.
    runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")
    assert runtime.listed_ids() == [other.cid]
    assert not any(Path("/sys/fs/cgroup").glob(f"*/pyrunc/{cid}"))
    assert other.state()["status"] == "created"


def test_hooks_that_cannot_be_parsed_do_not_stop_delete_force(runtime: Runtime, bundle: Bundle) -> None:
    """A poststop entry edited into nonsense: start refuses before the
    program runs; delete --force removes the container anyway."""
    cid, pid = created(runtime, bundle)
    rewrite(runtime, cid, lambda data: data["config"].update(hooks={"poststart": [1], "poststop": [1]}))
    assert_error(runtime("start", cid), "hooks.poststart[0]")
    assert runtime.state(cid)["status"] == "created"
    runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")
    assert runtime.listed_ids() == []


def test_delete_force_says_what_it_could_not_remove(runtime: Runtime, bundle: Bundle) -> None:
    """With its own cgroupsPath and no readable pid, nothing identifies the
    init: delete --force removes the state, fails and says so."""
    bundle.set("linux.cgroupsPath", f"/pyrunc-test-{runtime.prefix}")
    cid, pid = created(runtime, bundle)
    saved = json.loads(state_file(runtime, cid).read_text())
    state_file(runtime, cid).write_text("")
    try:
        assert_error(runtime("delete", "--force", cid), cid, "could not remove", "its init process")
        assert runtime.listed_ids() == []
    finally:
        # Put the state back so that the audit can clean up what we could not.
        (runtime.root / cid).mkdir(exist_ok=True)
        state_file(runtime, cid).write_text(json.dumps(saved))
    runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")


def test_delete_force_with_a_sound_cgroup_and_a_bad_pid(runtime: Runtime, bundle: Bundle) -> None:
    bundle.set("linux.cgroupsPath", f"/pyrunc-test-{runtime.prefix}")
    cid, pid = created(runtime, bundle)
    rewrite(runtime, cid, lambda data: data.update(pid="oops"))
    runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")
    assert runtime.listed_ids() == []


@pytest.mark.parametrize("edit", [
    lambda config: config.update(hooks=["x"]),
    lambda config: config.update(process=[1]),
    lambda config: config["process"].update(capabilities=[1]),
], ids=["hooks-list", "process-list", "capabilities-list"])
def test_edited_config_in_the_state(runtime: Runtime, bundle: Bundle, edit: Tamper) -> None:
    """The state's copy of config.json, edited where the verbs read it
    (exec --cap was an AttributeError): a clear error; delete --force
    still removes the container."""
    cid, pid = created(runtime, bundle)
    rewrite(runtime, cid, lambda data: edit(data["config"]))
    for verb in (["start", cid], ["exec", "--cap", "CAP_KILL", cid, "true"], ["state", cid]):
        # runc's exit status for any exec failure is 255.
        assert_error(runtime(*verb), cid, "corrupt state", "config must be", status=255 if verb[0] == "exec" else 1)
    runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")
    assert runtime.listed_ids() == []


def test_exec_cap_with_an_unknown_capability_member(runtime: Runtime, bundle: Bundle) -> None:
    """create ignores unknown members of process.capabilities; exec --cap,
    which reads them back from the state, did not (TypeError)."""
    bundle.set("process.capabilities.vendorExtension", 1)
    container = runtime.create(bundle.payload("sleep", "30"))
    result = runtime("exec", "--cap", "CAP_KILL", container.cid, "/payload", "caps")
    assert result.returncode == 0 and "internal error" not in result.stderr, result
    assert container.state()["status"] == "created"


def point_at_lookalike(runtime: Runtime, cid: str, fake: Path, pid: int | None) -> list[str]:
    """Edit the state to say pyrunc made the container's cgroup as
    directories under fake (listing pid as their process, if given);
    returns them."""
    made: list[str] = []

    def edit(data: dict[str, Any]) -> None:
        paths = {name: f"{fake}/{name}/{cid}" for name in data["cgroup"]["paths"]}
        made.extend(sorted(paths.values()))
        for path in paths.values():
            Path(path).mkdir(parents=True)
            for name in ("cgroup.procs", "tasks") if pid is not None else ():
                Path(path, name).write_text(f"{pid}\n")
        data["cgroup"].update(root=str(fake), paths=paths, created=made)
    rewrite(runtime, cid, edit)
    return made


@pytest.mark.parametrize("verb", [["delete"], ["kill", "--all"], ["delete", "--force"]])
def test_an_edited_cgroup_state_cannot_reach_host_processes(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                                              verb: list[str]) -> None:
    """A state whose cgroup is a directory of lookalike files (say, in a
    --root others can write to) listing a host process: refused as corrupt,
    and the process and the directory stay.  delete --force removes the
    container by what it can identify: its init, and its cgroup in the
    default place named after its id."""
    cid, pid = created(runtime, bundle)
    original = state_file(runtime, cid).read_text()
    victim = subprocess.Popen(["sleep", "300"])
    fake = tmp_path / "cgroup"
    try:
        made = point_at_lookalike(runtime, cid, fake, victim.pid)
        # The launcher's C path leaves it to the Python CLI (125: declined).
        only_c = {**os.environ, "PYRUNC_FAST_PATH": "only"}
        assert runtime(*verb, cid, env=only_c).returncode == 125
        result = runtime(*verb, cid)
        if verb == ["delete", "--force"]:
            result.ok()
            poll(lambda: not process_alive(pid), 5, "the init to die")
        else:
            assert_error(result, "corrupt state", "cgroup must be a saved cgroup")
        assert victim.poll() is None
        assert all(Path(path, "cgroup.procs").is_file() for path in made)
    finally:
        victim.kill()
        victim.wait()
        if state_file(runtime, cid).exists():
            state_file(runtime, cid).write_text(original)
            runtime("delete", "--force", cid).ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")


def test_the_launcher_leaves_an_edited_cgroup_state_to_the_cli(runtime: Runtime, bundle: Bundle,
                                                               tmp_path: Path) -> None:
    """A stopped container whose state names empty lookalike directories as
    the cgroups pyrunc made: the launcher's delete would remove them; it
    declines (125), and the CLI refuses the state."""
    cid, pid = created(runtime, bundle)
    runtime("kill", cid, "KILL").ok()
    poll(lambda: not process_alive(pid), 5, "the init to die")
    original = state_file(runtime, cid).read_text()
    fake = tmp_path / "cgroup"
    try:
        made = point_at_lookalike(runtime, cid, fake, None)
        only_c = {**os.environ, "PYRUNC_FAST_PATH": "only"}
        assert runtime("delete", cid, env=only_c).returncode == 125
        assert_error(runtime("delete", cid), "corrupt state", "cgroup must be a saved cgroup")
        assert all(Path(path).is_dir() for path in made)
    finally:
        state_file(runtime, cid).write_text(original)
    runtime("delete", cid).ok()
