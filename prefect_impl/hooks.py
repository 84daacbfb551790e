"""The retry condition and the failure hooks every flow's tasks share: engine plumbing.

A task that fails for good writes down why (`record_failure`); the flow's `on_failure` hook
sends one alert per failed run through the shared notifier (`alert_on_failure`). On a production
stack, the deployments' end-of-run hooks also log the run to MLflow (`track_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.runtime import task_run as current_task_run
from prefect.settings import get_current_settings
from prefect.states import State
from prefect.tasks import Task

from mlpipeline import pipelines
from mlpipeline.alerts import alert_failed_run
from mlpipeline.config import validate
from mlpipeline.errors import is_retryable
from mlpipeline.runs import RUN_LOG, recorded_failures
from mlpipeline.runs import record_failure as write_failure

ENGINE = "prefect"


def retry_if_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only errors another attempt could fix; bad data or config fail at once.

    A plain `def` on purpose: Prefect calls `retry_condition_fn` only if `inspect.isfunction`
    accepts it. A `functools.partial` or a callable object silently turns retries off.
    """
    return is_retryable(state.result(raise_on_failure=False))


def record_failure(task: Task, task_run: TaskRun, state: State) -> None:
    """After a task's last attempt: note the step and its error for the flow's alert."""
    run_dir = Path(current_task_run.parameters["run_dir"])
    write_failure(run_dir, task.name, state.result(raise_on_failure=False))


def _run_config(flow: Any, flow_run: FlowRun) -> tuple[Any, str]:
    """The run's config and our run id, from the parameters as the API stored them (JSON,
    validated back into the pipeline's config)."""
    pipeline = pipelines.by_dag_id(flow.name)
    cfg = validate(flow_run.parameters["cfg"], config_type=pipeline.config_type)
    return cfg, flow_run.parameters["run_id"]


def alert_on_failure(flow: Any, flow_run: FlowRun, state: State) -> None:
    """Once per failed flow run: one alert naming the first step that failed."""
    pipeline = pipelines.by_dag_id(flow.name)
    cfg, run_id = _run_config(flow, flow_run)
    run_dir = Path(cfg.paths.artifacts) / run_id
    alert_failed_run(
        cfg,
        engine=ENGINE,
        run_id=run_id,
        tasks=recorded_failures(run_dir),
        order=pipeline.order,
        log_location=log_location(run_dir, flow_run.id),
        fallback=state.message or "the flow run failed",
    )


def track_run(flow: Any, flow_run: FlowRun, state: State) -> None:
    """At the end of a deployment's run (completed or failed): log a run that `run
    --mode production` did not start (the schedule's, the UI's, `run_deployment` called by
    hand) to MLflow from Prefect's records, as that command logs its own (tagged `CLI_TAG`)."""
    from mlpipeline import tracking
    from prefect_impl.production import CLI_TAG, recorded_result

    if CLI_TAG in (flow_run.tags or ()):
        return
    cfg, run_id = _run_config(flow, flow_run)
    started = flow_run.start_time or state.timestamp
    wall = (state.timestamp - started).total_seconds()
    tracking.log_run(recorded_result(cfg, run_id, flow_run, state, wall_seconds=wall), cfg)


def log_location(run_dir: Path, flow_run_id: Any) -> str:
    """The steps' log file, and the flow run in Prefect's UI (or its id, with no UI running)."""
    ui = get_current_settings().ui_url
    flow_run = f"{ui}/runs/flow-run/{flow_run_id}" if ui else f"Prefect flow run {flow_run_id}"
    return f"{run_dir / RUN_LOG} and {flow_run}"
