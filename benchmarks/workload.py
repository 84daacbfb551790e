"""The pipeline workload the benchmarks run: the default config, outputs in a fresh directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import settings
from mlpipeline import workspace
from mlpipeline.config import PipelineConfig

# Quick mode (inside the test command) keeps the workshop path alive, not the numbers: the small
# overlay's grid instead of the default grid's six candidates.


def pipeline_config(workdir: Path, **overrides: Any) -> PipelineConfig:
    values: dict[str, Any] = {}
    if settings.QUICK:
        values["tuning.grid"] = workspace.small_overlay("weather")["tuning.grid"]
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return workspace.config_in(workdir, values, small=False)
