"""Fault injection for tests and lessons: ``[faults] train_model = 2`` fails twice, then works.

The attempt counter lives in the run directory (under a file lock), so it counts real attempts
whichever engine, thread or process runs the step. -1 fails every attempt.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from mlpipeline.errors import InjectedFault


def inject(
    step: str, fail_times: int | None, run_dir: str | Path, instance: int | None = None
) -> None:
    """`instance`: one of a mapped step's task runs (a tune_model candidate), counted apart, so
    each run fails `fail_times` times however the engine interleaves them."""
    if not fail_times:
        return
    name = step if instance is None else f"{step}-{instance}"
    counter = Path(run_dir) / "faults" / f"{name}.attempts"
    counter.parent.mkdir(parents=True, exist_ok=True)
    with open(counter, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        attempt = int(f.read() or 0) + 1
        f.seek(0)
        f.truncate()
        f.write(str(attempt))
    if fail_times < 0 or attempt <= fail_times:
        total = "every attempt" if fail_times < 0 else f"{fail_times} time(s)"
        raise InjectedFault(
            f"injected fault on attempt {attempt} (configured to fail {total})", where=step
        )
