"""The one integer parser for text from the command line.

Go's strconv.ParseInt/ParseUint in base 10, as runc reads its numeric
flags and signals: ASCII digits only (int() also takes Unicode digits
such as "٩", underscores and spaces, and str.isdigit() passes "²", which
int() then refuses), and a bounded range, so a huge number is an error
here rather than an OverflowError deep inside.  Also how the errors
quote what they refuse: on one line, whatever argv held.
"""
from __future__ import annotations

from .errors import PyruncError, printable

INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
UINT32_MAX = (1 << 32) - 1
DIGITS = "0123456789"


def parse_integer(text: str, low: int, high: int, signed: bool) -> int:
    """`text` as an integer in [low, high]; ValueError with strconv's
    wording otherwise.  A sign is allowed only when `signed`."""
    func = "ParseInt" if signed else "ParseUint"
    digits = text[1:] if signed and text[:1] in ("+", "-") else text
    # The length bound keeps int() from ever seeing a megabyte of digits.
    if not digits or len(digits) > 40 or not set(DIGITS).issuperset(digits):
        raise ValueError(f'strconv.{func}: parsing "{text}": invalid syntax')
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f'strconv.{func}: parsing "{text}": value out of range')
    return value


def parse_flag(name: str, text: str, low: int, high: int) -> int:
    """`text`, the value of flag --name, as an integer in [low, high]; a
    PyruncError naming the flag otherwise."""
    try:
        return parse_integer(text, low, high, signed=low < 0)
    except ValueError as exc:
        raise PyruncError(f"invalid value {quote(text)} for flag --{name}: {exc}") from None


def quote(text: str) -> str:
    """Go's %q, near enough: a message stays one line whatever the
    argument holds (control characters escaped, the rest kept)."""
    return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
