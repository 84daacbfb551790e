"""A step whose first attempt outlives its deadline, and the timeout checks every engine's
tests run with it (each engine's own file calls them with its runner)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mlpipeline import cancellation
from mlpipeline.alerts import read_alerts

# Long enough for every real step on an idle 2-core machine (each under 2 s; 10 s at a load of 18);
# the slow step sleeps 120 s at checkpoints, so only a working timeout ends its first attempt.
TIMEOUT = 12.0


def slow_first_attempt(step: Callable[..., str], marks: Path, seconds: float = 6.0):
    """`step`, except that its first attempt sleeps `seconds` at checkpoints every 50 ms and
    notes in `marks` whether it was abandoned (it must be) or ran on to the real step."""
    marks.mkdir(parents=True, exist_ok=True)

    def run(cfg, run_dir, **inputs):
        first = not (marks / "first").exists()
        (marks / "first").touch()
        if first:
            deadline = time.monotonic() + seconds
            try:
                while time.monotonic() < deadline:
                    cancellation.check("slow step")
                    time.sleep(0.05)
            except cancellation.AttemptAbandoned:
                (marks / "abandoned").touch()
                raise
            (marks / "overslept").touch()
        return step(cfg, run_dir, **inputs)

    run.__name__ = step.__name__
    return run


def slow_down(monkeypatch, name: str, marks: Path, seconds: float) -> None:
    """Make the declared weather step `name` slow on its first attempt (see above)."""
    import dataclasses

    from mlpipeline.steps import WEATHER

    step = WEATHER.steps[name]
    slow = slow_first_attempt(step.fn, marks, seconds)
    monkeypatch.setitem(WEATHER.steps, name, dataclasses.replace(step, fn=slow))


def wait_for(path: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def check_abandoned_try_is_retried(run_pipeline, make_config, monkeypatch, tmp_path) -> None:
    """A try past its timeout is abandoned (it stops at its next checkpoint) and retried."""
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


def check_timeout_on_last_try_alerts_once(run_pipeline, make_config, monkeypatch, tmp_path):
    """A timeout on the last try fails the run with one alert; the abandoned try committed
    nothing to the registry."""
    slow_down(monkeypatch, "gate_model", tmp_path / "marks", seconds=120)
    cfg = make_config(
        cache__enabled=False, orchestration__retries=0, orchestration__task_timeout_seconds=TIMEOUT
    )
    result = run_pipeline(cfg, run_id="timed-out")
    assert result.failed_step == "gate_model"
    assert result.error == "StepTimeout: gate_model exceeded its timeout of 12 s"
    (alert,) = read_alerts(cfg.alerts.log)
    assert (alert["step"], alert["error"]) == ("gate_model", result.error)
    assert not list(Path(cfg.paths.registry).rglob("*.ubj"))
