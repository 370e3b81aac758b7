"""pyrunc ps: the processes of a container, as a ps table or a JSON list of pids."""
from __future__ import annotations

import sys

from .. import jsonio
from ..errors import PyruncError
from ..resources import container_pids, ps_table, run_ps
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--format table|json] CONTAINER_ID [ps options]"
ARGS = (1, None)
REORDER = False     # what follows the id is for ps(1)
OPTIONS = [Opt("format", ("f",), True, help="table (the host's ps, default -ef) or json (host pids)")]


def run(parsed: Parsed, context: object) -> int:
    container_id, ps_args = parsed.positionals[0], parsed.positionals[1:]
    form = parsed.value("format", "table")
    if form not in ("table", "json"):
        raise PyruncError("invalid format option")
    pids = container_pids(StateStore(context.root), container_id)  # type: ignore[attr-defined]
    # runc prints null for a container without processes (a nil Go slice).
    sys.stdout.write(jsonio.dumps(pids or None) + "\n" if form == "json" else ps_table(run_ps(ps_args), pids))
    return 0
