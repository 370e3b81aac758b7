"""Parallel use of one --root: many containers' lifecycles at once, and
two verbs racing on one id (two creates, two starts, a delete during a
start, a kill during a delete).  Exactly one winner where there can be
only one, runc's one-line error for the loser, no corruption, nothing
left (concurrency.py has the checks; soak.py runs them longer).

PYRUNC_PARALLEL sets the containers at once (default 50),
PYRUNC_PARALLEL_ROUNDS the rounds (default 2) and PYRUNC_RACES how often
each race is run (default 8)."""
from __future__ import annotations

import os
import random

import pytest

from concurrency import RACES, parallel_lifecycles, race
from harness import Bundle, Runtime

PARALLEL = int(os.environ.get("PYRUNC_PARALLEL", "50"))
ROUNDS = int(os.environ.get("PYRUNC_PARALLEL_ROUNDS", "2"))
RACE_ROUNDS = int(os.environ.get("PYRUNC_RACES", "8"))


def test_parallel_lifecycles(runtime: Runtime, bundle: Bundle) -> None:
    clean, problems = parallel_lifecycles(runtime, bundle.payload("sleep", "30"), PARALLEL, ROUNDS)
    assert not problems, "\n".join(problems[:20])
    assert clean == PARALLEL * ROUNDS


@pytest.mark.parametrize("kind", RACES)
def test_race_on_one_id(runtime: Runtime, bundle: Bundle, kind: str) -> None:
    work = bundle.payload("sleep", "30")
    rng = random.Random(f"20261203-{kind}")
    problems = [p for _ in range(RACE_ROUNDS) for p in race(runtime, work, kind, rng)]
    assert not problems, "\n".join(problems[:20])
