"""The ML pipeline wired on the mock engine: one `add_task` per step, nothing else.

Retries, backoff, timeout and caching come from the shared config; a failed run calls the shared
notifier once. The cache (on by default) lives under ``paths.cache/mock``: a rerun with unchanged
data, config and code serves every cacheable step from it and re-runs only the gate and the
registration, which find the model already in production and change nothing.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from mlpipeline import progress
from mlpipeline.alerts import Alert, Notifier, notifier_for
from mlpipeline.caching import ResultCache, step_cache_key
from mlpipeline.config import PipelineConfig
from mlpipeline.errors import is_retryable
from mlpipeline.graph import CACHEABLE
from mlpipeline.logs import logging_to
from mlpipeline.runs import RunResult, first_failure
from mlpipeline.steps import STEP_FUNCTIONS
from mock_impl.engine import DAG, DagRun

ENGINE = "mock"
CACHES_RESULTS = True  # a rerun serves every cacheable step from paths.cache/mock


def build_dag(cfg: PipelineConfig, run_dir: Path, notifier: Notifier | None = None) -> DAG:
    o = cfg.orchestration
    log_file = run_dir / "run.log"

    def alert(run: DagRun) -> None:
        failed = first_failure(run.tasks)
        if notifier:
            notifier.notify(
                Alert(
                    ENGINE,
                    run.run_id,
                    failed.name if failed else None,
                    failed.error if failed else "unknown",
                    str(log_file),
                )
            )

    dag = DAG(
        "ml_pipeline",
        max_workers=2,
        on_failure_callback=alert,
        on_event=progress.emit,
        cache=ResultCache(Path(cfg.paths.cache) / ENGINE, cfg.cache.expiration_seconds)
        if cfg.cache.enabled
        else None,
        seed=cfg.training.seed,
    )

    def add(name: str, **inputs: str) -> None:
        step = STEP_FUNCTIONS[name]
        dag.add_task(
            name,
            functools.partial(step, cfg, run_dir),
            inputs=inputs,
            retries=o.retries,
            retry_delay=o.retry_delay_seconds,
            backoff=o.retry_backoff,
            max_delay=o.retry_max_delay_seconds,
            jitter=o.retry_jitter,
            timeout=o.task_timeout_seconds,
            retry_if=is_retryable,
            cache_key=(lambda kw: step_cache_key(name, step, cfg, kw))
            if name in CACHEABLE
            else None,
        )

    add("load_data")
    add("validate_data", raw="load_data")
    add("build_features", validated="validate_data")
    add("split_data", features="build_features")
    add("tune_model", split="split_data")
    add("train_model", split="split_data", tuning="tune_model")
    add("evaluate_model", model="train_model", split="split_data")
    add("gate_model", metrics="evaluate_model", split="split_data")
    add("register_model", model="train_model", gate="gate_model")
    return dag


def run_pipeline(cfg: PipelineConfig, *, run_id: str) -> RunResult:
    run_dir = Path(cfg.paths.artifacts) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    dag = build_dag(cfg, run_dir, notifier_for(cfg))
    started = time.perf_counter()
    with logging_to(run_dir / "run.log"):
        run = dag.run(run_id)
    failed = first_failure(run.tasks)
    return RunResult(
        engine=ENGINE,
        run_id=run_id,
        run_dir=run_dir,
        state=run.state,
        tasks=run.tasks,
        edges=frozenset((up, name) for name, ups in dag.graph.items() for up in ups),
        outputs=run.results,
        failed_step=failed.name if failed else None,
        error=failed.error if failed else None,
        wall_seconds=time.perf_counter() - started,
        log_location=str(run_dir / "run.log"),
        settings={"max_workers": dag.max_workers, "cache": dag.cache is not None},
    )
