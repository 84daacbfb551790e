"""The recsys A/B gate's statistics, proven by simulation rather than assumed.

    python -m benchmarks.bench_recsys_stats [--quick]      # measure: JSON in benchmarks/results/
    python -m benchmarks.bench_recsys_stats plot           # draw: docs/recsys/power.png + table

Not a pytest-benchmark file (nothing is timed, and the runner collects no test here); the
quick mode runs in the normal test run (tests/recsys/test_model_stats.py) so this never rots.

Method (docs/recsys/statistics.md says it in prose):

1. **A real pool.** The real pipeline (generator -> extract -> build_features -> train_model)
   runs on nine generated days; the evaluation day's frame gives, per user, the candidates'
   graded labels, the trained model's scores (the "production" base) and the generator's true
   affinity. Users without a positive are dropped, as the A/B test drops them.
2. **Planting, as `steps.plant` does.** Production scores ``z(base) + e1``, candidate
   ``z(base) + e2 + lambda * z(affinity)``, with independent seeded noise e1, e2 (sd
   ``evaluation.plant_noise``). lambda = 0 makes the two exchangeable: an exact null.
3. **The true effect of a lambda** is the expected per-user NDCG@10 difference: its mean over
   every pool user and many noise draws. Effects are reported in NDCG units; lambda is found for
   each target effect by interpolation on a grid.
4. **Repetitions.** Each draws `users` users from the pool (with replacement: the pool stands for
   the population), new noise, computes per-user NDCG@10 under both, and applies the gate's
   statistical rule exactly (`abtest.paired_test` with the configured resample counts, then
   lower bound > min_effect and p < alpha). Guardrails are not simulated: they can only refuse,
   so they never raise the false-promotion rate.
5. **End to end.** A few repetitions go through the real `evaluate_ab` code path
   (`steps.plant`, `abtest.compare`, `gate.decide` with guardrails) on the real frame, to
   check that the simulation's effect and decisions match the pipeline's.

Rates carry a Wilson 95% interval. "Default scale" is the number of users a 1M-event day
evaluates, measured on the generator at its defaults (see `default_scale_users`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpipeline import artifacts
from mlpipeline.recsys import abtest, gate, generator, steps
from mlpipeline.recsys.config import RecsysConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "recsys_stats.json"
DOCS = ROOT / "docs" / "recsys"
FIRST, RUN_DAY = "2026-03-01", "2026-03-09"

# Pool worlds: the full one has tens of thousands of evaluable users; quick is the tests' size.
POOL_FULL = {"events_per_day": 200_000, "n_users": 40_000, "n_items": 10_000}
POOL_QUICK = {"events_per_day": 10_000, "n_users": 2_000, "n_items": 1_000}


@dataclass(frozen=True)
class Study:
    reps: int  # repetitions per cell without an effect (the false-promotion rate)
    power_reps: int  # repetitions per cell with a planted effect
    users: tuple[int, ...]  # numbers of users per run, for the power curve
    effects: tuple[float, ...]  # multiples of gate.target_effect
    headline_reps: int  # at the default scale (about 100k users: 3 s of CPU a repetition)
    e2e_reps: int  # repetitions through the real evaluate_ab path, per effect
    pool: dict[str, int]
    default_scale: bool  # also run the headline cells at the measured default scale


FULL = Study(
    reps=200,
    power_reps=100,
    users=(500, 2000, 8000),
    effects=(0.0, 0.5, 1.0, 1.5, 2.0),
    headline_reps=40,
    e2e_reps=10,
    pool=POOL_FULL,
    default_scale=True,
)
QUICK = Study(
    reps=8,
    power_reps=8,
    users=(200,),
    effects=(0.0, 1.0),
    headline_reps=0,
    e2e_reps=1,
    pool=POOL_QUICK,
    default_scale=False,
)


# -- the pool ----------------------------------------------------------------------------------
def pool_config(workdir: Path, pool: dict[str, int]) -> RecsysConfig:
    return load_config(
        ROOT / "configs" / "recsys.toml",
        {
            "data.landing": str(workdir / "landing"),
            "data.date": RUN_DAY,
            "paths.registry": str(workdir / "registry"),
            "profiles.db": str(workdir / "profiles.duckdb"),
            **{f"generator.{k}": v for k, v in pool.items()},
            "generator.new_items_per_day": max(pool["n_items"] // 100, 1),
        },
    )


def real_frame(cfg: RecsysConfig, workdir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The evaluation day's frame from the real steps, with the trained model's scores."""
    generator.land_days(cfg.data.landing, cfg.generator, FIRST, 9)
    for step in ("build_features", "train_model"):
        (workdir / step).mkdir(parents=True, exist_ok=True)
    feats = steps.build_features(cfg, workdir / "build_features")
    model = steps.train_model(cfg, workdir / "train_model", features=str(feats))
    frame = artifacts.read_frame(Path(feats) / "evaluation.parquet")
    model_bytes, meta = steps.read_model(model)
    from mlpipeline.recsys import features, ranking

    frame["base"] = ranking.score(model_bytes, frame, features.FEATURES)
    info = artifacts.read_json(Path(feats) / "features.json")
    info["best_iteration"] = meta["best_iteration"]
    return frame, info


@dataclass
class Pool:
    """Dense per-user arrays (users x candidates), padding masked."""

    gains: np.ndarray  # 2^label - 1
    base: np.ndarray  # z-scored production score
    affinity: np.ndarray  # z-scored true affinity
    mask: np.ndarray  # True where a candidate exists
    idcg: np.ndarray

    @property
    def users(self) -> int:
        return len(self.idcg)


def dense_pool(frame: pd.DataFrame, affinity: np.ndarray, k: int) -> Pool:
    """Standardise over all rows (as `plant` does), then lay users out as rows."""
    f = frame.assign(
        zb=steps._standardise(frame["base"].to_numpy(np.float64)),
        za=steps._standardise(affinity.astype(np.float64)),
    ).sort_values(["user_id", "item_id"])
    f = f[f.groupby("user_id")["label"].transform("max") > 0]
    row = f.groupby("user_id").ngroup().to_numpy()
    col = f.groupby("user_id").cumcount().to_numpy()
    shape = (row.max() + 1, col.max() + 1)
    gains, base, aff = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    mask = np.zeros(shape, bool)
    gains[row, col] = np.exp2(f["label"].to_numpy(np.float64)) - 1
    base[row, col], aff[row, col], mask[row, col] = f["zb"], f["za"], True
    ideal = -np.sort(-gains, axis=1)[:, :k]
    idcg = (ideal / np.log2(np.arange(2, ideal.shape[1] + 2))).sum(axis=1)
    return Pool(gains, base, aff, mask, idcg)


def ndcg(pool: Pool, idx: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k of `scores` (rows = pool users `idx`); ties go to the lower item id."""
    scores = np.where(pool.mask[idx], scores, -np.inf)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    gains = np.take_along_axis(pool.gains[idx], top, axis=1)
    return (gains / np.log2(np.arange(2, top.shape[1] + 2))).sum(axis=1) / pool.idcg[idx]


def differences(
    pool: Pool, idx: np.ndarray, lam: float, noise: float, rng: np.random.Generator, k: int
) -> np.ndarray:
    shape = (len(idx), pool.gains.shape[1])
    production = pool.base[idx] + rng.normal(0.0, noise, shape)
    candidate = pool.base[idx] + rng.normal(0.0, noise, shape) + lam * pool.affinity[idx]
    return ndcg(pool, idx, candidate, k) - ndcg(pool, idx, production, k)


def true_effect(pool: Pool, lam: float, noise: float, k: int, draws: int, seed: int) -> float:
    rng = np.random.default_rng([seed, 99])
    idx = np.arange(pool.users)
    return float(np.mean([differences(pool, idx, lam, noise, rng, k).mean() for _ in range(draws)]))


def calibrate(
    pool: Pool, targets: list[float], noise: float, k: int, draws: int, seed: int
) -> tuple[dict[float, float], list[dict[str, float]]]:
    """lambda for each target effect, by linear interpolation on a grid of lambdas."""
    grid = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0]
    curve = [
        {"lambda": lam, "effect": true_effect(pool, lam, noise, k, draws, seed)} for lam in grid
    ]
    effects = np.maximum.accumulate([c["effect"] for c in curve])  # monotone for interp
    lam = {t: 0.0 if t == 0 else float(np.interp(t, effects, grid)) for t in targets}
    return lam, curve


# -- repetitions -------------------------------------------------------------------------------
def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def promotes(test: dict[str, Any], cfg: RecsysConfig) -> bool:
    """The gate's statistical rule (guardrails aside), exactly as `gate.decide` applies it."""
    return test["lower"] > cfg.gate.min_effect and test["p_value"] < cfg.evaluation.alpha


def simulate(
    pool: Pool, users: int, lam: float, reps: int, cfg: RecsysConfig, seed: int
) -> dict[str, Any]:
    e = cfg.evaluation
    hits, means = 0, []
    for r in range(reps):
        rng = np.random.default_rng([seed, users, r])
        idx = rng.integers(0, pool.users, users)
        d = differences(pool, idx, lam, e.plant_noise, rng, e.k)
        test = abtest.paired_test(
            d,
            n_bootstrap=e.n_bootstrap,
            n_permutations=e.n_permutations,
            seed=int(rng.integers(2**31)),
            alpha=e.alpha,
        )
        hits += promotes(test, cfg)
        means.append(test["mean"])
    low, high = wilson(hits, reps)
    return {"promoted": hits, "reps": reps, "rate": hits / reps, "low": low, "high": high,
            "mean_observed": float(np.mean(means))}  # fmt: skip


def end_to_end(
    frame: pd.DataFrame, info: dict[str, Any], cfg: RecsysConfig, lam: float, reps: int
) -> dict[str, Any]:
    """The real evaluate_ab path (plant, compare, gate with guardrails), `reps` noise seeds."""
    hits, means = 0, []
    for r in range(reps):
        c = dataclasses.replace(
            cfg, evaluation=dataclasses.replace(cfg.evaluation, plant_effect=lam, seed=1000 + r)
        )
        f = frame.copy()
        f["candidate"], f["production"] = steps.plant(c, f, f["base"].to_numpy(np.float64))
        e = c.evaluation
        ab = abtest.compare(
            f, candidate="candidate", production="production", k=e.k,
            n_items=info["evaluation"]["catalogue_items"], n_bootstrap=e.n_bootstrap,
            n_permutations=e.n_permutations, seed=e.seed, alpha=e.alpha,
        )  # fmt: skip
        ok, _ = gate.decide({**ab, "against": "production"}, c.gate, e.alpha)
        hits += ok
        means.append(ab["ndcg"]["difference"]["mean"])
    return {"promoted": hits, "reps": reps, "mean_observed": float(np.mean(means)),
            "users": int(ab["users_evaluated"])}  # fmt: skip


def default_scale_users(days: int = 8) -> dict[str, Any]:
    """Users a 1M-event day evaluates: active on D with history in the 7 days before, times the
    share of such users with a positive among their candidates (from the pool run)."""
    world = generator.World(generator.GeneratorConfig())
    run_day = generator.as_date(RUN_DAY)
    active = {}
    for i in range(days):
        d = run_day.fromordinal(run_day.toordinal() - i)
        active[i] = np.unique(world.events(d)["user_id"])
    history = np.unique(np.concatenate([active[i] for i in range(1, days)]))
    return {
        "active_on_day": int(len(active[0])),
        "with_history": int(len(np.intersect1d(active[0], history))),
    }


# -- the study ---------------------------------------------------------------------------------
def run(study: Study, output: Path) -> dict[str, Any]:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="recsys-stats-") as tmp:
        cfg = pool_config(Path(tmp), study.pool)
        frame, info = real_frame(cfg, Path(tmp))
    affinity = generator.World(cfg.generator).true_affinity(
        frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), RUN_DAY
    )
    e, g = cfg.evaluation, cfg.gate
    pool = dense_pool(frame, affinity, e.k)
    targets = sorted({m * g.target_effect for m in study.effects})
    draws = 20 if study is FULL else 2
    lam, curve = calibrate(pool, targets, e.plant_noise, e.k, draws, e.seed)

    cells = []
    sizes = list(study.users)
    scale = None
    if study.default_scale:
        scale = default_scale_users()
        share = pool.users / info["evaluation"]["users"]  # users with a positive, of the ranked
        scale["evaluated"] = int(scale["with_history"] * share)
    for n in sizes:
        for t in targets:
            reps = study.reps if t == 0 else study.power_reps
            sim = simulate(pool, n, lam[t], reps, cfg, seed=7)
            cells.append({"users": n, "effect": t, "lambda": lam[t], **sim})
            print(f"users {n:>6} effect {t:.4f}: {cells[-1]['rate']:.3f}", file=sys.stderr)
    headline = []
    if scale:
        n = scale["evaluated"]
        for t in (0.0, g.target_effect):
            sim = simulate(pool, n, lam[t], study.headline_reps, cfg, seed=11)
            headline.append({"users": n, "effect": t, "lambda": lam[t], **sim})
    null = [c for c in cells + headline if c["effect"] == 0.0]
    pooled = sum(c["promoted"] for c in null), sum(c["reps"] for c in null)
    e2e = [
        {"effect": t, "lambda": lam[t], **end_to_end(frame, info, cfg, lam[t], study.e2e_reps)}
        for t in (0.0, g.target_effect)
    ]
    result = {
        "study": {k: v for k, v in study.__dict__.items()},
        "gate": {
            "min_effect": g.min_effect,
            "target_effect": g.target_effect,
            "alpha": e.alpha,
            "n_bootstrap": e.n_bootstrap,
            "n_permutations": e.n_permutations,
            "plant_noise": e.plant_noise,
            "k": e.k,
        },  # fmt: skip
        "pool": {
            "users_ranked": info["evaluation"]["users"],
            "users_with_positive": pool.users,
            "rows": int(len(frame)),
            "best_iteration": info["best_iteration"],
            "generator": study.pool,
        },  # fmt: skip
        "calibration": curve,
        "default_scale": scale,
        "cells": cells,
        "headline": headline,
        "null_pooled": {
            "promoted": pooled[0],
            "reps": pooled[1],
            "rate": pooled[0] / max(pooled[1], 1),
            "interval": wilson(*pooled),
        },  # fmt: skip
        "end_to_end": e2e,
        "seconds": round(time.time() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(output, result)
    return result


# -- the plot and the table --------------------------------------------------------------------
def table(result: dict[str, Any]) -> str:
    """Markdown: promotion rate (Wilson 95% interval) per true effect and number of users."""
    cells = result["cells"] + result["headline"]
    sizes = sorted({c["users"] for c in cells})
    effects = sorted({c["effect"] for c in result["cells"]})
    lines = [
        "| true NDCG@10 gain | " + " | ".join(f"{n:,} users" for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for t in effects:
        row = []
        for n in sizes:
            c = next((c for c in cells if c["users"] == n and c["effect"] == t), None)
            row.append(f"{c['rate']:.1%} ({c['low']:.1%}-{c['high']:.1%})" if c is not None else "")
        lines.append(f"| {t:.4f} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], docs: Path) -> Path:
    from benchmarks.report import save_png
    from mlpipeline.recsys.plots import plot_power_curve

    g = result["gate"]
    path = save_png(
        docs / "power.png",
        lambda ax: plot_power_curve(
            ax, result["cells"], target=g["target_effect"], alpha=g["alpha"]
        ),
    )
    (docs / "power_table.md").write_text(table(result), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_recsys_stats")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "plot"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS)
    args = parser.parse_args(argv)
    if args.command == "run":
        result = run(QUICK if args.quick else FULL, args.output)
        print(json.dumps(result["null_pooled"]), json.dumps(result["headline"]))
    else:
        print(plot(artifacts.read_json(args.output), args.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
