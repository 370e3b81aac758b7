"""Property tests of the v1 -> v2 conversions and of the devices emulator
that turns v1-style rules into v2's effective rule list."""
from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as s

from pyrunc.runtime.cgroups import convert
from pyrunc.runtime.cgroups.base import WILDCARD, DeviceEmulator
from pyrunc.runtime.errors import PyruncError

SHARES = s.integers(min_value=convert.CPU_SHARES_MIN, max_value=convert.CPU_SHARES_MAX)
BLKIO = s.integers(min_value=convert.BLKIO_WEIGHT_MIN, max_value=convert.BLKIO_WEIGHT_MAX)
BYTES = s.integers(min_value=1, max_value=(1 << 62))


# ---------------------------------------------------------------- cpu shares

def test_cpu_weight_fixed_points() -> None:
    # min, default and max map onto v2's min, default and max; 0 stays "unset".
    for shares, weight in ((0, 0), (1, 1), (2, 1), (1024, 100), (262144, 10000), (1 << 40, 10000)):
        assert convert.cpu_shares_to_weight(shares) == weight
    assert convert.cpu_shares_to_weight_linear(1024) == 39  # why the curve replaced it


@given(SHARES, SHARES)
def test_cpu_weight_monotonic_in_range(a: int, b: int) -> None:
    low, high = sorted((a, b))
    for conversion in (convert.cpu_shares_to_weight, convert.cpu_shares_to_weight_linear):
        assert convert.CPU_WEIGHT_MIN <= conversion(low) <= conversion(high) <= convert.CPU_WEIGHT_MAX


@given(SHARES)
def test_cpu_weight_linear_formula(shares: int) -> None:
    assert convert.cpu_shares_to_weight_linear(shares) == 1 + (shares - 2) * 9999 // 262142


@given(s.integers(min_value=3, max_value=convert.CPU_SHARES_MAX - 1))
def test_cpu_weight_curve_keeps_ratios_roughly(shares: int) -> None:
    # Doubling shares must never more than triple nor fail to grow the weight
    # (up to the rounding of small weights): the curve is close to a power law.
    weight, doubled = convert.cpu_shares_to_weight(shares), convert.cpu_shares_to_weight(min(shares * 2, 262144))
    assert weight <= doubled <= 3 * weight + 1


# ---------------------------------------------------------------- block io

def test_io_weight_fixed_points() -> None:
    assert [convert.blkio_weight_to_io_weight(w) for w in (0, 10, 500, 1000)] == [0, 1, 4950, 10000]


@given(BLKIO, BLKIO)
def test_io_weight_monotonic_in_range(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 1 <= convert.blkio_weight_to_io_weight(low) <= convert.blkio_weight_to_io_weight(high) <= 10000


@given(s.integers(min_value=1, max_value=65535))
def test_io_weight_clamps_out_of_range(weight: int) -> None:
    clamped = min(max(weight, 10), 1000)
    assert convert.blkio_weight_to_io_weight(weight) == convert.blkio_weight_to_io_weight(clamped)


# ---------------------------------------------------------------- memory swap

@given(BYTES, BYTES)
def test_swap_is_the_part_above_memory(memory: int, extra: int) -> None:
    swap_only = convert.memory_swap_to_v2(memory + extra, memory)
    assert swap_only == extra and swap_only + memory == memory + extra


@given(s.integers(min_value=2, max_value=1 << 62).flatmap(
    lambda memory: s.tuples(s.just(memory), s.integers(min_value=1, max_value=memory - 1))))
def test_swap_below_memory_is_refused(limits: tuple[int, int]) -> None:
    memory, swap = limits
    with pytest.raises(ValueError, match="at least the memory limit"):
        convert.memory_swap_to_v2(swap, memory)


@given(s.integers(min_value=-1, max_value=1 << 62))
def test_swap_special_values(memory: int) -> None:
    assert convert.memory_swap_to_v2(-1, memory) == -1  # unlimited stays unlimited
    if memory == -1:
        assert convert.memory_swap_to_v2(0, memory) == -1  # unlimited memory lifts swap
    elif memory > 0:
        assert convert.memory_swap_to_v2(0, memory) == 0  # unset stays unset
    with pytest.raises(ValueError, match="without a memory limit"):
        convert.memory_swap_to_v2(5, 0)


@given(s.integers(min_value=-1, max_value=1 << 62))
def test_v2_limit_text(value: int) -> None:
    assert convert.v2_limit(value) == ("max" if value == -1 else str(value))


@given(s.one_of(s.none(), s.integers(min_value=-1, max_value=1 << 40)),
       s.one_of(s.none(), s.integers(min_value=1000, max_value=1000000)))
def test_cpu_max(quota: int | None, period: int | None) -> None:
    text = convert.cpu_max(quota, period, current_quota="12345")
    if quota is None and period is None:
        assert text is None
        return
    assert text is not None
    fields = text.split()
    expected_quota = "12345" if quota is None else ("max" if quota <= 0 else str(quota))
    assert fields[0] == expected_quota and fields[1:] == ([] if period is None else [str(period)])


# ---------------------------------------------------------------- devices (v1 rules -> v2 list)

NUMBER = s.sampled_from([WILDCARD, 1, 3, 5, 136])
ACCESS = s.sets(s.sampled_from("rwm"), min_size=1).map(lambda a: "".join(c for c in "rwm" if c in a))
RULE = s.tuples(s.booleans(), s.sampled_from("abc"), NUMBER, NUMBER, ACCESS)


def emulate(rules: list[tuple], start: DeviceEmulator | None = None) -> DeviceEmulator:
    emulator = start or DeviceEmulator()
    for rule in rules:
        emulator.apply(rule, "rule")
    return emulator


def state(emulator: DeviceEmulator) -> tuple[bool, dict]:
    return emulator.default_allow, emulator.exceptions


@given(s.lists(RULE, max_size=12))
def test_effective_rules_rebuild_the_same_state(rules: list[tuple]) -> None:
    try:
        target = emulate(rules)
    except PyruncError:
        assume(False)  # a hole punched in a wildcard rule is refused by design
    compiled = target.rules()
    assert compiled[0][1] == "a" and all(rule[1] != "a" for rule in compiled[1:])
    assert state(emulate(compiled, DeviceEmulator(default_allow=False))) == state(target)


@given(s.lists(RULE, max_size=8), s.lists(RULE, max_size=8))
def test_transition_reaches_the_target(before: list[tuple], after: list[tuple]) -> None:
    try:
        source, target = emulate(before), emulate(after)
        reached = emulate(source.transition(target), emulate(before))
    except PyruncError:
        assume(False)
    if source.default_allow:
        # A v1 allow-list cannot show its deny exceptions, so the transition
        # starts with a disruptive rule.
        assert source.transition(target)[0][1] == "a"
    assert state(reached) == state(target)


@given(s.lists(RULE, max_size=8))
def test_transition_to_self_is_empty_for_deny_default(rules: list[tuple]) -> None:
    try:
        target = emulate([(False, "a", WILDCARD, WILDCARD, "rwm")] + rules)
    except PyruncError:
        assume(False)
    assume(not target.default_allow)
    assert target.transition(target) == []
