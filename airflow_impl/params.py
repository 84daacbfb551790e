"""A pipeline's config in Airflow's words: typed `params`, `default_args`, and back again.

The DAG file reads its defaults at parse time from one small file (the only parse-time work):
a TOML config, or flat params as JSON when a runner points `CONFIG_ENV` at them. Each task
rebuilds and validates its run's config from the run's params.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Context, Param

from airflow_impl import CONFIG_ENV, RUN_ID_PARAM
from mlpipeline import artifacts
from mlpipeline.config import OrchestrationConfig, load_config

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
# Airflow validates every Param with jsonschema many times per task (resolving, comparing and
# serializing params), each time checking the schema itself against its metaschema first. A
# schema without "$schema" is checked against draft 2020-12's, which costs about 4x draft 7's:
# with 44 params that was most of our wiring's cost per task. Our schemas (type, section) mean
# the same in both drafts. Even so, validation is still most of that cost: one typed field per
# key is what it buys (bench_wiring.py's docstring has the figures and the way out).
_DRAFT = {"$schema": "http://json-schema.org/draft-07/schema#"}


def default_config(config_type: type, default: Path) -> Any:
    """What params and retries default to, for a DAG whose config is a `config_type`.
    `CONFIG_ENV` may name one run's params (JSON, the in-process runner) or a production
    stack's folder of scheduled params, one file per pipeline (`stacks.scheduled_params`)."""
    path = Path(os.environ.get(CONFIG_ENV) or default)
    if path.is_dir():
        from mlpipeline.stack.stacks import scheduled_params

        path = scheduled_params(path, default)
    if path.suffix == ".json":  # flat params, as a runner writes them
        return config_type.from_params(artifacts.read_json(path))
    return load_config(path, config_type=config_type)


def as_params(cfg: Any) -> dict[str, Param]:
    """Every config key as a typed Param, so the trigger form can edit and validate it."""
    params = {
        key: Param(value, type=_json_type(value), section=key.split("_")[0], **_DRAFT)
        for key, value in cfg.to_params().items()
    }
    params[RUN_ID_PARAM] = Param(
        "",
        type="string",
        description="Artifacts directory name; empty: Airflow's run id.",
        **_DRAFT,
    )
    return params


def _json_type(value: Any) -> str | list[str]:
    if value is None:  # an optional number (recsys evaluation.plant_effect): off by default
        return ["null", "number"]
    return _JSON_TYPES.get(type(value), "array" if isinstance(value, list) else "object")


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
        # deployment with a scheduler (one process per try) could set it to task_timeout_seconds.
    }


def run_id(context: Context) -> str:
    """Our run id (the artifacts directory name): the param, or else Airflow's run id."""
    return context["params"].get(RUN_ID_PARAM) or artifacts.safe_name(context["dag_run"].run_id)


def parsed_config(context: Context, config_type: type) -> Any:
    """The config the DAG was parsed with (its params' defaults): where a run whose own params
    were refused still sends its alert."""
    params = {k: v for k, v in context["dag"].params.dump().items() if k != RUN_ID_PARAM}
    if "data_date" in params and not params["data_date"]:
        # recsys: an empty day means "the run's own"; a manual run has no data interval, and a
        # refused default would cost the run its one alert. Any valid day serves the alert.
        start = context.get("data_interval_start")
        after = getattr(context.get("dag_run"), "run_after", None)
        params["data_date"] = (start or after or datetime.now(UTC)).date().isoformat()
    return config_type.from_params(params)


def run_config(context: Context, config_type: type) -> tuple[Any, Path]:
    """This run's config, rebuilt from its params, and its artifacts directory."""
    params = {k: v for k, v in context["params"].items() if k != RUN_ID_PARAM}
    end = context.get("data_interval_end")  # runs without a logical date have no interval
    if end and "data_as_of" in params and not params["data_as_of"]:
        params["data_as_of"] = end.date().isoformat()
    start = context.get("data_interval_start")  # recsys: a daily run processes its own day
    if start and "data_date" in params and not params["data_date"]:
        params["data_date"] = start.date().isoformat()
    cfg = config_type.from_params(params)
    return cfg, Path(cfg.paths.artifacts) / run_id(context)
