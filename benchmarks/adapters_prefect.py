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

from prefect import flow, task
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

from benchmarks.adapters import Outcome, flaky_body, noop
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import RunResult

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
            server.start(timeout=60)
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
