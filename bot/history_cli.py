"""`python run.py history fetch`: ingest a block range of Uniswap V2 pool history from a node.

    run.py history fetch --from N [--to M] (--pairs A,B,... | --factory NAME=ADDR ...) --weth ADDR --quote ADDR
                         [--out DIR] [--rpc URL ...] [--confirmations K] [--span S] [--max-span S] [--timeout SEC]

Reads go through the bot's own network layer: one rpc:<name> endpoint actor per URL (--rpc, repeated,
or the configured RPC_URL_* endpoints), the router, and RpcClient's failover and hedging. The range
is fetched in chunks that halve when a node refuses them and widen again when it does not; a
killed run resumes where it stopped when started again with the same arguments (the checkpoint is in
DIR/.ingest). Only blocks `--confirmations` deep are ingested (default 64): --to beyond them stops
there, and a later run with a higher --to extends the same history. The result, DIR/blocks.parquet,
events.parquet, meta.json (and swaps.parquet), is what `run.py backtest --history DIR` replays.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from backtest.ingest_plan import DEFAULT_CONFIRMATIONS

DEFAULT_OUT = "var/history"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py history", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    fetch = sub.add_parser("fetch", help="ingest a block range from a node")
    fetch.add_argument("--from", dest="first", type=int, required=True, help="first block (inclusive)")
    fetch.add_argument("--to", dest="last", type=int, help="last block (inclusive; default: the last final block)")
    scope = fetch.add_mutually_exclusive_group(required=True)
    scope.add_argument("--pairs", help="comma-separated pair addresses")
    scope.add_argument("--factory", action="append", metavar="NAME=ADDR",
                       help="every pair this V2 factory created (repeat for several DEXes)")
    fetch.add_argument("--factory-from", type=int, default=0, help="where the PairCreated scan starts (default 0)")
    fetch.add_argument("--dex", action="append", default=[], metavar="NAME=FACTORY",
                       help="with --pairs: name the DEX of pairs made by FACTORY (default: the factory address)")
    fetch.add_argument("--weth", help="the wrapped native token (default: WETH_ADDRESS)")
    fetch.add_argument("--quote", help="the numeraire, a USD stablecoin (default: NUMERAIRE_TOKEN)")
    fetch.add_argument("--out", default=DEFAULT_OUT, help=f"history directory (default {DEFAULT_OUT})")
    fetch.add_argument("--rpc", action="append", default=[], metavar="URL",
                       help="an endpoint (repeat for failover; default: the configured RPC_URL_* endpoints)")
    fetch.add_argument("--confirmations", type=int, default=DEFAULT_CONFIRMATIONS,
                       help=f"blocks under the head that are final (default {DEFAULT_CONFIRMATIONS})")
    fetch.add_argument("--span", type=int, default=None, help="blocks per eth_getLogs to start with (default 2000)")
    fetch.add_argument("--max-span", type=int, default=None, help="widest eth_getLogs range (default 100000)")
    fetch.add_argument("--timeout", type=float, default=30.0, help="seconds one read may take on all endpoints")
    return parser


def _named(pairs: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in pairs:
        name, sep, address = item.partition("=")
        if not sep or not name or not address.startswith("0x"):
            raise ValueError(f"{flag} {item!r}: expected NAME=0xADDRESS")
        out.append((name, address))
    return tuple(out)


def fetch(args: argparse.Namespace) -> int:
    from actors.router import network_children
    from adapters.chain_history import ChainHistoryFetcher, FetchRequest
    from backtest.ingest_plan import ChunkPolicy, Scope
    from bot.tree import routing_policy
    from persistence.ingest_store import IngestStore
    from protocol.config import load_config
    from protocol.network import EndpointConfig
    from rpc.client import RpcClient
    from supervision import stop_tree, supervisor_spec
    from supervision.tree import start_tree

    config = load_config()
    chain_id = config.network.chain_id or 0
    urls = [(f"rpc{i + 1}", u) for i, u in enumerate(args.rpc)] or \
        [(e.name, e.url.reveal()) for e in config.network.endpoints]
    if not urls:
        raise ValueError("no endpoint: give --rpc URL or configure RPC_URL_PRIMARY")
    weth, quote = args.weth or config.market.weth, args.quote or config.market.numeraire_token
    if not weth or not quote:
        raise ValueError("give --weth and --quote (or WETH_ADDRESS and NUMERAIRE_TOKEN)")
    if args.pairs:
        scope = Scope(pairs=tuple(p.strip() for p in args.pairs.split(",") if p.strip()),
                      dex_names=_named(args.dex, "--dex"))
    else:
        scope = Scope(factories=_named(args.factory, "--factory"), factory_from=args.factory_from)
    defaults = ChunkPolicy()
    span = args.span or defaults.initial_span
    policy = ChunkPolicy(initial_span=span, max_span=max(span, args.max_span or defaults.max_span))
    request = FetchRequest(args.first, args.last, scope, weth, quote, confirmations=args.confirmations, policy=policy)
    endpoints = [EndpointConfig(name, url, chain_id, priority=i) for i, (name, url) in enumerate(urls)]
    routing = routing_policy(config)
    start_tree(supervisor_spec("root", [supervisor_spec("network", network_children(endpoints, chain_id,
                                                                                     routing=routing))]))
    client = RpcClient(policy=routing)
    bar = tqdm(unit="block", unit_scale=True, file=sys.stderr)

    def progress(done: int, total: int, logs: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
        bar.set_postfix(logs=logs, refresh=False)

    try:
        client.wait_ready(timeout=30.0)
        report = ChainHistoryFetcher(client, IngestStore(args.out), timeout_s=args.timeout,
                                     progress=progress).run(request)
    finally:
        bar.close()
        stop_tree(10.0)
        client.close()
    if report.last is None:
        print(f"nothing stored: the final block is {report.final_block} (head - {args.confirmations})")
        return 1
    print(f"history {args.out}: blocks {report.first}..{report.last} (final block {report.final_block}); this run "
          f"stored {report.logs} logs in {report.chunks} chunks, {len(report.refusals)} refusals, "
          f"{report.elapsed_s:.1f} s")
    if args.last is not None and report.last < args.last:
        print(f"stopped at {report.last}: blocks after it are not {args.confirmations} blocks deep yet")
    return 0


def main(argv: list[str]) -> int:
    from backtest.history import HistoryFileError
    from backtest.ingest_logs import MalformedLog
    from backtest.ingest_plan import CheckpointMismatch, RangeUnfetchable
    from rpc.errors import RpcError, RpcUnavailable

    args = _parser().parse_args(argv)
    errors: tuple[type[BaseException], ...] = (ValueError, MalformedLog, CheckpointMismatch, RangeUnfetchable,
                                               HistoryFileError, RpcError, RpcUnavailable, OSError)
    try:
        from adapters.chain_history import ChainChanged

        errors = (*errors, ChainChanged)
        result: Any = fetch(args)
    except errors as exc:
        print(f"run.py history: {exc}", file=sys.stderr)
        return 2
    return int(result)
