"""Run the pipeline on a running Prefect stack (`python -m mlpipeline stack up --engine
prefect`) through its deployment, and report it as the same `RunResult` as the in-process run.

1. Trigger: `run_deployment("<flow>/production", parameters=..., timeout=0)`: the typed
   config and our run id, which is also the flow run's name. The runner process picks the run
   up on its next poll and executes it in a new process.
2. Follow: poll the flow run and its task runs, translating task-run states into progress
   events for the CLI's display, until the flow run is final.
3. Report from Prefect's records: task runs (states, run counts, start and end times; shared with
   the in-process runner through `task_runs`) and the flow's persisted return value (the
   artifact paths, stored as JSON by the deployment).

The client's settings (API URL, home) come from the stack's pid file, and are set before Prefect
is first imported, as in `runner.py`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlpipeline import pipelines, progress, tracking
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import FAILED, FAILURES, SUCCESS, RunResult
from mlpipeline.stack import stacks

ENGINE = "prefect"
_PROGRESS = {"Running": "running", "Completed": "done", "Cached": "cached", "Failed": "failed"}
_PROGRESS.update(Crashed="failed")
# The tag of the runs `run_pipeline` starts, follows and logs itself (`hooks.track_run`).
CLI_TAG = "mlpipeline-cli"


@contextmanager
def connected() -> Iterator[dict[str, str]]:
    """Point this process's Prefect client at the running stack: through the environment if
    Prefect is not imported yet (it reads its settings once, at import), and through
    `temporary_settings` in any case (a test session imported it long before)."""
    env = stacks.client_env(ENGINE)
    for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH"):
        os.environ[key] = env[key]
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    updates = {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_HOME: env["PREFECT_HOME"],
        PREFECT_LOCAL_STORAGE_PATH: env["PREFECT_LOCAL_STORAGE_PATH"],
    }
    with temporary_settings(updates=updates):
        yield env


def follow(flow_run_id, timeout: float, poll: float = 0.5):
    """Poll until the flow run is final; emit a progress event per step state change."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from prefect_impl.task_runs import by_step

    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200
            )
            for step, group in by_step(runs).items():
                names = {r.state.name for r in group if r.state}
                state = next((_PROGRESS[n] for n in ("Failed", "Crashed") if n in names), None)
                if state is None and names and names <= {"Completed", "Cached"}:
                    state = "cached" if names == {"Cached"} else "done"
                state = state or ("running" if "Running" in names else None)
                if state and seen.get(step) != state:
                    seen[step] = state
                    progress.emit(step, state)
            if run.state and run.state.is_final():
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"flow run {flow_run_id} still {run.state_name} after {timeout:.0f} s"
                )
            time.sleep(poll)


def deployment_of(pipeline: pipelines.Pipeline) -> str:
    """The pipeline's production deployment: its flow (named as the DAG id), `production`."""
    return f"{pipeline.dag_id}/production"


def run_pipeline(cfg: PipelineConfig, *, run_id: str, timeout: float = 1800.0) -> RunResult:
    """Trigger one run of the deployment with this config and follow it to the end."""
    with connected() as env:
        return _run(cfg, run_id, timeout, env)


def _run(cfg: PipelineConfig, run_id: str, timeout: float, env: dict[str, str]) -> RunResult:
    from prefect.deployments import run_deployment

    cfg = stacks.on_stack(cfg, env)  # alerts to its mailbox, tracking on its MLflow server
    started = time.perf_counter()
    flow_run = run_deployment(
        deployment_of(pipelines.for_config(cfg)),
        parameters={"cfg": cfg, "run_id": run_id},
        flow_run_name=run_id,
        tags=[CLI_TAG],  # logged to MLflow here, not by the deployment's `track_run` hook
        timeout=0,
    )
    flow_run = follow(flow_run.id, timeout)
    wall = time.perf_counter() - started
    result = recorded_result(cfg, run_id, flow_run, flow_run.state, wall_seconds=wall)
    tracking.log_run(result, cfg)  # on the stack's MLflow server; never raises
    return result


def recorded_result(
    cfg: PipelineConfig, run_id: str, flow_run: Any, state: Any, *, wall_seconds: float
) -> RunResult:
    """A finished flow run (final `state`) as our `RunResult`, from Prefect's records: its task
    runs (shared with the in-process runner through `task_runs`) and its persisted return value
    (each step's artifact paths)."""
    from prefect.settings import get_current_settings

    from prefect_impl import task_runs
    from prefect_impl.hooks import log_location
    from prefect_impl.runner import expected_task_runs

    pipeline = pipelines.for_config(cfg)
    run_dir = Path(cfg.paths.artifacts) / run_id
    ok = state.is_completed()
    outputs: dict[str, Any] = state.result(_sync=True) if ok else {}
    expected = expected_task_runs(cfg, outputs, run_dir / FAILURES)
    runs = task_runs.read_task_runs(flow_run.id, expected)
    api = get_current_settings().api.url
    return RunResult.finished(
        pipeline,
        task_runs.task_records(runs, pipeline.order, flow_failed=not ok),
        None if ok else state.message,
        engine=ENGINE,
        run_id=run_id,
        run_dir=run_dir,
        state=SUCCESS if ok else FAILED,
        edges=task_runs.executed_edges(runs),
        outputs=outputs,
        wall_seconds=wall_seconds,
        log_location=log_location(run_dir, flow_run.id),
        settings={
            "runs_with": "production stack: server + deployment runner",
            "mode": "production",  # the MLflow run's `mode` tag
            "database": "postgres",
            "api": api,
            "ui_run": api.removesuffix("/api") + f"/runs/flow-run/{flow_run.id}",
            "cache": str(Path(cfg.paths.cache) / "prefect") if cfg.cache.enabled else "off",
        },
    )
