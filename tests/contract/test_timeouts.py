"""Step timeouts without signals, on every orchestrator: a try past its deadline is abandoned
(it stops at its next checkpoint and commits nothing) and retried; on the last try it fails the
run with one alert. The mock engine's row is left to its own tests (`tests/mock/
test_reliability.py`, the same `cancellation.run_with_timeout` on the DAG directly), which cost
a fraction of these."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipeline.alerts import read_alerts
from tests.slow_steps import slow_down, wait_for

# Long enough for every real step on an idle 2-core machine (each under 2 s; 10 s at a load of 18);
# the slow step sleeps 120 s at checkpoints, so only a working timeout ends its first attempt.
TIMEOUT = 12.0


@pytest.fixture
def run_pipeline(engine_name: str, engine):
    if engine_name == "mock":
        pytest.skip("the mock engine's timeouts are tested on its DAG (tests/mock)")
    return engine.run_pipeline


def test_a_try_past_its_timeout_is_abandoned_and_retried(
    run_pipeline, make_config, monkeypatch, tmp_path
):
    marks = tmp_path / "marks"
    slow_down(monkeypatch, "gate_model", marks, seconds=120)
    cfg = make_config(
        cache__enabled=False, orchestration__retries=1, orchestration__task_timeout_seconds=TIMEOUT
    )
    result = run_pipeline(cfg, run_id="slow-gate")
    assert result.ok, result.error
    assert result.tasks["gate_model"].attempts == 2
    assert wait_for(marks / "abandoned") and not (marks / "overslept").exists()
    assert read_alerts(cfg.alerts.log) == []


def test_a_timeout_on_the_last_try_fails_the_run_with_one_alert(
    run_pipeline, make_config, monkeypatch, tmp_path
):
    slow_down(monkeypatch, "gate_model", tmp_path / "marks", seconds=120)
    cfg = make_config(
        cache__enabled=False, orchestration__retries=0, orchestration__task_timeout_seconds=TIMEOUT
    )
    result = run_pipeline(cfg, run_id="timed-out")
    assert result.failed_step == "gate_model"
    assert result.error == "StepTimeout: gate_model exceeded its timeout of 12 s"
    (alert,) = read_alerts(cfg.alerts.log)
    assert (alert["step"], alert["error"]) == ("gate_model", result.error)
    assert not list(Path(cfg.paths.registry).rglob("*.ubj"))  # the abandoned try committed nothing
