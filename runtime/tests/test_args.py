"""The Go-style flag parser the CLI uses."""
from __future__ import annotations

import pytest

from pyrunc.runtime.cli.args import Opt, parse
from pyrunc.runtime.errors import PyruncError

OPTIONS = [Opt("bundle", ("b",), takes_value=True), Opt("detach", ("d",)),
           Opt("env", ("e",), takes_value=True, repeat=True)]


@pytest.mark.parametrize("argv", [
    ["--bundle", "B", "id"], ["--bundle=B", "id"], ["-b", "B", "id"], ["-bundle", "B", "id"],
    ["-b=B", "id"],
])
def test_value_flag_spellings(argv: list[str]) -> None:
    parsed = parse(argv, OPTIONS)
    assert parsed.value("bundle") == "B"
    assert parsed.positionals == ["id"]


def test_boolean_flags_and_explicit_values() -> None:
    assert parse(["-d", "x"], OPTIONS).flag("detach")
    assert not parse(["--detach=false", "x"], OPTIONS).flag("detach")
    with pytest.raises(PyruncError, match="invalid boolean"):
        parse(["--detach=maybe"], OPTIONS)


def test_parsing_stops_at_the_first_positional() -> None:
    parsed = parse(["-d", "id", "sh", "-c", "--bundle", "x"], OPTIONS)
    assert parsed.positionals == ["id", "sh", "-c", "--bundle", "x"]
    assert parsed.value("bundle") is None


def test_repeatable_flag_collects_values() -> None:
    assert parse(["-e", "A=1", "--env=B=2"], OPTIONS).values_of("env") == ["A=1", "B=2"]


def test_unknown_flag_and_missing_value_are_errors() -> None:
    with pytest.raises(PyruncError, match="not defined: --nope"):
        parse(["--nope"], OPTIONS)
    with pytest.raises(PyruncError, match="needs an argument"):
        parse(["--bundle"], OPTIONS)


def test_double_dash_ends_flags() -> None:
    assert parse(["--", "-d"], OPTIONS).positionals == ["-d"]
