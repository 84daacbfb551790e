"""Cooperative cancellation: how a timed-out or interrupted attempt stops without a signal.

A Python thread cannot be killed, and a signal (Airflow's SIGALRM `execution_timeout`) can land
inside native code (XGBoost, numpy) or in the middle of an import, crash the process or leave a
half-imported module behind for every later try. So an attempt with a deadline runs in a worker
thread that carries a cancel token (a context variable); the caller waits up to the deadline,
then cancels the token and gives up on the attempt. The abandoned attempt stops at its next
checkpoint (`check()`: between CV folds, after each boosting round, and in the registry right
before it commits), so it can never commit a side effect after its engine moved on.

The worker threads are reused: starting a thread per attempt cost 0.1-0.5 ms on a loaded
2-core machine, about a tenth of the mock engine's wiring cost per task (bench_wiring.py). A
worker is named after the attempt it runs (``<step>-attempt``) and goes back to the idle ones,
renamed ``attempt-worker``, only when that attempt has returned, abandoned or not. Attempts
share no thread-local state through a reused worker: none of our code keeps any, and each
attempt runs in a copy of its caller's context variables, as before.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_token: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "attempt_token", default=None
)


IDLE_NAME = "attempt-worker"
_idle: list[queue.SimpleQueue] = []  # the job queues of the workers waiting for an attempt
_idle_lock = threading.Lock()


def _serve(jobs: queue.SimpleQueue) -> None:
    while True:
        jobs.get()()
        threading.current_thread().name = IDLE_NAME
        with _idle_lock:
            _idle.append(jobs)


def _start(job: Callable[[], None], name: str) -> None:
    """Run `job` on an idle worker thread, or on a new one (a daemon) if none is idle."""
    with _idle_lock:
        jobs = _idle.pop() if _idle else None
    if jobs is None:
        jobs = queue.SimpleQueue()
        worker = threading.Thread(target=_serve, args=(jobs,), name=name, daemon=True)
        worker.start()
    jobs.put(job)


class StepTimeout(TimeoutError):
    """An attempt exceeded its deadline. Transient: another attempt may be faster."""


class AttemptAbandoned(Exception):
    """Raised inside an attempt whose caller gave up on it (timeout or Ctrl-C)."""

    retryable = False  # nobody is waiting for this attempt's result any more


def cancelled() -> bool:
    token = _token.get()
    return token is not None and token.is_set()


def check(where: str = "") -> None:
    """A checkpoint: stop here if this attempt was abandoned."""
    if cancelled():
        raise AttemptAbandoned(f"attempt abandoned{f' at {where}' if where else ''}")


@contextmanager
def attempt(token: threading.Event) -> Iterator[None]:
    """Run the body as an attempt carrying `token`, in this thread (no deadline to enforce)."""
    reset = _token.set(token)
    try:
        yield
    finally:
        _token.reset(reset)


def run_with_timeout(
    fn: Callable[[], T],
    timeout: float | None,
    *,
    name: str,
    token: threading.Event | None = None,
) -> T:
    """Run `fn` in a worker thread with a cancel token; give up after `timeout` seconds.

    On expiry the token is cancelled and `StepTimeout` raised; a KeyboardInterrupt while waiting
    cancels the token too and propagates. The worker is a daemon thread: its abandoned attempt
    ends at its next checkpoint, or with the process. Pass `token` to be able to cancel the
    attempt from elsewhere (an engine stopping every attempt of a run on Ctrl-C).
    """
    token = token if token is not None else threading.Event()
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def target() -> None:
        _token.set(token)
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    def job() -> None:
        threading.current_thread().name = f"{name}-attempt"
        context.run(target)

    _start(job, f"{name}-attempt")
    try:
        finished = done.wait(timeout)
    except BaseException:
        token.set()  # Ctrl-C: the attempt must not commit anything after this
        raise
    if not finished:
        token.set()
        raise StepTimeout(f"{name} exceeded its timeout of {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
