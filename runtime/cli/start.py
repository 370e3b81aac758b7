"""pyrunc start: let a created container run its program."""
from __future__ import annotations

from ..container import start
from ..state import StateStore
from .args import Opt, Parsed, exactly

SYNOPSIS = "CONTAINER_ID"
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = exactly(parsed, 1, SYNOPSIS)
    start(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    return 0
