"""`created` in the state: RFC 3339 in UTC with nanoseconds, computed
without time.strftime (state.rfc3339), as the C library would write it."""
from __future__ import annotations

import time

from hypothesis import given, strategies as st

from pyrunc.runtime.state import now_rfc3339, rfc3339

# 0001-01-01 to 9999-12-31, the years RFC 3339 can write.
FIRST, LAST = -62135596800, 253402300799


@given(st.integers(FIRST, LAST), st.integers(0, 999_999_999))
def test_matches_the_c_library(seconds: int, fraction: int) -> None:
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    assert rfc3339(seconds, fraction) == f"{int(expected[:-15]):04d}{expected[-15:]}.{fraction:09d}Z"


def test_edges() -> None:
    assert rfc3339(0, 0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339(951_782_400, 5) == "2000-02-29T00:00:00.000000005Z"
    assert rfc3339(4_107_542_399, 0) == "2100-02-28T23:59:59.000000000Z"
    assert rfc3339(-1, 999_999_999) == "1969-12-31T23:59:59.999999999Z"


def test_now_is_now() -> None:
    before = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
    now = now_rfc3339()
    after = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
    assert now[:16] in (before, after) and len(now) == 30
