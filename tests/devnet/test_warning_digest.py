"""The repeated-warning digest: the first occurrence in full, then at most one count per period."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from devnet.warning_digest import WarningDigest


def test_first_then_counted_then_summarised() -> None:
    digest, line = WarningDigest(period_s=30).note(100.0)
    assert line == "first"
    for t in (101.0, 102.0, 103.0):
        digest, line = digest.note(t)
        assert line is None
    digest, line = digest.due(129.0)
    assert line is None  # a period has not passed yet
    digest, line = digest.due(131.0)
    assert line == "3 more in the last 31s (4 in all)"
    assert digest.due(500.0)[1] is None  # nothing pending: no line


@given(st.lists(st.floats(0, 10), max_size=200), st.floats(1, 60))
def test_every_occurrence_is_reported_once_and_lines_are_spaced(gaps: list[float], period: float) -> None:
    digest, now, logged, times = WarningDigest(period_s=period), 0.0, 0, []
    for gap in gaps:
        now += gap
        digest, line = digest.note(now)
        if line == "first":
            logged += 1
        elif line:
            logged += int(line.split()[0])
        if line:
            times.append(now)
    digest, line = digest.due(now + 2 * period)  # (now + period) - now may round below period
    if line:
        logged += int(line.split()[0])
    assert logged == len(gaps) == digest.total
    assert all(b - a >= period for a, b in itertools.pairwise(times))
