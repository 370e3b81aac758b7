"""A small command-line parser with runc's conventions.

Go-style flags: `--name value`, `--name=value`, a single dash works too
(`-root`), booleans take no value (or `=true|false`), and flag parsing
stops at the first positional argument (or `--`), so a command line after
the container id is passed through untouched.  argparse would cost start-up
time on every hot verb and does not accept `-root`.
"""
from __future__ import annotations

from ..errors import PyruncError
from ..record import Record


class Opt(Record):
    __slots__ = ("name", "aliases", "takes_value", "repeat", "help")

    def __init__(self, name: str, aliases: tuple[str, ...] = (), takes_value: bool = False,
                 repeat: bool = False, help: str = "") -> None:
        self.name, self.aliases, self.takes_value = name, aliases, takes_value
        self.repeat, self.help = repeat, help


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


def _parse_bool(name: str, text: str) -> bool:
    if text.lower() in ("true", "1", "t", "yes"):
        return True
    if text.lower() in ("false", "0", "f", "no"):
        return False
    raise PyruncError(f"invalid boolean value {text!r} for flag --{name}")


def parse(argv: list[str], options: list[Opt], stop_at_positional: bool = True) -> Parsed:
    by_name = {alias: opt for opt in options for alias in (opt.name, *opt.aliases)}
    parsed = Parsed()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            parsed.positionals.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            parsed.positionals.append(arg)
            if stop_at_positional:
                parsed.positionals.extend(argv[i + 1:])
                break
            i += 1
            continue
        name, has_inline, inline = arg.lstrip("-").partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise PyruncError(f"flag provided but not defined: {arg.split('=')[0]}")
        if opt.takes_value:
            if has_inline:
                value: object = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise PyruncError(f"flag needs an argument: --{opt.name}")
        else:
            value = _parse_bool(opt.name, inline) if has_inline else True
        if opt.repeat:
            parsed.values.setdefault(opt.name, []).append(value)  # type: ignore[union-attr]
        else:
            parsed.values[opt.name] = value
        i += 1
    return parsed


def usage(verb: str, synopsis: str, options: list[Opt]) -> str:
    lines = [f"usage: pyrunc {verb} {synopsis}".rstrip()]
    for opt in options:
        names = ", ".join(("-" if len(a) == 1 else "--") + a for a in (opt.name, *opt.aliases))
        arg = " VALUE" if opt.takes_value else ""
        lines.append(f"  {names}{arg}\t{opt.help}")
    return "\n".join(lines)


def exactly(parsed: Parsed, count: int, synopsis: str) -> list[str]:
    if len(parsed.positionals) != count:
        raise PyruncError(f"expected {synopsis}, got {len(parsed.positionals)} argument(s)")
    return parsed.positionals
