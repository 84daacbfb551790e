"""# ML pipeline: will it rain in Seattle tomorrow?

The nine steps of `mlpipeline.steps` as an Airflow 3 TaskFlow DAG: one task per step, named as
in `mlpipeline.graph`. Each task calls the step of the same name and returns the path of what it
wrote, so XCom carries paths, never data frames.

- **Params**: the config flattened (`PipelineConfig.to_params`), one typed field per key in the
  trigger form, grouped by section. Each task rebuilds and validates the config from them.
- **Data window**: a scheduled or backfilled run trains on the rows before its data interval's
  end (unless `data_as_of` is set), so a backfill of 2014-06-01 sees only what was known then.
- **Retries** follow the config's `[orchestration]` section. Bad data or a bad config fail at
  once: another try cannot fix them. Each try's deadline is enforced without a signal
  (`airflow_impl/attempts.py` says why).
- **Artifact reuse**, the idiomatic substitute for the input cache Airflow does not have: with
  `cache_enabled`, a step whose code, config and inputs match a stored entry returns the stored
  artifact's path instead of recomputing it.
- **Alerts**: one per failed run, sent by the DAG's `on_failure_callback`.

Artifacts go to `<paths_artifacts>/<run id>/<step>/`, the steps' log to `<run dir>/run.log`.
"""

from __future__ import annotations

import os
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import Context, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

import mlpipeline
from airflow_impl import CONFIG_ENV, FAILURES, REUSED, RUN_ID_PARAM, RUN_LOG, attempts
from mlpipeline import artifacts
from mlpipeline.config import OrchestrationConfig, PipelineConfig, load_config
from mlpipeline.errors import ConfigError, is_retryable
from mlpipeline.graph import CACHEABLE

DEFAULT_CONFIG = Path(mlpipeline.__file__).resolve().parents[1] / "configs/seattle_weather.toml"


def default_config() -> PipelineConfig:
    """What params and retries default to: one small file read, the only parse-time work."""
    path = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if path.suffix == ".json":  # flat params, as a runner writes them
        return PipelineConfig.from_params(artifacts.read_json(path))
    return load_config(path)


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def as_params(cfg: PipelineConfig) -> dict[str, Param]:
    """Every config key as a typed Param, so the trigger form can edit and validate it."""
    params = {
        key: Param(
            value,
            type=_JSON_TYPES.get(type(value), "array" if isinstance(value, list) else "object"),
            section=key.split("_")[0],
        )
        for key, value in cfg.to_params().items()
    }
    params[RUN_ID_PARAM] = Param(
        "", type="string", description="Artifacts directory name; empty: Airflow's run id."
    )
    return params


def retry_policy(o: OrchestrationConfig) -> dict[str, Any]:
    """The [orchestration] section in Airflow's words, for default_args."""
    return {
        "retries": o.retries,
        "retry_delay": timedelta(seconds=o.retry_delay_seconds),
        # A multiplier. Airflow adds its own jitter instead of retry_jitter: each wait falls
        # between m and 2m, m = delay * backoff**(try - 1) rounded up to at least 1 s. So a zero
        # delay stays zero only with the backoff off.
        "retry_exponential_backoff": o.retry_backoff if o.retry_delay_seconds > 0 else 0,
        "max_retry_delay": timedelta(seconds=o.retry_max_delay_seconds),
        # No execution_timeout: it is a SIGALRM, which under dag.test() lands in our process
        # (native code, imports). Each attempt gets its deadline from attempts.run_attempt. A
        # deployment with a scheduler (one process per try) would set it to task_timeout_seconds.
    }


def run_id(context: Context) -> str:
    """Our run id (the artifacts directory name): the param, or else Airflow's run id."""
    return context["params"].get(RUN_ID_PARAM) or artifacts.safe_name(context["dag_run"].run_id)


def run_config(context: Context) -> tuple[PipelineConfig, Path]:
    """This run's config, rebuilt from its params, and its artifacts directory."""
    params = {k: v for k, v in context["params"].items() if k != RUN_ID_PARAM}
    end = context.get("data_interval_end")  # runs without a logical date have no interval
    if end and not params.get("data_as_of"):
        params["data_as_of"] = end.date().isoformat()
    cfg = PipelineConfig.from_params(params)
    return cfg, Path(cfg.paths.artifacts) / run_id(context)


def run_step(name: str, context: Context, **inputs: str) -> str:
    """Run one step for this DAG run. Bad input or config fails at once, without retries."""
    try:
        cfg, run_dir = run_config(context)
        return reuse_or_run(name, cfg, run_dir, inputs)
    except Exception as e:
        if is_retryable(e):
            raise
        raise AirflowFailException(str(e)) from e  # another try cannot fix bad input


def reuse_or_run(name: str, cfg: PipelineConfig, run_dir: Path, inputs: dict[str, str]) -> str:
    """Return the stored artifact whose key (code, config, inputs) matches, else run and store."""
    from mlpipeline import progress
    from mlpipeline.caching import ResultCache, step_cache_key
    from mlpipeline.logs import logging_to
    from mlpipeline.steps import STEP_FUNCTIONS

    step = STEP_FUNCTIONS[name]
    run_dir.mkdir(parents=True, exist_ok=True)
    reuse = cfg.cache.enabled and name in CACHEABLE
    store = ResultCache(Path(cfg.paths.cache) / "airflow", cfg.cache.expiration_seconds)
    key = step_cache_key(name, step, cfg, inputs) if reuse else ""
    if reuse and (stored := store.get(name, key)):
        artifacts.append_jsonl(run_dir / REUSED, {"step": name, "key": key})
        progress.emit(name, "cached")
        return stored["value"]
    with logging_to(run_dir / RUN_LOG):
        timeout = cfg.orchestration.task_timeout_seconds
        path = attempts.run_attempt(lambda: step(cfg, run_dir, **inputs), timeout, name=name)
    if reuse:
        store.put(name, key, path)
    return path


def callback_config(context: Context) -> tuple[PipelineConfig, Path]:
    """run_config, or the parse-time defaults when the params themselves were refused."""
    try:
        return run_config(context)
    except ConfigError:
        return CONFIG, Path(CONFIG.paths.artifacts) / run_id(context)


def record_failure(context: Context) -> None:
    """Task-level, after the last try: the exception exists only here, so write it down."""
    if attempts.interrupted():
        return  # cancelled, not failed
    _, run_dir = callback_config(context)
    ti, exc = context["ti"], context["exception"]
    cause = exc.__cause__ if isinstance(exc, AirflowFailException) and exc.__cause__ else exc
    error = f"{type(cause).__name__}: {cause}"
    artifacts.append_jsonl(run_dir / FAILURES, {"step": ti.task_id, "error": error})
    with open(run_dir / RUN_LOG, "a", encoding="utf-8") as log:
        log.write(f"{ti.task_id} failed on try {ti.try_number}:\n")
        log.writelines(traceback.format_exception(exc))


def alert_once(context: Context) -> None:
    """DAG-level: Airflow calls it once per failed run, however many tries and tasks failed."""
    if attempts.interrupted():
        return  # a cancel is a person's decision: no alert
    from mlpipeline.alerts import Alert, notifier_for
    from mlpipeline.runs import FAILED, TaskRecord, first_failure

    cfg, run_dir = callback_config(context)
    failed = first_failure(
        {
            f["step"]: TaskRecord(f["step"], FAILED, error=f["error"])
            for f in artifacts.read_jsonl(run_dir / FAILURES)
        }
    )
    notifier_for(cfg).notify(
        Alert(
            engine="airflow",
            run_id=run_dir.name,
            step=failed.name if failed else None,
            error=failed.error if failed else f"the run failed ({context.get('reason')})",
            log_location=str(run_dir / RUN_LOG),
        )
    )


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


@task
def tune_model(split: str, **context: Any) -> str:
    return run_step("tune_model", context, split=split)


@task
def train_model(split: str, tuning: str, **context: Any) -> str:
    return run_step("train_model", context, split=split, tuning=tuning)


@task
def evaluate_model(model: str, split: str, **context: Any) -> str:
    return run_step("evaluate_model", context, model=model, split=split)


@task
def gate_model(metrics: str, split: str, **context: Any) -> str:
    return run_step("gate_model", context, metrics=metrics, split=split)


@task
def register_model(model: str, gate: str, **context: Any) -> str:
    return run_step("register_model", context, model=model, gate=gate)


CONFIG = default_config()


@dag(
    dag_id="ml_pipeline",
    schedule="@daily",
    start_date=datetime(2012, 1, 1, tzinfo=timezone.utc),  # the data's first day
    catchup=False,
    doc_md=__doc__,
    params=as_params(CONFIG),
    default_args={**retry_policy(CONFIG.orchestration), "on_failure_callback": record_failure},
    on_failure_callback=alert_once,
    tags=["mlpipeline"],
)
def ml_pipeline():
    raw = load_data()
    validated = validate_data(raw)
    features = build_features(validated)
    split = split_data(features)
    tuning = tune_model(split)
    model = train_model(split, tuning)
    metrics = evaluate_model(model, split)
    gate = gate_model(metrics, split)
    register_model(model, gate)


ml_pipeline()
