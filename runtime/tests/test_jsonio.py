"""jsonio must read and write exactly what the json package does, for the
documents it accepts; and refuse, as one clear JSONError, every input that
would otherwise become an internal error further on."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from pyrunc.runtime import jsonio

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(json_values)
def test_loads_matches_json(value: object) -> None:
    assert jsonio.loads(json.dumps(value)) == value


@given(json_values, st.sampled_from([None, 2, "\t"]))
def test_dumps_matches_json(value: object, indent: int | str | None) -> None:
    assert json.loads(jsonio.dumps(value, indent=indent)) == value
    separators = (",", ":") if indent is None else None     # compact as Go writes it
    assert jsonio.dumps(value, indent=indent) == json.dumps(value, indent=indent, ensure_ascii=False,
                                                            separators=separators)


@pytest.mark.parametrize("text", ["", "{", "[1,]", '{"a": 1} x', "nul", '"\\x"'])
def test_invalid_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)


@pytest.mark.parametrize("text, message", [
    ("[" * 1000 + "]" * 1000, "nested more than 64 levels deep at character 64"),
    ('{"a": ' * 65 + "1" + "}" * 65, "nested more than 64 levels deep"),
    ("1" * 5000, "out of range"),
    ("[1e999]", "out of range"),
    ("[NaN]", "NaN is not valid JSON"),
    ('{"a": -Infinity}', "-Infinity is not valid JSON"),
    ('{"process": {"env": [], "env": []}}', 'process: has the key "env" twice'),
    ('{"a": [{"b c": {"x": 1, "x": 1}}]}', 'a[0]["b c"]: has the key "x" twice'),
    ('{"annotations": {"k": "\\ud800"}}', "annotations.k: holds a lone UTF-16 surrogate"),
    ('{"\\udc00": 1}', '["\\udc00"]: key holds a lone UTF-16 surrogate'),
    ("\ufeff{}", "byte-order mark"),
])
def test_bad_input_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(jsonio.JSONError) as error:
        jsonio.loads(text)
    assert message in str(error.value)
    with pytest.raises(jsonio.JSONError):
        jsonio.loads(text.encode(errors="surrogatepass"))


@pytest.mark.parametrize("data, message", [
    (b"\xef\xbb\xbf{}", "byte-order mark"),
    (b'{"a": "\xff"}', "invalid UTF-8 at byte 7"),
])
def test_bad_bytes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(jsonio.JSONError, match=message):
        jsonio.loads(data)


def test_depth_limit_is_exact() -> None:
    assert jsonio.loads("[" * 64 + "]" * 64) is not None
    assert jsonio.loads('"\\ud83d\\ude00"') == "\U0001f600"     # a surrogate pair is one character
    assert jsonio.loads(str(2 ** 64 - 1)) == 2 ** 64 - 1


def test_read_file_bounds_what_it_reads(tmp_path) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(jsonio.MAX_DOCUMENT + 10)
    with pytest.raises(ValueError, match="larger than 32 MiB"):
        jsonio.read_file(str(path), ValueError)


def test_hot_path_does_not_import_json() -> None:
    import subprocess
    import sys
    code = ("import sys; from pyrunc.runtime import jsonio; jsonio.loads(b'{\"a\": [1, 2.5, \"x\"]}');"
            "print('json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
