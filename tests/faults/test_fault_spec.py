"""The fault language: parsing, describing, merging, and the heavy-tailed delay distributions."""

from __future__ import annotations

import random
import statistics

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.fault_proxy import (
    DEFAULT_RPC_ERROR_CODE,
    Delay,
    FaultSpec,
    FaultSpecError,
    Oversize,
    parse_faults,
)


def test_the_console_examples_parse() -> None:
    assert parse_faults("latency=300ms").latency == Delay("fixed", 0.3)
    assert parse_faults("latency=300ms@10%").latency == Delay("fixed", 0.3, p=0.1)
    assert parse_faults("error=500@20%").http_error == (500, 0.2)
    assert parse_faults("429=2s@50%").throttle == (2.0, 0.5)
    assert parse_faults("garbage@5%").garbage == 0.05
    assert parse_faults("drop@10%").drop == 0.1
    assert parse_faults("stall").stall == 1.0
    assert parse_faults("chainid=1").chain_id == 1
    assert parse_faults("stale").stale and parse_faults("stale").stale_at is None
    assert parse_faults("rpcerror").rpc_error == (DEFAULT_RPC_ERROR_CODE, 1.0)
    assert parse_faults("latency=pareto:20ms:1.2").latency == Delay("pareto", 0.02, 1.2)
    assert parse_faults("wsdelay=lognormal:5ms@50%").ws_delay == Delay("lognormal", 0.005, 1.0, 0.5)
    assert parse_faults("badid@10%").bad_id == 0.1
    assert parse_faults("oversize").oversize == Oversize(64 * 1024 * 1024)
    assert parse_faults("oversize=512kb@5%").oversize == Oversize(512 * 1024, p=0.05)
    assert parse_faults("oversize=declared").oversize == Oversize(1024**3, declared=True)
    assert parse_faults("oversize=declared:2MB").oversize == Oversize(2 * 1024**2, declared=True)
    assert parse_faults("oversize=1000b").oversize == Oversize(1000)
    assert parse_faults("badid oversize badid=off oversize=off") == FaultSpec()


def test_tokens_merge_onto_the_current_faults_and_clear_or_off_remove_them() -> None:
    spec = parse_faults("latency=300ms error=500@20%")
    spec = parse_faults("drop@10% latency=off", spec)
    assert spec == FaultSpec(http_error=(500, 0.2), drop=0.1)
    assert parse_faults("clear", spec) == FaultSpec()
    assert parse_faults("stale=12 stale=off") == FaultSpec()


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("latency=300", "latency=300"),
        ("error=200", "error=200"),
        ("drop@150%", "drop@150%"),
        ("garbage=3", "garbage=3"),
        ("frobnicate", "frobnicate"),
        ("chainid=x", "chainid=x"),
        ("latency=pareto:1ms:-1", "latency=pareto:1ms:-1"),
        ("nosuch=off", "nosuch=off"),
        ("badid=2", "badid=2"),
        ("oversize=12", "oversize=12"),
        ("oversize=0mb", "oversize=0mb"),
        ("oversize=declared:big", "oversize=declared:big"),
    ],
)
def test_a_bad_token_is_named_in_the_error(text: str, bad: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_faults(f"latency=1ms {text}")
    assert info.value.token == bad and bad in str(info.value)


probabilities = st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0])
delays = st.builds(
    Delay,
    kind=st.sampled_from(["fixed", "pareto", "lognormal"]),
    seconds=st.sampled_from([0.001, 0.02, 0.3, 2.0]),
    shape=st.sampled_from([0.5, 1.0, 1.5]),
    p=probabilities,
).map(lambda d: Delay("fixed", d.seconds, p=d.p) if d.kind == "fixed" else d)
specs = st.builds(
    FaultSpec,
    latency=st.none() | delays,
    http_error=st.none() | st.tuples(st.sampled_from([500, 502, 503, 404]), probabilities),
    throttle=st.none() | st.tuples(st.sampled_from([1.0, 2.0, 0.5]), probabilities),
    rpc_error=st.none() | st.tuples(st.sampled_from([-32603, -32000, -32005]), probabilities),
    garbage=st.just(0.0) | probabilities,
    truncate=st.just(0.0) | probabilities,
    html=st.just(0.0) | probabilities,
    drop=st.just(0.0) | probabilities,
    stall=st.just(0.0) | probabilities,
    bad_id=st.just(0.0) | probabilities,
    oversize=st.none()
    | st.builds(Oversize, size=st.integers(1, 2**31) | st.sampled_from([1024, 3 << 20, 1 << 30]),
                declared=st.booleans(), p=probabilities),
    chain_id=st.none() | st.integers(1, 2**40),
    ws_drop=st.just(0.0) | probabilities,
    ws_stall=st.just(0.0) | probabilities,
    ws_garbage=st.just(0.0) | probabilities,
    ws_delay=st.none() | delays,
    only=st.sampled_from([(), ("eth_sendRawTransaction",), ("eth_blockNumber", "eth_call")]),
)


@settings(max_examples=200, deadline=None)
@given(specs, st.none() | st.integers(0, 10**6))
def test_describe_parses_back_to_the_same_spec(spec: FaultSpec, stale_at: int | None) -> None:
    if stale_at is not None:
        spec = msgspec.structs.replace(spec, stale=True, stale_at=stale_at)
    assert parse_faults(spec.describe()) == spec
    assert parse_faults("clear " + spec.describe(), FaultSpec(drop=1.0)) == spec


def test_heavy_tailed_delays_have_their_documented_shape() -> None:
    rng = random.Random(1)
    pareto = [Delay("pareto", 0.01, 1.5).sample(rng) for _ in range(5000)]
    assert min(pareto) >= 0.01  # Pareto(scale, alpha) never goes below the scale
    assert statistics.median(pareto) == pytest.approx(0.01 * 2 ** (1 / 1.5), rel=0.1)
    assert max(pareto) > 20 * statistics.median(pareto)  # the tail is heavy
    lognormal = [Delay("lognormal", 0.02, 1.0).sample(rng) for _ in range(5000)]
    assert statistics.median(lognormal) == pytest.approx(0.02, rel=0.1)
    # seeded: the same seed gives the same delays
    a, b = random.Random(3), random.Random(3)
    assert [Delay("pareto", 0.01, 1.5).sample(a) for _ in range(5)] == [
        Delay("pareto", 0.01, 1.5).sample(b) for _ in range(5)
    ]
