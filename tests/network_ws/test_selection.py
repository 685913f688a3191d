"""Picking the WebSocket endpoint: configured order, cooldowns, lagging standbys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chainfeed.selection import EndpointPicker


def test_configured_order_then_round_robin_away_from_failures() -> None:
    p = EndpointPicker(["a", "b", "c"], cooldown_min_s=1.0, cooldown_max_s=8.0)
    assert p.pick(now=0.0) == ("a", 0.0)
    assert p.failed("a", now=0.0) == 1.0
    assert p.pick(now=0.0, after="a") == ("b", 0.0)
    assert p.failed("b", now=0.0) == 1.0 and p.failed("b", now=0.0) == 2.0  # doubles
    assert p.pick(now=0.5, after="b") == ("c", 0.0)
    p.failed("c", now=0.5)
    assert p.pick(now=0.6, after="c") == ("a", 0.4)  # everyone cooling: the soonest ready, and the wait
    p.saw_head("b", 10)
    assert p.failures["b"] == 0


def test_cooldown_is_capped() -> None:
    p = EndpointPicker(["a"], cooldown_min_s=1.0, cooldown_max_s=3.0)
    assert [p.failed("a", 0.0) for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]


def test_a_lagging_active_and_lagging_standbys() -> None:
    p = EndpointPicker(["a", "b", "c"], lag_blocks=3)
    for name, head in (("a", 10), ("b", 13), ("c", 11)):
        p.saw_head(name, head)
    assert p.lagging("a", 10) == ("b", 3)
    assert p.lagging("c", 11) is None
    # a fails: b is next in order and current; c is next after b but lags when b is out
    assert p.pick(now=0.0, after="a") == ("b", 0.0)
    p.failed("b", 0.0)
    p.saw_head("a", 20)
    assert p.pick(now=0.0, after="b") == ("a", 0.0)  # c (11) is 9 behind a (20): passed over


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["fail", "head", "pick"]), st.sampled_from("abcd"), st.integers(0, 50)),
        max_size=40,
    )
)
def test_never_picks_a_cooling_endpoint_while_another_is_ready(ops: list[tuple[str, str, int]]) -> None:
    p = EndpointPicker(list("abcd"), lag_blocks=3)
    now = 0.0
    for op, name, n in ops:
        now += n / 10
        if op == "fail":
            p.failed(name, now)
        elif op == "head":
            p.saw_head(name, n)
        else:
            chosen, wait = p.pick(now, after=name)
            ready = [e for e in "abcd" if p.down_until[e] <= now]
            if ready:
                assert wait == 0.0 and chosen in ready
                fresh = [e for e in ready if not (e in p.heads and max(p.heads.values()) - p.heads[e] >= 3)]
                assert not fresh or chosen in fresh
            else:
                assert wait == min(p.down_until.values()) - now and wait > 0
