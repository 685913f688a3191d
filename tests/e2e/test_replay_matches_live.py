"""The devnet records its own history, and the backtest replays it to the same trades as the live bot made.

The live run: the bot's market tree (pool-state -> strategy -> executor, the real RiskBook) trades on
anvil with the real Uniswap V2 contracts, with mining in the test's hands so each step is one block.
The record: `adapters.chain_history` ingests blocks 0..head from that anvil (the deployment included,
so every pool has its first Sync in the range). The replay: `backtest.engine.replay` over the record
with the live run's strategy and risk settings.

Equality holds, to the wei, under these conditions, each arranged and asserted here:
- no race: the competition model is off in the replay, and live, the bot's transaction is the only
  one touching its pools in the block after detection (the test mines that block with nothing else);
  so live fills at the detection block's reserves, as the replay does;
- the risk limits do not bind on size (a large book): the live book's and the replay's approvals
  are at full size, so the risk book's price window (both sample it at every block: the replay since
  the pools exist, live since the bot started) changes no size; the window's warm-up ends in both
  before the first gap: the bot starts at the deployment's head and sees two quiet heads first;
- decisions are far from the gas floor: the minimum net profit is 0.01 ETH, so the executor's
  simulated gas and the replay's measured gas bound cannot decide differently.
Gas is modelled, not replayed: the replay charges MEASURED_GAS at the detection block's base fee plus
the tip; live pays the receipt's gas at the inclusion block's price. Both are asserted exactly, as
what each is, so the net figures differ by precisely that and nothing else.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from actors.executor import Executor
from actors.pool_state import PoolState
from actors.risk_book import RiskBook
from actors.strategy import Strategy
from adapters.chain_history import ChainHistoryFetcher, FetchRequest, v2_events
from amm.gas import Numeraire, PriceBook
from backtest.competition import CompetitionModel
from backtest.engine import MEASURED_GAS, BacktestOptions, StrategyParams, replay
from backtest.ingest_plan import ChunkPolicy, Scope
from devnet.accounts import BOT
from devnet.executor_setup import deploy_executor
from devnet.session import Devnet
from persistence import SqliteRiskStore
from persistence.ingest_store import IngestStore
from protocol.execution import ExecutionPolicy, GetTrades, StrategySnapshot, SubmitMode, TradeRecord, TradeStage
from protocol.market import WatchedPool
from protocol.risk import RiskLimits
from protocol.secrets import Secret
from supervision import ChildSpec, Handle, RestartStrategy, supervisor_spec
from supervision.tree import start_tree
from tests.e2e.conftest import EXECUTOR, INVENTORY_WEI, POOLS, RISK, STRATEGY, Bot
from tests.execution.helpers import market_swap, pinned_client
from tests.waiting import wait_until

MIN_NET_PROFIT_WEI = 10**16  # 0.01 ETH: far above any gas difference between the two models
LIMITS = RiskLimits(initial_capital=10_000_000.0, max_trade_amount=10_000_000.0, max_position_size=1.0,
                    max_daily_loss=1_000_000.0, max_pool_share=1.0, impact_ceiling=1.0, volatility_ceiling=1.0)
TIP_WEI = 10**9


def scanned(head: int) -> bool:
    snap = Handle(STRATEGY).snapshot()
    return isinstance(snap, StrategySnapshot) and snap.scanned_block >= head


def start_live_bot(devnet: Devnet, tmp_path: Path, executor_address: str) -> Bot:
    """The market tree as bot.tree builds it for the devnet (numeraire USDC), a real RiskBook with LIMITS."""
    world = devnet.world
    client = pinned_client(devnet.node.http_url, world.chain_id)
    usdc = world.token("USDC")
    pools = tuple(WatchedPool(p.address, p.dex, p.token0, p.token1, p.fee_bps) for p in world.pools)
    book = ChildSpec("risk-book", RiskBook, kwargs={
        "limits": LIMITS, "open_store": lambda: SqliteRiskStore(str(tmp_path / "risk.sqlite3"), "replay")})
    market = supervisor_spec("market", [
        ChildSpec("pool-state", PoolState, kwargs={"client": client, "pools": pools, "listeners": (STRATEGY,),
                                                   "poll_interval_s": 0.01}),
        ChildSpec("executor", Executor, kwargs={
            "client": client, "chain_id": world.chain_id, "executor_address": executor_address,
            "mode": SubmitMode.PUBLIC, "risk_path": RISK, "key": Secret(BOT.key), "strategy_path": STRATEGY,
            "base_tokens": (world.weth.address,),
            "policy": ExecutionPolicy(follow_interval_s=0.01, priority_fee_wei=TIP_WEI,
                                      min_net_profit_wei=MIN_NET_PROFIT_WEI)}),
        ChildSpec("strategy", Strategy, kwargs={
            "pool_state_path": POOLS, "executor_path": EXECUTOR, "weth": world.weth.address,
            "base_tokens": (world.weth.address,), "min_net_profit_wei": MIN_NET_PROFIT_WEI,
            "numeraire": Numeraire(usdc.address, usdc.decimals, "USD"),
            "prices": PriceBook(symbols={t.address: t.symbol for t in world.tokens})}),
    ], strategy=RestartStrategy.REST_FOR_ONE)
    start_tree(supervisor_spec("root", [book, market]))
    bot = Bot(devnet, client, executor_address, None)
    bot.wait_executor(lambda s: s.last_head > 0 and s.next_nonce is not None, "executor started")
    return bot


def records() -> tuple[TradeRecord, ...]:
    answer: tuple[TradeRecord, ...] = Handle(EXECUTOR).ask(GetTrades(), timeout=5.0)
    return answer


def decided(bot: Bot) -> None:
    """Everything the strategy handed over so far is decided (refused, or sent and in flight)."""
    def done() -> bool:
        strategy = Handle(STRATEGY).snapshot()
        executor = bot.executor()
        return isinstance(strategy, StrategySnapshot) and executor.received >= strategy.handed \
            and executor.deciding == 0
    wait_until(done, timeout=30.0, what="the executor deciding what it was handed")


def settle(devnet: Devnet, bot: Bot) -> None:
    """Mine one block at a time (the bot's trades alone in it) until nothing is in flight."""
    for _ in range(10):
        if bot.executor().in_flight == 0:
            return
        mine_and_scan(devnet)
        decided(bot)
    raise AssertionError(f"still trading after 10 blocks: {bot.executor()}")


def mine_and_scan(devnet: Devnet) -> int:
    devnet.node.mine(1)
    head = devnet.w3.eth.block_number
    wait_until(partial(scanned, head), timeout=30.0, what=f"a scan of block {head}")
    return head


def test_a_replay_of_the_devnets_own_history_makes_the_live_runs_trades_to_the_wei(isolated: Devnet,
                                                                                   tmp_path: Path) -> None:
    devnet = isolated
    world = devnet.world
    node = devnet.node
    executor_address = deploy_executor(devnet.w3, BOT.address, weth=world.weth.address,
                                       weth_inventory_wei=INVENTORY_WEI)
    deploy_head = devnet.w3.eth.block_number
    # --- the live run -------------------------------------------------------------------------------
    node.set_automine(False)
    # The bot runs from the deployment's head, as the replay of a history that starts before the pools does:
    # the replay samples the risk book's prices at every block since the pools exist, live at every head it
    # sees; two more quiet heads give live the 3 prices the replay has by then.
    bot = start_live_bot(devnet, tmp_path, executor_address)
    wait_until(partial(scanned, deploy_head), timeout=30.0, what="the first scan")
    mine_and_scan(devnet)
    mine_and_scan(devnet)
    decided(bot)
    assert bot.executor().received == 0  # nothing to trade on the quiet market
    first_gap = market_swap(devnet.w3, world, world.pool("sushiswap", "WETH", "USDC").address, True, 20_000,
                            mine=lambda: node.mine(1))
    wait_until(partial(scanned, first_gap), timeout=30.0, what="the scan of the first gap")
    decided(bot)
    assert bot.executor().in_flight >= 1  # taken at once: 3 prices known
    settle(devnet, bot)
    for dex, symbol, zero_for_one, share in (("uniswap", "DAI", False, 25_000), ("sushiswap", "LINK", True, 30_000)):
        gap = market_swap(devnet.w3, world, world.pool(dex, "WETH", symbol).address, zero_for_one, share,
                          mine=lambda: node.mine(1))
        wait_until(partial(scanned, gap), timeout=30.0, what=f"the scan of block {gap}")
        decided(bot)
        settle(devnet, bot)
    head = mine_and_scan(devnet)
    decided(bot)
    live = records()
    live_mined = [r for r in live if r.stage is TradeStage.MINED]
    assert len(live_mined) >= 3, [(r.detected_block, r.stage.value, r.reason) for r in live]

    # --- the record: the devnet's own history, ingested from anvil ---------------------------------
    store = IngestStore(tmp_path / "history")
    client = pinned_client(node.http_url, world.chain_id)
    try:
        fetched = ChainHistoryFetcher(client, store).run(FetchRequest(
            0, head, Scope(factories=tuple((d.name, d.factory) for d in world.dexes)), world.weth.address,
            world.token("USDC").address, confirmations=0, policy=ChunkPolicy(initial_span=8)))
    finally:
        client.close()
    history = fetched.history
    assert history is not None and (int(history.block_number[0]), int(history.block_number[-1])) == (0, head)
    assert deploy_head < first_gap

    # --- the replay with the live run's settings ---------------------------------------------------
    strategy = StrategyParams(min_net_profit_wei=MIN_NET_PROFIT_WEI, priority_fee_wei=TIP_WEI,
                              inventory_eth=INVENTORY_WEI / 10**18, limits=LIMITS)
    result = replay(history, strategy, BacktestOptions(competition=CompetitionModel(enabled=False)))
    replayed = [(t.block - 1, t.block, t.hops, t.amount_in, t.gross_profit) for t in result.trades]
    lived = [(r.detected_block, r.included_block, hops_of(devnet, r), r.amount_in, r.realized_profit)
             for r in live_mined]
    assert replayed == lived
    assert [t.status for t in result.trades] == ["mined"] * len(lived)
    # neither refused anything: the warm-up (3 recent prices) was over in both before the first gap
    assert [r for r in live if r.stage is TradeStage.SKIPPED] == []
    assert sum(result.skipped.values()) == 0, result.skipped
    assert len(live) == len(live_mined)
    # live filled at the detection block's reserves: the simulation, the expectation and the receipt agree
    assert all(r.realized_profit == r.simulated_profit == r.expected_profit for r in live_mined)
    # gas, each as it is modelled: the replay's measured gas at the detection block's base fee plus the tip ...
    for trade in result.trades:
        detected_fee = int(history.base_fee_wei[trade.block - 1])
        assert trade.gas_used == MEASURED_GAS[trade.hops]
        assert trade.gas_cost_wei == MEASURED_GAS[trade.hops] * (detected_fee + TIP_WEI)
        assert trade.pnl_wei == trade.gross_profit - trade.gas_cost_wei
    # ... and live, the receipt's gas at the inclusion block's effective price (read from the chain)
    for record in live_mined:
        receipt = devnet.w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
        assert record.gas_used == receipt["gasUsed"]
        assert record.gas_cost_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"]


def hops_of(devnet: Devnet, record: TradeRecord) -> int:
    """A live trade's hops: the Swap logs in its receipt (one per pool of the route)."""
    swap = v2_events().swap.topic
    receipt = devnet.w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
    return sum(1 for log in receipt["logs"] if "0x" + log["topics"][0].hex().removeprefix("0x") == swap)
