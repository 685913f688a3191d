"""Bad answers from one endpoint: each is counted against it, the caller still gets the right answer,
and nothing in the tree crashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocol.network import FaultKind
from rpc.transport import transports
from supervision.introspect import snapshot_tree
from tests.waiting import wait_until

CAP = 1 << 20


@pytest.fixture
def small_body_cap() -> Iterator[None]:
    before = transports.max_body_bytes
    transports.configure(max_body_bytes=CAP)
    yield
    transports.configure(max_body_bytes=before)


@pytest.mark.anvil
@pytest.mark.parametrize(
    ("fault", "kind", "injected"),
    [
        ("garbage", FaultKind.GARBAGE, "garbage"),
        ("html", FaultKind.GARBAGE, "html"),
        ("truncate", FaultKind.TRUNCATED, "truncate"),
        ("badid", FaultKind.MISMATCHED_ID, "bad_id"),
        ("oversize=4mb", FaultKind.TOO_LARGE, "oversize"),  # streamed past the 1 MiB cap, no Content-Length
        ("oversize=declared", FaultKind.TOO_LARGE, "oversize"),  # Content-Length: 1 GiB
        ("rpcerror", FaultKind.SERVER_ERROR, "rpc_error"),
        ("error=500", FaultKind.HTTP_5XX, "http_500"),
        ("drop", FaultKind.CONNECTION, "drop"),
    ],
)
@pytest.mark.parametrize("path", ["blocking", "loop"])
def test_bad_answer_is_charged_to_its_endpoint_and_never_reaches_the_caller(
    anvil, fault_proxies, network, small_body_cap, fault: str, kind: FaultKind, injected: str, path: str
) -> None:
    """`blocking`: blocking calls from this thread; `loop`: the coroutines, on the io loop (the same race)."""
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: s.url for n, s in by_name.items()})
    w3 = anvil.web3()
    account = w3.eth.accounts[1]
    truth_balance = hex(w3.eth.get_balance(account))
    truth_block = w3.eth.get_block("latest")["hash"].hex()

    bad = net.routes()[0]  # the endpoint every read tries first
    by_name[bad].apply(fault)
    before = net.endpoint(bad).errors.get(kind.value, 0)
    client = net.client
    calls = [("eth_getBalance", [account, "latest"]), ("eth_getBlockByNumber", ["latest", False])]
    if path == "blocking":
        balance, batch = client.request(*calls[0]), client.batch(calls)
    else:
        balance = client.submit(client.arequest(*calls[0])).result(10)
        batch = client.submit(client.abatch(calls)).result(10)
    assert balance == truth_balance
    assert batch[0].result == truth_balance
    assert batch[1].result["hash"].removeprefix("0x") == truth_block.removeprefix("0x")
    wait_until(lambda: net.endpoint(bad).errors.get(kind.value, 0) >= before + 1, what=f"{kind} counted on {bad}")
    # The healthy endpoints were charged nothing.
    for name in by_name.keys() - {bad}:
        assert net.endpoint(name).errors.get(kind.value, 0) == 0
    assert by_name[bad].stats().get(injected, 0) >= 1, f"the proxy never injected {fault}"
    by_name[bad].clear()
    assert all(info.restarts_total == 0 for info in snapshot_tree()), "an actor crashed"


@pytest.mark.anvil
def test_wrong_chain_id_quarantines_until_an_operator_clears_it(anvil, fault_proxies, network) -> None:
    from console.registry import CommandRegistry
    from rpc.commands import register_network_commands

    console = CommandRegistry()
    register_network_commands(console)
    by_name = {p.name: p for p in fault_proxies(3)}
    net = network({n: p.url for n, p in by_name.items()})
    liar = net.routes()[0]
    by_name[liar].apply("chainid=1")
    # A caller asking the chain id is never told the wrong one, even before the health check notices.
    assert int(net.client.request("eth_chainId"), 16) == 31337
    wait_until(lambda: net.breaker(liar) == "QUARANTINED", what=f"{liar} quarantined")
    wait_until(lambda: liar in net.table().excluded, what=f"router excludes {liar}")
    # Quarantined: no traffic at all, not even health checks.
    seen = by_name[liar].stats()
    for _ in range(20):
        assert int(net.client.request("eth_chainId"), 16) == 31337
    wait_until(lambda: net.endpoint("e0" if liar != "e0" else "e1").requests > 20, what="other endpoints busy")
    assert by_name[liar].stats() == seen
    # Fixed at the source, it stays out until the operator clears it.
    by_name[liar].clear()
    assert net.breaker(liar) == "QUARANTINED"
    routes = console.run(["routes"])
    assert routes.ok and liar in routes.body["excluded"], routes
    unknown = console.run(["clear", "rpc:nope"])
    assert not unknown.ok and "no RPC endpoint rpc:nope" in (unknown.error or "")
    cleared = console.run(["clear", f"rpc:{liar}"])  # what an operator types in the console
    assert cleared.ok and cleared.body["was"] == "QUARANTINED", cleared
    net.wait_routes({"e0", "e1", "e2"})
    assert net.breaker(liar) == "CLOSED"


@pytest.mark.anvil
def test_with_no_chain_configured_the_majority_chain_is_adopted_and_a_liar_left_out(
    anvil, fault_proxies, network
) -> None:
    from protocol.network import EndpointSnapshot

    proxies = fault_proxies(3)
    proxies[2].apply("chainid=1")  # answers chain 1 where the others (and anvil) say 31337
    urls = {p.name: p.url for p in proxies}
    net = network(urls, chain_id=0, expect_routes={"e0", "e1"})
    assert net.table().chain_id == 31337
    # e0 and e1 may be routable before e2's first health check is in: until then it is excluded as STARTING
    wait_until(lambda: net.table().excluded == {"e2": "chain 1"}, what="the liar excluded for its chain")
    snap = net.endpoint("e2")
    assert isinstance(snap, EndpointSnapshot) and snap.chain_id == 1
    assert int(net.client.request("eth_chainId"), 16) == 31337
