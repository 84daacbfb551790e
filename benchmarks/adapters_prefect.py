"""Prefect 3 behind the benchmarks' `Adapter` interface (see benchmarks/adapters.py).

Both variants run against an API server this adapter starts in `start()` and stops in `stop()`
(a subprocess, as Prefect's own ephemeral server), with their settings entered around every
scenario, so two adapters in one process never see each other's settings:

* ``default``: Prefect as shipped: the SQLite database in a file, the flow heartbeat on (a flow
  run waits up to about 1 s for its heartbeat thread at the end), INFO logs, telemetry on.
* ``tuned``: what `prefect_impl.runner` uses: the database in memory, no heartbeat, WARNING logs,
  telemetry off.

PREFECT_HOME is ``BENCH_COLD_HOME`` when set (a fresh directory per cold start, see
benchmarks/cold.py), else a temporary directory that `stop()` removes. Attempts come from
Prefect: the task run's own `run_count` (`prefect.runtime.task_run`), read inside the task, and
task counts from the task-run ids of the states Prefect returns. Neither reads the API, whose
records arrive asynchronously; only `pipeline` does (it returns the runner's full RunResult).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.runtime import task_run
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    PREFECT_SERVER_LOGGING_LEVEL,
    temporary_settings,
)
from prefect.tasks import exponential_backoff

from benchmarks.adapters import Outcome, Shape, flaky_body, noop
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import RunResult
from prefect_impl.server import startup_timeout

VARIANTS = {
    "default": {
        "database": "sqlite file (default)",
        "heartbeat": "on, every 180 s (default)",
        "logging_level": "INFO (default)",
        "telemetry": "on (default)",
    },
    "tuned": {
        "database": "sqlite in memory",
        "heartbeat": "off",
        "logging_level": "WARNING",
        "telemetry": "off",
    },
}


@task
def noop_task(x: int = 0) -> int:
    return noop(x)


@task
def shifted_noop(i: int) -> int:
    return noop(i) - 1  # task i returns i


@task
def join(values: list[int]) -> int:
    return sum(values)


@task(persist_result=False)  # else Prefect pickles each failure into PREFECT_HOME/storage
def flaky_task(failures: int, workdir: str) -> tuple[str, int]:
    return flaky_body(failures, Path(workdir)), task_run.run_count


@flow
def chain_flow(n: int) -> tuple[int, int]:
    x, ran = 0, set()
    for _ in range(n):
        state = noop_task(x, return_state=True)
        x = state.result()
        ran.add(state.state_details.task_run_id)
    return x, len(ran)


@flow
def fanout_flow(k: int) -> tuple[int, int]:
    futures = shifted_noop.map(range(k))  # on the thread-pool task runner
    total = join(futures, return_state=True)
    ran = {f.task_run_id for f in futures} | {total.state_details.task_run_id}
    return total.result(), len(ran)


@flow
def flaky_flow(failures: int, delay: float, workdir: str) -> tuple[str, int]:
    retried = flaky_task.with_options(
        retries=failures,
        retry_delay_seconds=exponential_backoff(backoff_factor=delay),  # delay, 2 delay, ...
        retry_jitter_factor=None,  # the benchmark checks the configured waits are honoured
    )
    return retried(failures, workdir)


# The weather flow's shape (prefect_impl/flow.py) with plain no-op tasks: no config, no hooks,
# no cache policy, no retries. `bare()` checks its task runs against the declared shape.
@task
def load_data() -> str:
    return "raw"


@task
def validate_data(raw: str) -> str:
    return "validated"


@task
def build_features(validated: str) -> str:
    return "features"


@task
def split_data(features: str) -> str:
    return "split"


@task
def tune_model(split: str, candidate: int) -> str:
    return "tuning"


@task
def train_model(split: str, tuning: list[str]) -> str:
    return "model"


@task
def evaluate_model(model: str, split: str) -> str:
    return "metrics"


@task
def gate_model(metrics: str, split: str) -> str:
    return "gate"


@task
def register_model(model: str, metrics: str, gate: str) -> str:
    return "registration"


@task
def integration_test(registration: str, metrics: str, holdout: str) -> str:
    return "report"


@task
def promote_model(gate: str, report: str) -> str:
    return "promotion"


@flow(persist_result=False)
def bare_flow(width: int) -> None:
    raw = load_data()
    split = split_data(build_features(validate_data(raw)))
    tuning = tune_model.map(unmapped(split), candidate=range(width)).result()
    model = train_model(split, tuning)
    metrics = evaluate_model(model, split)
    gate = gate_model(metrics, split)
    report = integration_test(register_model(model, metrics, gate), metrics, split)
    promote_model(gate, report)


class PrefectAdapter:
    engine = "prefect"

    def __init__(self, variant: str = "default"):
        self.variant = variant
        self.settings: dict[str, Any] = dict(VARIANTS[variant])
        self.server: SubprocessASGIServer | None = None
        self.home: Path | None = None
        self._own_home = False

    # -- server and settings -----------------------------------------------------------------
    def _updates(self) -> dict[Any, Any]:
        tuned = self.variant == "tuned"
        database = (
            "sqlite+aiosqlite:///:memory:"
            if tuned
            else f"sqlite+aiosqlite:///{self.home}/prefect.db"
        )
        updates: dict[Any, Any] = {
            PREFECT_HOME: str(self.home),
            PREFECT_SERVER_DATABASE_CONNECTION_URL: database,
            PREFECT_SERVER_LOGGING_LEVEL: "CRITICAL" if tuned else "WARNING",
            PREFECT_SERVER_ANALYTICS_ENABLED: not tuned,
        }
        if tuned:
            updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None  # only code can turn it off
        if self.server is not None:
            updates[PREFECT_API_URL] = self.server.api_url
        return updates

    @contextmanager
    def _settings(self) -> Iterator[None]:
        logger = logging.getLogger("prefect")  # configured at import: set the level here
        previous = logger.level
        logger.setLevel(logging.WARNING if self.variant == "tuned" else logging.INFO)
        try:
            with temporary_settings(updates=self._updates()):
                yield
        finally:
            logger.setLevel(previous)

    def start(self) -> None:
        cold_home = os.environ.get("BENCH_COLD_HOME")
        self._own_home = not cold_home
        self.home = Path(cold_home or tempfile.mkdtemp(prefix=f"prefect-bench-{self.variant}-"))
        with self._settings():  # the server subprocess inherits these settings
            server = SubprocessASGIServer(port=_free_port())
            # The runner's wait: a start costs 20-24 CPU s, and 60 s ran out when the quick
            # run shared 2 cores with the rest of the test command.
            server.start(timeout=int(startup_timeout()))
        self.server = server
        self.settings["api"] = server.api_url

    def stop(self) -> None:
        if self.server is not None:
            # Flush the queued logs and events to the server while it is up, as
            # prefect_test_harness does: at exit they would wait forever for a stopped server.
            with self._settings():
                with contextlib.suppress(RuntimeError):  # never started: nothing queued
                    APILogWorker.instance().drain()
                EventsWorker.drain_all()
            self.server.stop()
            self.server = None
        if self._own_home and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    # -- scenarios ---------------------------------------------------------------------------
    def chain(self, n: int) -> Outcome:
        with self._settings():
            value, ran = chain_flow(n)
        return Outcome(value, tasks=ran)

    def fanout(self, k: int) -> Outcome:
        with self._settings():
            value, ran = fanout_flow(k)
        return Outcome(value, tasks=ran)

    def flaky(self, failures: int, delay: float, backoff: float, workdir: Path) -> Outcome:
        if delay and backoff != 2:
            raise ValueError("Prefect's exponential_backoff doubles every wait: backoff must be 2")
        with self._settings():
            value, attempts = flaky_flow(failures, delay, str(workdir))
        return Outcome(value, {"flaky": attempts}, tasks=1)

    def bare(self, shape: Shape) -> Outcome:
        from prefect.task_runners import ThreadPoolTaskRunner

        from prefect_impl import task_runs

        # The runner's task runner: two workers (orchestration.max_workers).
        bare = bare_flow.with_options(task_runner=ThreadPoolTaskRunner(2))
        with self._settings():
            state = bare(shape.width, return_state=True)
            assert state.is_completed(), state.message
            runs = task_runs.read_task_runs(state.state_details.flow_run_id, shape.instances)
        done = [r for r in runs if r.state and r.state.is_completed()]
        steps = {task_runs.step_name(r) for r in done}
        assert steps == set(shape.names), f"the bare flow's tasks differ: {steps}"
        return Outcome(
            sum(task_runs.step_name(r) == shape.mapped for r in done),
            tasks=len(done),
            span=(max(r.end_time for r in done) - min(r.start_time for r in done)).total_seconds(),
        )

    def pipeline(self, cfg: PipelineConfig, run_id: str) -> RunResult:
        from prefect_impl.runner import run_pipeline

        with self._settings():
            result = run_pipeline(cfg, run_id=run_id, heartbeat=self.variant == "default")
        result.settings.update(variant=self.variant, **self.settings)
        return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
