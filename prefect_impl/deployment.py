"""Serve the pipeline flow as a Prefect deployment: the runner process of the production stack
(`python -m prefect_impl.deployment`, started by `python -m mlpipeline stack up --engine
prefect`). Runs are triggered with `run_deployment("<flow>/production", ...)`, one deployment
per pipeline (`ml_pipeline`, `recsys_retrain`); the weather pipeline's daily
schedule is a second deployment, `ml_pipeline_daily/daily` (see `daily_pipeline` below).

The production deployment differs from the in-process flow in two options only:

* `persist_result=True`: the flow's return value (each step's artifact paths) is stored as JSON
  (the flow's `SERIALIZER`, never pickle) under `PREFECT_LOCAL_STORAGE_PATH`, so the client that
  triggered the run can read it back; in-process, the caller gets it from the state directly.
* `MLPIPELINE_TASK_RUNNER=dask`: a `DaskTaskRunner` connected to the stack's Dask cluster at
  `MLPIPELINE_DASK_ADDRESS` (a scheduler and N single-threaded worker processes, see
  `mlpipeline.stack.prefect_stack`), so the tuning fan-out spreads across processes (the thread
  pool otherwise).

And end-of-run hooks: `track_run` logs each completed or failed run that `run --mode production`
did not start (scheduled, backfilled, the UI's) to the stack's MLflow server, as that command
logs its own; `on_crashed` sends the same alert as `on_failure`. A flow-run process that dies
(SIGKILL, out of memory) runs no hook of its own; the runner that started it sees it exit
non-zero, marks the run Crashed and runs the flow's `on_crashed` hooks in its own process
(Prefect's crash detection). A failed run raises in the flow-run process and ends Failed, never
Crashed, so each run still alerts once.
"""

from __future__ import annotations

import dataclasses
import importlib
import os

from prefect import flow, runtime, serve
from prefect.types.entrypoint import EntrypointType

from mlpipeline import artifacts
from mlpipeline.config import PipelineConfig
from mlpipeline.paths import WEATHER_CONFIG
from mlpipeline.stack.stacks import SCHEDULED_CONFIG_ENV, scheduled_params
from prefect_impl.flow import ml_pipeline
from prefect_impl.hooks import alert_on_failure, track_run
from prefect_impl.production_crashes import (
    ALERT_DEPLOYMENT,
    alert_unresponsive_run,
    ensure_automation,
)
from prefect_impl.recsys import recsys_retrain

DEPLOYMENT = "production"
DAILY = "daily"
DAILY_CRON = "0 0 * * *"  # as the Airflow DAG's @daily: midnight UTC


def task_runner():
    if os.environ.get("MLPIPELINE_TASK_RUNNER") != "dask":
        return None
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=os.environ["MLPIPELINE_DASK_ADDRESS"])


def options() -> dict:
    runner = task_runner()
    return {
        "persist_result": True,
        "on_completion": [track_run],
        "on_failure": [alert_on_failure, track_run],
        # Run by the runner when the flow-run process died: an alert, and no MLflow run (the
        # task runs it left Running never settle into records).
        "on_crashed": [alert_on_failure],
        **({"task_runner": runner} if runner else {}),
    }


# What the runner's flow-run processes load (by this module path): the flow with the options
# above. The runner starts `python -m prefect.engine`, which imports it; handing it the flow
# object instead would pickle the flow's function by value, without the globals its type hints
# need for parameter validation.
production_pipeline = ml_pipeline.with_options(**options())
production_recsys = recsys_retrain.with_options(**options())


def _day() -> str:
    return runtime.flow_run.scheduled_start_time.date().isoformat()


@flow(name="ml_pipeline_daily", flow_run_name=lambda: f"daily-{_day()}")
def daily_pipeline(cfg: PipelineConfig | None = None) -> dict:
    """One day of the schedule: the pipeline on the rows before the run's scheduled date (its
    `data.as_of`, as Airflow's data interval end), run id `daily-<date>`. A backfill is one run
    per past date (`run_deployment(..., scheduled_time=day)`): Prefect has no backfill command,
    the scheduled time is the run's date. `cfg`: the stack's scheduled config by default."""
    if cfg is None:
        folder = os.environ[SCHEDULED_CONFIG_ENV]
        cfg = PipelineConfig.from_params(
            artifacts.read_json(scheduled_params(folder, WEATHER_CONFIG))
        )
    if not cfg.data.as_of:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, as_of=_day()))
    return production_pipeline(cfg, run_id=f"daily-{_day()}")


FLOWS = {
    "production_pipeline": production_pipeline,  # ml_pipeline/production
    "production_recsys": production_recsys,  # recsys_retrain/production
    "daily_pipeline": daily_pipeline,
    "alert_unresponsive_run": alert_unresponsive_run,  # run by the crash automation
}
OPTIONS = {
    "daily_pipeline": {"name": DAILY, "cron": DAILY_CRON},
    "alert_unresponsive_run": {"name": ALERT_DEPLOYMENT},
}
# More modules whose `FLOWS` this runner serves too (the benchmarks' no-op flows), comma-separated.
EXTRA_FLOWS_ENV = "MLPIPELINE_EXTRA_FLOWS"


def served() -> dict[str, object]:
    """Entrypoint (module.attribute) -> flow, for this module and the extra ones."""
    flows = {f"prefect_impl.deployment.{attr}": f for attr, f in FLOWS.items()}
    for module in filter(None, os.environ.get(EXTRA_FLOWS_ENV, "").split(",")):
        extra = importlib.import_module(module)
        flows.update({f"{module}.{attr}": f for attr, f in extra.FLOWS.items()})
    return flows


def main() -> None:
    deployments = {}
    for entrypoint, served_flow in served().items():
        attr = entrypoint.rsplit(".", 1)[1]
        options = OPTIONS.get(attr, {"name": DEPLOYMENT})
        deployment = served_flow.to_deployment(
            **options, entrypoint_type=EntrypointType.MODULE_PATH
        )
        deployment.entrypoint = entrypoint
        deployments[attr] = deployment
    # The automation names the alert deployment by id: create that first (serve() updates it).
    ensure_automation(deployments["alert_unresponsive_run"].apply())
    serve(*deployments.values(), print_starting_message=False)


if __name__ == "__main__":
    main()
