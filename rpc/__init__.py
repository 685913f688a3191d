"""The HTTP side of the network layer: JSON-RPC codec, keep-alive transport, latency statistics,
routing policy, the router client (`RpcClient`) and the web3 providers (`ArbiterProvider`).

Wiring (run.py):

    from actors.router import network_children
    from protocol.network import EndpointConfig
    children = network_children([EndpointConfig(name, url, chain_id, region, priority), ...], chain_id)
    ... supervisor_spec("network", children) under the root ...  # endpoint actors: /network/rpc:<name>
    client = RpcClient()                      # reads /network/router's published table
    client.wait_ready()                       # at start-up: at least one endpoint passed its health check
    w3 = Web3(ArbiterProvider(client))        # or client.request("eth_blockNumber")
    rpc.metrics.start_metrics_server(port)    # when ENABLE_PROMETHEUS (binds 127.0.0.1)
    rpc.commands.register_network_commands(console_registry)   # `clear rpc:NAME`, `routes`

Module map: codec (wire format and lie detection), http1 (request heads, the response reader:
llhttp), transport (one keep-alive pool per endpoint, on the io loop), stats (EWMA and quantiles),
routing (ranking, hedge delays, Retry-After; pure), race (one hedged read's plan; pure), dispatch
(judging attempts; the one race and the broadcast, on the io loop), client (the thread-safe facade:
coroutines, and blocking calls that start the race from the caller's thread and wait on it),
health (the health batch), provider (web3 providers), metrics, commands.
"""
