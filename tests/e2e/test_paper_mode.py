"""Paper mode detects and simulates but never signs or sends; a key never reaches a log line."""

from __future__ import annotations

import io

from loguru import logger

from devnet.accounts import BOT
from devnet.session import Devnet
from execution.mode import decide_mode
from protocol.execution import GetTrades, SubmitMode, TradeRecord, TradeStage
from protocol.secrets import Secret
from supervision import Handle
from tests.e2e.conftest import EXECUTOR, start_bot
from tests.execution.helpers import checksum, market_swap

KEY = Secret(BOT.key)


def test_mode_rules() -> None:
    assert decide_mode(devnet=False, live_mode=False, key=KEY, relay_url=None)[0] is SubmitMode.PAPER
    assert decide_mode(devnet=False, live_mode=True, key=None, relay_url=None)[0] is SubmitMode.PAPER
    assert decide_mode(devnet=False, live_mode=True, key=KEY, relay_url=None)[0] is SubmitMode.PUBLIC
    assert decide_mode(devnet=False, live_mode=True, key=KEY, relay_url="http://relay")[0] is SubmitMode.PRIVATE
    assert decide_mode(devnet=True, live_mode=False, key=KEY, relay_url=None)[0] is SubmitMode.PUBLIC
    for mode in decide_mode(devnet=False, live_mode=True, key=KEY, relay_url=None):
        assert BOT.key[2:] not in str(mode)


def test_paper_mode_records_the_simulation_and_sends_nothing(isolated: Devnet) -> None:
    devnet = isolated
    bot = start_bot(devnet, SubmitMode.PAPER, key=None, account=BOT.address)
    nonce = devnet.w3.eth.get_transaction_count(checksum(BOT.address))
    pool = devnet.world.pool("sushiswap", "WETH", "USDC")
    market_swap(devnet.w3, devnet.world, pool.address, True, 20_000)
    snap = bot.wait_executor(lambda s: s.skipped >= 1, "paper trade recorded")
    records: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=2.0)
    record = records[0]
    assert record.stage is TradeStage.SKIPPED and record.mode is SubmitMode.PAPER
    assert record.reason.startswith("paper mode")
    assert record.simulated_profit == record.expected_profit > 0  # simulated exactly, as it would have traded
    assert record.tx_hash is None and record.nonce is None
    assert devnet.w3.eth.get_transaction_count(checksum(BOT.address)) == nonce
    assert snap.mode is SubmitMode.PAPER and snap.mined == 0


def test_a_live_run_never_logs_the_key(isolated: Devnet) -> None:
    sink = io.StringIO()
    handler = logger.add(sink, level="DEBUG", format="{message} {extra}")
    try:
        devnet = isolated
        bot = start_bot(devnet, SubmitMode.PUBLIC)
        market_swap(devnet.w3, devnet.world, devnet.world.pool("sushiswap", "WETH", "DAI").address, True, 20_000)
        bot.wait_executor(lambda s: s.mined >= 1, "a trade")
        status = str(Handle(EXECUTOR).snapshot())
    finally:
        logger.remove(handler)
    text = sink.getvalue()
    assert "trade mined" in text  # the log did capture the run
    assert BOT.key[2:] not in text and BOT.key[2:] not in status
