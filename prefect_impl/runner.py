"""Run the Prefect flow once and report it as a `RunResult`: for the CLI, the contract tests, the
tutorials and the benchmarks.

Prefect reads its settings when it is first imported, so `run_pipeline` sets them (unless the
environment already has them) *before* importing anything from Prefect:

* `PREFECT_HOME` = ``<paths.cache>/prefect/home``: everything Prefect keeps between runs sits
  beside the cache records, in the project, never in ``~/.prefect`` (whose profiles could point
  the run at some other server).
* The ephemeral API server, started by Prefect on the first flow run of the process and stopped
  at exit, keeps its database in memory: with the default SQLite file, runs stall about 2 s at a
  time on database locks. Set `PREFECT_API_URL` to use a running server (`prefect server start`).
* Quiet: Prefect logs WARNING and above to its API and to ``<run dir>/run.log``, the console
  only CRITICAL (the summary says what failed); the server logs only CRITICAL and sends no
  telemetry (this machine has no internet; the failed attempts printed tracebacks at exit).

The flow heartbeat is turned off around the flow call: it makes every flow run wait about 1 s at
its end, and only code can turn it off (no environment value means None).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import time
from pathlib import Path
from typing import Any

from mlpipeline import pipelines
from mlpipeline.logs import logging_to
from mlpipeline.runs import FAILED, FAILURES, RUN_LOG, SUCCESS, RunResult, first_failure

ENGINE = "prefect"
CACHES_RESULTS = True  # a rerun serves every cacheable step from <paths.cache>/prefect
# Each pipeline's flow: "module:function".
FLOWS = {"weather": "prefect_impl.flow:ml_pipeline"}


def prefect_environment(cfg: Any) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(Path(cfg.paths.cache) / "prefect" / "home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///:memory:",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
        "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
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


def run_pipeline(cfg: Any, *, run_id: str, heartbeat: bool = False) -> RunResult:
    """Run the flow; `heartbeat=True` keeps Prefect's default (for the benchmarks' default row)."""
    for key, value in prefect_environment(cfg).items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes one level
    # Only now: Prefect reads the settings above when first imported.
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    from prefect_impl import task_runs
    from prefect_impl.hooks import log_location

    pipeline = pipelines.for_config(cfg)
    workers = cfg.orchestration.max_workers
    flow = _flow(pipeline.name, workers)

    run_dir = Path(cfg.paths.artifacts) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    # Entering temporary_settings rebuilds Prefect's settings (about 0.1-0.3 s): only when the
    # heartbeat is to go and is still on.
    keep = heartbeat or get_current_settings().flows.heartbeat_frequency is None
    no_heartbeat = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    started = time.perf_counter()
    # The steps' log and Prefect's own records (failed tasks with their tracebacks) share a file.
    with logging_to(run_dir / RUN_LOG), logging_to(run_dir / RUN_LOG, level=None, logger="prefect"):
        with contextlib.nullcontext() if keep else temporary_settings(updates=no_heartbeat):
            # return_state: a failed run is reported in the summary, not raised as a traceback.
            state = flow(cfg, run_id, return_state=True)
        flow_run_id = state.state_details.flow_run_id
        # _sync: under Jupyter (a running event loop) result() would return a coroutine.
        outputs = state.result(_sync=True) if state.is_completed() else {}
        runs = task_runs.read_task_runs(
            flow_run_id, expected_task_runs(outputs, run_dir / FAILURES, pipeline.order)
        )
    wall = time.perf_counter() - started
    tasks = task_runs.task_records(runs, pipeline.order, flow_failed=not state.is_completed())
    failed = first_failure(tasks, pipeline.order)
    return RunResult(
        engine=ENGINE,
        run_id=run_id,
        run_dir=run_dir,
        state=SUCCESS if state.is_completed() else FAILED,
        tasks=tasks,
        edges=task_runs.executed_edges(runs),
        outputs=outputs,
        failed_step=failed.name if failed else None,
        error=failed.error if failed else (None if state.is_completed() else state.message),
        wall_seconds=wall,
        log_location=log_location(run_dir, flow_run_id),
        settings=settings_used(cfg, heartbeat),
        pipeline=pipeline.name,
    )


def expected_task_runs(outputs: dict, failures: Path, order: tuple[str, ...]) -> int:
    """How many task runs the flow started: all of them, or those up to the failed step."""
    from mlpipeline import artifacts

    if outputs:
        return sum(len(v) if isinstance(v, list) else 1 for v in outputs.values())
    failed = {f["step"] for f in artifacts.read_jsonl(failures)}
    last = max((order.index(s) for s in failed), default=-1)
    return last + 1  # a failed mapped step: at least one of its runs


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
