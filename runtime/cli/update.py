"""pyrunc update: change the resource limits of a running container."""
from __future__ import annotations

from ..resources import FLAG_ALIASES, UPDATE_FLAGS, check_rdt, read_resources, resources_from_flags, update
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[options] CONTAINER_ID"
ARGS = (1, 1)
OPTIONS = [
    Opt("resources", ("r",), True, help="a file with a linux.resources JSON object, or - for stdin "
                                        "(the other flags are then ignored, as by runc)"),
    *(Opt(flag, FLAG_ALIASES.get(flag, ()), True, help=text) for flag, _, _, _, text in UPDATE_FLAGS),
    Opt("l3-cache-schema", takes_value=True, help="Intel RDT L3 cache schema (not supported)"),
    Opt("mem-bw-schema", takes_value=True, help="Intel RDT memory bandwidth schema (not supported)"),
]


def run(parsed: Parsed, context: object) -> int:
    (container_id,) = parsed.positionals
    source = parsed.value("resources")
    if source:
        resources = read_resources(source)
    else:
        resources = resources_from_flags({flag[0]: parsed.value(flag[0]) for flag in UPDATE_FLAGS})
    check_rdt(parsed.value("l3-cache-schema"), parsed.value("mem-bw-schema"))
    update(StateStore(context.root), container_id, resources)  # type: ignore[attr-defined]
    return 0
