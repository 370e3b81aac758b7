"""JSON without the `json` package's start-up cost.

`import json` pulls in `re` (and with it `enum`), about 7 ms on every
CLI call; the hot verbs only need to read config.json/state.json and
write small documents, which the C accelerator `_json` does alone.
Behaviour matches json.loads/json.dumps for the documents we handle.
"""
from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _Context:
    # The attributes _json.make_scanner reads from a JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Context())


class JSONError(ValueError):
    pass


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def loads(data: str | bytes) -> object:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    start = _skip(text, 0)
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise JSONError(f"expecting a value at character {exc.value}") from None
    except Exception:
        # Inside a document the scanner reports errors through the json
        # package; let it parse again and explain (the rare, slow path).
        import json
        return json.loads(text)
    end = _skip(text, end)
    if end != len(text):
        raise JSONError(f"extra data at character {end}")
    return value


def read_file(path: str, error: type[Exception], what: str = "") -> object:
    """Parse a JSON file; a missing file or bad JSON raises error(message)
    naming the file (and what it is, e.g. "--process")."""
    name = f"{what} {path}".lstrip()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise error(f"cannot read {name}: {exc.strerror}") from None
    try:
        return loads(data)
    except ValueError as exc:
        raise error(f"{name} is not valid JSON: {exc}") from None


# Compact as Go writes it (engines see runc's output byte for byte alike).
_encode_compact = _json.make_encoder(None, None, _json.encode_basestring, None, ":", ",",
                                     False, False, True)

def dumps(value: object, indent: int | str | None = None) -> str:
    if indent is None:
        return "".join(_encode_compact(value, 0))
    unit = indent if isinstance(indent, str) else " " * indent
    parts: list[str] = []
    _pretty(value, unit, 0, parts)
    return "".join(parts)


def _pretty(value: object, unit: str, depth: int, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        inner = "\n" + unit * (depth + 1)
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + inner + _json.encode_basestring(str(key)) + ": ")
            _pretty(item, unit, depth + 1, out)
        out.append("\n" + unit * depth + "}")
    elif isinstance(value, list) and value:
        inner = "\n" + unit * (depth + 1)
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + inner)
            _pretty(item, unit, depth + 1, out)
        out.append("\n" + unit * depth + "]")
    else:
        out.append("".join(_encode_compact(value, 0)))
