"""The deployment tail as Prefect tasks: staging -> integration test -> production.

Every pipeline that trains, gates and registers a model ends with these three steps, with the
same input names (`mlpipeline.deployment`), so they are declared once here and each flow calls
them. They read or write the registry: never cached. A task finds its pipeline by its config's
type; `attempts.run_step` gives each attempt the config's timeout.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlpipeline import pipelines
from mlpipeline.config import PipelineConfig
from mlpipeline.recsys.config import RecsysConfig
from prefect_impl.attempts import run_step
from prefect_impl.hooks import record_failure, retry_if_transient

ModelConfig = PipelineConfig | RecsysConfig  # any pipeline that ends with this tail


def _run(step: str, cfg: ModelConfig, run_dir: str, **inputs: str) -> str:
    return run_step(pipelines.for_config(cfg), step, cfg, run_dir, **inputs)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def register_model(cfg: ModelConfig, run_dir: str, model: str, metrics: str, gate: str) -> str:
    return _run("register_model", cfg, run_dir, model=model, metrics=metrics, gate=gate)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def integration_test(
    cfg: ModelConfig, run_dir: str, registration: str, metrics: str, holdout: str
) -> str:
    inputs = {"registration": registration, "metrics": metrics, "holdout": holdout}
    return _run("integration_test", cfg, run_dir, **inputs)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def promote_model(cfg: ModelConfig, run_dir: str, gate: str, report: str) -> str:
    return _run("promote_model", cfg, run_dir, gate=gate, report=report)
