"""pyrunc features: what this runtime supports, as the runtime-spec's
features JSON document."""
from __future__ import annotations

import sys

from .. import jsonio
from ..features import features
from .args import Opt, Parsed

SYNOPSIS = ""
ARGS = (0, 0)
OPTIONS: list[Opt] = []


def run(parsed: Parsed, context: object) -> int:
    sys.stdout.write(jsonio.dumps(features(), indent=4) + "\n")
    return 0
