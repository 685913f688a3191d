"""End to end on the devnet: one captured opportunity is one trace (a root span and its stages as spans, in
order, with their attributes), exported over OTLP/HTTP as a whole tree (every parent present); every log
line of its lifecycle carries its trace id and the span id of the stage it was written in, and its audit
records carry the trace id too; a rejected opportunity's trace ends in `skipped` with the risk book's reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from loguru import logger

from actors.risk_book import RiskBook
from amm.gas import PriceBook
from bot import logging as bot_logging
from bot.tracing import start_tracing, stop_tracing
from devnet.session import Devnet
from monitoring import tracing
from persistence import SqliteRiskStore, audit_trail
from protocol.execution import GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.monitoring import MonitoringConfig
from protocol.risk import RiskLimits
from supervision import ChildSpec, Handle, stop_tree
from tests.e2e.conftest import EXECUTOR, start_bot
from tests.execution.helpers import market_swap
from tests.monitoring.otlp_receiver import ExportedSpan, Receiver, missing_parents, otlp_receiver
from tests.waiting import wait_until


class Traced:
    """Tracing as the bot starts it (the in-memory store and OTLP/HTTP export to a local receiver), and
    every log record captured as the JSON line the file sink writes."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.provider = start_tracing(MonitoringConfig(otlp_endpoint=receiver.url))
        store = tracing.store()
        assert store is not None
        self.store = store
        self.lines: list[str] = []

    def stop(self) -> None:
        """Stop tracing (its open traces end, the batch is flushed to the receiver)."""
        if self.provider is not None:
            stop_tracing(self.provider)
            self.provider = None

    def exported(self, trace_id: str, spans: int) -> list[ExportedSpan]:
        return wait_until(lambda: len(got := [s for s in list(self.receiver.spans) if s.trace_id == trace_id])
                          >= spans and got, what=f"{spans} spans of {trace_id} exported",
                          changed=self.receiver.changed)

    def log_records(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(str(line)) for line in list(self.lines)]


@pytest.fixture
def traced() -> Iterator[Traced]:
    with otlp_receiver() as receiver:
        traced = Traced(receiver)
        logger.configure(patcher=bot_logging._patch)
        sink = logger.add(traced.lines.append, level="DEBUG", format=bot_logging._json_format)
        try:
            yield traced
        finally:
            logger.remove(sink)
            logger.configure(patcher=lambda record: None)
            traced.stop()


def lines_of(records: list[dict[str, Any]], record: TradeRecord) -> list[dict[str, Any]]:
    """The log lines of one trade's lifecycle: those naming the opportunity or its tx, or carrying its id."""
    tx = record.tx_hash
    return [r for r in records if record.opportunity_id in r["message"] or (tx is not None and tx in r["message"])
            or r["trace_id"] == record.opportunity_id]


def trades() -> tuple[TradeRecord, ...]:
    return Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)  # type: ignore[no-any-return]


def final(record: TradeRecord, store: tracing.TraceStore) -> list[tracing.SpanRecord]:
    return wait_until(lambda: (t := store.timeline(record.opportunity_id)) and t[-1].name in tracing.FINAL and t,
                      timeout=15.0, what=f"the trace of {record.opportunity_id} ended")


def test_a_captured_opportunity_is_one_trace_with_its_stages_in_order(isolated: Devnet, traced: Traced) -> None:
    store = traced.store
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PUBLIC)
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    gap_block = market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
    bot.wait_executor(lambda s: s.mined >= 1, "the gap captured")
    record = next(t for t in trades() if t.stage is TradeStage.MINED)
    spans = final(record, store)
    assert len(record.opportunity_id) == 32 and int(record.opportunity_id, 16)  # the OTel trace id, 128 bits
    # the root first; the risk book and the node are asked at once: assessed and simulated overlap, then
    # one after another
    names = [s.name for s in spans]
    assert names[:2] == [tracing.ROOT, "detected"] and set(names[2:4]) == {"assessed", "simulated"}
    assert names[4:] == ["signed", "sent", "included"]
    root, stages = spans[0], spans[1:]
    assert all(s.end_ns >= s.start_ns for s in spans)
    assert stages[3].start_ns >= max(stages[1].end_ns, stages[2].end_ns) and stages[5].start_ns >= stages[4].end_ns
    assert root.parent_id is None and {s.parent_id for s in stages} == {root.span_id}  # siblings under the root
    assert root.start_ns <= stages[0].start_ns and root.end_ns >= max(s.end_ns for s in stages)
    assert root.attributes["trade.outcome"] == "included"
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

    # exported over OTLP as the store has it: the whole tree, the root included, no parent missing
    stop_tree(10.0)
    traced.stop()
    exported = traced.exported(record.opportunity_id, len(spans))
    assert sorted((s.name, s.span_id, s.parent_id) for s in exported) == sorted(
        (s.name, s.span_id, s.parent_id) for s in spans)
    assert missing_parents(exported) == []

    # every log line of the lifecycle carries the trace id and the span id of the stage it was written in
    mine = lines_of(traced.log_records(), record)
    assert mine and all(r["trace_id"] == record.opportunity_id for r in mine), [
        (r["actor"], r["message"][:80], r["trace_id"]) for r in mine if r["trace_id"] != record.opportunity_id]
    span_ids = {s.span_id: s.name for s in exported}
    assert all(r["span_id"] in span_ids for r in mine), [
        (r["actor"], r["message"][:80], r["span_id"]) for r in mine if r["span_id"] not in span_ids]
    stage_of = {r["message"].split(" ")[0]: span_ids[r["span_id"]] for r in mine}
    assert stage_of["opportunity"] == "detected"  # the strategy's line, while the detected stage is open
    assert stage_of["submitted"] == "sent"  # the send's answer
    assert stage_of["trade"] == "included"  # "trade mined in block N: ..."
    actors = {r["actor"] for r in mine}
    assert {"/market/strategy", "/market/executor"} <= actors


def test_a_rejected_opportunity_ends_in_skipped_with_the_risk_reasons(isolated: Devnet, traced: Traced,
                                                                      tmp_path: Path) -> None:
    store = traced.store
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
    assert names[:2] == [tracing.ROOT, "detected"] and names[-1] == "skipped" and "assessed" in names
    assert set(names) <= {tracing.ROOT, "detected", "assessed", "simulated", "skipped"}  # nothing signed or sent
    assert spans[0].attributes["trade.outcome"] == "skipped" and not spans[0].error
    assessed, skipped = spans[names.index("assessed")].attributes, spans[-1].attributes
    assert assessed["risk.approved"] is False
    assert skipped["risk.reasons"] == assessed["risk.reasons"] and skipped["risk.reasons"]
    decision = next(r for r in audit_trail.current().records()
                    if r.kind == "risk_decision" and r.trace_id == record.opportunity_id)
    assert decision.body["approved"] is False and decision.body["reasons"] == skipped["risk.reasons"]
    stop_tree(10.0)
    mine = lines_of(traced.log_records(), record)
    ids = {s.span_id: s.name for s in spans}
    skipped_line = next(r for r in mine if r["message"].startswith("trade skipped"))
    assert ids.get(skipped_line["span_id"]) == "skipped"
    assert all(r["span_id"] in ids for r in mine), [(r["message"][:80], r["span_id"]) for r in mine]
