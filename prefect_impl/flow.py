"""The ML pipeline as a Prefect 3 flow: one `@task` per step, wired in one `@flow`.

Read it beside `mock_impl/pipeline.py` and `airflow_impl/dags/ml_pipeline.py`: the same nine
steps from `mlpipeline.steps`, the same names, artifact paths passed from task to task.

* **Parameters**: one typed `cfg: PipelineConfig` and the `run_id`. Prefect validates flow
  parameters with pydantic, and the config already is a frozen pydantic dataclass, so the one
  parameter gets the CLI's validation and error messages, and Prefect's parameter schema (the UI's
  run form) shows the config's sections. Flat parameters (`PipelineConfig.to_params`, what
  Airflow's `params` need) would repeat about forty typed names in the signature.
* **Retries** (`configured`): the config's `[orchestration]` section gives each task its retries
  and waits, and `run_step` its timeout (`attempts.py`: why not `timeout_seconds`);
  `retry_if_transient` refuses to retry what another attempt cannot fix (a validation failure
  fails at once, after one attempt).
* **Fan-out**: one `tune_model` task run per hyperparameter candidate, via `.map` on the
  thread-pool task runner; `train_model` receives the mapped results.
* **Caching** (`cache.py`): every step in `mlpipeline.graph.CACHEABLE` is keyed on its code with
  the helpers it calls, its inputs by content, the config sections it reads and the data file;
  results are JSON records under `<paths.cache>/prefect`, checked before Prefect reads them.
  `gate_model` and `register_model` read and write the registry: never cached.
* **Alerts**: a task that fails for good writes down why (`record_failure`); the flow's
  `on_failure` hook sends one alert per failed run through the shared notifier.

Artifacts go to `<paths.artifacts>/<run_id>/<step>/`: a fresh directory per run, which is not
part of any cache key, so a cached step returns the paths of the run that computed it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.runtime import task_run as current_task_run
from prefect.settings import get_current_settings
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import Task

from mlpipeline import artifacts, steps
from mlpipeline.alerts import Alert, notifier_for
from mlpipeline.config import OrchestrationConfig, PipelineConfig, validate
from mlpipeline.errors import is_retryable
from mlpipeline.graph import CACHEABLE
from mlpipeline.runs import FAILED, TaskRecord, first_failure
from mlpipeline.training import candidates
from prefect_impl.attempts import run_step
from prefect_impl.cache import SERIALIZER, STEP_CACHE, cache_options

ENGINE = "prefect"
FAILURES = "failures.jsonl"  # in the run directory: one line per task that failed for good
RUN_LOG = "run.log"


# -- retry condition and failure hooks -------------------------------------------------------
def retry_if_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only errors another attempt could fix; bad data or config fail at once.

    A plain `def` on purpose: Prefect calls `retry_condition_fn` only if `inspect.isfunction`
    accepts it. A `functools.partial` or a callable object silently turns retries off.
    """
    return is_retryable(state.result(raise_on_failure=False))


def record_failure(task: Task, task_run: TaskRun, state: State) -> None:
    """After a task's last attempt: note the step and its error for the flow's alert."""
    error = state.result(raise_on_failure=False)
    run_dir = Path(current_task_run.parameters["run_dir"])
    artifacts.append_jsonl(
        run_dir / FAILURES, {"step": task.name, "error": f"{type(error).__name__}: {error}"}
    )


def alert_on_failure(flow: Any, flow_run: FlowRun, state: State) -> None:
    """Once per failed flow run: one alert naming the first step that failed."""
    cfg = validate(flow_run.parameters["cfg"])  # the parameters as stored by the API: JSON
    run_id = flow_run.parameters["run_id"]
    run_dir = Path(cfg.paths.artifacts) / run_id
    failed = first_failure(
        {
            f["step"]: TaskRecord(f["step"], FAILED, error=f["error"])
            for f in artifacts.read_jsonl(run_dir / FAILURES)
        }
    )
    notifier_for(cfg).notify(
        Alert(
            engine=ENGINE,
            run_id=run_id,
            step=failed.name if failed else None,
            error=failed.error if failed else (state.message or "the flow run failed"),
            log_location=log_location(run_dir, flow_run.id),
        )
    )


def log_location(run_dir: Path, flow_run_id: Any) -> str:
    """The steps' log file, and the flow run in Prefect's UI (or its id, with no UI running)."""
    ui = get_current_settings().ui_url
    flow_run = f"{ui}/runs/flow-run/{flow_run_id}" if ui else f"Prefect flow run {flow_run_id}"
    return f"{run_dir / RUN_LOG} and {flow_run}"


# -- one task per step -----------------------------------------------------------------------
# Options that do not depend on the config are here, at the decorators; `configured` adds the
# config's retries, timeout and cache store for each run.
@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def load_data(cfg: PipelineConfig, run_dir: str) -> str:
    return run_step(steps.load_data, cfg, run_dir)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def validate_data(cfg: PipelineConfig, run_dir: str, raw: str) -> str:
    return run_step(steps.validate_data, cfg, run_dir, raw=raw)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def build_features(cfg: PipelineConfig, run_dir: str, validated: str) -> str:
    return run_step(steps.build_features, cfg, run_dir, validated=validated)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def split_data(cfg: PipelineConfig, run_dir: str, features: str) -> str:
    return run_step(steps.split_data, cfg, run_dir, features=features)


@task(
    task_run_name="tune_model-{candidate}",  # mapped runs are otherwise named at random
    cache_policy=STEP_CACHE,
    retry_condition_fn=retry_if_transient,
    on_failure=[record_failure],
)
def tune_model(cfg: PipelineConfig, run_dir: str, split: str, candidate: int) -> str:
    return run_step(steps.tune_model, cfg, run_dir, split=split, candidate=candidate)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def train_model(cfg: PipelineConfig, run_dir: str, split: str, tuning: list[str]) -> str:
    return run_step(steps.train_model, cfg, run_dir, split=split, tuning=tuning)


@task(cache_policy=STEP_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def evaluate_model(cfg: PipelineConfig, run_dir: str, model: str, split: str) -> str:
    return run_step(steps.evaluate_model, cfg, run_dir, model=model, split=split)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def gate_model(cfg: PipelineConfig, run_dir: str, metrics: str, split: str) -> str:
    return run_step(steps.gate_model, cfg, run_dir, metrics=metrics, split=split)


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient, on_failure=[record_failure])
def register_model(cfg: PipelineConfig, run_dir: str, model: str, gate: str) -> str:
    return run_step(steps.register_model, cfg, run_dir, model=model, gate=gate)


STEP_TASKS = (
    load_data,
    validate_data,
    build_features,
    split_data,
    tune_model,
    train_model,
    evaluate_model,
    gate_model,
    register_model,
)


def retry_delays(o: OrchestrationConfig) -> list[float]:
    """Seconds before each retry: delay * backoff**i, capped.

    With the default factor 2 this is `prefect.tasks.exponential_backoff(delay)`, which doubles
    every wait and has no cap; the config may choose another factor and a cap, and
    `retry_delay_seconds` takes the list as well. Prefect adds `retry_jitter_factor` on top.
    """
    return [
        min(o.retry_max_delay_seconds, o.retry_delay_seconds * o.retry_backoff**i)
        for i in range(o.retries)
    ]


def configured(cfg: PipelineConfig) -> SimpleNamespace:
    """Every step task with this run's retries, timeout and cache settings from the config."""
    o = cfg.orchestration
    retry = {
        "retries": o.retries,
        "retry_delay_seconds": retry_delays(o),
        "retry_jitter_factor": o.retry_jitter,
        # No timeout_seconds: it cannot stop a sync task in a thread (attempts.py); run_step
        # enforces task_timeout_seconds instead, without touching the attempt's thread.
    }
    return SimpleNamespace(
        **{
            t.name: t.with_options(**retry, **(cache_options(cfg) if t.name in CACHEABLE else {}))
            for t in STEP_TASKS
        }
    )


# -- the flow --------------------------------------------------------------------------------
@flow(
    name="ml_pipeline",
    flow_run_name="{run_id}",
    task_runner=ThreadPoolTaskRunner(max_workers=2),  # as the mock engine; one thread per fit
    persist_result=False,  # the flow returns paths: nothing worth storing
    result_serializer=SERIALIZER,  # a failed run's exception is still stored: as JSON, not pickle
    on_failure=[alert_on_failure],
)
def ml_pipeline(cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Train, evaluate, gate and register a model; return each step's output path(s)."""
    run_dir = str(Path(cfg.paths.artifacts) / run_id)
    tasks = configured(cfg)

    raw = tasks.load_data(cfg, run_dir)
    validated = tasks.validate_data(cfg, run_dir, raw=raw)
    features = tasks.build_features(cfg, run_dir, validated=validated)
    split = tasks.split_data(cfg, run_dir, features=features)
    # One task run per candidate, in parallel. `.result()` waits for all and raises if one
    # failed: a task called with a failed future does not raise, it returns None (NotReady).
    tuning = tasks.tune_model.map(
        unmapped(cfg),
        unmapped(run_dir),
        split=unmapped(split),
        candidate=range(len(candidates(cfg.tuning.grid))),
    ).result()
    model = tasks.train_model(cfg, run_dir, split=split, tuning=tuning)
    metrics = tasks.evaluate_model(cfg, run_dir, model=model, split=split)
    gate = tasks.gate_model(cfg, run_dir, metrics=metrics, split=split)
    registration = tasks.register_model(cfg, run_dir, model=model, gate=gate)

    return {
        "load_data": raw,
        "validate_data": validated,
        "build_features": features,
        "split_data": split,
        "tune_model": tuning,
        "train_model": model,
        "evaluate_model": metrics,
        "gate_model": gate,
        "register_model": registration,
    }
