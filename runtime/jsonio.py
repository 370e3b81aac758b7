"""JSON without the `json` package's start-up cost, bounded for input.

`import json` pulls in `re` (and with it `enum`), about 7 ms on every
CLI call; the hot verbs only need to read config.json/state.json and
write small documents, which the C accelerator `_json` does alone.

Every document from outside (config.json, state.json, --process,
--resources) goes through `loads`, which is stricter than json.loads,
as Go's encoding/json (runc) is, and bounded so that no input can turn
into an internal error further on:
- UTF-8 only: no byte-order mark, no invalid bytes, no lone surrogate
  escapes (they cannot be encoded again, e.g. into the hooks' state);
- no NaN/Infinity, no number of more than MAX_NUMBER_CHARS characters
  (int() refuses 4300 digits; no field needs more than 20) nor one that
  overflows a float;
- no duplicate keys (which one counts depends on the parser: runc takes
  the last; a validator could check the other);
- nesting at most MAX_DEPTH deep (parsers and validators recurse);
- documents of at most MAX_DOCUMENT bytes.
Errors name the JSON path where there is one.
"""
from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 24
MAX_DOCUMENT = 32 << 20
_COUNT_BELOW = 64 << 10


class JSONError(ValueError):
    pass


class _Duplicated(dict):
    """An object that had a key twice; the walk reports where."""
    duplicate = ""


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JSONError(f"number {text[:12]}... ({len(text)} characters) is out of range")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text) if len(text) <= 4 * MAX_NUMBER_CHARS else float("inf")
    if value in (float("inf"), float("-inf")):
        raise JSONError(f"number {text[:12]}{'...' if len(text) > 12 else ''} is out of range")
    return value


def _parse_constant(name: str) -> float:
    raise JSONError(f"{name} is not valid JSON")


_CONTAINERS = frozenset((dict, list, _Duplicated))


class _Context:
    # The attributes _json.make_scanner reads from a JSONDecoder.
    strict = True
    object_hook = None
    parse_float = staticmethod(_parse_float)
    parse_int = staticmethod(_parse_int)
    parse_constant = staticmethod(_parse_constant)
    memo: dict = {}

    def __init__(self) -> None:
        self.duplicates = 0

    def object_pairs_hook(self, pairs: list[tuple[str, object]]) -> dict:
        result = dict(pairs)
        if len(result) != len(pairs):
            self.duplicates += 1
            seen: set[str] = set()
            result = _Duplicated(pairs)
            result.duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        return result


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def format_path(parts: tuple | list) -> str:
    """JSON path parts (keys, list indexes) as `process.env[2]`; keys that
    are not plain identifiers as quoted strings in brackets; "(root)"."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isascii() and part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{_json.encode_basestring_ascii(str(part))}]"
    return text or "(root)"


def _first(value: object, bad: object, parts: tuple = ()) -> tuple[tuple, str] | None:
    """Depth-first: the path and message of the first node `bad` objects to
    (bad(node) -> message or None).  Only on the error path; the depth is
    bounded already."""
    message = bad(value)
    if message:
        return parts, message
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and bad(key):
            return parts + (key,), f"key {bad(key)}"
        found = _first(item, bad, parts + (key,))
        if found:
            return found
    return None


def _duplicate(value: object) -> str | None:
    if isinstance(value, _Duplicated):
        return f"has the key {_json.encode_basestring_ascii(value.duplicate)} twice"
    return None


def _lone_surrogate(value: object) -> str | None:
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a character"
    return None


def _too_deep(value: object) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        items = node.values() if isinstance(node, dict) else node  # type: ignore[union-attr]
        # Most arrays hold only strings: look at the types at C speed first.
        if _CONTAINERS.isdisjoint(map(type, items)):
            continue
        for item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
    return False


def _deep_offset(text: str) -> int:
    """Where the nesting first goes deeper than MAX_DEPTH (error path only)."""
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return index
        elif char in "]}":
            depth -= 1
    return len(text)


def _decode(data: bytes) -> str:
    if len(data) > MAX_DOCUMENT:
        raise JSONError(f"larger than {MAX_DOCUMENT >> 20} MiB")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise JSONError(f"invalid UTF-8 at byte {exc.start}") from None


def loads(data: str | bytes) -> object:
    text = _decode(data) if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):
        raise JSONError("starts with a byte-order mark, which JSON does not allow")
    context = _Context()
    start = _skip(text, 0)
    try:
        value, end = _json.make_scanner(context)(text, start)
    except StopIteration as exc:
        raise JSONError(f"expecting a value at character {exc.value}") from None
    except RecursionError:
        raise _depth_error(text) from None
    except JSONError:
        raise
    except Exception:
        # Inside a document the scanner reports errors through the json
        # package; let it parse again and explain (the rare, slow path).
        import json
        try:
            json.loads(text)
        except ValueError as exc:
            raise JSONError(str(exc)) from None
        raise JSONError("invalid JSON") from None
    end = _skip(text, end)
    if end != len(text):
        raise JSONError(f"extra data at character {end}")
    if isinstance(value, (dict, list)):
        # Fewer brackets than the limit cannot nest deeper: counting them
        # is faster than the walk for documents of a config's usual size.
        if (len(text) > _COUNT_BELOW or text.count("[") + text.count("{") > MAX_DEPTH) and _too_deep(value):
            raise _depth_error(text)
        if context.duplicates:
            _refuse(value, _duplicate)
        if "\\ud" in text or "\\uD" in text:
            _refuse(value, _lone_surrogate)
    elif _lone_surrogate(value):
        _refuse(value, _lone_surrogate)
    return value


def _depth_error(text: str) -> JSONError:
    return JSONError(f"nested more than {MAX_DEPTH} levels deep at character {_deep_offset(text)}")


def _refuse(value: object, bad: object) -> None:
    found = _first(value, bad)
    if found:
        parts, message = found
        raise JSONError(f"{format_path(parts)}: {message}")


def read_file(path: str, error: type[Exception], what: str = "") -> object:
    """Parse a JSON file; a missing file or bad JSON raises error(message)
    naming the file (and what it is, e.g. "--process")."""
    name = f"{what} {path}".lstrip()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCUMENT + 1)
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
