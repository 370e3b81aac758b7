"""pyrunc validate: check a bundle's config.json against the runtime-spec
schema and our semantic rules; print every problem with its JSON path."""
from __future__ import annotations

import os
import sys

from .. import jsonio
from ..errors import PyruncError, one_line
from ..validate import validate_config
from .args import Opt, Parsed

SYNOPSIS = "[--bundle DIR]"
ARGS = (0, 0)
OPTIONS = [Opt("bundle", ("b",), True, help="bundle directory (default: current directory)")]


def run(parsed: Parsed, context: object) -> int:
    bundle = os.path.abspath(parsed.value("bundle") or ".")
    path = os.path.join(bundle, "config.json")
    config = jsonio.read_file(path, PyruncError)
    problems = validate_config(config, bundle)
    for problem in problems:
        sys.stdout.write(f"{one_line(str(problem))}\n")
    if problems:
        raise PyruncError(f"{path}: {len(problems)} problem(s) found")
    sys.stdout.write(f"{path}: valid\n")
    return 0
