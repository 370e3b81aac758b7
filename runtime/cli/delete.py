"""pyrunc delete: remove a stopped (or, with --force, any) container."""
from __future__ import annotations

from ..container import delete
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--force] CONTAINER_ID"
ARGS = (1, 1)
OPTIONS = [Opt("force", ("f",), help="kill the container first if it is running")]


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    delete(StateStore(context.root), container_id, force=parsed.flag("force"))  # type: ignore[attr-defined]
    return 0
