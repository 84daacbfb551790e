"""Small worlds for the recsys data tests: about 10k events a day, seconds for the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlpipeline.paths import ROOT
from mlpipeline.pipeline import StepOutput
from mlpipeline.recsys.config import RecsysConfig, load_config
from mlpipeline.recsys.generator import GeneratorConfig, World

SMALL = GeneratorConfig(events_per_day=10_000, n_users=2_000, n_items=1_000, new_items_per_day=10)
DAY = "2026-03-02"
CONFIG = ROOT / "configs" / "recsys.toml"


def recsys_config(workdir: Path, **overrides: Any) -> RecsysConfig:
    """The default recsys config at test scale, every output under `workdir` ('__' for '.')."""
    values: dict[str, Any] = {
        "data.landing": str(workdir / "landing"),
        "data.date": DAY,
        "profiles.db": str(workdir / "state" / "profiles.duckdb"),
        "profiles.threads": 2,
        "paths.registry": str(workdir / "registry"),
        "paths.artifacts": str(workdir / "runs"),
        "paths.cache": str(workdir / "cache"),
        "alerts.log": str(workdir / "alerts.jsonl"),
        "generator.events_per_day": SMALL.events_per_day,
        "generator.n_users": SMALL.n_users,
        "generator.n_items": SMALL.n_items,
        "generator.new_items_per_day": SMALL.new_items_per_day,
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(CONFIG, values)


@pytest.fixture(scope="session")
def small_world() -> World:
    return World(SMALL)


def run_step(name: str, cfg: RecsysConfig, run_dir: Path, **inputs: StepOutput) -> StepOutput:
    """One recsys step alone, as every engine runs it (`execution.run_step`); its output."""
    from mlpipeline.execution import run_step as run
    from mlpipeline.recsys.steps import RECSYS

    out = run(RECSYS, name, cfg, run_dir, **{k: v.path for k, v in inputs.items()})
    return RECSYS.steps[name].output(Path(out))
