"""End to end on the devnet: one captured opportunity is one trace (its stages as spans, in order, with
their attributes), every log line of its lifecycle carries its trace id, and its audit records too; a
rejected opportunity's trace ends in `skipped` with the risk book's reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from loguru import logger
from opentelemetry.sdk.trace import TracerProvider

from actors.risk_book import RiskBook
from amm.gas import PriceBook
from bot import logging as bot_logging
from devnet.session import Devnet
from monitoring import tracing
from persistence import SqliteRiskStore, audit_trail
from protocol.execution import GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.risk import RiskLimits
from supervision import ChildSpec, Handle, stop_tree
from tests.e2e.conftest import EXECUTOR, start_bot
from tests.execution.helpers import market_swap
from tests.waiting import wait_until


@pytest.fixture
def traced() -> Iterator[tuple[tracing.TraceStore, list[str]]]:
    """Tracing on, into a fresh store; every log record captured as the JSON line the file sink writes."""
    store = tracing.TraceStore()
    provider = TracerProvider()
    provider.add_span_processor(tracing.StoreProcessor(store))
    tracing.install(provider.get_tracer("test"), store)
    lines: list[str] = []
    logger.configure(patcher=bot_logging._patch)
    sink = logger.add(lines.append, level="DEBUG", format=bot_logging._json_format)
    try:
        yield store, lines
    finally:
        logger.remove(sink)
        logger.configure(patcher=lambda record: None)
        tracing.install(None)
        provider.shutdown()


def trades() -> tuple[TradeRecord, ...]:
    return Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)  # type: ignore[no-any-return]


def final(record: TradeRecord, store: tracing.TraceStore) -> list[tracing.SpanRecord]:
    return wait_until(lambda: (t := store.timeline(record.opportunity_id)) and t[-1].name in tracing.FINAL and t,
                      timeout=15.0, what=f"the trace of {record.opportunity_id} ended")


def test_a_captured_opportunity_is_one_trace_with_its_stages_in_order(isolated: Devnet, traced) -> None:
    store, log_lines = traced
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    gap_block = market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
    bot.wait_executor(lambda s: s.mined >= 1, "the gap captured")
    record = next(t for t in trades() if t.stage is TradeStage.MINED)
    spans = final(record, store)
    assert len(record.opportunity_id) == 32 and int(record.opportunity_id, 16)  # the OTel trace id, 128 bits
    # the risk book and the node are asked at once: assessed and simulated overlap, then one after another
    names = [s.name for s in spans]
    assert names[0] == "detected" and set(names[1:3]) == {"assessed", "simulated"}
    assert names[3:] == ["signed", "sent", "included"]
    assert all(s.end_ns >= s.start_ns for s in spans)
    assert spans[3].start_ns >= max(spans[1].end_ns, spans[2].end_ns) and spans[5].start_ns >= spans[4].end_ns
    assert len({s.parent_id for s in spans}) == 1  # siblings under the opportunity's root
    by = {s.name: s.attributes for s in spans}
    assert pool.address in by["detected"]["pools"] and by["detected"]["block"] == gap_block
    assert by["detected"]["profit.expected"] == str(record.expected_profit)
    assert by["assessed"]["risk.approved"] is True
    assert by["simulated"]["sim.profit"] == record.simulated_profit
    assert by["signed"]["tx.hash"] == by["sent"]["tx.hash"] == by["included"]["tx.hash"] == record.tx_hash
    assert by["included"]["profit.realized"] == str(record.realized_profit)
    assert by["included"]["block.included"] == record.included_block
    assert by["included"]["gas.used"] == record.gas_used > 0
    summary = store.slowest(10)
    assert any(s.trace_id == record.opportunity_id and s.last == "included" for s in summary)

    # the audit trail tells the same story under the same id
    kinds = [r.kind for r in audit_trail.current().records() if r.trace_id == record.opportunity_id]
    assert kinds == ["trade_submitted", "trade_mined"]
    assert audit_trail.verify_trail(audit_trail.current().directory).ok

    # every log line of the lifecycle carries the trace id: those naming the opportunity or its tx
    stop_tree(10.0)
    log_records: list[dict[str, Any]] = [msgspec.json.decode(str(line)) for line in list(log_lines)]
    mine = [r for r in log_records if record.opportunity_id in r["message"] or record.tx_hash in r["message"]
            or r["trace_id"] == record.opportunity_id]
    assert mine and all(r["trace_id"] == record.opportunity_id for r in mine), [
        (r["actor"], r["message"][:80], r["trace_id"]) for r in mine if r["trace_id"] != record.opportunity_id]
    actors = {r["actor"] for r in mine}
    assert {"/market/strategy", "/market/executor"} <= actors


def test_a_rejected_opportunity_ends_in_skipped_with_the_risk_reasons(isolated: Devnet, traced,
                                                                      tmp_path: Path) -> None:
    store, _ = traced
    devnet = isolated
    # a real book that refuses every trade: any score is above a zero ceiling (whether a fresh book has
    # price history by the first opportunity depends on how many blocks the strategy saw first)
    book = ChildSpec("risk-book", RiskBook, kwargs={
        "open_store": lambda: SqliteRiskStore(str(tmp_path / "risk.sqlite3"), "e2e"),
        "limits": RiskLimits(max_risk_score=0.0)})
    bot = start_bot(devnet, SubmitMode.PUBLIC, risk_book=book, prices=PriceBook(eth_value=3000.0))
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
    bot.wait_executor(lambda s: s.skipped >= 1, "a skipped opportunity")
    record = next(t for t in trades() if t.stage is TradeStage.SKIPPED)
    spans = final(record, store)
    names = [s.name for s in spans]  # the node is asked beside the book, so a simulation may be in it too
    assert names[0] == "detected" and names[-1] == "skipped" and "assessed" in names
    assert set(names) <= {"detected", "assessed", "simulated", "skipped"}  # nothing signed, nothing sent
    assessed, skipped = spans[names.index("assessed")].attributes, spans[-1].attributes
    assert assessed["risk.approved"] is False
    assert skipped["risk.reasons"] == assessed["risk.reasons"] and skipped["risk.reasons"]
    decision = next(r for r in audit_trail.current().records()
                    if r.kind == "risk_decision" and r.trace_id == record.opportunity_id)
    assert decision.body["approved"] is False and decision.body["reasons"] == skipped["risk.reasons"]
