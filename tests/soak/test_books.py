"""The soak run's books (benchmarks/soak_accounting.py): each loss they exist to catch is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks.soak_accounting import (
    MAPPING_KINDS,
    AlertRow,
    DeliveryRow,
    Sample,
    alert_books,
    growth,
    pending_fates,
    rss_by_mapping,
    thread_change,
    trade_books,
    unhandled,
)
from monitoring.audit import AuditRecord


def _rec(seq: int, kind: str, body: dict[str, Any], trace_id: str | None = None) -> AuditRecord:
    return AuditRecord(seq=seq, at=float(seq), kind=kind, actor="/market/executor", trace_id=trace_id, body=body,
                       prev="")


def test_growth_is_measured_from_the_baseline_sample_per_process_and_summed() -> None:
    samples = [Sample(10, 200.0, 20.0, 9), Sample(300, 100.0, 50.0, 30), Sample(600, 104.0, 51.0, 30)]
    g = growth(samples, 300)
    assert g["rss_start_mb"] == {"bot": 100.0, "anvil": 50.0, "total": 150.0}
    assert g["rss_end_mb"] == {"bot": 104.0, "anvil": 51.0, "total": 155.0}
    assert g["rss_growth_pct"] == {"bot": 4.0, "anvil": 2.0, "total": 3.33}
    with pytest.raises(ValueError):
        growth([], 0)


SMAPS = """\
55d0c0000000-55d0c2000000 rw-p 00000000 00:00 0                          [heap]
Size:              32768 kB
Rss:               22528 kB
7f1c04000000-7f1c06000000 rw-p 00000000 00:00 0
Size:              32768 kB
Rss:                2048 kB
VmFlags: rd wr mr mw me nr sd
7f1c06000000-7f1c08000000 ---p 00000000 00:00 0
Size:              32768 kB
Rss:                   0 kB
7f1c10000000-7f1c50000000 rw-p 00000000 00:00 0
Size:            1048576 kB
Rss:               67584 kB
7f1c50100000-7f1c50200000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                1024 kB
7f1c50200000-7f1c50300000 r-xp 00000000 08:01 1234                       /usr/lib/libc.so.6
Size:               1024 kB
Rss:                 512 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                  32 kB
"""


def test_rss_is_split_by_the_kind_of_mapping_that_holds_it() -> None:
    assert rss_by_mapping(SMAPS) == {"heap": 22.0, "malloc_arenas": 2.0, "reservations": 66.0,
                                     "other_anon": 1.0, "files": 0.5}  # other: 1 MiB + the stack


def test_this_process_s_own_smaps_add_up_to_its_rss() -> None:
    mapped = rss_by_mapping(Path("/proc/self/smaps").read_text())
    rss_mb = psutil.Process().memory_info().rss / 2**20
    assert set(mapped) == set(MAPPING_KINDS)
    assert sum(mapped.values()) == pytest.approx(rss_mb, rel=0.05)
    assert mapped["files"] > 0 and mapped["heap"] + mapped["other_anon"] > 0


def test_growth_splits_the_bot_s_growth_by_mapping_when_it_was_read() -> None:
    start = {"heap": 20.0, "malloc_arenas": 10.0, "reservations": 0.0, "other_anon": 60.0, "files": 80.0}
    end = {**start, "malloc_arenas": 17.5, "other_anon": 61.0}
    g = growth([Sample(300, 170.0, 0.0, 40, (), start), Sample(600, 178.5, 0.0, 40, (), end)], 300)
    assert g["bot_rss_by_mapping_mb"]["growth"] == {"heap": 0.0, "malloc_arenas": 7.5, "reservations": 0.0,
                                                    "other_anon": 1.0, "files": 0.0}
    assert growth([Sample(300, 1.0, 0.0, 1), Sample(600, 1.0, 0.0, 1)], 300)["bot_rss_by_mapping_mb"] is None


def test_a_trade_on_chain_without_its_submission_record_or_a_submission_without_its_end_is_lost() -> None:
    trail = [
        _rec(1, "trade_submitted", {"trade": "t1", "tx_hash": "0xAA"}, "t1"),
        _rec(2, "trade_mined", {"opportunity_id": "t1", "tx_hash": "0xaa", "realized_profit": 7}, "t1"),
        _rec(3, "trade_submitted", {"trade": "t2", "tx_hash": "0xbb"}, "t2"),
        _rec(4, "trade_failed", {"opportunity_id": "t2", "tx_hash": "0xbb", "realized_profit": None}, "t2"),
    ]
    whole = trade_books(["0xaa"], trail)  # t2 never reached the chain (not included): it has its end record
    assert (whole["trades"], whole["trade_records_lost"], whole["realized_gross_wei"]) == (1, 0, 7)
    unrecorded = trade_books(["0xaa", "0xcc"], trail)
    assert unrecorded["trade_records_lost"] == 1 and unrecorded["trades_on_chain_without_record"] == ["0xcc"]
    unended = trade_books(["0xaa", "0xdd"], [*trail, _rec(5, "trade_submitted", {"trade": "t3", "tx_hash": "0xdd"})])
    assert unended["trade_records_lost"] == 1 and unended["trades_submitted_without_end"] == ["t3"]


def _routes(kind: str, priority: str) -> list[str]:
    return ["log", "discord"] if priority != "low" else ["log"]


def test_every_routed_alert_reached_its_channels_or_is_accounted_with_a_reason() -> None:
    alerts = [AlertRow(1, "network", "high", "notified", "c1", False, 100.0)]
    deliveries = [DeliveryRow(1, "log", (1,), "delivered", 1, ""), DeliveryRow(2, "discord", (1,), "delivered", 2, "")]
    received = {"log": {"1"}, "discord": {"2"}}
    assert alert_books(alerts, deliveries, received, _routes, due={}, now=200.0)["alerts_lost"] == 0
    # marked delivered, but the server never got that ref
    unheard = {"log": {"1"}, "discord": set()}
    assert alert_books(alerts, deliveries, unheard, _routes, due={}, now=200.0)["alerts_lost"] == 1
    # failed with a reason, or still queued at the stop: accounted; failed without one, or left sending: lost
    failed = [deliveries[0], DeliveryRow(2, "discord", (1,), "failed", 2, "HTTP 500")]
    assert alert_books(alerts, failed, received, _routes, due={}, now=200.0)["alerts_lost"] == 0
    queued = [deliveries[0], DeliveryRow(2, "discord", (1,), "queued", None, "")]
    assert alert_books(alerts, queued, received, _routes, due={}, now=200.0)["alerts_lost"] == 0
    bare = [deliveries[0], DeliveryRow(2, "discord", (1,), "failed", 2, "")]
    assert alert_books(alerts, bare, received, _routes, due={}, now=200.0)["alerts_lost"] == 1
    sending = [deliveries[0], DeliveryRow(2, "discord", (1,), "sending", 2, "")]
    assert alert_books(alerts, sending, received, _routes, due={}, now=200.0)["alerts_lost"] == 1
    # never routed to discord at all
    books = alert_books(alerts, deliveries[:1], received, _routes, due={}, now=200.0)
    assert books["alerts_lost"] == 1 and "never routed to discord" in books["alerts_lost_detail"][0]


def test_a_pending_alert_is_cancelled_by_its_clear_waiting_for_its_group_or_stuck() -> None:
    fired, cleared = AlertRow(1, "network", "high", "pending", "q", False, 100.0), \
        AlertRow(2, "network", "high", "pending", "q", True, 106.0)
    later = AlertRow(3, "system", "high", "pending", "e", False, 190.0)  # its group notifies at 400 (the interval)
    overdue = AlertRow(4, "system", "high", "pending", "f", False, 100.0)  # its group was due at 130
    dropped = AlertRow(5, "trade", "high", "pending", "g", False, 100.0)  # in no group, never cleared
    fates = pending_fates([fired, cleared, later, overdue, dropped], {3: 400.0, 4: 130.0}, now=200.0)
    assert fates == {1: "cancelled", 2: "cancelled", 3: "waiting", 4: "stuck", 5: "stuck"}
    books = alert_books([later, overdue, dropped], [], {}, _routes, due={3: 400.0, 4: 130.0}, now=200.0)
    assert books["alerts_lost"] == 2 and "in no due group" in books["alerts_lost_detail"][0]
    assert books["alerts_by_status"] == {"pending (waiting)": 1, "pending (stuck)": 2}


def test_unhandled_exceptions_are_the_logged_crashes_not_injected_and_the_stray_thread_tracebacks() -> None:
    records = [
        {"level": "ERROR", "message": "actor crashed", "actor": "/market/strategy",
         "exception": {"type": "InjectedCrash", "message": "killed from the console"}},
        {"level": "ERROR", "message": "actor crashed", "actor": "/market/executor",
         "exception": {"type": "KeyError", "message": "'x'"}},
        {"level": "ERROR", "message": "ALERT [critical] EMERGENCY STOP"},  # the log channel delivering
        {"level": "ERROR", "message": "alert delivery failed on discord: refused"},
        {"level": "WARNING", "message": "slow", "exception": {"type": "TimeoutError"}},
    ]
    output = "12:00 INFO fine\nException in thread io-loop:\nTraceback (most recent call last):\n  ...\n"
    found = unhandled(records, output)
    assert found["unhandled_exceptions"] == 2
    assert found["unhandled_detail"] == {"KeyError: /market/executor": 1}
    assert found["stray_tracebacks"] == ["Exception in thread io-loop:"]
    assert unhandled(records[:1] + records[2:4], "")["unhandled_exceptions"] == 0


def test_thread_change_names_the_threads_added_and_gone_one_entry_per_thread() -> None:
    start = Sample(30, 100.0, 50.0, 4, ("/a", "ThreadPoolExecutor-0_0", "tid:7", "tid:7"))
    end = Sample(600, 100.0, 50.0, 5, ("/a", "tid:7", "tid:7", "tid:9", "ws-reader", "ws-reader"))
    assert thread_change(start, end) == {"added": ["tid:9", "ws-reader", "ws-reader"],
                                         "gone": ["ThreadPoolExecutor-0_0"], "labelled": [4, 6]}
