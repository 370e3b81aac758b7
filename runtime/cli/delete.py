"""pyrunc delete: remove a stopped (or, with --force, any) container."""
from __future__ import annotations

from ..container import delete
from ..state import StateStore
from .args import Opt, Parsed, exactly

SYNOPSIS = "[--force] CONTAINER_ID"
OPTIONS = [Opt("force", ("f",), help="kill the container first if it is running")]


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = exactly(parsed, 1, SYNOPSIS)
    delete(StateStore(context.root), container_id, force=parsed.flag("force"))  # type: ignore[attr-defined]
    return 0
