"""The sampler on the whole devnet tree: it sees real measurements of every stage of a trade, and the
operator API reports them with the seed's keys."""

from __future__ import annotations

from pathlib import Path

from bot.manager import Phase4Manager
from performance.bottleneck import END_TO_END, STAGE_ADVICE
from protocol.config import load_config
from protocol.performance import PerfSnapshot
from supervision import Handle
from supervision.registry import clear
from tests.waiting import wait_until

STAGES = ("rpc.call", *STAGE_ADVICE, END_TO_END)


def test_the_sampler_sees_every_stage_of_real_trades(tmp_path: Path) -> None:
    manager = Phase4Manager(load_config({"DATA_DIR": str(tmp_path)})).initialize(block_time_s=1.0)
    try:
        def every_stage() -> PerfSnapshot | None:
            snap = Handle("/sampler").snapshot()
            if not isinstance(snap, PerfSnapshot):
                return None
            names = {m.name for m in snap.measurements if m.total > 0}
            return snap if set(STAGES) <= names else None

        snap = wait_until(every_stage, 120, f"measurements of {STAGES}")
        for name in STAGES:
            m = snap.measurement(name)
            assert m is not None
            minute = m.window(3600)
            assert minute is not None and minute.count > 0 and minute.p50_ms is not None and minute.p50_ms >= 0
        rpc = snap.measurement("rpc.call")
        assert rpc is not None and rpc.total > 10
        rpc_slo = snap.slo("rpcLatency")
        assert rpc_slo is not None and rpc_slo.windows[0].events > 0
        trades = snap.slo("successRate")
        assert trades is not None and trades.windows[-1].events > 0
        assert snap.system is not None and snap.system.rss_bytes > 0
        assert {a.path for a in snap.actors} >= {"/market/executor", "/risk-book", "/network/router"}

        report = manager.get_performance_report()
        assert report["overall"]["performance"]["grade"] in "ABCDF"
        assert report["components"]["networkOptimizer"]["averageLatency"] > 0
        assert 0 <= report["components"]["riskManager"]["successRate"] <= 1
        status = manager.get_system_status()
        assert status["healthStatus"]["overall"] in ("healthy", "degraded")
        assert "/sampler" in status["activeComponents"] and status["memory"]["rssBytes"] > 0
    finally:
        manager.shutdown()
        clear()
