"""The recsys pipeline as plain Python calls, no orchestrator: the baseline every engine is
measured against and the shape every engine's wiring reproduces (as `mlpipeline.plain` is for
the weather pipeline). No retries, no cache; each step writes under ``run_dir/<step name>/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlpipeline.recsys import model_steps


def run_steps(cfg: Any, run_dir: str | Path) -> dict[str, str]:
    """Run the model half's steps in order for the run day ``cfg.data.date``; return each
    step's output path."""
    run_dir = Path(run_dir)

    def call(name: str, fn: Any, **inputs: str) -> str:
        out = run_dir / name
        out.mkdir(parents=True, exist_ok=True)
        return str(fn(cfg, out, **inputs))

    out: dict[str, str] = {}
    out["build_features"] = call("build_features", model_steps.build_features)
    out["train_model"] = call(
        "train_model", model_steps.train_model, features=out["build_features"]
    )
    out["evaluate_ab"] = call(
        "evaluate_ab",
        model_steps.evaluate_ab,
        features=out["build_features"],
        model=out["train_model"],
    )
    out["gate_model"] = call("gate_model", model_steps.gate_model, ab=out["evaluate_ab"])
    out["register_model"] = call(
        "register_model",
        model_steps.register_model,
        model=out["train_model"],
        gate=out["gate_model"],
    )
    return out
