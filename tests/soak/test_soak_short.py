"""The soak's short version: the real bot on its devnet for 2.5 minutes with all seven faults injected
in turn (one every 20 s), through `benchmarks/bench_soak.py` itself, asserting what a short run can:
no trade record lost, no unhandled exception, no alert lost, every fault recovered, as many threads at
the end as after warm-up. RSS growth needs the 30-minute run (`--minutes 30`): a short run only reports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.soak_faults import KINDS

REPO = Path(__file__).resolve().parents[2]
#: 2.5 minutes of faults plus the bot's start, the drain and the books: about 3.5 minutes on a loaded machine.
BOUND_S = 540

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(BOUND_S + 30)]


def test_a_short_soak_loses_nothing_and_recovers_from_every_fault(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_soak.py"), "--minutes", "2.5", "--fault-every", "20",
         "--baseline-minutes", "0.5", "--no-capture", "--keep", str(tmp_path / "soak")],
        cwd=REPO, capture_output=True, text=True, timeout=BOUND_S)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    faults = result["faults"]
    assert [f["kind"] for f in faults] == list(KINDS), faults
    assert all(f["recovered"] for f in faults), faults
    assert result["trades"] > 0, result
    assert result["trade_records_lost"] == 0, result["trade_books"]
    assert result["unhandled_exceptions"] == 0, result["errors"]
    assert result["alerts_lost"] == 0, result["alert_books"]
    assert result["threads_end"] == result["threads_start"], result
    assert result["drained"]["trades"], result
    assert result["bot_exit_code"] == 0, result
    mapped = result["bot_rss_by_mapping_mb"]  # read from smaps beside each RSS sample
    assert mapped is not None and sum(mapped["end"].values()) == pytest.approx(result["rss_end_mb"]["bot"], rel=0.05)
    assert mapped["end"]["reservations"] == 0, mapped  # no mimalloc arena: Arrow allocates from malloc
