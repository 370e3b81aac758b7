"""pyrunc kill: send a signal to a container's init (or all its processes)."""
from __future__ import annotations

from ..container import kill, parse_signal
from ..errors import PyruncError
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--all] CONTAINER_ID [SIGNAL]"
OPTIONS = [Opt("all", ("a",), help="signal every process in the container's cgroup")]


def run(parsed: Parsed, context: object) -> int:
    if not 1 <= len(parsed.positionals) <= 2:
        raise PyruncError(f"expected {SYNOPSIS}")
    container_id = parsed.positionals[0]
    sig = parse_signal(parsed.positionals[1] if len(parsed.positionals) == 2 else "SIGTERM")
    kill(StateStore(context.root), container_id, sig, all_processes=parsed.flag("all"))  # type: ignore[attr-defined]
    return 0
