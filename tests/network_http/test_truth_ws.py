"""WebSocket newHeads feed every client's head tracker: a real anvil's WS endpoint, real streams, real router."""

from __future__ import annotations

import dataclasses

from protocol.chain import FeedStatus
from supervision import Handle
from tests.network_http.conftest import TEST_ROUTING
from tests.waiting import wait_until

#: Priority decides the ranking, so e0 carries every read; health checks once at start only. No hedges: on a
#: loaded machine e0 can answer later than a hedge delay (at most 0.1 s here), and a hedge to e1 would show e1
#: the new block, which this test asserts only the streams know.
PINNED = dataclasses.replace(TEST_ROUTING, latency_bucket_s=10.0, hedge_reads=False)


def test_new_heads_from_the_streams_raise_the_best_head_before_any_http_endpoint_shows_it(
    anvil, fault_proxies, network
) -> None:
    proxies = fault_proxies(3)
    # health checks at start only (a failed one is retried on a short backoff: actors.rpc_endpoint.STARTUP_RETRY)
    net = network({f"e{i}": p.url for i, p in enumerate(proxies)}, routing=PINNED, health_interval_s=60.0,
                  health_timeout_s=5.0,
                  ws_urls={"e1": anvil.ws_url, "e2": anvil.ws_url})
    wait_until(lambda: Handle("/network/subscriptions").ask(FeedStatus(), timeout=5.0, wait_s=5.0),
               what="both streams up", until=lambda st: st["streaming"] and len(st["standby"]) == 1)
    frozen = anvil.web3().eth.block_number
    proxies[0].apply("freeze_head")  # the endpoint carrying the traffic answers `frozen` from now on
    assert int(net.client.request("eth_blockNumber"), 16) == frozen
    tracker = net.client.dispatcher.verify.heads
    w3 = anvil.web3()
    asked = proxies[0].calls("eth_blockNumber")

    w3.provider.make_request("evm_mine", [])  # automine: no block interval is learned, so no head probes
    wait_until(lambda: net.table().stream_heads, what="the streams' heads in the table",
               until=lambda heads: {n: h for n, (h, _) in heads.items()} == {"e1": frozen + 1, "e2": frozen + 1})
    # e0 answers `frozen`; only the streams know of the new block, and the caller gets it.
    assert int(net.client.request("eth_blockNumber"), 16) == frozen + 1
    assert proxies[0].calls("eth_blockNumber") == asked + 1  # e0 answered it, no other HTTP endpoint did
    assert tracker.heads["ws:e1"] == tracker.heads["ws:e2"] == frozen + 1
    assert tracker.heads.get("e1", -1) <= frozen and tracker.heads.get("e2", -1) <= frozen
    assert "e0" in tracker.trailing  # below the best since it rose: head reads go elsewhere first

    w3.provider.make_request("evm_mine", [])
    wait_until(lambda: net.table().stream_heads.get("e1"), what="the second block streamed",
               until=lambda seen: seen is not None and seen[0] == frozen + 2)
    answers = [int(net.client.request("eth_blockNumber"), 16) for _ in range(20)]
    assert answers == [frozen + 2] * 20
    # e0, two blocks behind what the streams showed, was charged a lag sample at once.
    assert "e0" in tracker.behind
    wait_until(lambda: net.endpoint("e0").errors.get("stale", 0), what="e0's lag sample", until=lambda n: n >= 1)
