"""pyrunc events: stats every interval and OOM notifications, one JSON
object a line (runc's envelope), until the container stops."""
from __future__ import annotations

import os

from .. import jsonio
from ..errors import PyruncError
from ..resources import SignalStop, events, parse_duration
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--stats] [--interval DURATION] CONTAINER_ID"
ARGS = (1, 1)
OPTIONS = [
    Opt("interval", takes_value=True, help="how often to report stats, a Go duration (default 5s)"),
    Opt("stats", help="print the container's stats once and exit"),
]


def emit(event: dict) -> None:
    # Straight to the fd: one line per event, visible at once through a pipe.
    data = (jsonio.dumps(event) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    text = parsed.value("interval", "5s") or ""
    try:
        interval = parse_duration(text)
    except ValueError as exc:
        raise PyruncError(f'invalid value "{text}" for flag -interval: {exc}') from None
    store = StateStore(context.root)  # type: ignore[attr-defined]
    import gc
    gc.enable()     # the launcher turned it off for short calls; this one runs on
    try:
        with SignalStop() as stop_fd:
            events(store, container_id, interval, emit, stats_only=parsed.flag("stats"), stop_fd=stop_fd)
    except BrokenPipeError:
        pass  # the reader went away: nobody is left to tell
    return 0
