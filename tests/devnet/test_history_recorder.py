"""The devnet records its own history as it runs: the recorder actor under a real tree, on a real anvil."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from adapters.chain_history import v2_events
from backtest.ingest_plan import Checkpoint, Progress, Scope
from devnet.history_recorder import RECORDER_ID, history_recorder_spec
from devnet.market_simulator import market_simulator_spec
from devnet.session import Devnet
from persistence.history import load
from persistence.ingest_store import IngestStore
from protocol.history import HistoryRecorderSnapshot
from supervision import Handle, registry, start_tree, stop_tree, supervisor_spec
from tests.waiting import wait_until

pytestmark = pytest.mark.anvil
RECORDER = Handle(f"/{RECORDER_ID}")


@pytest.fixture
def tree() -> Iterator[None]:
    try:
        yield
    finally:
        stop_tree(timeout_s=15.0)
        registry.clear()


def recorded_beyond(block: int) -> HistoryRecorderSnapshot | None:
    snap = RECORDER.snapshot()
    if isinstance(snap, HistoryRecorderSnapshot) and snap.last_block is not None and snap.last_block >= block:
        return snap
    return None


def test_the_devnet_keeps_a_replayable_history_of_itself_while_the_market_trades(
        isolated_devnet: Devnet, tmp_path: Path, tree: None) -> None:
    devnet = isolated_devnet
    out = tmp_path / "history" / "devnet"
    # a directory left by an earlier devnet run (another chain) is moved aside, not resumed
    IngestStore(out).write_checkpoint(Checkpoint(devnet.world.chain_id, "0x" + "ee" * 32, Scope(pairs=("0x1",)), 0,
                                                 Progress(0, 1)))
    start_tree(supervisor_spec("root", [market_simulator_spec(devnet.world, interval_s=0.05),
                                        history_recorder_spec(devnet.world, out, interval_s=0.2)]))
    target = devnet.w3.eth.block_number + 20  # the simulator mines a block per transaction (automine)
    wait_until(lambda: devnet.w3.eth.block_number >= target, timeout=60.0, what=f"the market reaching {target}")
    snap = wait_until(lambda: recorded_beyond(target), timeout=60.0, what=f"the history recorded past {target}")
    assert snap.failures == 0, snap.last_error
    history = load(out)  # the history files are complete at every run's end
    last = int(history.block_number[-1])
    assert int(history.block_number[0]) == 0 and last >= target
    events = v2_events()
    syncs = devnet.w3.eth.get_logs({"fromBlock": 0, "toBlock": last, "topics": [events.sync.topic]})
    assert history.events == len(syncs) and history.events > len(devnet.world.pools)  # deployment + the market's
    moved = IngestStore(out.with_name("devnet.previous")).read_checkpoint()
    assert moved is not None and moved.genesis_hash == "0x" + "ee" * 32
    current = IngestStore(out).read_checkpoint()
    assert current is not None and current.genesis_hash == devnet.w3.eth.get_block(0)["hash"].to_0x_hex()
    assert msgspec.json.decode((out / "meta.json").read_bytes())["synthetic"] is None  # recorded, not synthetic
