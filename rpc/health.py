"""Health check of one endpoint: eth_chainId and eth_blockNumber in one batch, judged purely.

The same check is the HALF_OPEN probe: an endpoint that can tell its chain and head is back.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.network import FaultKind, HealthResult
from rpc import codec
from rpc.codec import RpcAnswer
from rpc.errors import EndpointFault
from rpc.transport import HttpTransport

#: Fixed ids keep the health batch recognisable in an endpoint's logs.
HEALTH_FIRST_ID = 1_000_000_000
HEALTH_CALLS: tuple[tuple[str, list[Any]], ...] = (("eth_chainId", []), ("eth_blockNumber", []))
HEALTH_BODY = codec.encode_batch(HEALTH_CALLS, HEALTH_FIRST_ID)


def judge(answers: list[RpcAnswer], latency_s: float) -> HealthResult:
    """A HealthResult from the two answers; an error answer or a non-hex value is a GARBAGE fault."""
    values: list[int] = []
    for answer, (method, _) in zip(answers, HEALTH_CALLS):
        if answer.error is not None:
            return HealthResult(latency_s, fault=FaultKind.SERVER_ERROR, detail=f"{method}: {answer.error.message}")
        try:
            values.append(int(answer.result, 16))
        except (TypeError, ValueError):
            return HealthResult(latency_s, fault=FaultKind.GARBAGE, detail=f"{method} answered {answer.result!r}")
    return HealthResult(latency_s, chain_id=values[0], head=values[1])


async def check(transport: HttpTransport, timeout_s: float) -> HealthResult:
    """Run the health batch against one endpoint; never raises."""
    started = time.monotonic()
    try:
        raw = await transport.post(HEALTH_BODY, timeout_s)
        answers = codec.decode_batch(raw, HEALTH_FIRST_ID, len(HEALTH_CALLS))
    except EndpointFault as fault:
        return HealthResult(time.monotonic() - started, fault=fault.kind, detail=fault.detail[:200])
    except Exception as e:  # never let a surprise kill the check: it is a fault of that endpoint
        return HealthResult(time.monotonic() - started, fault=FaultKind.GARBAGE, detail=type(e).__name__)
    return judge(answers, time.monotonic() - started)
