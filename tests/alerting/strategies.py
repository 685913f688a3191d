"""Hypothesis strategies shared by the alerting tests."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol.alerts import AlertType, ChannelKind, Notification, NotificationLine, Priority

priorities = st.sampled_from(list(Priority))
types = st.sampled_from(list(AlertType))
texts = st.text(st.characters(codec="utf-8"), max_size=3000)

lines = st.builds(
    NotificationLine,
    alert_id=st.integers(1, 10**9),
    priority=priorities,
    title=texts,
    details=st.lists(st.tuples(st.text(max_size=30), texts), max_size=3).map(tuple),
    resolved=st.booleans(),
)

notifications = st.builds(
    Notification,
    ref=st.from_regex(r"[a-z0-9]{6,12}", fullmatch=True),
    channel=st.sampled_from(list(ChannelKind)),
    type=types,
    priority=priorities,
    title=texts,
    lines=st.lists(lines, min_size=1, max_size=12).map(tuple),
    held_back=st.lists(st.text(max_size=80), max_size=5).map(tuple),
    held_back_count=st.integers(0, 50),
)
