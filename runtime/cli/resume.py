"""pyrunc resume: thaw a paused container."""
from __future__ import annotations

from ..resources import resume
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "CONTAINER_ID"
ARGS = (1, 1)
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    resume(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    return 0
