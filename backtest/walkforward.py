"""Walk-forward windows: optimise on one window, score on the next, roll. Pure block arithmetic.

The history's blocks are cut into folds + 1 consecutive windows of equal length; fold i trains on
window i and tests on window i + 1, so a test window always starts after its training window ends
and never shares a block with it.
"""

from __future__ import annotations

import msgspec


class Fold(msgspec.Struct, frozen=True, rename="camel"):
    train_first: int
    train_last: int
    test_first: int
    test_last: int


def folds(first_block: int, last_block: int, count: int) -> tuple[Fold, ...]:
    """`count` rolling (train, test) folds over first_block..last_block (inclusive)."""
    if count < 1:
        raise ValueError(f"walk-forward needs at least one fold, got {count}")
    span = (last_block - first_block + 1) // (count + 1)
    if span < 1:
        raise ValueError(f"{last_block - first_block + 1} blocks cannot make {count + 1} windows")
    starts = [first_block + k * span for k in range(count + 2)]
    return tuple(Fold(starts[i], starts[i + 1] - 1, starts[i + 1], starts[i + 2] - 1) for i in range(count))
