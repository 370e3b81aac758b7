"""pyrunc list: the containers under --root, as runc's table or JSON."""
from __future__ import annotations

import sys

from .. import jsonio
from ..container import list_containers
from ..errors import PyruncError
from ..state import StateStore
from .args import Opt, Parsed

SYNOPSIS = "[--format table|json] [--quiet]"
ARGS = (0, 0)
OPTIONS = [
    Opt("format", ("f",), True, help="table or json"),
    Opt("quiet", ("q",), help="print only container ids"),
]

COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def table(rows: list[list[str]]) -> str:
    """Left-aligned columns as runc's Go tabwriter lays them out
    (minimum width 12, padding 3)."""
    widths = [max(max(len(row[i]) for row in rows) + 3, 12) for i in range(len(rows[0]))]
    lines = ["".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + row[-1]
             for row in rows]
    return "\n".join(lines) + "\n"


def run(parsed: Parsed, context: object) -> int:
    # In runc's order: the containers, then --quiet, which ignores --format.
    containers = list_containers(StateStore(context.root))  # type: ignore[attr-defined]
    fmt = parsed.value("format", "table")
    if parsed.flag("quiet"):
        sys.stdout.write("".join(c["id"] + "\n" for c in containers))
    elif fmt not in ("table", "json"):
        raise PyruncError(f"invalid format {fmt!r}: use table or json")
    elif fmt == "json":
        sys.stdout.write(jsonio.dumps(containers) + "\n")
    else:
        rows = [list(COLUMNS)] + [[c["id"], str(c["pid"]), c["status"], c["bundle"], c["created"],
                                   c["owner"]] for c in containers]
        sys.stdout.write(table(rows))
    return 0
