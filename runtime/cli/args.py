"""A small command-line parser with runc's conventions.

runc parses with urfave/cli v1 over Go's flag package, and engines and
scripts rely on its quirks, so this parser copies them:

- Go-style flags: `--name value`, `--name=value`, a single dash works too
  (`-root`); booleans take no value, or `=` one of Go's ParseBool words.
- Flag parsing stops at the first positional argument, or after `--`.
- For most verbs urfave first moves the verb's *known* flags (with the
  argument after each, even after a boolean) in front of the rest, so
  `update ID --pids-limit 5` works; `--` ends that too.  exec and ps skip
  this: what follows their id is a command line.

argparse would cost start-up time on every hot verb and does not accept
`-root`.
"""
from __future__ import annotations

from ..errors import PyruncError
from ..integers import parse_flag, quote
from ..record import Record


class Opt(Record):
    """A flag; with `bounds` (low, high) its value is an integer in that
    range, checked while parsing as Go's typed flags are."""
    __slots__ = ("name", "aliases", "takes_value", "repeat", "help", "bounds")

    def __init__(self, name: str, aliases: tuple[str, ...] = (), takes_value: bool = False,
                 repeat: bool = False, help: str = "", bounds: tuple[int, int] | None = None) -> None:
        self.name, self.aliases, self.takes_value = name, aliases, takes_value or bounds is not None
        self.repeat, self.help, self.bounds = repeat, help, bounds


class Parsed:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.positionals: list[str] = []

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name, False))

    def value(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        return value if value is None else str(value)

    def values_of(self, name: str) -> list[str]:
        return list(self.values.get(name, []))  # type: ignore[call-overload]

    def number(self, name: str, default: int = 0) -> int:
        """The value of a flag with bounds (checked by `parse`)."""
        return int(self.values.get(name, default))  # type: ignore[call-overload]

    def numbers(self, name: str) -> list[int]:
        return [int(v) for v in self.values.get(name, [])]  # type: ignore[union-attr]


# strconv.ParseBool's words: Go refuses "yes", "on" and other spellings.
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _parse_bool(name: str, text: str) -> bool:
    value = _BOOLS.get(text)
    if value is None:
        raise PyruncError(f"invalid boolean value {quote(text)} for -{name}: parse error")
    return value


def _flag_name(arg: str) -> str:
    """The name urfave sees in an argument: dashes and `=value` stripped."""
    if arg.startswith("--"):
        arg = arg[2:]
    if arg.startswith("-"):
        arg = arg[1:]
    return arg.split("=", 1)[0]


def reorder(argv: list[str], names: set[str]) -> list[str]:
    """urfave/cli v1's reorderArgs: known flags (and the argument after each
    one without `=`) first, then the rest; `--` and what follows stay last."""
    flags: list[str] = []
    rest: list[str] = []
    value_may_follow = False
    for i, arg in enumerate(argv):
        is_flag = arg not in ("-", "--") and arg.startswith("-") and _flag_name(arg) in names
        if value_may_follow and not is_flag:
            value_may_follow = False
            flags.append(arg)
        elif arg == "--":
            rest = ["--", *rest, *argv[i + 1:]]
            break
        elif is_flag:
            flags.append(arg)
            value_may_follow = "=" not in arg
        else:
            rest.append(arg)
    return flags + rest


def parse(argv: list[str], options: list[Opt], reorder_flags: bool = False) -> Parsed:
    """Go's flag.FlagSet.Parse over `argv` (first reordered as urfave does
    when `reorder_flags`)."""
    by_name = {alias: opt for opt in options for alias in (opt.name, *opt.aliases)}
    if reorder_flags:
        argv = reorder(argv, set(by_name))
    parsed = Parsed()
    spelled: dict[str, str] = {}    # option -> the name it was first given by
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if len(arg) < 2 or arg[0] != "-":
            break
        name = arg[2:] if arg[1] == "-" else arg[1:]
        if not name or name[0] in "-=":
            raise PyruncError(f"bad flag syntax: {arg}")
        name, has_inline, inline = name.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise PyruncError(f"flag provided but not defined: -{name}")
        first = spelled.setdefault(opt.name, name)
        if first != name and not opt.repeat:
            # urfave/cli refuses `-f --force`, naming the short form first
            # (and `-e A --env B` too, which we collect: nothing conflicts).
            forms = [form for form in (*opt.aliases, opt.name) if form in (first, name)]
            raise PyruncError(f"Cannot use two forms of the same flag: {' '.join(forms)}")
        if opt.takes_value:
            if has_inline:
                value: object = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise PyruncError(f"flag needs an argument: -{name}")
            if opt.bounds is not None:
                value = parse_flag(opt.name, str(value), *opt.bounds)
        else:
            value = _parse_bool(name, inline) if has_inline else True
        if opt.repeat:
            parsed.values.setdefault(opt.name, []).append(value)  # type: ignore[union-attr]
        else:
            parsed.values[opt.name] = value
        i += 1
    parsed.positionals = argv[i:]
    return parsed


def check_count(verb: str, count: int, low: int, high: int | None) -> None:
    """runc's checkArgs: exactly, at least or at most so many arguments."""
    if low == high and count != low:
        raise PyruncError(f'"{verb}" requires exactly {low} argument(s)')
    if count < low:
        raise PyruncError(f'"{verb}" requires a minimum of {low} argument(s)')
    if high is not None and count > high:
        raise PyruncError(f'"{verb}" requires a maximum of {high} argument(s)')


def columns(rows: list[tuple[str, str]]) -> str:
    """Two columns as Go's tabwriter aligns urfave's help (padding 2)."""
    width = max((len(left) for left, _ in rows), default=0) + 2
    return "".join(f"   {left.ljust(width)}{right}".rstrip() + "\n" for left, right in rows)


def option_rows(options: list[Opt]) -> list[tuple[str, str]]:
    rows = []
    for opt in options:
        suffix = " value" if opt.takes_value else ""
        names = ", ".join(("-" if len(a) == 1 else "--") + a + suffix for a in (opt.name, *opt.aliases))
        rows.append((names, opt.help))
    return rows


def help_text(name: str, summary: str, synopsis: str, options: list[Opt],
              sections: tuple[tuple[str, str], ...] = ()) -> str:
    """urfave's help layout: NAME, USAGE, extra sections, OPTIONS."""
    text = f"NAME:\n   {name} - {summary}\n\nUSAGE:\n   {synopsis}\n"
    for title, body in sections:
        text += f"\n{title}:\n{body}"
    if options:
        text += "\nOPTIONS:\n" + columns(option_rows(options))
    return text
