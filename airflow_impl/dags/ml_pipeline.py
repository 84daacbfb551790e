"""# ML pipeline: will it rain in Seattle tomorrow?

The eleven steps of the weather pipeline (`mlpipeline.steps`) as an Airflow 3 TaskFlow DAG: one
task per step, named as the step. Each task runs its step and returns the step's output
directory, so XCom carries paths, never data frames.

- **Params**: the config flattened, one typed field per key in the trigger form, grouped by
  section (`airflow_impl.params`). Each task rebuilds and validates the config from them.
- **Data window**: a scheduled or backfilled run trains on the rows before its data interval's
  end (unless `data_as_of` is set), so a backfill of 2014-06-01 sees only what was known then.
- **Fan-out**: `tune_model` is mapped, one task instance per candidate of the grid (dynamic task
  mapping over the parse-time grid; the runner re-parses the DAG with each run's config).
- **Retries** follow the config's `[orchestration]` section. Bad data or a bad config fail at
  once: another try cannot fix them.
- **Artifact reuse**, the idiomatic substitute for the input cache Airflow does not have: with
  `cache_enabled`, a step whose code, config and inputs match a stored entry returns the stored
  output instead of recomputing it.
- **Alerts**: one per failed run, sent by the DAG's `on_failure_callback`.
- **Tracking** on a production stack: runs the CLI did not start (scheduled, backfilled, the
  UI's) are logged to MLflow by the DAG's run-level callbacks (`track_run`).
- **Deployment**: `register_model`, `integration_test` and `promote_model` are the same tasks
  in every DAG that registers a model (`airflow_impl.deployment_tasks`).
- **Dashboard**: each task has an "MLflow run" link to this run's page in the MLflow UI
  (`airflow_impl.monitoring`).

Artifacts go to `<paths_artifacts>/<run id>/<step>/`, the steps' log to `<run dir>/run.log`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task

from airflow_impl.deployment_tasks import integration_test, promote_model, register_model
from airflow_impl.monitoring import link_to_mlflow
from airflow_impl.params import as_params, default_config, retry_policy
from airflow_impl.tasks import alert_once, record_failure, run_step, track_run
from mlpipeline.config import PipelineConfig
from mlpipeline.paths import WEATHER_CONFIG

CONFIG = default_config(PipelineConfig, WEATHER_CONFIG)


@task
def load_data(**context: Any) -> str:
    return run_step("load_data", context)


@task
def validate_data(raw: str, **context: Any) -> str:
    return run_step("validate_data", context, raw=raw)


@task
def build_features(validated: str, **context: Any) -> str:
    return run_step("build_features", context, validated=validated)


@task
def split_data(features: str, **context: Any) -> str:
    return run_step("split_data", context, features=features)


@task(map_index_template="candidate {{ candidate }}")
def tune_model(split: str, candidate: int, **context: Any) -> str:
    context["candidate"] = candidate  # names the mapped instance in the UI
    return run_step("tune_model", context, index=candidate, split=split)


@task
def train_model(split: str, tuning: list[str], **context: Any) -> str:
    return run_step("train_model", context, split=split, tuning=tuning)


@task
def evaluate_model(model: str, split: str, **context: Any) -> str:
    return run_step("evaluate_model", context, model=model, split=split)


@task
def gate_model(metrics: str, split: str, **context: Any) -> str:
    return run_step("gate_model", context, metrics=metrics, split=split)


@dag(
    dag_id="ml_pipeline",
    schedule="@daily",
    start_date=datetime(2012, 1, 1, tzinfo=UTC),  # the data's first day
    catchup=False,
    doc_md=__doc__,
    params=as_params(CONFIG),
    default_args={**retry_policy(CONFIG.orchestration), "on_failure_callback": record_failure},
    on_failure_callback=[alert_once, track_run],
    on_success_callback=track_run,
    tags=["mlpipeline", "weather"],
)
def ml_pipeline():
    raw = load_data()
    validated = validate_data(raw)
    features = build_features(validated)
    split = split_data(features)
    tuning = tune_model.partial(split=split).expand(
        candidate=list(range(len(CONFIG.tuning.candidates())))
    )
    model = train_model(split, tuning)
    metrics = evaluate_model(model, split)
    gate = gate_model(metrics, split)
    registration = register_model(model, metrics, gate)
    report = integration_test(registration, metrics, split)
    promote_model(gate, report)


link_to_mlflow(ml_pipeline())  # every task: a button to the run in MLflow
