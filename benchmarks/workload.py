"""The pipeline workload the benchmarks run: the default config, outputs in a fresh directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import settings
from mlpipeline.config import PipelineConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "seattle_weather.toml"
# Quick mode (inside the test command) keeps the workshop path alive, not the numbers: two
# candidates instead of the default grid's six.
QUICK_GRID = {"max_depth": [2, 3], "learning_rate": [0.1], "n_estimators": [40]}


def pipeline_config(workdir: Path, **overrides: Any) -> PipelineConfig:
    values: dict[str, Any] = {
        "paths.registry": str(workdir / "registry"),
        "paths.artifacts": str(workdir / "runs"),
        "paths.cache": str(workdir / "cache"),
        "alerts.log": str(workdir / "alerts.jsonl"),
    }
    if settings.QUICK:
        values["tuning.grid"] = QUICK_GRID
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(DEFAULT_CONFIG, values)
