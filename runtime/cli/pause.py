"""pyrunc pause: freeze every process of a running container."""
from __future__ import annotations

from ..resources import pause
from ..state import StateStore
from .args import Opt, Parsed, exactly

SYNOPSIS = "CONTAINER_ID"
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = exactly(parsed, 1, SYNOPSIS)
    pause(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    return 0
