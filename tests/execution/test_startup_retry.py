"""The executor's startup read, retried with a visible, growing delay while the endpoints are down."""

from __future__ import annotations


def test_startup_retries_back_off_visibly_and_reset_once_answered() -> None:
    from execution.pipeline import Resumed, step
    from execution.pipeline_state import Note, PipelineConfig, RetryStartupAfter, initial_state
    from execution.resume import resume
    from protocol.execution import Started, Startup, SubmitMode

    cfg = PipelineConfig(chain_id=1, account="0x" + "ab" * 20, executor_address="0x" + "cd" * 20)
    s, _ = step(initial_state(SubmitMode.PAPER, cfg.account), Resumed(resume(None, account=cfg.account, chain_id=1)),
                cfg)
    delays, lines = [], []
    for _ in range(7):
        s, actions = step(s, Started(ConnectionRefusedError("connection refused")), cfg)
        delays += [a.delay_s for a in actions if isinstance(a, RetryStartupAfter)]
        lines += [a.text for a in actions if isinstance(a, Note)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert "7 in a row; next attempt in 30s" in lines[-1] and "connection refused" in lines[-1]
    s, actions = step(s, Started(Startup(1, 5, 7, None, {})), cfg)
    assert s.ready and s.startup_failures == 0
    assert any(isinstance(a, Note) and "after 7 failure(s)" in a.text for a in actions)
