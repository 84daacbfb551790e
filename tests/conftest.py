"""Shared fixtures: configs pointed at a temporary directory, a small grid for speed."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlpipeline.config import PipelineConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "seattle_weather.toml"
DATA = ROOT / "data" / "seattle-weather.csv"

# Small but real: two candidates, three folds. The default config's grid is exercised by the CLI
# test and the end-to-end benchmark.
FAST = {
    "tuning.grid": {"max_depth": [2, 3], "learning_rate": [0.1], "n_estimators": [40]},
    "tuning.cv_folds": 3,
    "orchestration.retry_delay_seconds": 0.0,
    "orchestration.retry_jitter": 0.0,
}


def config_in(workdir: Path, **overrides: Any) -> PipelineConfig:
    """The default config with outputs under `workdir`; keys use '__' for '.'."""
    values = {
        "paths.registry": str(workdir / "registry"),
        "paths.artifacts": str(workdir / "runs"),
        "paths.cache": str(workdir / "cache"),
        "alerts.log": str(workdir / "alerts.jsonl"),
        "tracking.store": str(workdir / "mlflow"),
        **FAST,
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(DEFAULT_CONFIG, values)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., PipelineConfig]:
    return lambda **overrides: config_in(tmp_path, **overrides)


def tree_digest(root: Path) -> str:
    """sha256 of every file's relative path and content under `root` (lock file excluded)."""
    h = hashlib.sha256()
    if root.exists():
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def seeded_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding one production model, made once by the mock engine; copy before use."""
    from mock_impl.pipeline import run_pipeline

    workdir = tmp_path_factory.mktemp("seed")
    result = run_pipeline(config_in(workdir), run_id="seed")
    assert result.ok, result.error
    return workdir / "registry"


@pytest.fixture
def registry_copy(seeded_registry: Path, tmp_path: Path) -> Path:
    target = tmp_path / "registry"
    shutil.copytree(seeded_registry, target)
    return target
