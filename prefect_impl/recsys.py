"""The recommender pipeline as a Prefect 3 flow: one `@task` per step, wired in one `@flow`.

Read it beside `mock_impl/recsys.py` and `airflow_impl/dags/recsys_retrain.py`: the nine steps
of `mlpipeline.recsys.steps`, the same names, output directories passed from task to task. The
plumbing is the weather flow's (`flow.py` explains it): one typed `cfg` parameter, retries and
timeouts from `[orchestration]` (`options.configured`), permanent errors not retried, one alert
per failed run (`hooks`), the same flow options (`flow.FLOW_OPTIONS`) and deployment tasks
(`deployment_tasks.py`). Steps with side effects (the profile state database, the registry) use
`NO_CACHE`. One flow run is one day (``cfg.data.date``): a backfill is one run per day, in
order, because each day's merge builds on the state the day before left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from mlpipeline.execution import run_step
from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.steps import RECSYS
from prefect_impl.cache import STEP_CACHE
from prefect_impl.deployment_tasks import integration_test, promote_model, register_model
from prefect_impl.flow import FLOW_OPTIONS
from prefect_impl.hooks import record_failure, retry_if_transient
from prefect_impl.monitoring import publish_run
from prefect_impl.options import configured


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def extract(cfg: RecsysConfig, run_dir: str) -> str:
    return run_step(RECSYS, "extract", cfg, run_dir)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def merge_profiles(cfg: RecsysConfig, run_dir: str, events: str) -> str:
    return run_step(RECSYS, "merge_profiles", cfg, run_dir, events=events)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def build_features(cfg: RecsysConfig, run_dir: str, events: str, profiles: str) -> str:
    return run_step(RECSYS, "build_features", cfg, run_dir, events=events, profiles=profiles)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def train_model(cfg: RecsysConfig, run_dir: str, features: str) -> str:
    return run_step(RECSYS, "train_model", cfg, run_dir, features=features)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def evaluate_ab(cfg: RecsysConfig, run_dir: str, features: str, model: str) -> str:
    return run_step(RECSYS, "evaluate_ab", cfg, run_dir, features=features, model=model)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def gate_model(cfg: RecsysConfig, run_dir: str, ab: str) -> str:
    return run_step(RECSYS, "gate_model", cfg, run_dir, ab=ab)


@flow(name="recsys_retrain", **FLOW_OPTIONS)
def recsys_retrain(cfg: RecsysConfig, run_id: str) -> dict[str, Any]:
    """Retrain the recommender on one day, A/B it against production, deploy if better
    (staging, integration test, production)."""
    run_dir = str(Path(cfg.paths.artifacts) / run_id)

    events = configured(extract, cfg)(cfg, run_dir)
    profiles = configured(merge_profiles, cfg)(cfg, run_dir, events=events)
    features = configured(build_features, cfg)(cfg, run_dir, events=events, profiles=profiles)
    model = configured(train_model, cfg)(cfg, run_dir, features=features)
    ab = configured(evaluate_ab, cfg)(cfg, run_dir, features=features, model=model)
    gate = configured(gate_model, cfg)(cfg, run_dir, ab=ab)
    registration = configured(register_model, cfg)(cfg, run_dir, model, ab, gate)
    report = configured(integration_test, cfg)(cfg, run_dir, registration, ab, features)
    promotion = configured(promote_model, cfg)(cfg, run_dir, gate, report)

    outputs = {
        "extract": events,
        "merge_profiles": profiles,
        "build_features": features,
        "train_model": model,
        "evaluate_ab": ab,
        "gate_model": gate,
        "register_model": registration,
        "integration_test": report,
        "promote_model": promotion,
    }
    publish_run(cfg, run_id, outputs)  # keyed artifacts: Prefect's dashboard (monitoring)
    return outputs
