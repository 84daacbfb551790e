"""The pipeline as direct Python calls, no orchestrator: the baseline every engine is measured
against (benchmarks) and the shape every engine's wiring reproduces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlpipeline import pipelines
from mlpipeline.execution import run_step


def run_steps(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Run the steps in declaration order (a fan-out: its instances one by one); return each
    step's output directory. No retries, no cache."""
    pipeline = pipelines.for_config(cfg)
    out: dict[str, Any] = {}
    for name, step in pipeline.steps.items():
        inputs = {arg: out[up] for arg, up in step.inputs.items()}
        if step.mapped:
            out[name] = [
                run_step(pipeline, name, cfg, run_dir, i, **inputs)
                for i in range(step.map_count(cfg))
            ]
        else:
            out[name] = run_step(pipeline, name, cfg, run_dir, **inputs)
    return out
