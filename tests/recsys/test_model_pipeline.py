"""The pipeline end to end on generated days, through `mlpipeline.direct` (no engine).

Nine landed days of about 10k events. The run on day 8 is a first run: it is compared with the
popularity baseline and deploys. On day 9 a planted null (two exchangeable score sets) is
refused and leaves production alone; a planted improvement is promoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlpipeline.direct import run_steps
from mlpipeline.pipeline import StepOutput
from mlpipeline.recsys import generator
from mlpipeline.recsys.config import RecsysConfig, load_config
from mlpipeline.recsys.steps import RECSYS
from mlpipeline.registry import Registry

from .conftest import SMALL

ROOT = Path(__file__).resolve().parents[2]
FIRST = "2026-03-01"
# The day-8 model and profile state that `recsys.plain` (the runner before the declared steps)
# produced on this world: the declared steps must keep them to the bit.
PLAIN_DAY8 = {
    "model": "236c6342d8f7300ad24e61c51286e7d4a576398c61764e22b74a91a2d7c6900c",
    "state": "db7a34f0c0ddb1ee500b367cf261bc099bff7105e4fb5ea2aaa009e636ee31dd",
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recsys") / "landing"
    generator.land_days(root, SMALL, FIRST, 9)
    return root


def model_cfg(landing: Path, registry: Path, day: str, **evaluation: Any) -> RecsysConfig:
    """configs/recsys.toml on the small world, with fewer resamples for speed and the small
    config's latency budget."""
    overrides = {
        "data.landing": str(landing),
        "data.date": day,
        "paths.registry": str(registry),
        "profiles.db": str(registry.parent / "profiles.duckdb"),
        "evaluation.n_bootstrap": 1000,
        "evaluation.n_permutations": 1000,
        "deployment.latency_budget_ms": 200.0,  # a busy test machine (configs/small/recsys.toml)
        **{f"evaluation.{k}": v for k, v in evaluation.items()},
        **{f"generator.{k}": getattr(SMALL, k) for k in ("events_per_day", "n_users", "n_items")},
        "generator.new_items_per_day": SMALL.new_items_per_day,
    }
    cfg = load_config(ROOT / "configs" / "recsys.toml", overrides)
    assert cfg.generator == SMALL
    return cfg


def run(cfg: RecsysConfig, run_dir: Path) -> dict[str, Any]:
    out = run_steps(cfg, run_dir)
    return {
        "gate": RECSYS.output("gate_model", out["gate_model"]).json("gate"),
        "registration": RECSYS.output("register_model", out["register_model"]).json("registration"),
        "integration": RECSYS.output("integration_test", out["integration_test"]).json("report"),
        "promotion": RECSYS.output("promote_model", out["promote_model"]).json("promotion"),
        "model": RECSYS.output("train_model", out["train_model"]).json("meta"),
        "state": RECSYS.output("merge_profiles", out["merge_profiles"]).json("merge"),
    }


def test_first_run_deploys_then_a_null_is_refused_and_a_planted_improvement_promoted(
    landing: Path, tmp_path: Path
):
    registry = tmp_path / "registry"
    first = run(model_cfg(landing, registry, "2026-03-08"), tmp_path / "day8")
    assert first["model"]["sha256"] == PLAIN_DAY8["model"]
    assert first["state"]["state_sha256"] == PLAIN_DAY8["state"]
    assert first["gate"]["promote"], first["gate"]["reasons"]
    assert first["gate"]["against"] == "the popularity baseline"
    assert "first run" in first["gate"]["reasons"][0]
    assert first["registration"] == {"staged": True, "version": 1, "reason": "registered as v0001"}
    assert first["integration"]["passed"], first["integration"]["checks"]
    assert first["promotion"]["promoted"] and first["promotion"]["version"] == 1
    assert first["model"]["best_iteration"] + 1 < first["model"]["rounds_run"]
    production = Registry(registry).production()
    assert production.sha256 == first["model"]["sha256"]
    assert production.record["best_iteration"] == first["model"]["best_iteration"]

    null = run(model_cfg(landing, registry, "2026-03-09", plant_effect=0.0), tmp_path / "null")
    assert not null["gate"]["promote"]
    assert null["gate"]["verdict"].startswith("keep production: NDCG@10")
    assert null["registration"] == {
        "staged": False,
        "version": None,
        "reason": null["gate"]["verdict"],
    }
    assert null["integration"]["tested"] is False
    assert null["promotion"] == {
        "promoted": False,
        "version": None,
        "reason": null["gate"]["verdict"],
    }
    assert Registry(registry).production().version == 1

    better = run(model_cfg(landing, registry, "2026-03-09", plant_effect=0.5), tmp_path / "plant")
    assert better["gate"]["promote"], better["gate"]["reasons"]
    assert better["gate"]["against"] == "production v0001"
    assert Registry(registry).production().version == 2


def build_features(cfg: RecsysConfig, folder: Path) -> StepOutput:
    """The features step alone (its upstream handles only order it: it reads the landing)."""
    step = RECSYS.steps["build_features"]
    folder.mkdir(parents=True, exist_ok=True)
    out = step.output(folder)
    step.fn(cfg, out, events=None, profiles=None)
    return out


def test_a_run_day_that_has_not_landed_is_a_clear_error(landing: Path, tmp_path: Path):
    from mlpipeline.errors import DataError

    cfg = model_cfg(landing, tmp_path / "registry", "2026-03-10")
    with pytest.raises(DataError, match=r"evaluates on 2026-03-10, so it needs both"):
        build_features(cfg, tmp_path)


def test_a_missing_history_day_is_skipped_and_listed_a_corrupt_one_fails(
    landing: Path, tmp_path: Path
):
    import shutil

    from mlpipeline.errors import DataError

    copy = tmp_path / "landing"
    shutil.copytree(landing, copy)
    shutil.rmtree(copy / "date=2026-03-01")  # the oldest day of the window never landed
    cfg = model_cfg(copy, tmp_path / "registry", "2026-03-08")
    out = build_features(cfg, tmp_path / "features")
    missing = out.json("info")["history_days_missing"]
    assert missing == ["2026-02-28", "2026-03-01"]  # the window starts at D-1-H = 02-28
    (copy / "date=2026-03-02" / "part-0.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="2026-03-02"):
        build_features(cfg, tmp_path / "features")
