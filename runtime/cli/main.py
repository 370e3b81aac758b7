"""pyrunc's entry point: global flags, then one module per verb.

Each verb module has OPTIONS, SYNOPSIS, ARGS (runc's bounds on the number
of arguments: (low, high), high None for no bound) and
`run(parsed, context) -> int`; optionally REORDER = False (flags end at the
container id, as runc's exec and ps) and FAILURE_STATUS (runc's exec exits
255 when it cannot run the process).  Only the chosen verb's module is
imported, so `state` does not pay for what `validate` needs.
"""
from __future__ import annotations

import errno
import os
import sys
from ..errors import PyruncError, one_line
from .. import log, trace
from .args import Opt, check_count, columns, help_text, option_rows, parse

# The interpreter's start-up and the CLI's own modules end here.
trace.mark("interpreter")

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

VERBS = ("create", "delete", "events", "exec", "features", "kill", "list", "pause", "ps", "resume", "run", "spec",
         "start", "state", "update", "validate")
HELP_VERBS = ("help", "h")
HELP_SUMMARY = "Shows a list of commands or help for one command"

# runc's status for a command that does not exist (urfave/cli's help topic error).
UNKNOWN_COMMAND_STATUS = 3

HELP_OPTION = Opt("help", ("h",), help="show help")
GLOBAL_OPTIONS = [
    Opt("debug", help="enable debug logging"),
    Opt("log", takes_value=True, help="set the log file to write pyrunc logs to (default is stderr)"),
    Opt("log-format", takes_value=True, help="set the log format ('text' (default), or 'json')"),
    Opt("root", takes_value=True,
        help="root directory for storage of container state (default /run/pyrunc, for other users "
             "$XDG_RUNTIME_DIR/pyrunc)"),
    Opt("criu", takes_value=True, help="accepted for runc compatibility"),
    Opt("systemd-cgroup", help="use systemd to manage cgroups"),
    Opt("rootless", takes_value=True,
        help="true, false or auto (not root): skip a cgroup the user may not create"),
    HELP_OPTION,
    Opt("version", ("v",), help="print the version"),
]


class Failure(PyruncError):
    """An error that exits with another status than 1, as runc's does."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Context:
    """What the global flags tell every verb."""

    def __init__(self, root: str | None, systemd_cgroup: bool, debug: bool,
                 rootless: str | None = None) -> None:
        self._root, self.systemd_cgroup, self.debug = root, systemd_cgroup, debug
        self._rootless = rootless

    @property
    def rootless(self) -> bool:
        """--rootless, checked only when a verb needs it, as runc does
        (`--rootless maybe list` works)."""
        from ..rootless import parse_mode
        return parse_mode(self._rootless, os.geteuid())

    @property
    def root(self) -> str:
        """--root, else the default, found only when a verb needs it: `spec`
        must work for a user without a runtime directory."""
        if self._root is None:
            from ..state import default_root
            self._root = default_root(os.geteuid(), os.environ)
        return self._root


def _commit() -> str:
    """The source commit recorded at build time (tools such as `docker info`
    read the `commit:` line); the version when the build had no git."""
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "COMMIT")) as f:
            return f.read().strip() or VERSION
    except OSError:
        return VERSION


def _version() -> str:
    import platform
    return (f"pyrunc version {VERSION}\ncommit: {_commit()}\nspec: {SPEC_VERSION}\n"
            f"python: {platform.python_version()}\n")


def _import(verb: str) -> object:
    # __import__, not importlib.import_module: the importlib package pulls
    # in `warnings`, a cost every call would pay.
    return __import__(f"{__package__}.{verb}", fromlist=[verb])


def _summary(module: object) -> str:
    """A verb's one-line description: its module docstring's first paragraph."""
    first = (module.__doc__ or "").split("\n\n")[0]
    return " ".join(first.split()).split(": ", 1)[-1].rstrip(".")


def _help() -> str:
    commands = [(verb, _summary(_import(verb))) for verb in VERBS]
    commands.append((", ".join(HELP_VERBS), HELP_SUMMARY))
    # As runc's: the version, then the other lines of --version.
    more = _version().split("\n", 1)[1]
    sections = (("VERSION", f"   {VERSION}\n{more}"), ("COMMANDS", columns(commands)),
                ("GLOBAL OPTIONS", columns(option_rows(GLOBAL_OPTIONS))))
    return help_text("pyrunc", "Open Container Initiative runtime",
                     "pyrunc [global options] command [command options] [arguments...]", [], sections)


def _verb_help(verb: str) -> str:
    module = _import(verb)
    # Without --help among the options, as runc's.
    return help_text(f"pyrunc {verb}", _summary(module), f"pyrunc {verb} {module.SYNOPSIS}".rstrip(),
                     module.OPTIONS)


def _help_command(argv: list[str]) -> int:
    """`pyrunc help [COMMAND]`, a command with flags of its own (-h) as runc's."""
    parsed = parse(argv, [HELP_OPTION], reorder_flags=True)
    if parsed.flag("help"):
        sys.stdout.write(help_text("pyrunc help", HELP_SUMMARY, "pyrunc help [command]", []))
        return 0
    topics = parsed.positionals
    if not topics or not topics[0]:
        sys.stdout.write(_help())
        return 0
    sys.stdout.write(_verb_help(_known(topics[0])))
    return 0


def _known(verb: str) -> str:
    if verb not in VERBS:
        raise Failure(f"No help topic for '{verb}'", UNKNOWN_COMMAND_STATUS)
    return verb


def _run(argv: list[str]) -> int:
    parsed = parse(argv, GLOBAL_OPTIONS)
    # Help and version first, before the log is set up, as urfave/cli does.
    if parsed.flag("help"):
        sys.stdout.write(_help())
        return 0
    if parsed.flag("version"):
        sys.stdout.write(_version())
        return 0
    log_format = parsed.value("log-format") or "text"
    if log_format not in ("text", "json"):
        raise PyruncError(f"invalid log format {log_format!r}: use text or json")
    log.configure(parsed.value("log") or None, log_format, parsed.flag("debug"))
    if not parsed.positionals or not parsed.positionals[0]:
        sys.stdout.write(_help())
        return 0
    verb, rest = parsed.positionals[0], parsed.positionals[1:]
    if verb in HELP_VERBS:
        return _help_command(rest)
    module = _import(_known(verb))
    trace.mark("imports")
    verb_args = parse(rest, module.OPTIONS + [HELP_OPTION], getattr(module, "REORDER", True))
    if verb_args.flag("help"):
        sys.stdout.write(_verb_help(verb))
        return 0
    check_count(verb, len(verb_args.positionals), *module.ARGS)
    context = Context(root=parsed.value("root") or None,
                      systemd_cgroup=parsed.flag("systemd-cgroup"), debug=parsed.flag("debug"),
                      rootless=parsed.value("rootless"))
    log.logger.debug(f"{verb} {' '.join(rest)}")
    trace.mark("arguments")
    status = getattr(module, "FAILURE_STATUS", 1)
    try:
        return module.run(verb_args, context)
    except Exception as exc:
        if status == 1 or isinstance(exc, Failure):
            raise
        raise Failure(_describe(exc), status) from None


# errno values of a resource run out (fds, memory, processes, disk): met
# anywhere, even while importing a module, they are the system's, not a bug.
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.ENOSPC, errno.EDQUOT)


def _describe(exc: Exception) -> str:
    """The message for an error; for a bug, still one line (the traceback
    only with --debug)."""
    if isinstance(exc, PyruncError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _EXHAUSTED:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    if "--debug" in sys.argv:
        import traceback
        traceback.print_exc()
    return f"internal error: {type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    status = 1
    try:
        status = _run(sys.argv[1:] if argv is None else argv)
        trace.mark("work")
        return status
    except Failure as exc:
        message, status = str(exc), exc.status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _describe(exc)
    # One bounded line whatever the message quotes from argv or a file.
    message = one_line(message)
    log.logger.error(message)
    sys.stderr.write(f"pyrunc: {message}\n")
    return status


def entry() -> None:
    status = main()
    # The interpreter's teardown (freeing every module, ~2 ms a call) does
    # nothing pyrunc needs: flush what we wrote and leave.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120      # the interpreter's status for a failed flush at exit
    os._exit(status)
