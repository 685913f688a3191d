"""Trends: the least-squares slope of a metric over a window, and when it will cross its target.

`fit(points)` is ordinary least squares of value on time. `predict_crossing` extrapolates the fitted
line from the window's last time: the seconds until the fitted value reaches the target, or None
when the line moves away from it (or is flat). "RSS reaches 512 MB in about 3 h 10 min."
A crossing predicted within `WARN_WITHIN_S` (1 h) is a TrendWarning event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from protocol.performance import Trend

WARN_WITHIN_S = 3600.0
TREND_WINDOWS_S = (300, 3600)
#: A fit needs this many points (and a time span) to say anything.
MIN_POINTS = 5


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope per s, intercept) of the least-squares line through (t, value); None if undetermined."""
    n = len(points)
    if n < 2:
        return None
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    sxx = sum((t - mt) ** 2 for t, _ in points)
    if sxx <= 0:
        return None
    slope = sum((t - mt) * (v - mv) for t, v in points) / sxx
    return slope, mv - slope * mt


def predict_crossing(points: Sequence[tuple[float, float]], target: float) -> tuple[float, float, float | None]:
    """(slope, fitted value now, seconds until the fit reaches `target` or None)."""
    line = fit(points)
    if line is None:
        last = points[-1][1] if points else 0.0
        return 0.0, last, None
    slope, intercept = line
    now = points[-1][0]
    current = slope * now + intercept
    if slope == 0 or (target - current) / slope < 0:
        return slope, current, None
    return slope, current, (target - current) / slope


def human_duration(seconds: float) -> str:
    """3 h 10 min, 12 min, 40 s."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"


def describe(metric: str, target: float, unit: str, seconds: float | None, slope: float) -> str:
    if seconds is None:
        return f"{metric} is not heading for {target:g} {unit} ({slope:+.3g} {unit}/s)".replace("  ", " ")
    if seconds == 0:
        return f"{metric} is past {target:g} {unit}".replace("  ", " ")
    return f"{metric} reaches {target:g} {unit} in about {human_duration(seconds)}".replace("  ", " ")


class TrendSeries:
    """Samples of one metric kept for the longest trend window."""

    def __init__(self, metric: str, unit: str, target: float | None, keep_s: float = max(TREND_WINDOWS_S)) -> None:
        self.metric, self.unit, self.target, self.keep_s = metric, unit, target, keep_s
        self.points: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        self.points.append((now, value))
        while self.points and self.points[0][0] < now - self.keep_s:
            self.points.popleft()

    def trends(self, now: float) -> list[Trend]:
        out = []
        for window in TREND_WINDOWS_S:
            pts = [p for p in self.points if p[0] >= now - window]
            if len(pts) < MIN_POINTS or pts[-1][0] - pts[0][0] < window / 10:
                continue
            if self.target is None:
                line = fit(pts)
                slope = line[0] if line else 0.0
                out.append(Trend(self.metric, window, slope, pts[-1][1], None, None,
                                 f"{self.metric} {slope:+.3g} {self.unit}/s"))
                continue
            slope, current, seconds = predict_crossing(pts, self.target)
            out.append(Trend(self.metric, window, slope, current, self.target, seconds,
                             describe(self.metric, self.target, self.unit, seconds, slope)))
        return out
