"""A small but real DAG engine: what Airflow and Prefect do, in about 250 lines.

* The graph is checked before any work: unknown dependencies and cycles are refused, naming the
  nodes (``graphlib.TopologicalSorter.prepare``).
* A ``get_ready()`` / ``done()`` loop runs ready tasks on a thread pool, so independent tasks
  run in parallel; a lone ready task with nothing else running (a chain) runs on the driver
  thread, since a hand-off to the pool would cost more than the scheduling. A failed task's
  descendants are marked ``upstream_failed``.
* Retries: ``attempts = retries + 1``, exponential backoff with bounded jitter, and a
  ``retry_if`` predicate so errors a retry cannot fix fail at once.
* An optional per-task timeout. A Python thread cannot be killed: a timed-out attempt is
  abandoned and counted as failed; its cancel token (``mlpipeline.cancellation``) makes it stop
  at its next checkpoint, so it neither burns CPU nor commits anything after the retry started.
* Ctrl-C (KeyboardInterrupt) is not a failed attempt: the run cancels every in-flight attempt's
  token, schedules nothing more, leaves the pool without waiting for abandoned work, fires no
  failure callback, and lets KeyboardInterrupt propagate to the caller.
* Mapping: a task with ``map_count=n`` runs as n instances (``fn(..., index=i)``), in parallel,
  each with its own retries, cache entry and run record; downstream tasks receive the list of
  results in index order. The fan-out size is fixed when the DAG is built (Airflow's
  ``.expand`` over a literal list, Prefect's ``.map`` over a range).
* Caching: a task with a ``cache_key`` function is skipped when a record with the same key exists,
  has not expired, and its output still has the fingerprint it had when stored.
* Failure callbacks: a task's ``on_failure`` fires once, after its last attempt; the DAG's
  ``on_failure_callback`` fires once per failed run.
* A run record: per task, state, attempts, start, end, duration and cache hit.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from mlpipeline import artifacts, cancellation
from mlpipeline.runs import FAILED, NOT_RUN, SUCCESS, UPSTREAM_FAILED, TaskRecord

if TYPE_CHECKING:
    from mlpipeline.caching import ResultCache


log = logging.getLogger("mock_impl")


class DAGError(ValueError):
    """The graph itself is wrong; raised before any task runs."""


@dataclass
class Task:
    name: str
    fn: Callable[..., Any]
    inputs: Mapping[str, str] = field(default_factory=dict)  # fn argument -> upstream task
    after: tuple[str, ...] = ()  # ordering-only dependencies
    retries: int = 0
    retry_delay: float = 0.0  # seconds before the first retry
    backoff: float = 2.0  # each further retry waits this many times longer...
    max_delay: float = 60.0  # ...up to this
    jitter: float = 0.0  # delay * (1 +- jitter), so parallel retries spread out
    timeout: float | None = None
    retry_if: Callable[[BaseException], bool] = lambda exc: True
    cache_key: Callable[[dict[str, Any]], str] | None = None
    on_failure: Callable[[str, BaseException], None] | None = None
    map_count: int | None = None  # None: one instance; n: a fan-out of n instances
    map_arg: str = "index"  # the argument an instance receives its index as

    @property
    def upstream(self) -> set[str]:
        return set(self.inputs.values()) | set(self.after)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        base = min(self.max_delay, self.retry_delay * self.backoff ** (retry - 1))
        return max(0.0, min(self.max_delay, base * (1 + self.jitter * rng.uniform(-1, 1))))


@dataclass
class DagRun:
    dag_id: str
    run_id: str
    tasks: dict[str, TaskRecord]
    results: dict[str, Any]
    errors: dict[str, BaseException]
    start: float
    end: float = 0.0
    instances: dict[str, list[TaskRecord]] = field(default_factory=dict)  # mapped tasks
    # Set on Ctrl-C: every attempt's token is cancelled and no attempt or retry starts.
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    tokens: set[threading.Event] = field(default_factory=set, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        self.cancel.set()
        with self.lock:
            for token in self.tokens:
                token.set()

    @property
    def state(self) -> str:
        return SUCCESS if all(t.state == SUCCESS for t in self.tasks.values()) else FAILED


class DAG:
    def __init__(
        self,
        dag_id: str,
        *,
        max_workers: int = 2,
        cache: ResultCache | None = None,
        on_failure_callback: Callable[[DagRun], None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        seed: int = 0,
    ):
        self.dag_id = dag_id
        self.tasks: dict[str, Task] = {}
        self.max_workers = max_workers
        self.cache = cache
        self.on_failure_callback = on_failure_callback
        self.on_event = on_event or (lambda name, state: None)
        self.sleep = sleep  # None: wait on the run's cancel event (Ctrl-C ends the wait)
        self.rng = random.Random(seed)

    def add_task(self, name: str, fn: Callable[..., Any], **options: Any) -> Task:
        if name in self.tasks:
            raise DAGError(f"task {name!r} is defined twice in DAG {self.dag_id!r}")
        task = Task(name, fn, **options)
        self.tasks[name] = task
        return task

    def task(self, name: str | None = None, **options: Any) -> Callable[[Callable], Callable]:
        """Decorator form of `add_task`: ``@dag.task(inputs={"data": "extract"})``."""

        def register(fn: Callable) -> Callable:
            self.add_task(name or fn.__name__, fn, **options)
            return fn

        return register

    @property
    def graph(self) -> dict[str, set[str]]:
        return {name: task.upstream for name, task in self.tasks.items()}

    def validate(self) -> TopologicalSorter:
        """Fail fast, before any work: unknown dependencies, then cycles."""
        unknown = sorted(
            f"{name} -> {dep}"
            for name, t in self.tasks.items()
            for dep in t.upstream
            if dep not in self.tasks
        )
        if unknown:
            raise DAGError(f"DAG {self.dag_id!r}: unknown dependencies: {', '.join(unknown)}")
        sorter = TopologicalSorter(self.graph)
        try:
            sorter.prepare()
        except CycleError as e:
            raise DAGError(f"DAG {self.dag_id!r} has a cycle: {' -> '.join(e.args[1])}") from None
        return sorter

    # -- running ------------------------------------------------------------------------------
    def run(self, run_id: str | None = None) -> DagRun:
        sorter = self.validate()
        run = DagRun(
            self.dag_id,
            run_id or artifacts.new_run_id(self.dag_id),
            {name: TaskRecord(name) for name in self.tasks},
            {},
            {},
            time.time(),
        )
        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=self.dag_id)
        try:
            running: dict[Future, str] = {}
            while True:
                ready = sorter.get_ready()
                if len(ready) == 1 and not running and self.tasks[ready[0]].map_count is None:
                    # Nothing could run beside it (a chain): run it here and skip the hand-off
                    # to a pool thread, which costs more than the scheduling itself.
                    self._finish(sorter, run, self._run_task(self.tasks[ready[0]], run))
                    continue
                for name in ready:
                    task = self.tasks[name]
                    if task.map_count is None:
                        running[pool.submit(self._run_task, task, run)] = name
                        continue
                    run.instances[name] = [
                        TaskRecord(f"{name}[{i}]") for i in range(task.map_count)
                    ]
                    run.results[name] = [None] * task.map_count
                    for i in range(task.map_count):
                        running[pool.submit(self._run_task, task, run, i)] = name
                    if not task.map_count:  # an empty fan-out is done at once
                        self._finish_mapped(sorter, run, name)
                if not running:
                    break  # nothing ready and nothing running: done, or blocked by a failure
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    # .result() re-raises the engine's own errors (a cache key that cannot be
                    # computed, say): they must stop the run loudly, not vanish with the thread.
                    future.result()
                    if name not in run.instances:
                        self._finish(sorter, run, name)
                    elif name not in running.values():  # the fan-out's last instance
                        self._finish_mapped(sorter, run, name)
        except BaseException:
            # Ctrl-C or an engine error: abandon the in-flight attempts (they stop at their next
            # checkpoint) and do not wait for them; queued tasks never start.
            run.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for record in run.tasks.values():
            if record.state == NOT_RUN:
                record.state = UPSTREAM_FAILED
        run.end = time.time()
        if run.state == FAILED and self.on_failure_callback:
            self.on_failure_callback(run)
        return run

    @staticmethod
    def _finish(sorter: TopologicalSorter, run: DagRun, name: str) -> None:
        if run.tasks[name].state == SUCCESS:
            sorter.done(name)  # a failed task is never done: its descendants never become ready

    def _finish_mapped(self, sorter: TopologicalSorter, run: DagRun, name: str) -> None:
        """A fan-out is one task to its downstream: it succeeds if every instance did."""
        parts, record = run.instances[name], run.tasks[name]
        failed = [p for p in parts if p.state != SUCCESS]
        record.state = FAILED if failed else SUCCESS
        record.attempts = max((p.attempts for p in parts), default=0)
        record.start = min((p.start for p in parts if p.start), default=time.time())
        record.end = max((p.end for p in parts if p.end), default=record.start)
        record.cache_hit = bool(parts) and all(p.cache_hit for p in parts)
        record.error = failed[0].error if failed else None
        if failed and self.tasks[name].on_failure:
            self.tasks[name].on_failure(name, run.errors[name])
        self._finish(sorter, run, name)

    def _run_task(self, task: Task, run: DagRun, index: int | None = None) -> str:
        kwargs = {arg: run.results[up] for arg, up in task.inputs.items()}
        if index is not None:
            kwargs[task.map_arg] = index
            record = run.instances[task.name][index]
        else:
            record = run.tasks[task.name]
        record.start = time.time()
        key = task.cache_key(kwargs) if task.cache_key and self.cache else None
        if key and (hit := self.cache.get(task.name, key)) is not None:
            self._store(run, task, index, hit["value"])
            record.state, record.cache_hit, record.end = SUCCESS, True, time.time()
            self.on_event(task.name, "cached")
            return task.name
        self.on_event(task.name, "running")
        for attempt in range(1, task.retries + 2):
            if run.cancel.is_set():
                return task.name  # the run was cancelled: no new attempt
            record.attempts = attempt
            try:
                value = self._call(task, kwargs, run)
            except KeyboardInterrupt:
                raise  # Ctrl-C on the driver thread: not a failed attempt, never retried
            except BaseException as exc:  # noqa: BLE001 - any failure is recorded, not raised
                if run.cancel.is_set():
                    return task.name  # abandoned by a cancelled run: not a failure either
                last = attempt == task.retries + 1 or not task.retry_if(exc)
                if not last:
                    delay = task.delay(attempt, self.rng)
                    if self.sleep is None:
                        run.cancel.wait(delay)
                    else:
                        self.sleep(delay)
                    continue
                record.state, record.error, record.end = (
                    FAILED,
                    f"{type(exc).__name__}: {exc}",
                    time.time(),
                )
                run.errors.setdefault(task.name, exc)
                self.on_event(task.name, "failed")
                if task.on_failure and index is None:  # a fan-out reports once, at its end
                    task.on_failure(task.name, exc)
                return task.name
            self._store(run, task, index, value)
            record.state, record.end = SUCCESS, time.time()
            if key:
                try:
                    self.cache.put(task.name, key, value)
                except (TypeError, ValueError, OSError) as exc:  # the task itself succeeded
                    log.warning("%s: result not cached (%s)", task.name, exc)
            self.on_event(task.name, "done")
            return task.name

    @staticmethod
    def _store(run: DagRun, task: Task, index: int | None, value: Any) -> None:
        if index is None:
            run.results[task.name] = value
        else:
            run.results[task.name][index] = value

    @staticmethod
    def _call(task: Task, kwargs: dict[str, Any], run: DagRun) -> Any:
        """One attempt, carrying a cancel token: without a timeout, the run's own cancel event
        (set on Ctrl-C); with one, a token of its own, in a worker thread the engine abandons
        at the deadline (`run_with_timeout`) and that the run also cancels on Ctrl-C."""
        if task.timeout is None:
            with cancellation.attempt(run.cancel):
                return task.fn(**kwargs)
        token = threading.Event()
        with run.lock:
            run.tokens.add(token)
        if run.cancel.is_set():
            token.set()
        try:
            return cancellation.run_with_timeout(
                lambda: task.fn(**kwargs), task.timeout, name=task.name, token=token
            )
        finally:
            with run.lock:
                run.tokens.discard(token)
