"""Kill trials shared by test_faults.py and soak.py: pyrunc SIGKILLed at a
random moment of one verb (`create`, `run`, `start`, `exec`, `delete`),
then the checks an engine relies on after such a crash: `list` and
`state` answer, `delete --force` succeeds and leaves nothing (state,
cgroup, mount, process, init stuck on its fifo), and the id and the pid
file can be used again."""
from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

from harness import (ROOTFS, Bundle, Result, Runtime, cgroup_dirs, mounts_under, poll, process_alive,
                     processes_of)

VERBS = ("create", "run", "start", "exec", "delete")


def verb_argv(runtime: Runtime, verb: str, work: Bundle, cid: str, pid_file: Path,
              foreground: bool = False) -> list[str]:
    """The call to kill; the container it needs is made by prepare().
    foreground: `run` and `exec` wait for the process (else --detach)."""
    detach = [] if foreground else ["--detach"]
    if verb in ("create", "run"):
        return [verb, *runtime._bundle_args(work), "--pid-file", str(pid_file),
                *(detach if verb == "run" else []), cid]
    if verb == "start":
        return ["start", cid]
    if verb == "exec":
        return ["exec", *detach, "--pid-file", str(pid_file), cid, "/payload", "sleep", "30"]
    return ["delete", "--force", cid]


def prepare(runtime: Runtime, verb: str, work: Bundle, cid: str) -> list[int]:
    """The container `verb` acts on (none for create and run); its init's pid."""
    if verb in ("create", "run"):
        return []
    runtime("create", *runtime._bundle_args(work), cid).ok()
    if verb != "start":
        runtime("start", cid).ok()
    return [int(runtime("state", cid).json()["pid"])]


def span(runtime: Runtime, verb: str, work: Bundle, pid_file: Path) -> float:
    """How long one whole `verb` takes here: kills land all over it."""
    cid = runtime.new_id()
    prepare(runtime, verb, work, cid)
    began = time.monotonic()
    runtime(*verb_argv(runtime, verb, work, cid, pid_file)).ok()
    took = time.monotonic() - began
    runtime("delete", "--force", cid).ok()
    return took


def one_clean_line(result: Result) -> bool:
    """No output on stderr, or one `pyrunc: ...` line that is no internal error."""
    lines = result.stderr.splitlines()
    return not lines or (len(lines) == 1 and lines[0].startswith("pyrunc: ")
                         and "internal error" not in lines[0])


def leftovers_of(runtime: Runtime, cid: str, pids: list[int], work: Bundle) -> list[str]:
    """What is left of container `cid` (its init `pids` among it) on the machine."""
    problems = []
    if (runtime.root / cid).exists():
        problems.append(f"state dir {cid} left")
    problems += [f"init pid {pid} alive" for pid in pids if process_alive(pid)]
    problems += [f"process left: {p}" for p in processes_of([cid])]
    path = work.get("linux.cgroupsPath")
    # The container's cgroup and the parent made for it.
    paths = [path, path.rsplit("/", 1)[0]] if path else []
    problems += [f"cgroup left: {d}" for d in cgroup_dirs([cid], paths)]
    problems += [f"mount left: {m}" for m in mounts_under(work.path, ROOTFS.resolve())]
    return problems


def still_init(pid: int) -> bool:
    """The process has not exec'd the container's program yet."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().startswith(b"pyrunc-init")
    except OSError:
        return True     # gone: nothing runs


def kill_trial(runtime: Runtime, verb: str, work: Bundle, delay: float, cgroup_parent: str = "",
               foreground: bool = False) -> list[str]:
    """One kill of `verb` after `delay` seconds; what went wrong, if anything.
    cgroup_parent: the container's cgroupsPath is made below it (as an
    engine's are), where only pyrunc's record of it can find it."""
    cid = runtime.new_id()
    if cgroup_parent:
        work.set("linux.cgroupsPath", f"{cgroup_parent}/{cid}")
    pid_file = work.path / "container.pid"
    pids = prepare(runtime, verb, work, cid)
    proc, _ = runtime.spawn(*verb_argv(runtime, verb, work, cid, pid_file, foreground))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    problems = []
    listed = runtime("list", "--format", "json")
    if listed.returncode != 0:
        return [f"list failed after a killed {verb}: {listed!r}"]
    ids = [c["id"] for c in json.loads(listed.stdout or "null") or []]
    if (runtime.root / cid).exists() and cid not in ids:
        problems.append(f"half-made {cid} not listed")
    state = runtime("state", cid)
    if not one_clean_line(state):
        problems.append(f"state: not one clean line: {state.stderr[-500:]!r}")
    elif state.returncode == 0 and state.json()["status"] == "created" and not still_init(state.json()["pid"]):
        problems.append("state says created, but the program runs")
    deleted = runtime("delete", "--force", cid)
    if deleted.returncode != 0:
        problems.append(f"delete --force failed: {deleted.stderr.strip()[-500:]}")
    try:
        poll(lambda: not leftovers_of(runtime, cid, pids, work), 3, "nothing left")
    except AssertionError:
        problems += leftovers_of(runtime, cid, pids, work)
    if not problems:
        # The id and the pid file work again, as an engine's retry needs.
        again = runtime("create", *runtime._bundle_args(work), "--pid-file", str(pid_file), cid)
        if again.returncode != 0:
            problems.append(f"create after delete -f failed: {again.stderr.strip()[-500:]}")
        runtime("delete", "--force", cid)
    how = " (foreground)" if foreground else ""
    return [f"{verb}{how} killed after {delay * 1000:.0f} ms: {p}" for p in problems]


def kill_trials(runtime: Runtime, verb: str, work: Bundle, kills: int, rng: random.Random,
                cgroup_parent: str = "") -> tuple[int, list[str]]:
    """`kills` trials at random moments of `verb`; (clean ones, problems)."""
    pid_file = work.path / "container.pid"
    longest = span(runtime, verb, work, pid_file)
    clean, problems = 0, []
    for _ in range(kills):
        # run and exec are killed while they wait for the process too.
        foreground = verb in ("run", "exec") and rng.random() < 0.5
        found = kill_trial(runtime, verb, work, rng.uniform(0, longest), cgroup_parent, foreground)
        clean += not found
        problems += found
    return clean, problems
