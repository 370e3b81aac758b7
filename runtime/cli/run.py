"""pyrunc run: create and start a container, and by default wait for it."""
from __future__ import annotations

from .. import container
from ..state import StateStore
from .args import Opt, Parsed
from .create import OPTIONS as CREATE_OPTIONS, create_options

SYNOPSIS = "[options] CONTAINER_ID"
ARGS = (1, 1)
OPTIONS = CREATE_OPTIONS + [
    Opt("detach", ("d",), help="do not wait for the container"),
    Opt("keep", help="do not delete the container after it exits"),
    Opt("no-subreaper", help="accepted for runc compatibility"),
]


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    return container.run(StateStore(context.root), container_id,  # type: ignore[attr-defined]
                         create_options(parsed, context), detach=parsed.flag("detach"),
                         keep=parsed.flag("keep"))
