"""Issue 12 item 10: one risk book per world (mode, chain id, genesis, trading account), file mode 0600."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.tree import TreeInputs, risk_world
from persistence.sqlite_store import SqliteRiskStore
from protocol.config import Config, ExecutionConfig
from protocol.risk import RiskLimits
from risk import apply_outcome, new_state
from risk.world import MODES, book_world
from tests.risk.factories import T0, outcome

LIMITS = RiskLimits()
GENESIS_A = "0x" + "ab" * 32
GENESIS_B = "0x" + "cd" * 32


def test_a_fresh_devnet_and_a_paper_run_do_not_inherit_a_book(tmp_path):
    path = tmp_path / "risk-book.sqlite3"
    first = book_world("devnet", 31337, GENESIS_A, "0x" + "11" * 20).book_id
    fresh = book_world("devnet", 31337, GENESIS_B, "0x" + "11" * 20).book_id  # a new anvil: a new genesis
    paper = book_world("paper", 31337, GENESIS_A, "0x" + "11" * 20).book_id
    store = SqliteRiskStore(path, first, ledger=first)
    won, _ = apply_outcome(new_state(LIMITS, T0), outcome("w", 5_949.0), LIMITS, T0)
    store.save(won)
    assert store.reserve_loss(won.day_start, "r", 900.0, 1_000.0, T0 + 60, T0)
    store.close()
    for other in (fresh, paper):
        again = SqliteRiskStore(path, other, ledger=other)
        assert again.load() is None  # a fresh book, not equity 15,949
        assert again.reserve_loss(won.day_start, "r2", 900.0, 1_000.0, T0 + 60, T0)  # its own daily budget
        again.close()
    same = SqliteRiskStore(path, first, ledger=first)
    loaded = same.load()
    assert loaded is not None and loaded.equity == 15_949.0
    same.close()


def test_the_database_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "risk-book.sqlite3"
    store = SqliteRiskStore(path, "paper:1:0x:0x")
    store.save(new_state(LIMITS, T0))
    for suffix in ("", "-wal", "-shm"):
        target = f"{path}{suffix}"
        if os.path.exists(target):
            assert stat.S_IMODE(os.stat(target).st_mode) == 0o600, suffix
    store.close()
    os.chmod(path, 0o644)  # a file left readable by an older version is tightened on open
    SqliteRiskStore(path, "paper:1:0x:0x").close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_tree_keys_the_book_by_mode_chain_genesis_and_executor():
    devnet = SimpleNamespace(world=SimpleNamespace(chain_id=31337, http_url="http://127.0.0.1:9"))  # nobody there
    dev = risk_world(TreeInputs(config=Config(), devnet=devnet, executor_address="0xE1"))
    assert dev.book_id == "devnet:31337:genesis-unknown:0xe1"
    paper = risk_world(TreeInputs(config=Config(), executor_address="0xE1"))
    assert paper.mode == "paper" and paper.book_id != dev.book_id
    live_no_key = Config(execution=msgspec.structs.replace(ExecutionConfig(), live_mode=True))
    assert risk_world(TreeInputs(config=live_no_key)).mode == "paper"  # live needs a key too


def test_bad_world_parts_are_named():
    with pytest.raises(ValueError, match="mode"):
        book_world("prod", 1, GENESIS_A, "0x1")
    with pytest.raises(ValueError, match="chain id"):
        book_world("paper", -1, GENESIS_A, "0x1")


hexes = st.text("0123456789abcdef", min_size=1, max_size=16)


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(st.sampled_from(MODES), st.integers(0, 10**6), hexes, hexes),
    b=st.tuples(st.sampled_from(MODES), st.integers(0, 10**6), hexes, hexes),
)
def test_property_different_worlds_never_share_a_book(a, b):
    wa = book_world(a[0], a[1], "0x" + a[2], "0x" + a[3])
    wb = book_world(b[0], b[1], "0x" + b[2], "0x" + b[3])
    assert (wa.book_id == wb.book_id) == (wa == wb)
