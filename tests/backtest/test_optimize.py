"""Walk-forward: test windows follow their training windows and never share a block; the search is seeded."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtest.synthetic import generate
from backtest.walkforward import folds
from bot.optimizing import optimise
from tests.backtest.busy import busy


@given(first=st.integers(0, 10**7), length=st.integers(2, 10**6), count=st.integers(1, 12))
def test_folds_roll_forward_without_overlap(first, length, count):
    last = first + length - 1
    if length < count + 1:
        return
    fs = folds(first, last, count)
    assert len(fs) == count
    for f in fs:
        assert first <= f.train_first <= f.train_last < f.test_first <= f.test_last <= last
        assert f.test_first == f.train_last + 1
    for a, b in itertools.pairwise(fs):
        assert b.train_first == a.test_first  # roll: the next fold trains on the window just tested


def test_the_search_never_scores_on_what_it_trained_on_and_is_reproducible():
    history = generate(busy(6, 0.6))
    seen: list[tuple[str, int, int]] = []
    a = optimise(history, fold_count=2, population=4, generations=2, seed=3, windows_seen=seen)
    for result in a.folds:
        f = result.fold
        trained = [(lo, hi) for role, lo, hi in seen if role == "train" and (lo, hi) == (f.train_first, f.train_last)]
        assert len(trained) == result.trials == 8
        assert ("test", f.test_first, f.test_last) in seen
        assert f.test_first > f.train_last
    # every training replay of a fold covers only that fold's training window
    fold_windows = {(r.fold.train_first, r.fold.train_last) for r in a.folds}
    assert {(lo, hi) for role, lo, hi in seen if role == "train"} == fold_windows
    b = optimise(history, fold_count=2, population=4, generations=2, seed=3)
    assert a == b
    # the same search over two local processes: trial for trial the same result
    assert optimise(history, fold_count=2, population=4, generations=2, seed=3, workers=2) == a
    assert a.overfitting_gap == a.in_sample_score - a.walk_forward_score


@pytest.mark.timeout(240)
def test_the_search_over_a_local_ray_instance_is_the_same_search():
    import ray  # noqa: F401  (the optional `ray` extra; the dev extra installs it, so this test never skips)
    history = generate(busy(6, 0.3))
    inline = optimise(history, fold_count=1, population=4, generations=2, seed=1)
    assert optimise(history, fold_count=1, population=4, generations=2, seed=1, workers=2,
                    ray_address="local") == inline
