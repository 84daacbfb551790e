"""The pipeline as plain Python calls, no orchestrator: the baseline every engine is measured
against (benchmarks) and the shape every engine's wiring reproduces."""

from __future__ import annotations

from pathlib import Path

from mlpipeline import steps
from mlpipeline.config import PipelineConfig


def run_steps(cfg: PipelineConfig, run_dir: Path) -> dict[str, str]:
    """Run the nine steps in order; return each step's output path. No retries, no cache."""
    out: dict[str, str] = {}
    out["load_data"] = steps.load_data(cfg, run_dir)
    out["validate_data"] = steps.validate_data(cfg, run_dir, raw=out["load_data"])
    out["build_features"] = steps.build_features(cfg, run_dir, validated=out["validate_data"])
    out["split_data"] = steps.split_data(cfg, run_dir, features=out["build_features"])
    out["tune_model"] = steps.tune_model(cfg, run_dir, split=out["split_data"])
    out["train_model"] = steps.train_model(
        cfg, run_dir, split=out["split_data"], tuning=out["tune_model"]
    )
    out["evaluate_model"] = steps.evaluate_model(
        cfg, run_dir, model=out["train_model"], split=out["split_data"]
    )
    out["gate_model"] = steps.gate_model(
        cfg, run_dir, metrics=out["evaluate_model"], split=out["split_data"]
    )
    out["register_model"] = steps.register_model(
        cfg, run_dir, model=out["train_model"], gate=out["gate_model"]
    )
    return out
