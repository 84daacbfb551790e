"""How an Airflow task attempt runs its step in-process: a deadline without a signal, and Ctrl-C.

**Timeouts.** Airflow's `execution_timeout` is a SIGALRM in the task's process. Under
`dag.test()` that process is ours, and the alarm landed inside XGBoost's native code (a glibc
abort, exit 134, no summary, no alert) or in the middle of an import, leaving a half-imported
module that failed every later try (issue 9, item 4). So the in-process DAG sets no
`execution_timeout`; each attempt runs in `cancellation.run_with_timeout`, which waits up to
`orchestration.task_timeout_seconds`, then raises `StepTimeout` (a transient error: Airflow
retries it) and cancels the attempt's token: the abandoned attempt stops at its next checkpoint
and never commits. Under a real scheduler each try has a process of its own, where a signal
ends only that try: there `execution_timeout` is the right tool again (see the DAG file).

**Ctrl-C.** Airflow's task runner catches BaseException, so a KeyboardInterrupt inside a task
becomes a failed try, which is then retried. `interruptible()` (the runner, around `dag.test()`)
notes the interrupt before raising it; the running attempt is cancelled and its task fails
without a retry (`Cancelled`, an AirflowFailException); later tasks do not start; the failure
callbacks send no alert (a cancel is a person's decision); and the runner raises
KeyboardInterrupt once `dag.test()` has returned.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from airflow.sdk.exceptions import AirflowFailException

from mlpipeline import cancellation

T = TypeVar("T")
_interrupted = threading.Event()


class Cancelled(AirflowFailException):
    """The run was interrupted (Ctrl-C): fail this task without a retry, and alert nobody."""


def interrupted() -> bool:
    return _interrupted.is_set()


def run_attempt(fn: Callable[[], T], timeout: float, *, name: str) -> T:
    """One attempt with a deadline, in a worker thread; a Ctrl-C cancels it and its run."""
    if interrupted():
        raise Cancelled(f"{name}: not started, the run was interrupted")
    try:
        return cancellation.run_with_timeout(fn, timeout, name=name)
    except KeyboardInterrupt:
        _interrupted.set()
        raise Cancelled(f"{name}: interrupted") from None


@contextmanager
def interruptible() -> Iterator[None]:
    """Around `dag.test()`: note a Ctrl-C, and raise it here once Airflow has let go."""
    _interrupted.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_sigint(signum: int, frame: object) -> None:
            _interrupted.set()
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupted():
        raise KeyboardInterrupt
