"""Small worlds for the recsys data tests: about 10k events a day, seconds for the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlpipeline import workspace
from mlpipeline.paths import ROOT
from mlpipeline.pipeline import StepOutput
from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.generator import GeneratorConfig, World

# The small overlay's generator (about 10k events a day), as every test-scale config has it.
SMALL = GeneratorConfig(
    **{
        key.removeprefix("generator."): value
        for key, value in workspace.small_overlay("recsys").items()
        if key.startswith("generator.")
    }
)
DAY = "2026-03-02"
CONFIG = ROOT / "configs" / "recsys.toml"


def recsys_config(workdir: Path, **overrides: Any) -> RecsysConfig:
    """The recsys config at test scale (the small overlay, whose generator is SMALL) on day DAY,
    every output under `workdir` (`workspace.config_in`); '__' in a key for '.'."""
    values = {"data.date": DAY, "profiles.threads": 2}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return workspace.config_in(workdir, values, pipeline="recsys")


@pytest.fixture(scope="session")
def small_world() -> World:
    return World(SMALL)


def run_step(name: str, cfg: RecsysConfig, run_dir: Path, **inputs: StepOutput) -> StepOutput:
    """One recsys step alone, as every engine runs it (`execution.run_step`); its output."""
    from mlpipeline.execution import run_step as run
    from mlpipeline.recsys.steps import RECSYS

    out = run(RECSYS, name, cfg, run_dir, **{k: v.path for k, v in inputs.items()})
    return RECSYS.steps[name].output(Path(out))
