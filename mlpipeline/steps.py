"""The nine pipeline steps, one function each, named as in `mlpipeline.graph`.

Every step has the signature ``step(cfg, run_dir, **inputs) -> str``: it reads its inputs from
artifact paths, writes its outputs (atomically) under ``run_dir/<step name>/`` and returns the
path of what it wrote. Orchestrators pass only these paths between tasks, never data frames.
The computation itself lives in the pure modules (`data`, `features`, `training`, `gate`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mlpipeline import artifacts, data, faults, features, progress, promotion, training
from mlpipeline.config import PipelineConfig
from mlpipeline.errors import DataError, RegistryError
from mlpipeline.graph import GRAPH
from mlpipeline.registry import PRODUCTION, AliasChanged, Registry

log = logging.getLogger("mlpipeline")

STEP_FUNCTIONS: dict[str, Callable[..., str]] = {}
TIMINGS = "timings.jsonl"  # one line per step attempt, in the run directory


def step(fn: Callable[..., Path]) -> Callable[..., str]:
    """Register `fn` as a step: output directory, fault injection, progress and log lines."""
    name = fn.__name__
    if name not in GRAPH:
        raise ValueError(f"{name} is not a node of mlpipeline.graph.GRAPH")

    @functools.wraps(fn)
    def run(cfg: PipelineConfig, run_dir: str | Path, **inputs: Any) -> str:
        progress.emit(name, "running")
        started = time.time()
        try:
            faults.inject(name, cfg.faults.get(name), run_dir, inputs.get("candidate"))
            out = Path(run_dir) / name
            out.mkdir(parents=True, exist_ok=True)
            result = str(fn(cfg, out, **inputs))
        except BaseException:
            progress.emit(name, "failed")
            raise
        finally:
            # Time inside the step, whatever the engine: benchmarks subtract it from wall time.
            artifacts.append_jsonl(
                Path(run_dir) / TIMINGS,
                {"step": name, "start": started, "seconds": time.time() - started},
            )
        log.info("%s wrote %s", name, result)
        progress.emit(name, "done")
        return result

    STEP_FUNCTIONS[name] = run
    return run


@step
def load_data(cfg: PipelineConfig, out: Path) -> Path:
    return artifacts.write_frame(out / "raw.parquet", data.read_csv(cfg.data.path))


@step
def validate_data(cfg: PipelineConfig, out: Path, raw: str) -> Path:
    clean, report = data.validate(
        artifacts.read_frame(raw), cfg, where=f"validate_data ({cfg.data.path})"
    )
    artifacts.write_json(out / "validation.json", report)
    return artifacts.write_frame(out / "validated.parquet", clean)


@step
def build_features(cfg: PipelineConfig, out: Path, validated: str) -> Path:
    frame = features.build(
        artifacts.read_frame(validated),
        cfg.data.time_column,
        cfg.data.feature_columns,
        cfg.target.column,
        cfg.features,
        cfg.target,
    )
    return artifacts.write_frame(out / "features.parquet", frame)


@step
def split_data(cfg: PipelineConfig, out: Path, features: str) -> Path:
    frame = artifacts.read_frame(features)
    train, holdout = training.split_by_time(frame, cfg.split.holdout_fraction, cfg.target.horizon)
    artifacts.write_frame(out / "train.parquet", train)
    artifacts.write_frame(out / "holdout.parquet", holdout)
    time = cfg.data.time_column
    artifacts.write_json(
        out / "split.json",
        {
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "gap_rows": cfg.target.horizon,
            "train_range": [str(train[time].iloc[0]), str(train[time].iloc[-1])],
            "holdout_range": [str(holdout[time].iloc[0]), str(holdout[time].iloc[-1])],
            "data_fingerprint": artifacts.frame_fingerprint(frame),
        },
    )
    return out


@step
def tune_model(cfg: PipelineConfig, out: Path, split: str, candidate: int | None = None) -> Path:
    """Cross-validate every candidate of the grid, or only `candidate` (for a mapped fan-out)."""
    train = artifacts.read_frame(Path(split) / "train.parquet")
    grid = training.candidates(cfg.tuning.grid)
    indices = range(len(grid)) if candidate is None else [candidate]
    results = [{"index": i, **training.cross_validate(train, grid[i], cfg)} for i in indices]
    name = "scores.json" if candidate is None else f"candidate-{candidate:03d}.json"
    return artifacts.write_json(out / name, results)


@step
def train_model(cfg: PipelineConfig, out: Path, split: str, tuning: str | list[str]) -> Path:
    """Pick the best candidate (see `training.best_candidate`) and fit it on all train rows.

    `tuning` is one scores file, or one file per candidate from a mapped fan-out.
    """
    paths = [tuning] if isinstance(tuning, str) else tuning
    results = sorted((r for p in paths for r in artifacts.read_json(p)), key=lambda r: r["index"])
    expected = len(training.candidates(cfg.tuning.grid))
    if [r["index"] for r in results] != list(range(expected)):
        raise DataError(
            f"tuning results cover candidates {[r['index'] for r in results]}, "
            f"expected 0..{expected - 1}",
            where="train_model",
        )
    best = training.best_candidate(results)
    train = artifacts.read_frame(Path(split) / "train.parquet")
    model_bytes = training.fit(train, best["params"], cfg)
    artifacts.write_bytes(out / "model.ubj", model_bytes)
    artifacts.write_json(
        out / "model.json",
        {
            "sha256": artifacts.sha256_bytes(model_bytes),
            "params": best["params"],
            "best_candidate": best["index"],
            "cv": {"metric": best["metric"], "mean": best["mean"], "std": best["std"]},
            "candidates": results,
            "features": list(training.xy(train)[0].columns),
            "xgboost_version": version("xgboost-cpu"),
        },
    )
    return out


def read_model(model_dir: str | Path) -> bytes:
    """The trained model's bytes, checked against the sha256 written beside them."""
    model_dir = Path(model_dir)
    meta = artifacts.read_json(model_dir / "model.json")
    model_bytes = (model_dir / "model.ubj").read_bytes()
    if artifacts.sha256_bytes(model_bytes) != meta["sha256"]:
        raise RegistryError(
            "model.ubj does not match the sha256 in model.json", where=str(model_dir)
        )
    return model_bytes


@step
def evaluate_model(cfg: PipelineConfig, out: Path, model: str, split: str) -> Path:
    train = artifacts.read_frame(Path(split) / "train.parquet")
    holdout = artifacts.read_frame(Path(split) / "holdout.parquet")
    model_bytes = read_model(model)
    metrics = training.evaluate(model_bytes, train, holdout, cfg.training.decision_threshold)
    metrics["model_sha256"] = artifacts.sha256_bytes(model_bytes)
    metrics["data_fingerprint"] = artifacts.read_json(Path(split) / "split.json")[
        "data_fingerprint"
    ]
    return artifacts.write_json(out / "metrics.json", metrics)


@step
def gate_model(cfg: PipelineConfig, out: Path, metrics: str, split: str) -> Path:
    candidate = artifacts.read_json(metrics)
    registry = Registry(cfg.paths.registry)
    current = registry.production()
    production = None
    if current is not None:
        production = {"version": current.version, "sha256": current.sha256, "accuracy": None}
        holdout = artifacts.read_frame(Path(split) / "holdout.parquet")
        with contextlib.suppress(DataError):  # other features: recorded as not comparable
            production["accuracy"] = training.accuracy_on(
                registry.load_model(current.version), holdout, cfg.training.decision_threshold
            )
    promote, reasons = promotion.decide(candidate, production, cfg.gate)
    return artifacts.write_json(
        out / "gate.json",
        {
            "promote": promote,
            "reasons": reasons,
            "candidate": candidate,
            "production": production,
        },
    )


@step
def register_model(cfg: PipelineConfig, out: Path, model: str, gate: str) -> Path:
    decision = artifacts.read_json(gate)
    candidate, production = decision["candidate"], decision["production"]
    if not decision["promote"]:
        result = {"registered": False, "version": None, "reason": "the gate refused the candidate"}
    elif production and production["sha256"] == candidate["model_sha256"]:
        result = {
            "registered": False,
            "version": production["version"],
            "reason": f"identical to production v{production['version']:04d}: nothing to do",
        }
    else:
        try:
            entry = Registry(cfg.paths.registry).register(
                read_model(model),
                {
                    "metrics": candidate,
                    "data_fingerprint": candidate["data_fingerprint"],
                    "params": artifacts.read_json(Path(model) / "model.json")["params"],
                    "config": cfg.to_params(),
                    "run_dir": str(out.parent),
                },
                alias=PRODUCTION,
                # Promote only if production is still the model the gate compared against.
                expected=production["sha256"] if production else None,
            )
        except AliasChanged as e:
            result = {"registered": False, "version": None, "reason": f"not promoted: {e}"}
        else:
            how = "registered as" if entry.created else "reused the existing entry"
            result = {
                "registered": True,
                "version": entry.version,
                "reason": f"{how} v{entry.version:04d} and promoted to production",
            }
    return artifacts.write_json(out / "registration.json", result)
