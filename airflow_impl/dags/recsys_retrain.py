"""# Recommender retrain: one day of interactions, A/B-gated deploy

The nine steps of the recommender pipeline (`mlpipeline.recsys.steps`) as an Airflow 3
TaskFlow DAG: one task per step, named as the step; XCom carries output directories, never data.

- **One run per day, in order**: `@daily` with `catchup=True` from a week before the config's
  default day, and `max_active_runs=1`: each day's merge builds on the profile state the day
  before left, so a backfill must run its days one after another.
- **The run's day**: `data_date` empty (the default) takes the run's logical date, the start of
  its data interval: the day that just ended. A manual run may set `data_date` in the form.
- **No per-shard mapping**, by decision: no step splits by user shard without changing its
  result. `merge_profiles` is one transaction (its idempotency rests on that); `build_features`
  counts item co-occurrence and popularity over all users; `train_model` fits one ranker on all
  users with early stopping. Mapping features over shards would need a global pass first and a
  merge after, for a step measured at 1.2 s on a 10k-event day (2 cores): not worth it.
- **Retries** follow `[orchestration]`; bad data or a bad config fail at once.
  `merge_profiles` is safe to retry: a day already merged is recognised and not counted twice.
- **Alerts**: one per failed run (`on_failure_callback`), through the shared notifier.
- **Tracking** on a production stack: scheduled and backfilled runs are logged to MLflow by the
  run-level callbacks (`track_run`), as `run --mode production` logs its own.
- **Deployment**: `register_model`, `integration_test` and `promote_model` are the same tasks
  in every DAG that registers a model (`airflow_impl.deployment_tasks`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_impl.deployment_tasks import integration_test, promote_model, register_model
from airflow_impl.monitoring import link_to_mlflow
from airflow_impl.params import as_params, default_config, retry_policy
from airflow_impl.tasks import alert_once, record_failure, run_step, track_run
from mlpipeline.paths import CONFIGS
from mlpipeline.recsys.config import RecsysConfig

CONFIG = default_config(RecsysConfig, CONFIGS / "recsys.toml")
FIRST_DAY = datetime.fromisoformat(CONFIG.data.date).replace(tzinfo=UTC) - timedelta(days=7)


@task
def extract(**context: Any) -> str:
    return run_step("extract", context)


@task
def merge_profiles(events: str, **context: Any) -> str:
    return run_step("merge_profiles", context, events=events)


@task
def build_features(events: str, profiles: str, **context: Any) -> str:
    return run_step("build_features", context, events=events, profiles=profiles)


@task
def train_model(features: str, **context: Any) -> str:
    return run_step("train_model", context, features=features)


@task
def evaluate_ab(features: str, model: str, **context: Any) -> str:
    return run_step("evaluate_ab", context, features=features, model=model)


@task
def gate_model(ab: str, **context: Any) -> str:
    return run_step("gate_model", context, ab=ab)


@dag(
    dag_id="recsys_retrain",
    schedule="@daily",
    start_date=FIRST_DAY,
    catchup=True,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        **as_params(CONFIG),
        "data_date": Param("", type="string", description="The day to run; empty: the run's."),
    },
    default_args={**retry_policy(CONFIG.orchestration), "on_failure_callback": record_failure},
    on_failure_callback=[alert_once, track_run],
    on_success_callback=track_run,
    tags=["mlpipeline", "recsys"],
)
def recsys_retrain():
    events = extract()
    profiles = merge_profiles(events)
    features = build_features(events, profiles)
    model = train_model(features)
    ab = evaluate_ab(features, model)
    gate = gate_model(ab)
    registration = register_model(model, ab, gate)
    report = integration_test(registration, ab, features)
    promote_model(gate, report)


link_to_mlflow(recsys_retrain())  # every task: a button to the run in MLflow
