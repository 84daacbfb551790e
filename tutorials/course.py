"""Small helpers the lessons share: where the project is, a fast config, engine checks.

Kept tiny on purpose: everything else a lesson uses is the project's own API (`mlpipeline`,
`mock_impl`, `airflow_impl`, `prefect_impl`), imported in the lesson where you can read it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlpipeline import engines, workspace
from mlpipeline.config import PipelineConfig
from mlpipeline.paths import ROOT, WEATHER_CONFIG, WEATHER_DATA

__all__ = ["CONFIG", "DATA", "ROOT", "SMALL", "engine_ready", "small_config", "workdir"]
CONFIG, DATA = WEATHER_CONFIG, WEATHER_DATA  # the names the lessons use

# The default config tunes six candidates with four folds; lessons use the small overlay of the
# tests (configs/small/weather.toml): two candidates, three folds, retries without waiting.
SMALL: dict[str, Any] = workspace.small_overlay("weather")


def workdir(lesson: str) -> Path:
    """A fresh temporary directory for a lesson's outputs: the repository stays clean."""
    return Path(tempfile.mkdtemp(prefix=f"{lesson}-"))


def small_config(work: Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The default config with every output under `work`, the small grid and `overrides`
    (dotted keys, as in ``python -m mlpipeline run --set KEY=VALUE``)."""
    return workspace.config_in(work, overrides)


def engine_ready(name: str) -> bool:
    """True if `name` can run here; otherwise print one line saying where it can."""
    if engines.is_available(name):
        return True
    env = engines.ENGINES[name].tox_env
    print(
        f"{engines.ENGINES[name].title} is not installed in this environment: "
        f"run `tox -e {env}` to execute this section"
    )
    return False
