"""pyrunc SIGKILLed at seeded random moments of `create`, `run`, `start`,
`exec` and `delete`: the id must never be bricked.  Afterwards `list` and
`state` answer (a half-made container listed as `unknown`), `delete
--force` removes everything (state, cgroup, mount, process, an init
waiting on its fifo), and `create` with the same id and pid file works
(faults.py has the trial; soak.py runs it hundreds of times).

PYRUNC_FAULT_KILLS sets the kills per verb (default 8)."""
from __future__ import annotations

import os
import random

import pytest

from cgroup_sandbox import CgroupSandbox, sandbox  # noqa: F401 (a fixture)
from faults import VERBS, kill_trials
from harness import Bundle, Runtime

KILLS = int(os.environ.get("PYRUNC_FAULT_KILLS", "8"))
SEED = 20261202


@pytest.mark.parametrize("verb", VERBS)
def test_killed_mid_verb_leaves_a_removable_id(runtime: Runtime, bundle: Bundle, verb: str) -> None:
    rng = random.Random(f"{SEED}-{verb}")
    clean, problems = kill_trials(runtime, verb, bundle.payload("sleep", "30"), KILLS, rng)
    assert not problems, "\n".join(problems)
    assert clean == KILLS


@pytest.mark.parametrize("verb", ["create", "run"])
def test_killed_create_leaves_no_custom_cgroup(runtime: Runtime, bundle: Bundle, sandbox: CgroupSandbox,
                                               verb: str) -> None:
    """A cgroupsPath of the config's (not named after the id) is found by
    delete -f through the record create writes before making it.  (The
    sandbox takes down whatever a failure leaves there.)"""
    rng = random.Random(f"{SEED}-cgroup-{verb}")
    clean, problems = kill_trials(runtime, verb, bundle.payload("sleep", "30"), KILLS, rng, sandbox.path())
    assert not problems, "\n".join(problems)
    assert clean == KILLS
