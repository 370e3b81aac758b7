"""The value parsers of the resource verbs (runc's memory sizes, Go
durations and integers), the pure parts of update and ps, and the OOM
watcher against fake cgroups."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.runtime.errors import PyruncError
from pyrunc.runtime.resources import (
    OomWatch, parse_duration, parse_int, parse_memory, parse_size, parse_uint, ps_table, resources_from_flags, run_ps,
    update_request)

KIB = 1024
SIZE_UNITS = {"": 1, "b": 1, "k": KIB, "m": KIB ** 2, "g": KIB ** 3, "t": KIB ** 4, "p": KIB ** 5}
DURATION_UNITS = {"ns": 1, "us": 10 ** 3, "µs": 10 ** 3, "μs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9,
                  "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}


def spellings(unit: str) -> st.SearchStrategy[str]:
    """Every way go-units accepts a suffix: k, kb, kib in any case."""
    forms = [unit] if unit in ("", "b") else [unit, unit + "b", unit + "ib"]
    return st.sampled_from(forms).flatmap(
        lambda form: st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in form)).map("".join))


# ---- sizes ------------------------------------------------------------------------------

@given(st.integers(0, 8191), st.sampled_from(sorted(SIZE_UNITS)).flatmap(  # 8192p overflows
    lambda unit: st.tuples(st.just(unit), spellings(unit))), st.booleans())
def test_size_with_any_suffix_spelling(number: int, unit_and_text: tuple[str, str], space: bool) -> None:
    unit, suffix = unit_and_text
    assert parse_size(f"{number}{' ' if space else ''}{suffix}") == number * SIZE_UNITS[unit]


@given(st.integers(0, 1000), st.integers(0, 999), st.sampled_from("kmg"))
def test_size_with_a_fraction(whole: int, fraction: int, unit: str) -> None:
    text = f"{whole}.{fraction:03d}"
    assert parse_size(text + unit) == int(float(text) * SIZE_UNITS[unit])


@pytest.mark.parametrize("text, expected", [
    ("10m", 10 << 20), ("1.5g", 3 << 29), ("1e3", 1000), ("512 KiB", 512 << 10), ("5.", 5), (".5k", 512),
    ("0", 0), ("8pb", 8 << 50), ("10 ", 10),  # go-units drops one space before no suffix
])
def test_size_examples(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "m", "-5m", "10x", "10mm", "10kibb", " 10", "1_0", "nan",
                                  "inf", "10  m", "1.2.3m", "9e18m", "8192p", "1bb", "1 b b"])
def test_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.text(max_size=12))
def test_size_of_any_text_is_a_size_or_a_value_error(text: str) -> None:
    try:
        assert 0 <= parse_size(text) < 2 ** 63
    except ValueError:
        pass


def test_memory_minus_one_is_unlimited() -> None:
    assert parse_memory("-1") == -1
    assert parse_memory("1k") == 1024
    with pytest.raises(ValueError):
        parse_memory("-2")


# ---- integers ---------------------------------------------------------------------------

@given(st.integers(-(2 ** 63), 2 ** 63 - 1))
def test_int_round_trip(number: int) -> None:
    assert parse_int(str(number)) == number


@given(st.integers(0, 2 ** 64 - 1))
def test_uint_round_trip(number: int) -> None:
    assert parse_uint(str(number)) == number


@pytest.mark.parametrize("parser, text", [
    (parse_int, str(2 ** 63)), (parse_int, "1_000"), (parse_int, " 1"), (parse_int, "+"),
    (parse_int, "١٢"), (parse_uint, "-1"), (parse_uint, "+1"), (parse_uint, str(2 ** 64)),
    (parse_uint, ""),
])
def test_integers_refuse(parser, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="strconv"):
        parser(text)


# ---- durations --------------------------------------------------------------------------

parts = st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(sorted(DURATION_UNITS))),
                 min_size=1, max_size=4)


@given(parts, st.sampled_from(["", "+", "-"]))
def test_duration_sums_its_parts(pieces: list[tuple[int, str]], sign: str) -> None:
    text = sign + "".join(f"{number}{unit}" for number, unit in pieces)
    total = sum(number * DURATION_UNITS[unit] for number, unit in pieces)
    if total > 2 ** 63 - 1:     # beyond Go's int64 nanoseconds: refused, as Go does
        with pytest.raises(ValueError):
            parse_duration(text)
        return
    assert parse_duration(text) == (-total if sign == "-" else total)


@given(st.integers(0, 10 ** 6), st.text("0123456789", min_size=1, max_size=9),
       st.sampled_from(sorted(DURATION_UNITS)))
def test_duration_fractions(whole: int, fraction: str, unit: str) -> None:
    scale = DURATION_UNITS[unit]
    expected = whole * scale + int(fraction) * scale // 10 ** len(fraction)
    assert parse_duration(f"{whole}.{fraction}{unit}") == expected


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("-0", 0), ("5s", 5 * 10 ** 9), ("500ms", 5 * 10 ** 8), ("1m30s", 90 * 10 ** 9),
    ("1.s", 10 ** 9), (".5s", 5 * 10 ** 8), ("1h2m3s4ms5us6ns", 3723004005006),
    ("2562047h47m16.854775807s", 2 ** 63 - 1), ("-2562047h47m16.854775808s", -(2 ** 63)),
])
def test_duration_examples(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "invalid duration"), ("-", "invalid duration"), (".s", "invalid duration"),
    ("5", "missing unit"), ("1.2.3s", "missing unit"), ("00", "missing unit"),
    ("5x", 'unknown unit "x"'), ("5 s", 'unknown unit " s"'), ("5S", 'unknown unit "S"'),
    ("2562047h47m16.854775808s", "invalid duration"), ("99999999999999999999h", "invalid duration"),
])
def test_duration_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@given(st.text(max_size=12))
def test_duration_of_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        assert -(2 ** 63) <= parse_duration(text) < 2 ** 63
    except ValueError:
        pass


# ---- update -----------------------------------------------------------------------------

def test_flags_become_a_partial_resources_object() -> None:
    flags = {"memory": "10m", "memory-swap": "-1", "cpu-share": "512", "cpu-quota": "-1",
             "cpuset-cpus": "0-1", "pids-limit": "20", "blkio-weight": None, "cpu-period": ""}
    assert resources_from_flags(flags) == {
        "memory": {"limit": 10 << 20, "swap": -1},
        "cpu": {"shares": 512, "quota": -1, "cpus": "0-1"},
        "pids": {"limit": 20},
    }


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(PyruncError, match="invalid value for memory-reservation: invalid suffix"):
        resources_from_flags({"memory-reservation": "5q"})


def test_update_request_keeps_runcs_updatable_fields() -> None:
    request, ignored = update_request({
        "memory": {"limit": 100, "swap": 0, "kernel": 5, "swappiness": 10},
        "cpu": {"shares": 0, "quota": 1000, "cpus": "", "idle": 0, "burst": 0},
        "pids": {"limit": 0},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]},
        "devices": [{"allow": True, "access": "rwm"}],
        "hugepageLimits": [],
        "unified": {"memory.high": "max"},
    })
    assert request == {"memory": {"limit": 100}, "cpu": {"quota": 1000, "idle": 0, "burst": 0},
                       "blockIO": {"weight": 500}, "unified": {"memory.high": "max"}}
    assert sorted(ignored) == ["blockIO.throttleReadBpsDevice", "devices", "memory.kernel",
                               "memory.swappiness"]


def test_unlimited_memory_lifts_swap_too() -> None:
    assert update_request({"memory": {"limit": -1}})[0] == {"memory": {"limit": -1, "swap": -1}}
    assert update_request({"memory": {"limit": -1, "swap": 200}})[0] == {"memory": {"limit": -1, "swap": 200}}


def test_update_request_passes_type_errors_on() -> None:
    # the cgroup library reports them with their JSON path
    assert update_request({"memory": 5, "pids": {"limit": "x"}})[0] == {"memory": 5, "pids": {"limit": "x"}}
    assert update_request({"memory": {"checkBeforeUpdate": False}})[0] == {
        "memory": {"checkBeforeUpdate": False}}


# ---- ps ---------------------------------------------------------------------------------

PS_OUTPUT = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         420       1  0 10:00 ?        00:00:00 /payload sleep 600
root         421     420  0 10:00 ?        00:00:00 sh -c echo 1 2 3
"""


def test_ps_table_keeps_the_header_and_the_wanted_pids() -> None:
    lines = PS_OUTPUT.splitlines()
    assert ps_table(PS_OUTPUT, [421, 420, 999]) == "\n".join([lines[0], lines[2], lines[3]]) + "\n"
    assert ps_table(PS_OUTPUT, []) == lines[0] + "\n"


def test_ps_table_finds_the_pid_column_anywhere() -> None:
    assert ps_table("COMMAND PID\nsleep 7\nsh 8\n", [8]) == "COMMAND PID\nsh 8\n"


@pytest.mark.parametrize("output, message", [
    ("USER COMMAND\nroot sh\n", "couldn't find PID field"),
    ("PID CMD\nabc sh\n", "unable to parse pid"),
    ("CMD PID\nsh\n", "unable to parse pid"),
])
def test_ps_table_errors(output: str, message: str) -> None:
    with pytest.raises(PyruncError, match=message):
        ps_table(output, [1])


# ---- OOM watch --------------------------------------------------------------------------

class FakeManager:
    """What OomWatch asks of a cgroup manager; `event_fd` None means v2."""

    def __init__(self, paths: dict[str, str], event_fd: int | None) -> None:
        self.paths, self.event_fd, self.kills = paths, event_fd, 0

    def oom_event_fd(self) -> int | None:
        return self.event_fd

    def oom_count(self) -> int:
        return self.kills


def test_oom_watch_v1_eventfd(tmp_path: Path) -> None:
    control = tmp_path / "cgroup.event_control"
    control.write_text("")
    watch = OomWatch(FakeManager({"memory": str(tmp_path)}, os.eventfd(0, os.EFD_CLOEXEC)))
    try:
        assert not watch.pending()
        os.eventfd_write(watch.fd, 1)
        assert watch.pending() and not watch.gone
        control.unlink()          # the kernel signals once more when the cgroup goes
        os.eventfd_write(watch.fd, 1)
        assert not watch.fired() and watch.gone
    finally:
        watch.close()


def test_oom_watch_v2_counts_oom_kills(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text("oom 0\noom_kill 0\n")
    manager = FakeManager({"unified": str(tmp_path)}, None)
    manager.kills = 2
    watch = OomWatch(manager)
    try:
        assert watch.fd >= 0 and not watch.fired()   # kills before the watch began
        manager.kills = 3
        assert watch.fired()
        assert not watch.fired()                     # another memory.events change
    finally:
        watch.close()


def test_run_ps_gives_the_hosts_ps_output_or_its_error() -> None:
    """ps(1) itself, its stdout and stderr together, as runc runs it."""
    lines = run_ps(["-o", "pid,comm", "-p", str(os.getpid())]).splitlines()
    assert lines[0].split() == ["PID", "COMMAND"] and lines[1].split()[0] == str(os.getpid())
    with pytest.raises(PyruncError, match=r"^ps: exit status 1: error: unknown gnu long option"):
        run_ps(["--no-such-option"])


def test_oom_watch_without_a_memory_controller(tmp_path: Path) -> None:
    watch = OomWatch(FakeManager({"unified": str(tmp_path)}, None))
    assert watch.fd == -1 and not watch.pending()
