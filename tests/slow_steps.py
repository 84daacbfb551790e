"""A step whose first attempt outlives its deadline, for the engines' timeout tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mlpipeline import cancellation


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
