"""The Redis store against a real redis-server: state, audit, the shared ledger, and two processes
racing for the last of the daily loss budget."""

from __future__ import annotations

import pytest
import redis

from persistence import open_risk_store
from persistence.redis_store import RedisRiskStore
from persistence.store import StateUnreadable
from protocol.risk import RiskLimits
from protocol.secrets import redact_url
from risk import new_state, reset_stop, trigger_stop
from tests.risk.factories import T0
from tests.risk.racing import race

pytestmark = pytest.mark.redis
LIMITS = RiskLimits()
ROUNDS = 25


def test_state_round_trips(redis_url):
    store = open_risk_store(redis_url=redis_url, book_id="bot-a")
    assert isinstance(store, RedisRiskStore)
    assert store.load() is None
    state, _ = trigger_stop(new_state(LIMITS, T0), "manual", "alice", T0)
    store.save(state)
    state, _ = reset_stop(state, "checked", "alice", T0 + 5)
    store.save(state)
    other = RedisRiskStore(redis_url, book_id="bot-a")
    assert other.load() == state
    assert RedisRiskStore(redis_url, book_id="bot-b").load() is None  # one state per book
    store.close()
    other.close()


def test_an_unreadable_state_key_is_renamed_aside_not_deleted(redis_url):
    store = RedisRiskStore(redis_url, book_id="bot-a")
    raw = redis.Redis.from_url(redis_url)
    raw.set("arbiter:risk:book:bot-a:state", b"\xc1garbage")
    with pytest.raises(StateUnreadable) as info:
        store.load()
    assert "arbiter:risk:book:bot-a:state" in str(info.value)
    assert raw.get(info.value.moved_to) == b"\xc1garbage"
    assert store.load() is None
    store.close()


def test_the_shared_ledger_counts_every_process(redis_url):
    a, b = RedisRiskStore(redis_url, "a"), RedisRiskStore(redis_url, "b")
    day = 86_400.0
    assert a.reserve_loss(day, "a1", 70.0, 100.0, expires_at=T0 + 60, now=T0)
    assert not b.reserve_loss(day, "b1", 40.0, 100.0, expires_at=T0 + 60, now=T0)
    shared = a.settle_loss(day, "a1", -55.5, now=T0 + 1)
    assert (shared.realized_pnl, shared.reserved) == (-55.5, 0.0)
    assert a.settle_loss(day, "a1", -55.5, now=T0 + 2).realized_pnl == -55.5  # idempotent
    assert b.reserve_loss(day, "b1", 44.5, 100.0, expires_at=T0 + 60, now=T0 + 3)
    assert not b.reserve_loss(day, "b2", 0.01, 100.0, expires_at=T0 + 60, now=T0 + 3)
    assert b.reserve_loss(day, "b2", 10.0, 100.0, expires_at=T0 + 200, now=T0 + 61)  # b1 lapsed
    a.close()
    b.close()


def test_redis_urls_are_redacted():
    assert redact_url("redis://:s3cret@10.0.0.1:6380/2") == "redis://***@10.0.0.1:6380/2"
    assert redact_url("redis://bot:s3cret@host/0") == "redis://***@host/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_two_processes_racing_for_the_last_of_the_budget_at_most_one_wins(redis_url):
    raw = redis.Redis.from_url(redis_url)
    for r in range(ROUNDS):  # 40 of each round's 100 already lost: 60 left, each racer wants 60
        raw.set(f"race:{r}:loss:86400:realized", -40 * 1_000_000)
    results = race(redis_url, ROUNDS, open_gate=lambda r, _racers: raw.rpush(f"race:go:{r}", 1, 1))
    for r in range(ROUNDS):
        won = [res[f"round {r}"] for res in results].count("won")
        assert won == 1, f"round {r}: {won} racers got the last 60 of the budget"
    for r in range(ROUNDS):  # the winner's reservation is recorded, the loser's is not
        assert len(raw.hgetall(f"race:{r}:loss:reservations")) == 1
