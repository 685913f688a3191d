"""The console's perf, perf profile and health commands against a live tree with the sampler, and the
profiler naming a spinning actor's function; bad input answers with a usage error, never a crash."""

from __future__ import annotations

from actors.sampler_console import register_sampler_commands
from console.client import _wants_watch
from console.registry import CommandRegistry
from protocol.performance import PerfSnapshot
from supervision import Handle
from tests.performance.actors import Work
from tests.performance.conftest import SampledTree
from tests.waiting import wait_until

WAIT_S = 20.0


def commands() -> CommandRegistry:
    registry = CommandRegistry()
    register_sampler_commands(registry)
    return registry


def test_perf_shows_every_slo_with_its_budget_the_grade_and_the_top_bottleneck(sampled_tree: SampledTree) -> None:
    wait_until(lambda: isinstance(Handle("/sampler").snapshot(), PerfSnapshot), WAIT_S, "a snapshot")
    answer = commands().run(["perf"])
    assert answer.ok and answer.kind == "table", answer
    table = answer.body
    assert table["columns"][0] == "SLO" and "BUDGET LEFT" in table["columns"]
    assert [r[0] for r in table["rows"]] == ["rpcLatency", "executionTime", "successRate", "memoryUsage",
                                            "cpuUsage", "uptime", "alertDelivery"]
    assert table["title"].startswith("grade ") and "bottleneck" in table["title"]
    assert _wants_watch(["perf", "--watch"]) and _wants_watch(["tree", "-w"]) and not _wants_watch(["health", "-w"])
    assert commands().run(["perf", "--watch"]).ok  # the client strips it; the server accepts it too


def test_perf_profile_names_the_spinning_actor_and_its_function(sampled_tree: SampledTree) -> None:
    Handle("/spinner").tell(Work())
    assert sampled_tree.spinner_entered.wait(WAIT_S)
    answer = commands().run(["perf", "profile", "1"])
    assert answer.ok, answer.error
    rows = answer.body["rows"]
    at = next(i for i, r in enumerate(rows) if r[0] == "/spinner")
    functions = [r[3] for r in rows[at:at + 5]]
    assert any("spin_until" in f for f in functions), rows
    assert rows[0][0] == "/spinner", "the thread that burns the most CPU comes first"
    sampled_tree.stop_spinning.set()


def test_perf_threads_lists_every_os_thread_with_actors_under_their_path(sampled_tree: SampledTree) -> None:
    import threading

    import psutil

    wait_until(lambda: isinstance(Handle("/sampler").snapshot(), PerfSnapshot), WAIT_S, "a snapshot")
    parked = threading.Event()
    extra = threading.Thread(target=parked.wait, name="test-parked-thread", daemon=True)
    extra.start()
    try:
        answer = commands().run(["perf", "threads"])
        assert answer.ok and answer.kind == "table", answer
        rows = answer.body["rows"]
        labels = [r[0] for r in rows]
        assert "/spinner" in labels and "/sampler" in labels and "test-parked-thread" in labels, labels
        ids = [r[1] for r in rows]
        assert len(set(ids)) == len(ids) and {extra.native_id, threading.main_thread().native_id} <= set(ids)
        assert [r[1] for r in rows if r[0] == "test-parked-thread"] == [extra.native_id]
        assert len(ids) >= len(psutil.Process().threads()) - 2, "every thread, the OS's own count to compare"
        assert labels.index("/spinner") < labels.index("test-parked-thread"), "actors come first"
        assert answer.body["title"].startswith(f"{len(rows)} threads")
    finally:
        parked.set()
        extra.join(5)


def test_health_command_lists_every_component(sampled_tree: SampledTree) -> None:
    answer = commands().run(["health"])
    assert answer.ok and answer.kind == "data"
    body = answer.body
    assert body["overall"] == "unhealthy", "this tree has no network and no risk book"
    names = {c["name"] for c in body["components"]}
    assert {"networkOptimizer", "riskManager", "performanceAnalyzer", "system", "actors"} <= names


def test_bad_perf_input_is_a_usage_error() -> None:
    registry = commands()
    for argv, wanted in ((["perf", "profile", "abc"], "not a number"), (["perf", "profile", "0"], "more than 0"),
                         (["perf", "profile", "3600"], "at most 60"), (["perf", "flame"], "invalid choice"),
                         (["perf", "profile"], "needs a duration")):
        answer = registry.run(argv)
        assert not answer.ok and wanted in (answer.error or ""), (argv, answer)


def test_perf_without_a_sampler_says_so() -> None:
    answer = commands().run(["perf"])
    assert not answer.ok and "/sampler" in (answer.error or "")
