"""A small real tree with the sampler in it, always torn down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from actors.sampler import Sampler
from protocol.config import PerformanceTargets
from supervision import ChildSpec, Tree, registry, start_tree, stop_tree, supervisor_spec
from tests.performance.actors import Spinner, Stalled

#: The sampler ticks this often in the tests, so a wait for a snapshot is short.
TEST_PERIOD_S = 0.1


@dataclass
class SampledTree:
    tree: Tree
    gate: threading.Event = field(default_factory=threading.Event)  # opens the stalled actor's handler
    stalled_entered: threading.Event = field(default_factory=threading.Event)
    stop_spinning: threading.Event = field(default_factory=threading.Event)
    spinner_entered: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def sampled_tree() -> Iterator[SampledTree]:
    gate, stalled_entered, stop, spinner_entered = (threading.Event() for _ in range(4))
    tree = start_tree(supervisor_spec("root", [
        ChildSpec("stalled", Stalled, kwargs={"gate": gate, "entered": stalled_entered}),
        ChildSpec("spinner", Spinner, kwargs={"stop": stop, "entered": spinner_entered}),
        ChildSpec("sampler", Sampler, kwargs={"targets": PerformanceTargets(), "period_s": TEST_PERIOD_S}),
    ]))
    try:
        yield SampledTree(tree, gate, stalled_entered, stop, spinner_entered)
    finally:
        gate.set()
        stop.set()
        stop_tree(timeout_s=15.0)
        registry.clear()
