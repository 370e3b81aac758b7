#!/usr/bin/env python3
"""Soak pyrunc with fuzzed input, kills and races (not a test).

    .venv/bin/python spec-tests/soak.py [--count 100000] [--kills 500]
        [--races 50] [--parallel 50 --rounds 5] [--seed 1]

Configs and state files: mutates real configs (spec-tests/fuzzing.py)
and checks each in-process, as the fuzz tests do: the bounded parser,
validate, and create's parse, plan and encoding; then tampered state
files through `state` and `list`.
Kills (as root): pyrunc SIGKILLed at random moments of create, run,
start, exec and delete, then list, state and delete --force checked and
the machine audited (spec-tests/faults.py); --kills is the total, spread
over the verbs and a custom cgroupsPath.
Races (as root): two verbs on one id at random offsets, and --parallel
lifecycles at once for --rounds rounds (spec-tests/concurrency.py).
Prints, per area, how many were tried, how many were clean and how many
were defects, with the first few defects.  Exit status 1 when there was
any defect.  A size of 0 skips its area.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzing  # noqa: E402

from pyrunc.runtime import container, state  # noqa: E402
from pyrunc.runtime.errors import PyruncError  # noqa: E402

SAMPLE_STATE = {
    "ociVersion": "1.2.0", "id": "c", "pid": 1, "pidStartTime": 1, "bundle": "/b", "rootfs": "/b/rootfs",
    "created": "2026-01-01T00:00:00.000000000Z", "owner": "", "annotations": {"a": "b"},
    "cgroup": None, "config": {"ociVersion": "1.2.0", "root": {"path": "rootfs"}},
}


def check_state(root: str, document: bytes) -> str:
    with open(os.path.join(root, "c", "state.json"), "wb") as f:
        f.write(document)
    store = state.StateStore(root)
    try:
        container.container_state(store, "c")
    except PyruncError:
        pass
    except Exception as exc:    # noqa: BLE001 - what we look for
        return f"defect: state: internal error {type(exc).__name__}: {exc}"
    try:
        listed = [c["id"] for c in container.list_containers(store)]
    except Exception as exc:    # noqa: BLE001
        return f"defect: list: {type(exc).__name__}: {exc}"
    return "clean" if listed == ["c"] else f"defect: list shows {listed}"


class Tally:
    """tried / defects per area, and the first few defects."""

    def __init__(self) -> None:
        self.tried: collections.Counter[str] = collections.Counter()
        self.defects: collections.Counter[str] = collections.Counter()
        self.examples: list[str] = []

    def add(self, key: str, tried: int, problems: list[str], clean: int | None = None) -> None:
        """`clean` when a trial can find several problems; else one per defect."""
        self.tried[key] += tried
        self.defects[key] += tried - clean if clean is not None else len(problems)
        self.examples += [f"{key}: {p[:300]}" for p in problems[:max(0, 20 - len(self.examples))]]

    def flag(self, key: str, problems: list[str]) -> None:
        """What an area left behind, found by its audit: one defect more."""
        if problems:
            self.defects[key] += 1
            self.examples += [f"{key}: left {p[:300]}" for p in problems[:3]]

    def report(self, started: float, seed: int) -> int:
        print(f"{'area':<30}{'tried':>9}{'clean':>9}{'defects':>9}")
        for key in sorted(self.tried):
            print(f"{key:<30}{self.tried[key]:>9}{self.tried[key] - self.defects[key]:>9}{self.defects[key]:>9}")
        total, bad = sum(self.tried.values()), sum(self.defects.values())
        print(f"{'total':<30}{total:>9}{total - bad:>9}{bad:>9}   ({time.monotonic() - started:.0f} s, seed {seed})")
        for example in self.examples:
            print(example)
        return 1 if bad else 0


def soak_inputs(tally: Tally, rng: random.Random, count: int) -> None:
    areas = sorted(fuzzing.MUTATIONS) + list(fuzzing.TEXT_AREAS)
    with tempfile.TemporaryDirectory() as scratch:
        bundle = os.path.join(scratch, "bundle")
        os.makedirs(os.path.join(bundle, "rootfs"))
        root = os.path.join(scratch, "root")
        os.makedirs(os.path.join(root, "c"))
        for i in range(count + count // 10):
            area = rng.choice(areas)
            if i < count:
                key = f"config/{area}"
                verdict = fuzzing.check(fuzzing.mutate_document(rng.choice(fuzzing.seeds()), rng, area), bundle)
            else:
                area = rng.choice(fuzzing.STATE_AREAS)
                key = f"state/{area}"
                verdict = check_state(root, fuzzing.mutate_document(SAMPLE_STATE, rng, area))
            tally.add(key, 1, [verdict] if verdict.startswith("defect") else [])


def soak_containers(tally: Tally, rng: random.Random, kills: int, races: int, parallel: int,
                    rounds: int) -> None:
    """Kills, races and parallel lifecycles on real containers, each area
    in a fresh --root, audited when it is done (anything left is a defect
    of the area's)."""
    import concurrency
    import faults
    from harness import Bundle, Runtime, build_rootfs

    if os.geteuid() != 0:
        raise SystemExit("kills and races run real containers: run as root, or pass --kills 0 --races 0 --parallel 0")
    build_rootfs()
    kinds = [(verb, "") for verb in faults.VERBS] + [("create", "cgroupsPath")]

    def area(name: str, work: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="pyrunc-soak-") as base:
            scratch = Path(base) / "scratch"
            scratch.mkdir()
            runtime = Runtime(Path(base) / "root", scratch, "soak")
            bundle = Bundle(Path(base) / "bundle").payload("sleep", "30")
            try:
                work(runtime, bundle)
            finally:
                tally.flag(name, runtime.cleanup(Path(base)))

    for index, (verb, variant) in enumerate(kinds):
        share = kills // len(kinds) + (index < kills % len(kinds))
        name = f"kill/{verb}{f' ({variant})' if variant else ''}"
        if share:
            def kill(runtime: Any, bundle: Any, verb: str = verb, variant: str = variant, share: int = share,
                     name: str = name) -> None:
                parent = f"/pyrunc-soak-{os.getpid()}" if variant else ""
                clean, problems = faults.kill_trials(runtime, verb, bundle, share, rng, parent)
                tally.add(name, share, problems, clean)
            area(name, kill)
    for kind in concurrency.RACES if races else ():
        def race(runtime: Any, bundle: Any, kind: str = kind) -> None:
            found = [concurrency.race(runtime, bundle, kind, rng) for _ in range(races)]
            tally.add(f"race/{kind}", races, [p for f in found for p in f], sum(not f for f in found))
        area(f"race/{kind}", race)
    if parallel and rounds:
        def lifecycles(runtime: Any, bundle: Any) -> None:
            clean, problems = concurrency.parallel_lifecycles(runtime, bundle, parallel, rounds)
            tally.add(f"parallel/{parallel} at once", parallel * rounds, problems, clean)
        area(f"parallel/{parallel} at once", lifecycles)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="configs to try (and a tenth as many states)")
    parser.add_argument("--kills", type=int, default=500, help="kills in all, spread over the verbs")
    parser.add_argument("--races", type=int, default=50, help="runs of each race on one id")
    parser.add_argument("--parallel", type=int, default=50, help="lifecycles at once")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of parallel lifecycles")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally()
    started = time.monotonic()
    if args.kills or args.races or args.parallel:
        soak_containers(tally, rng, args.kills, args.races, args.parallel, args.rounds)
    soak_inputs(tally, rng, args.count)
    return tally.report(started, args.seed)


if __name__ == "__main__":
    sys.exit(main())
