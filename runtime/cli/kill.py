"""pyrunc kill: send a signal to a container's init (or all its processes)."""
from __future__ import annotations

from ..container import kill, parse_signal
from ..errors import PyruncError
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--all] CONTAINER_ID [SIGNAL]"
ARGS = (1, 2)
OPTIONS = [Opt("all", ("a",), help="signal every process in the container's cgroup")]


def run(parsed: Parsed, context: object) -> int:
    container_id = parsed.positionals[0]
    store = StateStore(context.root)  # type: ignore[attr-defined]
    try:
        # An empty signal is the default too, as runc's.
        sig = parse_signal((parsed.positionals[1:] or [""])[0] or "SIGTERM")
    except PyruncError:
        store.load(container_id)    # runc reports a missing container first
        raise
    kill(store, container_id, sig, all_processes=parsed.flag("all"))
    return 0
