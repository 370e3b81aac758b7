"""Parallel use of one --root, shared by test_concurrency.py and soak.py:
many containers' lifecycles at once, and two verbs racing on one id.
Each call either succeeds or fails with exit status 1 and one clean line;
a race has exactly the winners it may have; afterwards nothing is left
(faults.leftovers_of)."""
from __future__ import annotations

import json
import random
import subprocess
import threading
import time

from faults import leftovers_of, one_clean_line
from harness import Bundle, Invocation, Result, Runtime, poll


def worker_runtime(runtime: Runtime, name: str) -> Runtime:
    """A Runtime on the same --root with a scratch directory of its own:
    one per thread, as Runtime's call counter is not shared safely."""
    scratch = runtime.scratch / name
    scratch.mkdir(exist_ok=True)
    worker = Runtime(runtime.root, scratch, name)
    worker.prefix = f"{runtime.prefix}-{name}"
    return worker


def lifecycle(runtime: Runtime, work: Bundle) -> list[str]:
    """create, start, kill, wait for the exit, delete: each must succeed.
    (The bundle is written once, before the threads start.)"""
    cid = runtime.new_id()
    steps = [("create", "--bundle", str(work.path), cid), ("start", cid), ("kill", cid, "KILL")]
    for argv in steps:
        result = runtime(*argv)
        if result.returncode != 0:
            runtime("delete", "--force", cid)
            return [f"{argv[0]} {cid}: {result.stderr.strip()[-300:]}"]
    try:
        poll(lambda: runtime("state", cid).json()["status"] == "stopped", 20, f"{cid} to stop")
    except AssertionError as exc:
        runtime("delete", "--force", cid)
        return [str(exc)]
    result = runtime("delete", cid)
    return [] if result.returncode == 0 else [f"delete {cid}: {result.stderr.strip()[-300:]}"]


def parallel_lifecycles(runtime: Runtime, work: Bundle, count: int, rounds: int) -> tuple[int, list[str]]:
    """`count` lifecycles at once, `rounds` times; (clean ones, problems)."""
    workers = [worker_runtime(runtime, f"w{i}") for i in range(count)]
    work.write()
    clean, problems = 0, []
    for _ in range(rounds):
        found: list[list[str]] = [[] for _ in workers]

        def run(index: int) -> None:
            found[index] = lifecycle(workers[index], work)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clean += sum(not f for f in found)
        problems += [p for f in found for p in f]
    runtime.ids += [cid for worker in workers for cid in worker.ids]     # for the audit
    listed = runtime("list", "--format", "json")
    if listed.returncode != 0 or json.loads(listed.stdout or "null"):
        problems.append(f"list after the rounds: {listed!r}")
    return clean, problems


# ---- two verbs on one id ---------------------------------------------------------

def together(runtime: Runtime, first: tuple[str, ...], second: tuple[str, ...], lag: float) -> list[Result]:
    """Start the second call `lag` seconds after the first, before waiting for either."""
    started: list[tuple[subprocess.Popen[bytes], Invocation]] = [runtime.spawn(*first)]
    time.sleep(lag)
    started.append(runtime.spawn(*second))
    return [call.result(proc.wait(60)) for proc, call in started]


def verdicts(results: list[Result]) -> list[str]:
    """Each call: 'ok', or its one clean error line (else a problem)."""
    found = []
    for result in results:
        if result.returncode == 0:
            found.append("ok")
        elif result.returncode == 1 and one_clean_line(result):
            found.append(result.stderr.strip())
        else:
            found.append(f"problem: exit {result.returncode}: {result.stderr[-500:]!r}")
    return found


def status(runtime: Runtime, cid: str) -> str:
    result = runtime("state", cid)
    return json.loads(result.stdout)["status"] if result.returncode == 0 else "gone"


def race(runtime: Runtime, work: Bundle, kind: str, rng: random.Random) -> list[str]:
    """One race of `kind` (see RACES) on a fresh id, the second call a
    random moment after the first (their steps meet anywhere); its problems."""
    cid = runtime.new_id()
    bundle_args = runtime._bundle_args(work)
    if not kind.startswith("create"):
        runtime("create", *bundle_args, cid).ok()
    if kind in ("kill+delete", "delete+delete"):
        runtime("start", cid).ok()
    init = [] if kind.startswith("create") else [int(runtime("state", cid).json()["pid"])]
    argvs = {
        "create+create": [("create", *bundle_args, cid)] * 2,
        "start+start": [("start", cid)] * 2,
        "start+delete": [("start", cid), ("delete", cid)],
        "kill+delete": [("kill", cid, "KILL"), ("delete", "--force", cid)],
        "create+delete": [("create", *bundle_args, cid), ("delete", "--force", cid)],
        "delete+delete": [("delete", "--force", cid)] * 2,
    }[kind]
    results = verdicts(together(runtime, *argvs, lag=rng.uniform(0, 0.15)))
    problems = [f"{kind}: {v}" for v in results if v.startswith("problem")]
    now = status(runtime, cid)
    winners = results.count("ok")
    expected = {
        # Exactly one of each pair, and the container is as the winner left it.
        "create+create": (winners == 1 and now == "created", "already exists"),
        "start+start": (winners == 1 and now == "running", "cannot start an already running container"),
        "start+delete": (winners == 1 and now == ("gone" if results[1] == "ok" else "running"), ""),
        # delete --force always wins; kill may or may not find the container.
        "kill+delete": (results[1] == "ok" and now == "gone", ""),
        # delete --force always succeeds: before the create (which makes a
        # whole container), after it, or (rarely) between its mkdir and its
        # lock, when the create fails and nothing is made.
        "create+delete": (results[1] == "ok" and now in (("gone", "created") if results[0] == "ok" else ("gone",)),
                          ""),
        "delete+delete": (winners == 2 and now == "gone", ""),
    }[kind]
    if not expected[0]:
        problems.append(f"{kind}: {results} and then {now}")
    losers = [v for v in results if v != "ok" and not v.startswith("problem")]
    if expected[1] and any(expected[1] not in v for v in losers):
        problems.append(f"{kind}: the loser's error is not runc's: {losers}")
    runtime("delete", "--force", cid)
    try:
        poll(lambda: not leftovers_of(runtime, cid, init, work), 3, "nothing left")
    except AssertionError:
        problems += [f"{kind}: {p}" for p in leftovers_of(runtime, cid, init, work)]
    return problems


RACES = ("create+create", "start+start", "start+delete", "kill+delete", "create+delete", "delete+delete")
