"""pyrunc SIGKILLed at seeded random moments of `create` and `run`: the id
must never be bricked.  Afterwards `list` answers (showing a half-made
container), `delete --force` removes everything, and `create` with the
same id works; the `runtime` fixture then audits that nothing remains
(state, cgroup, mount, process)."""
from __future__ import annotations

import random
import signal
import time

import pytest

from harness import Bundle, Runtime

KILLS = 20
SEED = 20261202


def kill_during(runtime: Runtime, verb: str, bundle: Bundle, cid: str, delay: float) -> None:
    proc, _ = runtime.spawn(verb, *runtime._bundle_args(bundle), cid)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("verb", ["create", "run"])
def test_killed_mid_verb_leaves_a_removable_id(runtime: Runtime, bundle: Bundle, verb: str) -> None:
    rng = random.Random(f"{SEED}-{verb}")
    work = bundle.payload("sleep", "30")
    start = time.monotonic()
    runtime.create(work).delete("--force")
    span = time.monotonic() - start       # a whole create: kills land all over it
    for attempt in range(KILLS):
        cid = runtime.new_id()
        kill_during(runtime, verb, work, cid, rng.uniform(0, span))
        listed = runtime("list", "--format", "json").ok().json() or []
        if (runtime.root / cid).exists():
            assert cid in [c["id"] for c in listed], f"attempt {attempt}: half-made {cid} not listed"
        runtime("delete", "--force", cid).ok()
        assert not (runtime.root / cid).exists(), f"attempt {attempt}: state of {cid} left by delete -f"
        runtime("create", *runtime._bundle_args(work), cid).ok()
        runtime("delete", "--force", cid).ok()
