"""Run the Prefect flow once and report it as a `RunResult`: for the CLI, the contract tests, the
tutorials and the benchmarks.

Prefect reads its settings when it is first imported, so `run_pipeline` sets them (unless the
environment already has them) *before* importing anything from Prefect:

* `PREFECT_HOME` = ``<paths.cache>/prefect/home``: everything Prefect keeps between runs sits
  beside the cache records, in the project, never in ``~/.prefect`` (whose profiles could point
  the run at some other server).
* The API server: unless `PREFECT_API_URL` names one (a running `prefect server start`, or the
  tests' harness), `server.LocalServer` starts one as our child on the first run of the process,
  before Prefect is imported, and stops it at exit; it dies with us even after a `kill -9`. Its
  database is in memory: with the default SQLite file, runs stall about 2 s at a time on locks.
  A server that does not start is a failed run: one alert, then `ServerStartFailed` (the CLI
  prints it on one screen and exits 1; no run directory exists yet).
* Quiet: Prefect logs WARNING and above to its API and to ``<run dir>/run.log``, the console
  only CRITICAL (the summary says what failed); the server logs only CRITICAL and sends no
  telemetry (this machine has no internet; the failed attempts printed tracebacks at exit).

The flow heartbeat is turned off around the flow call: it makes every flow run wait about 1 s at
its end, and only code can turn it off (no environment value means None).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from mlpipeline import pipelines
from mlpipeline.logs import logging_to
from mlpipeline.runs import FAILED, FAILURES, RUN_LOG, SUCCESS, RunResult
from prefect_impl.server import LocalServer, ServerStartFailed

ENGINE = "prefect"
CACHES_RESULTS = True  # a rerun serves every cacheable step from <paths.cache>/prefect


# Each pipeline's flow: "module:function".
FLOWS = {
    "weather": "prefect_impl.flow:ml_pipeline",
    "recsys": "prefect_impl.recsys:recsys_retrain",
}


def flow_of(pipeline: str) -> Any:
    module, name = FLOWS[pipeline].split(":")
    return getattr(importlib.import_module(module), name)


@functools.cache
def _flow(pipeline: str, workers: int) -> Any:
    """The pipeline's flow with its task runner, made once per process: `with_options` builds a
    new flow and its parameter schema (about 0.1 s). Each run duplicates the task runner."""
    from prefect.task_runners import ThreadPoolTaskRunner

    return flow_of(pipeline).with_options(task_runner=ThreadPoolTaskRunner(workers))


def prefect_environment(cfg: Any) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(Path(cfg.paths.cache) / "prefect" / "home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///:memory:",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
        "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


_server: LocalServer | None = None


def api_url(cfg: Any, run_id: str) -> str:
    """The API this process talks to: the configured one, else our own server (started once)."""
    global _server
    if configured := configured_api_url():
        return configured
    if _server is None:
        server = LocalServer(Path(os.environ["PREFECT_HOME"]) / "server.log")
        try:
            os.environ["PREFECT_API_URL"] = server.start()  # read when Prefect is imported
        except ServerStartFailed as e:
            alert_start_failure(cfg, run_id, e, server.log)
            raise
        _server = server
        atexit.register(stop_server)  # after Prefect's own exit hooks: registered before them
    return _server.api_url


def own_server_url() -> str | None:
    """The API URL of the server this process started, if it is up (None: none started)."""
    return _server.api_url if _server is not None else None


def configured_api_url() -> str | None:
    """PREFECT_API_URL as Prefect sees it: the environment before import, its settings after."""
    if "prefect" not in sys.modules:
        return os.environ.get("PREFECT_API_URL")
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def stop_server() -> None:
    """Flush Prefect's queued logs and events to our server, then stop it (else exit hangs)."""
    global _server
    if _server is None:
        return
    try:
        if "prefect" in sys.modules:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: _server.api_url}):
                with contextlib.suppress(RuntimeError):  # never started: nothing queued
                    APILogWorker.instance().drain()
                EventsWorker.drain_all()
    finally:
        _server.stop()
        _server = None


def alert_start_failure(cfg: Any, run_id: str, error: Exception, log: Path) -> None:
    """One alert: a scheduled run that never started must not fail in silence."""
    from mlpipeline.alerts import Alert, notifier_for

    notifier_for(cfg).notify(
        Alert(engine=ENGINE, run_id=run_id, step=None, error=str(error), log_location=str(log))
    )


def run_pipeline(cfg: Any, *, run_id: str, heartbeat: bool = False) -> RunResult:
    """Run the flow; `heartbeat=True` keeps Prefect's default (for the benchmarks' default row)."""
    for key, value in prefect_environment(cfg).items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes one level
    url = api_url(cfg, run_id)
    # Only now: Prefect reads the settings above when first imported.
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from prefect_impl import attempts, task_runs
    from prefect_impl.hooks import log_location

    pipeline = pipelines.for_config(cfg)
    workers = cfg.orchestration.max_workers
    flow = _flow(pipeline.name, workers)

    run_dir = Path(cfg.paths.artifacts) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    updates = {PREFECT_API_URL: url}  # also when Prefect was imported before the server started
    if not heartbeat:
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    started = time.perf_counter()
    # The steps' log and Prefect's own records (failed tasks with their tracebacks) share a file.
    with (
        logging_to(run_dir / RUN_LOG),
        logging_to(run_dir / RUN_LOG, level=None, logger="prefect"),
        temporary_settings(updates=updates),
    ):
        # return_state: a failed run is reported in the summary, not raised as a traceback.
        # A Ctrl-C cancels the attempts in flight and propagates (the CLI reports it).
        with attempts.interruptible():
            state = flow(cfg, run_id, return_state=True)
        flow_run_id = state.state_details.flow_run_id
        # _sync: under Jupyter (a running event loop) result() would return a coroutine.
        outputs = state.result(_sync=True) if state.is_completed() else {}
        runs = task_runs.read_task_runs(
            flow_run_id, expected_task_runs(cfg, outputs, run_dir / FAILURES)
        )
        settings = settings_used(cfg, heartbeat)
    wall = time.perf_counter() - started
    tasks = task_runs.task_records(runs, pipeline.order, flow_failed=not state.is_completed())
    return RunResult.finished(
        pipeline,
        tasks,
        None if state.is_completed() else state.message,
        engine=ENGINE,
        run_id=run_id,
        run_dir=run_dir,
        state=SUCCESS if state.is_completed() else FAILED,
        edges=task_runs.executed_edges(runs),
        outputs=outputs,
        wall_seconds=wall,
        log_location=log_location(run_dir, flow_run_id),
        settings=settings,
    )


def expected_task_runs(cfg: Any, outputs: dict, failures: Path) -> int:
    """How many task runs the flow started: all of them, or those up to the failed step.

    `tune_model` is mapped: one run per candidate, all created at once by `.map`. Counting it
    as one let `read_task_runs` return before the failed step's run was recorded, and the
    summary said "FAILED at None" (issue 9, item 10).
    """
    from mlpipeline import artifacts

    if outputs:
        return sum(len(v) if isinstance(v, list) else 1 for v in outputs.values())
    failed = {f["step"] for f in artifacts.read_jsonl(failures)}
    pipeline = pipelines.for_config(cfg)
    order = pipeline.order
    last = max((order.index(s) for s in failed), default=-1)
    return sum(
        pipeline.steps[s].map_count(cfg) if pipeline.steps[s].mapped else 1
        for s in order[: last + 1]
    )


def settings_used(cfg: Any, heartbeat: bool) -> dict[str, object]:
    from prefect.settings import get_current_settings

    s = get_current_settings()
    return {
        "api": s.api.url or "ephemeral server",
        "database": s.server.database.connection_url.get_secret_value()
        if s.server.database.connection_url
        else None,
        "heartbeat": "on" if heartbeat else "off",
        "logging_level": s.logging.level,
        "task_runner": f"ThreadPoolTaskRunner(max_workers={cfg.orchestration.max_workers})",
        "cache": str(Path(cfg.paths.cache) / "prefect") if cfg.cache.enabled else "off",
    }
