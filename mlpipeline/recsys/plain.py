"""The recsys pipeline as plain Python calls, no orchestrator: the baseline every engine is
measured against and the shape every engine's wiring reproduces (as `mlpipeline.plain` is for
the weather pipeline). No retries, no cache; each step writes under ``run_dir/<step name>/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlpipeline.recsys import steps
from mlpipeline.recsys.config import RecsysConfig


def run_steps(cfg: RecsysConfig, run_dir: str | Path) -> dict[str, str]:
    """Run the seven steps in order for the day ``cfg.data.date``; return each step's output."""
    run_dir = Path(run_dir)

    def call(fn: Callable[..., Path], **inputs: str) -> str:
        out = run_dir / fn.__name__
        out.mkdir(parents=True, exist_ok=True)
        return str(fn(cfg, out, **inputs))

    out: dict[str, str] = {}
    out["extract"] = call(steps.extract)
    out["merge_profiles"] = call(steps.merge_profiles, events=out["extract"])
    out["build_features"] = call(
        steps.build_features, events=out["extract"], profiles=out["merge_profiles"]
    )
    out["train_model"] = call(steps.train_model, features=out["build_features"])
    out["evaluate_ab"] = call(
        steps.evaluate_ab, features=out["build_features"], model=out["train_model"]
    )
    out["gate_model"] = call(steps.gate_model, ab=out["evaluate_ab"])
    out["register_model"] = call(
        steps.register_model, model=out["train_model"], gate=out["gate_model"]
    )
    return out
