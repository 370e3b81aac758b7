"""pyrunc state: print the OCI state of a container as JSON."""
from __future__ import annotations

import sys

from .. import jsonio
from ..container import container_state
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "CONTAINER_ID"
ARGS = (1, 1)
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    state = container_state(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    sys.stdout.write(jsonio.dumps(state, indent=2) + "\n")
    return 0
