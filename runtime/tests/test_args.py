"""The Go-style flag parser the CLI uses, urfave/cli's reordering of flags
after the container id, the one bounded integer parser behind every
numeric flag, and runc's signal syntax."""
from __future__ import annotations

import signal

import pytest
from hypothesis import given, strategies as st

from pyrunc.runtime.cli.args import Opt, check_count, parse, reorder
from pyrunc.runtime.container import parse_signal
from pyrunc.runtime.errors import PyruncError, printable
from pyrunc.runtime.integers import parse_integer, quote

OPTIONS = [Opt("bundle", ("b",), takes_value=True), Opt("detach", ("d",)),
           Opt("env", ("e",), takes_value=True, repeat=True), Opt("fds", bounds=(0, 100)),
           Opt("gid", ("g",), repeat=True, bounds=(0, 2 ** 32 - 1))]


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
    assert parse(["--detach=T"], OPTIONS).flag("detach")


@pytest.mark.parametrize("word", ["maybe", "yes", "no", "on", "tRUE", ""])
def test_boolean_words_are_gos(word: str) -> None:
    # strconv.ParseBool: runc refuses `--all=yes`.
    with pytest.raises(PyruncError, match=f'invalid boolean value "{word}" for -detach'):
        parse([f"--detach={word}"], OPTIONS)


def test_parsing_stops_at_the_first_positional() -> None:
    parsed = parse(["-d", "id", "sh", "-c", "--bundle", "x"], OPTIONS)
    assert parsed.positionals == ["id", "sh", "-c", "--bundle", "x"]
    assert parsed.value("bundle") is None


def test_repeatable_flag_collects_values() -> None:
    # runc refuses to mix -e and --env; nothing conflicts, so we take both.
    assert parse(["-e", "A=1", "--env=B=2"], OPTIONS).values_of("env") == ["A=1", "B=2"]


def test_unknown_flag_and_missing_value_are_errors() -> None:
    # Go's flag package's words, as runc prints them.
    with pytest.raises(PyruncError, match="^flag provided but not defined: -nope$"):
        parse(["--nope=1"], OPTIONS)
    with pytest.raises(PyruncError, match="^flag needs an argument: -bundle$"):
        parse(["--bundle"], OPTIONS)
    with pytest.raises(PyruncError, match="^bad flag syntax: ---x$"):
        parse(["---x"], OPTIONS)


def test_two_forms_of_one_flag() -> None:
    # urfave/cli's refusal, as runc's `delete -f --force ID`.
    with pytest.raises(PyruncError, match="^Cannot use two forms of the same flag: d detach$"):
        parse(["--detach", "-d=false"], OPTIONS)
    assert parse(["-d", "-d"], OPTIONS).flag("detach")


def test_double_dash_ends_flags() -> None:
    assert parse(["--", "-d"], OPTIONS).positionals == ["-d"]
    assert parse(["-", "-d"], OPTIONS).positionals == ["-", "-d"]


# ---- urfave/cli's reordering: flags after the container id -----------------------------------

def test_known_flags_after_the_id_are_moved_first() -> None:
    # `update ID --cpuset-cpus 1`, `delete ID --force`: runc accepts them.
    parsed = parse(["id", "--bundle", "B", "-d"], OPTIONS, reorder_flags=True)
    assert parsed.value("bundle") == "B" and parsed.flag("detach")
    assert parsed.positionals == ["id"]
    # Without reordering (exec, ps) they are the command line.
    assert parse(["id", "--bundle", "B"], OPTIONS).positionals == ["id", "--bundle", "B"]


def test_unknown_flags_after_the_id_stay_arguments() -> None:
    parsed = parse(["id", "--nope"], OPTIONS, reorder_flags=True)
    assert parsed.positionals == ["id", "--nope"]


def test_a_boolean_takes_the_next_argument_along() -> None:
    # urfave's quirk, which runc has: `kill ID --all 0` kills container "0"... as
    # `kill --all 0 ID`.
    assert reorder(["id", "--detach", "0"], {"detach"}) == ["--detach", "0", "id"]
    assert parse(["id", "-d", "0"], OPTIONS, reorder_flags=True).positionals == ["0", "id"]
    assert parse(["id", "-d=1", "0"], OPTIONS, reorder_flags=True).positionals == ["id", "0"]


def test_double_dash_stops_the_reordering() -> None:
    # runc: `delete ID -- -f` has two arguments.
    assert parse(["id", "--", "-d"], OPTIONS, reorder_flags=True).positionals == ["id", "-d"]
    # ... unless a flag before it takes `--` along as its value (urfave's quirk).
    parsed = parse(["id", "-d", "--", "--bundle", "x"], OPTIONS, reorder_flags=True)
    assert parsed.flag("detach") and parsed.positionals == ["--bundle", "x", "id"]


@given(st.lists(st.sampled_from(["id", "x", "-d", "--detach", "-b", "--bundle=B", "--nope", "--", "-",
                                 "-e", "A=1", "0"]), max_size=8))
def test_reordering_keeps_every_argument(argv: list[str]) -> None:
    assert sorted(reorder(argv, {"d", "detach", "b", "bundle", "e", "env"})) == sorted(argv)


@given(st.lists(st.text(max_size=12), max_size=6), st.booleans())
def test_any_command_line_parses_or_is_a_usage_error(argv: list[str], reorder_flags: bool) -> None:
    try:
        parsed = parse(argv, OPTIONS, reorder_flags)
    except PyruncError as exc:
        assert "\n" not in str(exc) or "\n" in "".join(argv)
    else:
        assert set(parsed.positionals) <= set(argv)


# ---- numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("²", "invalid syntax"), ("٩", "invalid syntax"), ("1_0", "invalid syntax"), (" 1", "invalid syntax"),
    ("", "invalid syntax"), ("-1", "invalid syntax"), ("0x10", "invalid syntax"),
    ("101", "value out of range"), ("99999999999999999999", "value out of range"),
    ("9" * 100000, "invalid syntax"),
])
def test_numeric_flags_are_bounded_ascii(text: str, reason: str) -> None:
    # ValueError and OverflowError used to escape from `int()` on such values.
    with pytest.raises(PyruncError, match=f"^invalid value .* for flag --fds: .*{reason}$"):
        parse(["--fds", text, "id"], OPTIONS)


def test_numeric_flags_give_integers() -> None:
    parsed = parse(["--fds=7", "-g", "0", "-g", "4294967295", "id"], OPTIONS)
    assert parsed.number("fds") == 7 and parsed.numbers("gid") == [0, 2 ** 32 - 1]
    assert parse(["id"], OPTIONS).number("fds") == 0
    with pytest.raises(PyruncError, match="for flag --gid"):
        parse(["-g", "4294967296"], OPTIONS)


@given(st.text(max_size=30), st.integers(-10, 0), st.integers(0, 2 ** 70))
def test_parse_integer_is_ascii_and_bounded(text: str, low: int, high: int) -> None:
    try:
        value = parse_integer(text, low, high, signed=True)
    except ValueError:
        digits = text.lstrip("+-")
        assert (not digits.isascii() or not digits.isdigit() or len(text) - len(digits) > 1
                or not low <= int(text) <= high)
    else:
        assert low <= value <= high and value == int(text) and text.isascii()


def test_quote_keeps_one_line() -> None:
    assert quote('a"b\\c\n²') == '"a\\"b\\\\c\\n²"'
    assert printable("a\rb\x00\u2028 ²") == "a\\rb\\x00\\u2028 ²"


def test_argument_counts_in_runcs_words() -> None:
    check_count("kill", 2, 1, 2)
    with pytest.raises(PyruncError, match='^"state" requires exactly 1 argument'):
        check_count("state", 0, 1, 1)
    with pytest.raises(PyruncError, match='^"kill" requires a minimum of 1 argument'):
        check_count("kill", 0, 1, 2)
    with pytest.raises(PyruncError, match='^"kill" requires a maximum of 2 argument'):
        check_count("kill", 3, 1, 2)


# ---- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, number", [
    ("9", 9), ("KILL", 9), ("SIGKILL", 9), ("sigkill", 9), ("Kill", 9), ("0", 0), ("+15", 15),
    ("-9", -9), ("99", 99), ("WINCH", signal.SIGWINCH), ("SIGPWR", signal.SIGPWR),
])
def test_signals_as_runc_reads_them(text: str, number: int) -> None:
    # Any integer parses (0 is a liveness check); the kernel judges the rest.
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["٩", "²", "", " 9", "0x9", "1_0", "SIG", "SIGRTMIN", "RTMIN+1",
                                  "SIGIOT", "SIGCLD", "SIG_DFL", "NSIG", "9" * 30, "KILL\n"])
def test_other_signals_are_unknown(text: str) -> None:
    # "٩" used to be SIGKILL, and "²" an internal ValueError.
    with pytest.raises(PyruncError, match="^unknown signal "):
        parse_signal(text)
