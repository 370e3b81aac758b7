"""pyrunc spec: write a default config.json (runc's defaults)."""
from __future__ import annotations

import json
import os

from ..default_spec import default_config
from ..errors import PyruncError, from_os_error
from .args import Opt, Parsed

SYNOPSIS = "[--bundle DIR] [--rootless]"
ARGS = (0, 0)
OPTIONS = [
    Opt("bundle", ("b",), True, help="directory to write config.json in"),
    Opt("rootless", help="a config for running as an unprivileged user"),
]


def run(parsed: Parsed, context: object) -> int:
    path = os.path.join(parsed.value("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise PyruncError(f"File {path} exists. Remove it first")
    text = json.dumps(default_config(rootless=parsed.flag("rootless")), indent="\t")
    try:
        with open(path, "x") as f:
            f.write(text)
    except OSError as exc:
        raise from_os_error(f"write {path}", exc) from None
    return 0
