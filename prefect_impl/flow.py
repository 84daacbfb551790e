"""The weather pipeline as a Prefect 3 flow: one `@task` per step, wired in one `@flow`.

Read it beside `mock_impl/weather.py` and `airflow_impl/dags/ml_pipeline.py`: the same eleven
steps of `mlpipeline.steps`, the same names, output directories passed from task to task.

* **Parameters**: one typed `cfg: PipelineConfig` and the `run_id`. Prefect validates flow
  parameters with pydantic, and the config already is a frozen pydantic dataclass, so the one
  parameter gets the CLI's validation and error messages, and Prefect's parameter schema (the UI's
  run form) shows the config's sections.
* **Retries** (`options.configured`): the config's `[orchestration]` section gives each task its
  retries and waits, and `attempts.run_step` its timeout (`attempts.py`: why not Prefect's
  `timeout_seconds`); `retry_if_transient` refuses to retry what another attempt cannot fix (a
  validation failure fails at once, after one attempt).
* **Fan-out**: one `tune_model` task run per hyperparameter candidate, via `.map` on the
  thread-pool task runner; `train_model` receives the mapped results.
* **Caching** (`cache.py`): each cacheable step is keyed on its code with the helpers it calls,
  its inputs by content, the config sections and files it declares; results are JSON records
  under `<paths.cache>/prefect`, checked before Prefect reads them. Steps that read or write the
  registry are never cached.
* **Alerts**: a task that fails for good writes down why (`hooks.record_failure`); the flow's
  `on_failure` hook sends one alert per failed run through the shared notifier.
* **Deployment**: `register_model`, `integration_test` and `promote_model` are the same tasks in
  every flow that registers a model (`deployment_tasks.py`), called with positional arguments.
* **Dashboard** (`monitoring.py`): a finished run publishes keyed table and markdown artifacts
  of its metrics and gate decision; each run adds a version under the same keys.

Artifacts go to `<paths.artifacts>/<run_id>/<step>/`: a fresh directory per run, which is not
part of any cache key, so a cached step returns the output of the run that computed it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from mlpipeline.config import PipelineConfig
from mlpipeline.steps import WEATHER
from prefect_impl.attempts import run_step
from prefect_impl.cache import SERIALIZER, STEP_CACHE
from prefect_impl.deployment_tasks import integration_test, promote_model, register_model
from prefect_impl.hooks import alert_on_failure, record_failure, retry_if_transient
from prefect_impl.monitoring import publish_run
from prefect_impl.options import configured


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def load_data(cfg: PipelineConfig, run_dir: str) -> str:
    return run_step(WEATHER, "load_data", cfg, run_dir)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def validate_data(cfg: PipelineConfig, run_dir: str, raw: str) -> str:
    return run_step(WEATHER, "validate_data", cfg, run_dir, raw=raw)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def build_features(cfg: PipelineConfig, run_dir: str, validated: str) -> str:
    return run_step(WEATHER, "build_features", cfg, run_dir, validated=validated)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def split_data(cfg: PipelineConfig, run_dir: str, features: str) -> str:
    return run_step(WEATHER, "split_data", cfg, run_dir, features=features)


@task(
    task_run_name="tune_model-{candidate}",  # mapped runs are otherwise named at random
    cache_policy=STEP_CACHE,
    retry_condition_fn=retry_if_transient,
    on_failure=[record_failure],
)
def tune_model(cfg: PipelineConfig, run_dir: str, split: str, candidate: int) -> str:
    return run_step(WEATHER, "tune_model", cfg, run_dir, candidate, split=split)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def train_model(cfg: PipelineConfig, run_dir: str, split: str, tuning: list[str]) -> str:
    return run_step(WEATHER, "train_model", cfg, run_dir, split=split, tuning=tuning)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def evaluate_model(cfg: PipelineConfig, run_dir: str, model: str, split: str) -> str:
    return run_step(WEATHER, "evaluate_model", cfg, run_dir, model=model, split=split)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def gate_model(cfg: PipelineConfig, run_dir: str, metrics: str, split: str) -> str:
    return run_step(WEATHER, "gate_model", cfg, run_dir, metrics=metrics, split=split)


# The flow's options; the recommender's flow (recsys.py) takes the same.
FLOW_OPTIONS: dict[str, Any] = {
    "flow_run_name": "{run_id}",
    "task_runner": ThreadPoolTaskRunner(max_workers=2),  # orchestration.max_workers: see runner
    "persist_result": False,  # the flow returns paths: nothing worth storing
    "result_serializer": SERIALIZER,  # a failed run's exception is still stored: JSON, no pickle
    "on_failure": [alert_on_failure],  # one alert per failed run
}


@flow(name="ml_pipeline", **FLOW_OPTIONS)
def ml_pipeline(cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Train, evaluate and gate a model; stage, test and promote it; return each step's output
    directory."""
    run_dir = str(Path(cfg.paths.artifacts) / run_id)

    raw = configured(load_data, cfg)(cfg, run_dir)
    validated = configured(validate_data, cfg)(cfg, run_dir, raw=raw)
    features = configured(build_features, cfg)(cfg, run_dir, validated=validated)
    split = configured(split_data, cfg)(cfg, run_dir, features=features)
    # One task run per candidate, in parallel. `.result()` waits for all and raises if one
    # failed: a task called with a failed future does not raise, it returns None (NotReady).
    tuned = configured(tune_model, cfg).map(
        unmapped(cfg),
        unmapped(run_dir),
        split=unmapped(split),
        candidate=range(len(cfg.tuning.candidates())),
    )
    tuning = tuned.result()
    # wait_for records the edge: results that come back from other processes (a Dask task
    # runner) are copies Prefect cannot trace to the task runs that made them.
    model = configured(train_model, cfg)(cfg, run_dir, split=split, tuning=tuning, wait_for=tuned)
    metrics = configured(evaluate_model, cfg)(cfg, run_dir, model=model, split=split)
    gate = configured(gate_model, cfg)(cfg, run_dir, metrics=metrics, split=split)
    registration = configured(register_model, cfg)(cfg, run_dir, model, metrics, gate)
    report = configured(integration_test, cfg)(cfg, run_dir, registration, metrics, split)
    promotion = configured(promote_model, cfg)(cfg, run_dir, gate, report)

    outputs = {
        "load_data": raw,
        "validate_data": validated,
        "build_features": features,
        "split_data": split,
        "tune_model": tuning,
        "train_model": model,
        "evaluate_model": metrics,
        "gate_model": gate,
        "register_model": registration,
        "integration_test": report,
        "promote_model": promotion,
    }
    publish_run(cfg, run_id, outputs)  # keyed artifacts: Prefect's dashboard (monitoring)
    return outputs
