"""How a Prefect task attempt runs its step: with our deadline, and cancellable by one Ctrl-C.

**Timeouts.** Prefect's `timeout_seconds` cannot stop a sync task on the thread-pool runner: it
raises `TimeoutError` into the task's thread asynchronously (`PyThreadState_SetAsyncExc`), which
takes effect only when the thread next runs Python bytecode: after XGBoost's native fit returns
(a 1 s timeout fired after 4 s here), and then at whatever line it reaches, an import or a
registry commit included: the same hazards as Airflow's SIGALRM (issue 9, item 4). So the tasks
get no `timeout_seconds`; each attempt runs in `cancellation.run_with_timeout`, which waits up to
`orchestration.task_timeout_seconds`, then raises `StepTimeout` (transient: Prefect retries it)
and cancels the attempt's token, so the abandoned attempt stops at its next checkpoint and never
commits.

**Ctrl-C.** SIGINT reaches the main thread only, where the flow waits on its tasks; Prefect's
thread pool then waits for the running tasks before the interrupt can leave the flow (it took
75 s). `interruptible()` cancels the token of every attempt in flight first, so each stops at its
next checkpoint, then raises KeyboardInterrupt as usual.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlpipeline import cancellation, execution
from mlpipeline.pipeline import Pipeline

_in_flight: set[threading.Event] = set()
_lock = threading.Lock()


def run_step(
    pipeline: Pipeline, name: str, cfg: Any, run_dir: str, index: int | None = None, **inputs: Any
) -> str:
    """One attempt of a step (`mlpipeline.execution.run_step`) with the config's timeout, its
    token known to `cancel_all`."""
    token = threading.Event()
    with _lock:
        _in_flight.add(token)
    try:
        return cancellation.run_with_timeout(
            lambda: execution.run_step(pipeline, name, cfg, run_dir, index, **inputs),
            cfg.orchestration.task_timeout_seconds,
            name=name,
            token=token,
        )
    finally:
        with _lock:
            _in_flight.discard(token)


def cancel_all() -> int:
    """Cancel every attempt in flight; return how many there were."""
    with _lock:
        for token in _in_flight:
            token.set()
        return len(_in_flight)


@contextmanager
def interruptible() -> Iterator[None]:
    """Around a flow call in the main thread: a Ctrl-C cancels every attempt, then interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return

    def on_sigint(signum: int, frame: object) -> None:
        cancel_all()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
