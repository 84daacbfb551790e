"""Run a pipeline on the mock engine and report it as a `RunResult`.

The engine plumbing the wiring files (`mock_impl/<pipeline>.py`) share: each task calls
`mlpipeline.execution.run_step` with the config's retry policy and the step's cache key; a
failed run calls the shared notifier once. The cache (on by default) lives under
``paths.cache/mock``: a rerun with unchanged data, config and code serves every cacheable step
from it and re-runs only the steps that read or write the registry.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlpipeline import pipelines, progress
from mlpipeline.alerts import alert_failed_run
from mlpipeline.caching import ResultCache, step_cache_key
from mlpipeline.errors import is_retryable
from mlpipeline.execution import run_step
from mlpipeline.logs import logging_to
from mlpipeline.pipeline import Pipeline
from mlpipeline.runs import RUN_LOG, RunResult
from mock_impl.engine import DAG, DagRun

ENGINE = "mock"
CACHES_RESULTS = True  # a rerun serves every cacheable step from paths.cache/mock


def new_dag(pipeline: Pipeline, cfg: Any, run_dir: Path) -> DAG:
    """An empty DAG with the config's workers, cache and the one alert per failed run."""

    def alert(run: DagRun) -> None:
        alert_failed_run(
            cfg,
            engine=ENGINE,
            run_id=run.run_id,
            tasks=run.tasks,
            order=pipeline.order,
            log_location=str(run_dir / RUN_LOG),
        )

    cache = ResultCache(Path(cfg.paths.cache) / ENGINE, cfg.cache.expiration_seconds)
    return DAG(
        pipeline.dag_id,
        max_workers=cfg.orchestration.max_workers,
        on_failure_callback=alert,
        # Steps announce running/done/failed themselves; the engine adds what only it knows.
        on_event=lambda step, state: progress.emit(step, state) if state == "cached" else None,
        cache=cache if cfg.cache.enabled else None,
        seed=cfg.training.seed,
    )


def task_adder(dag: DAG, pipeline: Pipeline, cfg: Any, run_dir: Path) -> Callable[..., None]:
    """`task(name, map_count=None, **inputs)`: add the step `name` with the config's policy."""
    o = cfg.orchestration
    policy = {  # [orchestration] in the engine's words
        "retries": o.retries,
        "retry_delay": o.retry_delay_seconds,
        "backoff": o.retry_backoff,
        "max_delay": o.retry_max_delay_seconds,
        "jitter": o.retry_jitter,
        "timeout": o.task_timeout_seconds,
        "retry_if": is_retryable,
    }

    def task(name: str, map_count: int | None = None, **inputs: str) -> None:
        step = pipeline.steps[name]

        def key(kwargs: dict[str, Any]) -> str:
            inputs = {k: v for k, v in kwargs.items() if k != "index"}
            return step_cache_key(step, cfg, inputs, kwargs.get("index"))

        dag.add_task(
            name,
            functools.partial(run_step, pipeline, name, cfg, run_dir),
            inputs=inputs,
            map_count=map_count,
            cache_key=key if step.cacheable else None,
            **policy,
        )

    return task


def add_deployment(task: Callable[..., None], *, metrics: str, holdout: str) -> None:
    """The deployment tail every pipeline that trains, gates and registers a model ends with
    (`mlpipeline.deployment`): `metrics` and `holdout` name the steps that recorded the offline
    metrics and wrote the rows the integration test re-scores."""
    task("register_model", model="train_model", metrics=metrics, gate="gate_model")
    task("integration_test", registration="register_model", metrics=metrics, holdout=holdout)
    task("promote_model", gate="gate_model", report="integration_test")


def build_dag(cfg: Any, run_dir: Path) -> DAG:
    """The DAG of the pipeline `cfg` belongs to, from its wiring file `mock_impl/<name>.py`."""
    wiring = importlib.import_module(f"mock_impl.{pipelines.for_config(cfg).name}")
    return wiring.build_dag(cfg, run_dir)


def run_pipeline(cfg: Any, *, run_id: str) -> RunResult:
    pipeline = pipelines.for_config(cfg)
    run_dir = Path(cfg.paths.artifacts) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    dag = build_dag(cfg, run_dir)
    started = time.perf_counter()
    with logging_to(run_dir / RUN_LOG):
        run = dag.run(run_id)
    return RunResult.finished(
        pipeline,
        run.tasks,
        engine=ENGINE,
        run_id=run_id,
        run_dir=run_dir,
        state=run.state,
        edges=frozenset((up, name) for name, ups in dag.graph.items() for up in ups),
        outputs=run.results,
        wall_seconds=time.perf_counter() - started,
        settings={"max_workers": dag.max_workers, "cache": dag.cache is not None},
    )
