"""A fault-injecting JSON-RPC proxy (HTTP and WebSocket) to put in front of anvil.

One proxy listens on a loopback port and forwards to one upstream node; its faults are an
immutable `FaultSpec` swapped at run time from any thread (`proxy.apply("latency=300ms@10%")`,
`proxy.clear()`), or from the console (`fault rpc:secondary error=500@20%`). Every proxy of the
process shares one asyncio loop thread, so starting one per devnet endpoint costs an aiohttp site
and a client session, not a thread. `proxy.stop()` then `proxy.start()` kills the endpoint and
brings it back on the same port; `proxy.stats()` counts the faults injected and the JSON-RPC calls
received per method (`proxy.calls("eth_sendRawTransaction")`).

The fault language (whitespace-separated tokens, `@P` = probability as `10%` or `0.1`, default 100%):

    latency=300ms[@P]        fixed delay before answering (HTTP)
    latency=pareto:20ms[:1.5][@P]     heavy-tailed: scale 20 ms, alpha 1.5 (seeded)
    latency=lognormal:20ms[:1.0][@P]  heavy-tailed: median 20 ms, sigma 1.0 (seeded)
    error=500[@P]            answer with that HTTP status
    429=2s[@P]               HTTP 429 with Retry-After: 2
    rpcerror[=-32603][@P]    a JSON-RPC error object for every request of the call
    garbage[@P] truncate[@P] html[@P]   corrupt the upstream's answer: junk bytes, half a body, an HTML page with 200
    badid[@P]                answer with ids the client never sent (every answer of a batch too)
    oversize[=64mb][@P]      a valid answer of that size (b/kb/mb/gb, binary; default 64mb) streamed
                             without a Content-Length: only a reader that caps the bytes it reads stops it
    oversize=declared[:1gb][@P]  declare that Content-Length (default 1gb), send the first bytes, close
    drop[@P]                 close the connection without answering
    stall[@P]                never answer (until the fault is cleared: then the connection is dropped)
    chainid=1                rewrite eth_chainId answers (HTTP and WS)
    lie=balance|call|blockhash|head   rewrite answers to be wrong but well-formed: balances +1 ether,
                             eth_call results' last digit, block hashes reversed, heads +1000 (repeatable)
    stale[=N], freeze_head   freeze the head at N (default: the upstream's head now): eth_blockNumber,
                             eth_getBlockByNumber("latest"), newHeads and logs notifications above N
    wsdrop[@P]               close WebSockets: each open one now, each new one and each notification with P
    wsstall[@P]              swallow subscription notifications (the socket stays up, answers still flow)
    wsgarbage[@P]            corrupt subscription notifications (the result becomes junk; same subscription)
    wsdelay=<latency>[@P]    delay subscription notifications (in order)
    only=METHOD[,METHOD]     the HTTP faults above hit only requests calling one of these methods
                             (`only=eth_sendRawTransaction drop`: the send path down, reads still served)
    <name>=off               remove one fault;  clear   remove all
"""

from devnet.fault_proxy.commands import register_fault_commands
from devnet.fault_proxy.proxy import FaultProxy
from devnet.fault_proxy.spec import (
    DEFAULT_DECLARED_BYTES,
    DEFAULT_OVERSIZE_BYTES,
    DEFAULT_RPC_ERROR_CODE,
    Delay,
    FaultSpec,
    FaultSpecError,
    Oversize,
    parse_faults,
)

__all__ = [
    "DEFAULT_DECLARED_BYTES",
    "DEFAULT_OVERSIZE_BYTES",
    "DEFAULT_RPC_ERROR_CODE",
    "Delay",
    "FaultProxy",
    "FaultSpec",
    "FaultSpecError",
    "Oversize",
    "parse_faults",
    "register_fault_commands",
]
