"""jsonio must read and write exactly what the json package does."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from pyrunc.runtime import jsonio

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
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


def test_bytes_with_bom_are_accepted() -> None:
    assert jsonio.loads("\ufeff{\"a\": 1}".encode()) == {"a": 1}
