"""The trend predictor on synthetic series: the crossing within 5 %."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from performance.trend import TrendSeries, human_duration, predict_crossing

MB = 1024 * 1024


@settings(max_examples=50, deadline=None)
@given(st.floats(100, 400), st.floats(60, 3600), st.integers(0, 10_000))
def test_linear_and_noisy_series_predict_the_crossing(start_mb: float, cross_after_s: float, seed: int) -> None:
    """A 10 min window of RSS samples (every 5 s) heading for 512 MB within the hour; noise of 0.5 MB."""
    rng = random.Random(seed)
    target = 512.0
    times = [float(t) for t in range(0, 600, 5)]
    mb_per_s = (target - start_mb) / (times[-1] + cross_after_s)
    true_cross = cross_after_s
    for noise in (0.0, 0.5):
        pts = [(t, start_mb + mb_per_s * t + rng.gauss(0, noise)) for t in times]
        if pts[-1][1] >= target:
            continue
        _, _, seconds = predict_crossing(pts, target)
        assert seconds is not None
        assert abs(seconds - true_cross) <= 0.05 * true_cross, (seconds, true_cross)


def test_falling_series_never_crosses_and_text_reads_well() -> None:
    _, _, seconds = predict_crossing([(float(t), 500.0 - t) for t in range(10)], 512.0)
    assert seconds is None
    assert human_duration(3 * 3600 + 10 * 60) == "3 h 10 min"
    s = TrendSeries("RSS", "MB", 512.0)
    for t in range(0, 300, 10):
        s.add(float(t), 400 + t * 0.01)
    [five] = s.trends(290.0)
    assert five.window_s == 300 and five.text.startswith("RSS reaches 512 MB in about 3 h")
