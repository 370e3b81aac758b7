"""pyrunc pause: freeze every process of a running container."""
from __future__ import annotations

from ..resources import pause
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "CONTAINER_ID"
ARGS = (1, 1)
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    pause(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    return 0
