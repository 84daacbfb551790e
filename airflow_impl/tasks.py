"""What every task of our DAGs does, and the callbacks they share: engine plumbing, no steps.

`run_step` runs one declared step for this DAG run (`mlpipeline.execution.reuse_or_run`, with
artifact reuse standing in for the input cache Airflow does not have). Bad input or a bad config
fails at once: `AirflowFailException`, no retries. `record_failure` (task level, after the last
try) writes down the error, which exists only there; `alert_once` (DAG level) sends the run's
one alert; `track_run` (DAG level, on success and failure) logs a stack's run to MLflow.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_impl import RUN_ID_PARAM, attempts
from airflow_impl.params import parsed_config, run_config, run_id
from mlpipeline.errors import ConfigError, is_retryable
from mlpipeline.runs import RUN_LOG
from mlpipeline.runs import record_failure as write_failure

ENGINE = "airflow"

# What each unmapped task instance ran with, for its "MLflow run" link (`monitoring.py`), which
# Airflow computes in the same process as the task ends: (tracking section, our run id).
# Rebuilding the task's context there instead would validate every Param once more per task.
ran_with: dict[tuple[str, str, str], tuple[Any, str]] = {}


def _pipeline(context: Context) -> Any:
    from mlpipeline import pipelines

    return pipelines.by_dag_id(context["dag"].dag_id)


def run_step(name: str, context: Context, index: int | None = None, **inputs: Any) -> str:
    """Run step `name` (instance `index` of a mapped step) and return its output directory."""
    pipeline = _pipeline(context)
    try:
        from mlpipeline.execution import reuse_or_run

        cfg, run_dir = run_config(context, pipeline.config_type)
        if (ti := context.get("ti")) and index is None:  # mapped instances get no links
            ran_with[(ti.dag_id, ti.run_id, ti.task_id)] = (cfg.tracking, run_dir.name)
        # A mapped upstream arrives as a lazy XCom sequence: one slice is one request, where
        # list() asks item by item and ends on a 404 that Airflow logs as an error.
        inputs = {k: v if isinstance(v, str) else v[:] for k, v in inputs.items()}
        return attempts.run_attempt(
            lambda: reuse_or_run(pipeline, name, cfg, run_dir, ENGINE, index, **inputs),
            cfg.orchestration.task_timeout_seconds,
            name=name,
        )
    except Exception as e:
        if is_retryable(e):
            raise
        raise AirflowFailException(str(e)) from e  # another try cannot fix bad input


def _callback_config(context: Context) -> tuple[Any, Path]:
    """The run's config, or the parse-time defaults when the params themselves were refused."""
    pipeline = _pipeline(context)
    try:
        return run_config(context, pipeline.config_type)
    except ConfigError:
        cfg = parsed_config(context, pipeline.config_type)
        return cfg, Path(cfg.paths.artifacts) / run_id(context)


def record_failure(context: Context) -> None:
    """Task-level, after the last try: the exception exists only here, so write it down."""
    if attempts.interrupted():
        return  # cancelled, not failed
    _, run_dir = _callback_config(context)
    ti, exc = context["ti"], context["exception"]
    cause = exc.__cause__ if isinstance(exc, AirflowFailException) and exc.__cause__ else exc
    write_failure(run_dir, ti.task_id, cause)
    with open(run_dir / RUN_LOG, "a", encoding="utf-8") as log:
        log.write(f"{ti.task_id} failed on try {ti.try_number}:\n")
        log.writelines(traceback.format_exception(exc))


def alert_once(context: Context) -> None:
    """DAG-level: Airflow calls it once per failed run, however many tries and tasks failed."""
    if attempts.interrupted():
        return  # a cancel is a person's decision: no alert
    from mlpipeline.alerts import alert_failed_run
    from mlpipeline.runs import recorded_failures

    cfg, run_dir = _callback_config(context)
    alert_failed_run(
        cfg,
        engine=ENGINE,
        run_id=run_dir.name,
        tasks=recorded_failures(run_dir),
        order=_pipeline(context).order,
        log_location=str(run_dir / RUN_LOG),
        fallback=f"the run failed ({context.get('reason')})",
    )


def track_run(context: Context) -> None:
    """DAG-level, on success and on failure: on a production stack, log a run that `run --mode
    production` did not start (the scheduler's, a backfill's, the UI's trigger) to MLflow from
    Airflow's records, as that command logs its own (marked by our run-id param). It runs in the
    dag-processor after the run is final; the stack gives it time (`airflow_stack`)."""
    from airflow_impl.production import API_ENV

    if context["params"].get(RUN_ID_PARAM) or API_ENV not in os.environ:
        return  # the CLI's run (it logs it), or in-process (the runner logs it)
    from airflow_impl import production

    cfg, run_dir = _callback_config(context)
    production.track(cfg, context["dag_run"].run_id, run_dir.name)
