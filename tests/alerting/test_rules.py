"""The rules parser builds the tree it was given (never eval), a bad rule names itself, `for` is honoured."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting import rules
from alerting.rules import And, Compare, Metric, Not, Or, Rate, RuleError, Truthy

names = st.sampled_from(["routable_endpoints", "emergency_stop", "equity", "trades_reverted"])
values = st.one_of(names.map(Metric), st.builds(Rate, names, st.sampled_from([1.0, 30.0, 60.0, 300.0])))
leaves = st.one_of(
    st.builds(Compare, values, st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
              st.integers(-1000, 1000).map(float)),
    st.builds(Truthy, values),
)
exprs = st.recursive(
    leaves,
    lambda inner: st.one_of(st.builds(Not, inner), st.lists(inner, min_size=2, max_size=3).map(lambda p: And(tuple(p))),
                            st.lists(inner, min_size=2, max_size=3).map(lambda p: Or(tuple(p)))),
    max_leaves=8,
)


def render(e: object) -> str:
    match e:
        case Compare(value=v, op=op, threshold=t):
            return f"{render(v)} {op} {t:g}"
        case Truthy(value=v):
            return render(v)
        case Metric(name=n):
            return n
        case Rate(name=n, window_s=w):
            return f"rate({n}, {w:g}s)"
        case Not(inner=i):
            return f"not ({render(i)})"
        case And(parts=p):
            return " and ".join(f"({render(x)})" for x in p)
        case Or(parts=p):
            return " or ".join(f"({render(x)})" for x in p)
    raise AssertionError(e)


@settings(max_examples=300, deadline=None)
@given(exprs)
def test_parse_gives_back_the_tree_that_was_rendered(tree: object) -> None:
    assert rules.parse_expression(render(tree)) == tree


@pytest.mark.parametrize(("raw", "needle"), [
    ({"name": "r1", "when": "equity >"}, "rule 'r1' when = 'equity >'"),
    ({"name": "r2", "when": "__import__('os').system('x')"}, "rule 'r2'"),
    ({"name": "r3", "when": "nosuch > 1"}, "unknown metric 'nosuch'"),
    ({"name": "r4", "when": "equity > 1", "for": "soon"}, "rule 'r4' 'soon' is not a duration"),
    ({"name": "r5", "when": "equity > 1", "priority": "urgent"}, "rule 'r5' 'urgent' is not a valid Priority"),
    ({"name": "r6", "when": "rate(equity, 10) > 1"}, "needs a window with a unit"),
    ({"when": "equity > 1"}, "alerts.rules[0] has no name"),
    ({"name": "r7", "when": "equity > 1", "severity": "x"}, "rule 'r7' unknown key 'severity'"),
])
def test_a_bad_rule_is_one_error_naming_the_rule(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(RuleError) as err:
        rules.parse_rules([raw], known_metrics=["equity"])
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_duplicate_rule_names_are_refused() -> None:
    with pytest.raises(RuleError, match="defined twice"):
        rules.parse_rules([{"name": "a", "when": "equity > 1"}] * 2, known_metrics=["equity"])


samples = st.lists(st.tuples(st.floats(0.1, 20, allow_nan=False), st.booleans()), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(samples, st.floats(0, 60, allow_nan=False))
def test_a_rule_fires_only_after_its_condition_held_for_its_for(seq: list[tuple[float, bool]], for_s: float) -> None:
    (rule,) = rules.parse_rules([{"name": "low", "when": "routable_endpoints < 2", "for": for_s}])
    state, now = rules.EngineState(), 0.0
    true_since: float | None = None
    firing = False
    for gap, bad in seq:
        now += gap
        state, events = rules.step((rule,), state, {"routable_endpoints": 1.0 if bad else 3.0}, now)
        true_since = (now if true_since is None else true_since) if bad else None
        for ev in events:
            if isinstance(ev, rules.RuleFired):
                assert true_since is not None and now - true_since >= for_s and not firing
                firing = True
            else:
                assert firing and not bad
                firing = False
        should = true_since is not None and now - true_since >= for_s
        assert firing == should


def test_rate_of_change_needs_its_window_of_history() -> None:
    (rule,) = rules.parse_rules([{"name": "losses", "when": "rate(trades_reverted, 60s) > 0.05"}])
    state = rules.EngineState()
    state, events = rules.step((rule,), state, {"trades_reverted": 0}, 0.0)
    state, events = rules.step((rule,), state, {"trades_reverted": 10}, 30.0)
    assert events == []  # only 30 s of history: the 60 s rate is unknown
    state, events = rules.step((rule,), state, {"trades_reverted": 10}, 60.0)
    assert [type(e).__name__ for e in events] == ["RuleFired"]  # (10 - 0) / 60 s
    state, events = rules.step((rule,), state, {"trades_reverted": 10}, 125.0)
    assert [type(e).__name__ for e in events] == ["RuleCleared"]
