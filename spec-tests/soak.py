#!/usr/bin/env python3
"""Soak the config and state parsers with fuzzed input (not a test).

    .venv/bin/python spec-tests/soak.py [--count 100000] [--seed 1]

Mutates real configs (spec-tests/fuzzing.py) and checks each in-process,
as the fuzz tests do: the bounded parser, validate, and create's parse,
plan and encoding; then tampered state files through `state` and `list`.
Prints, per area, how many inputs were tried, how many were handled
cleanly (accepted or refused with a path-named error by validate and
create alike) and how many were defects, with the first few defects.
Exit status 1 when there was any defect.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="configs to try (and a tenth as many states)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    areas = sorted(fuzzing.MUTATIONS) + list(fuzzing.TEXT_AREAS)
    tried: collections.Counter[str] = collections.Counter()
    defects: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = os.path.join(scratch, "bundle")
        os.makedirs(os.path.join(bundle, "rootfs"))
        root = os.path.join(scratch, "root")
        os.makedirs(os.path.join(root, "c"))
        for i in range(args.count + args.count // 10):
            area = rng.choice(areas)
            if i < args.count:
                key = f"config/{area}"
                verdict = fuzzing.check(fuzzing.mutate_document(rng.choice(fuzzing.seeds()), rng, area), bundle)
            else:
                area = rng.choice(fuzzing.STATE_AREAS)
                key = f"state/{area}"
                verdict = check_state(root, fuzzing.mutate_document(SAMPLE_STATE, rng, area))
            tried[key] += 1
            if verdict.startswith("defect"):
                defects[key] += 1
                if len(examples) < 20:
                    examples.append(f"{key}: {verdict[:300]}")
    print(f"{'area':<22}{'tried':>9}{'clean':>9}{'defects':>9}")
    for key in sorted(tried):
        print(f"{key:<22}{tried[key]:>9}{tried[key] - defects[key]:>9}{defects[key]:>9}")
    total, bad = sum(tried.values()), sum(defects.values())
    print(f"{'total':<22}{total:>9}{total - bad:>9}{bad:>9}   ({time.monotonic() - started:.0f} s, seed {args.seed})")
    for example in examples:
        print(example)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
