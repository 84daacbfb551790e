"""The pipelines this suite knows, by name, imported only when asked.

A pipeline is its config type, its declared steps and its default config (see
`mlpipeline.pipeline`); adding one is declaring its steps in a module and a line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlpipeline.pipeline import Pipeline

# name -> "module:attribute" of its `Pipeline`
PIPELINES = {
    "weather": "mlpipeline.steps:WEATHER",
    "recsys": "mlpipeline.recsys.steps:RECSYS",
}
DEFAULT = "weather"


def get(name: str) -> Pipeline:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; pipelines: {', '.join(PIPELINES)}")
    module, attr = PIPELINES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def by_dag_id(dag_id: str) -> Pipeline:
    """The pipeline an Airflow DAG or a Prefect flow of this name runs."""
    for name in PIPELINES:
        if get(name).dag_id == dag_id:
            return get(name)
    raise KeyError(f"no pipeline runs as {dag_id!r}")


def for_config(cfg: Any) -> Pipeline:
    """The pipeline whose config type `cfg` is."""
    for name in PIPELINES:
        pipeline = get(name)
        if isinstance(cfg, pipeline.config_type):
            return pipeline
    raise TypeError(f"no pipeline takes a {type(cfg).__name__}")
