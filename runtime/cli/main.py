"""pyrunc's entry point: global flags, then one module per verb.

Each verb module has OPTIONS, SYNOPSIS and `run(parsed, context) -> int`;
only the chosen verb's module is imported, so `state` does not pay for
what `validate` needs.
"""
from __future__ import annotations

import os
import sys
from ..errors import PyruncError, one_line
from .. import log
from .args import Opt, parse, usage

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

VERBS = ("create", "delete", "events", "exec", "features", "kill", "list", "pause", "ps", "resume", "run", "spec",
         "start", "state", "update", "validate")

GLOBAL_OPTIONS = [
    Opt("root", takes_value=True,
        help="state directory root (default /run/pyrunc, for other users $XDG_RUNTIME_DIR/pyrunc)"),
    Opt("log", takes_value=True, help="log file"),
    Opt("log-format", takes_value=True, help="text or json"),
    Opt("debug", help="log debug messages"),
    Opt("systemd-cgroup", help="use systemd to manage cgroups"),
    Opt("rootless", takes_value=True,
        help="true, false or auto (not root): skip a cgroup the user may not create"),
    Opt("criu", takes_value=True, help="accepted for runc compatibility"),
    Opt("version", ("v",), help="print the version"),
    Opt("help", ("h",), help="show this help"),
]


class Context:
    """What the global flags tell every verb."""

    def __init__(self, root: str | None, systemd_cgroup: bool, debug: bool,
                 rootless: bool = False) -> None:
        self._root, self.systemd_cgroup, self.debug = root, systemd_cgroup, debug
        self.rootless = rootless

    @property
    def root(self) -> str:
        """--root, else the default, found only when a verb needs it: `spec`
        must work for a user without a runtime directory."""
        if self._root is None:
            from ..state import default_root
            self._root = default_root(os.geteuid(), os.environ)
        return self._root


def _version() -> str:
    return f"pyrunc version {VERSION}\nspec: {SPEC_VERSION}\n"


def _help() -> str:
    return (usage("[global options]", "COMMAND [options] [arguments]", GLOBAL_OPTIONS)
            + "\ncommands: " + ", ".join(VERBS) + "\n")


def _run(argv: list[str]) -> int:
    parsed = parse(argv, GLOBAL_OPTIONS)
    log_format = parsed.value("log-format", "text")
    if log_format not in ("text", "json"):
        raise PyruncError(f"invalid log format {log_format!r}: use text or json")
    log.configure(parsed.value("log"), log_format, parsed.flag("debug"))
    if parsed.flag("version"):
        sys.stdout.write(_version())
        return 0
    if parsed.flag("help") or not parsed.positionals:
        sys.stdout.write(_help())
        return 0 if parsed.flag("help") else 1
    verb, rest = parsed.positionals[0], parsed.positionals[1:]
    if verb not in VERBS:
        raise PyruncError(f"unknown command {verb!r}")
    # __import__, not importlib.import_module: the importlib package pulls
    # in `warnings`, a cost every call would pay.
    module = __import__(f"{__package__}.{verb}", fromlist=[verb])
    verb_args = parse(rest, module.OPTIONS + [Opt("help", ("h",))])
    if verb_args.flag("help"):
        sys.stdout.write(usage(verb, module.SYNOPSIS, module.OPTIONS) + "\n")
        return 0
    from ..rootless import parse_mode
    context = Context(root=parsed.value("root") or None,
                      systemd_cgroup=parsed.flag("systemd-cgroup"), debug=parsed.flag("debug"),
                      rootless=parse_mode(parsed.value("rootless"), os.geteuid()))
    log.logger.debug(f"{verb} {' '.join(rest)}")
    return module.run(verb_args, context)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except PyruncError as exc:
        message = str(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug; still one line (the traceback only with --debug)
        if "--debug" in sys.argv:
            import traceback
            traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {exc}"
    message = one_line(message)
    log.logger.error(message)
    sys.stderr.write(f"pyrunc: {message}\n")
    return 1


def entry() -> None:
    sys.exit(main())
