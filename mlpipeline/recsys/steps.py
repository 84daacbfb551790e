"""The recommender pipeline's steps, one function each, named as everywhere else.

Data half: extract, merge_profiles. Model half: build_features, train_model, evaluate_ab,
gate_model, register_model (the computations live in `features`, `ranking`, `abtest`, `gate`;
these functions only move files).

Signature as the weather steps': ``step(cfg, out, **inputs) -> Path``; each writes under `out`
(atomically) and returns the path of its main output. Orchestrator-free: the declaration (names,
edges, retries) is added where the pipeline is declared.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mlpipeline import artifacts
from mlpipeline.errors import ConfigError, DataError, RegistryError
from mlpipeline.recsys import abtest, gate, profiles, ranking
from mlpipeline.recsys import extract as extract_mod
from mlpipeline.recsys import features as feats
from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.generator import partition_path
from mlpipeline.registry import Registry


def extract(cfg: RecsysConfig, out: Path) -> Path:
    """Read, check and clean the run's day of events.

    Inputs: none from other steps. Config: ``data`` (source, landing, date, path, columns,
    event_weights, max_lateness_days, min_events). Files read: the landing partition
    ``data.landing/date=<data.date>/part-0.parquet``, or the user file ``data.path``.
    Writes ``events.parquet`` (canonical, sorted by event_id; returned) and ``extract.json``
    (rows read, duplicates, late, dropped, event mix, content_sha256).
    """
    table, report = extract_mod.extract(cfg)
    artifacts.write_json(out / "extract.json", report)
    path = out / "events.parquet"
    with artifacts.atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def merge_profiles(cfg: RecsysConfig, out: Path, events: str) -> Path:
    """Merge the day's events into the profile state, once; snapshot the state.

    Inputs: ``events`` (extract's ``events.parquet``; its ``extract.json`` beside it names the
    delivery and its content sha256). Config: ``profiles`` (db, lock_timeout_seconds, threads,
    memory_limit), ``data.date``. Files read and written: the state database ``profiles.db``.
    Writes the state's tables sorted by key as Parquet (``user_profiles``, ``item_stats``,
    ``user_items``, ``merged_deliveries``: what the features step reads, immutable per run)
    and ``merge.json`` (status, counts, state checksum). Returns `out`, the snapshot folder.
    """
    events_path = Path(events)
    report = artifacts.read_json(events_path.parent / "extract.json")
    sha = report["content_sha256"]
    delivery = cfg.data.date or f"file:{sha[:16]}"
    result = profiles.merge(cfg.profiles, pq.read_table(events_path), delivery, sha)
    tables = profiles.read_tables(cfg.profiles)
    for name, table in tables.items():
        with artifacts.atomic_path(out / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    result.update(profiles.summary(tables), state_sha256=profiles.checksum(tables))
    artifacts.write_json(out / "merge.json", result)
    return out


# -- the model half ---------------------------------------------------------------------------
POPULARITY = "the popularity baseline"


def run_day(cfg: RecsysConfig) -> date:
    if not cfg.data.date:
        raise ConfigError(
            "data.date is empty: the model half needs a run day (it trains on the day before "
            "and evaluates on the day itself)"
        )
    return date.fromisoformat(str(cfg.data.date))


def read_day(cfg: RecsysConfig, day: date) -> pd.DataFrame:
    """One day's clean events, exactly as the `extract` step reads them (schema checked,
    duplicates dropped, late events attributed to the day they landed)."""
    table, _ = extract_mod.extract(
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, date=day.isoformat()))
    )
    return table.to_pandas().assign(day=pd.Timestamp(day))


def _sizes(cfg: RecsysConfig) -> feats.CandidateSizes:
    f = cfg.features
    return feats.CandidateSizes(
        own=f.own_items,
        cooc=f.cooc_items,
        popular=f.popular_items,
        neighbours_per_item=f.neighbours_per_item,
    )


def build_features(cfg: RecsysConfig, out: Path, **upstream: str) -> Path:
    """Training and evaluation frames for the run day D (time protocol: `recsys.features`).

    Inputs: upstream paths (extract, merge_profiles) only order the step after them. Reads days
    D-1-H .. D (H = ``features.history_days``) through `extract` (landing partitions or the
    user's file); history partitions that never landed (or days the user's file lacks) are
    skipped and listed, a corrupt one fails the step, D-1 and D must be there.
    Config: data, features, training.seed (the validation hash).

    The profile table is not read: it holds the state after day D, and features for the
    training day D-1 (and for D itself) must not see D's events. The same profile figures are
    recomputed as of each cutoff from the window.
    Writes: train.parquet (with a ``valid`` column), evaluation.parquet, features.json.
    """
    day, h = run_day(cfg), cfg.features.history_days
    window = [day - timedelta(days=i) for i in range(h + 1, -1, -1)]
    frames, missing = [], []
    for d in window:
        needed = d >= day - timedelta(days=1)
        landed = cfg.data.source != "landing" or partition_path(cfg.data.landing, d).exists()
        if not needed and not landed:
            missing.append(d.isoformat())  # an early day of the system: less history
            continue
        try:
            frames.append(read_day(cfg, d))
        except DataError as e:
            if needed:
                raise DataError(
                    f"a run on {day} trains on labels of {day - timedelta(days=1)} and evaluates "
                    f"on {day}, so it needs both: {e}",
                    where="build_features",
                ) from None
            if cfg.data.source == "landing":
                raise  # a history partition that is there but unreadable: never skipped
            missing.append(d.isoformat())  # the user's file has no events that day
    train, evaluation, info = feats.build(
        pd.concat(frames, ignore_index=True),
        day,
        history_days=h,
        validation_percent=cfg.features.validation_percent,
        seed=cfg.training.seed,
        sizes=_sizes(cfg),
    )
    info["history_days_missing"] = missing
    artifacts.write_frame(out / "train.parquet", train)
    artifacts.write_frame(out / "evaluation.parquet", evaluation)
    artifacts.write_json(out / "features.json", info)
    return out


def train_model(cfg: RecsysConfig, out: Path, features: str) -> Path:
    """Fit the ranker with early stopping on the validation users.

    Inputs: `features` (build_features' directory). Config: evaluation.k, training.
    Writes: model.ubj (XGBoost UBJSON, cut at the best iteration), model.json (sha256, best
    iteration, validation history, feature list, versions).
    """
    frame = artifacts.read_frame(Path(features) / "train.parquet")
    t = cfg.training
    model_bytes, info = ranking.fit(
        frame[~frame["valid"]],
        frame[frame["valid"]],
        feats.FEATURES,
        k=cfg.evaluation.k,
        max_rounds=t.max_rounds,
        early_stopping_rounds=t.early_stopping_rounds,
        learning_rate=t.learning_rate,
        max_depth=t.max_depth,
        min_child_weight=t.min_child_weight,
        seed=t.seed,
        n_jobs=t.n_jobs,
    )
    artifacts.write_bytes(out / "model.ubj", model_bytes)
    info.update(
        sha256=artifacts.sha256_bytes(model_bytes),
        params={
            "max_rounds": t.max_rounds,
            "early_stopping_rounds": t.early_stopping_rounds,
            "learning_rate": t.learning_rate,
            "max_depth": t.max_depth,
            "min_child_weight": t.min_child_weight,
            "seed": t.seed,
            "n_jobs": t.n_jobs,
        },
        xgboost_version=version("xgboost-cpu"),
    )
    artifacts.write_json(out / "model.json", info)
    return out


def read_model(model_dir: str | Path) -> tuple[bytes, dict[str, Any]]:
    """The trained model's bytes, checked against the sha256 written beside them, and its meta."""
    model_dir = Path(model_dir)
    meta = artifacts.read_json(model_dir / "model.json")
    model_bytes = (model_dir / "model.ubj").read_bytes()
    if artifacts.sha256_bytes(model_bytes) != meta["sha256"]:
        raise RegistryError(
            "model.ubj does not match the sha256 in model.json", where=str(model_dir)
        )
    return model_bytes, meta


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def plant(
    cfg: RecsysConfig, frame: pd.DataFrame, base: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A comparison whose truth is known: (candidate, production) scores built from `base`.

    Both get ``z(base)`` plus independent seeded noise (sd ``evaluation.plant_noise``); the
    candidate also gets ``plant_effect * z(true affinity)`` from the generator. With
    ``plant_effect = 0`` the two are exchangeable: an exact null. Teaching and tests only: the
    model that a promotion deploys is still the trained candidate.
    """
    from mlpipeline.recsys.generator import World

    generator = getattr(cfg, "generator", None)
    if generator is None:
        raise ConfigError("evaluation.plant_effect needs generated data (a [generator] section)")
    e = cfg.evaluation
    rng = np.random.default_rng([e.seed, 1])
    users, items = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    affinity = World(generator).true_affinity(users, items, run_day(cfg)).astype(np.float64)
    z = _standardise(base)
    production = z + rng.normal(0.0, e.plant_noise, len(z))
    candidate = z + rng.normal(0.0, e.plant_noise, len(z)) + e.plant_effect * _standardise(affinity)
    return candidate, production


def evaluate_ab(cfg: RecsysConfig, out: Path, features: str, model: str) -> Path:
    """Candidate and production scored on the held-out day D, compared user by user.

    Inputs: `features` (evaluation.parquet, features.json), `model` (train_model's directory).
    Reads the registry's production model (``paths.registry``); with none, or one trained on
    other features, the comparison is against the popularity baseline (see `gate`).
    Config: evaluation, paths.registry (and generator when a planted effect is set).
    Writes: ab.json (the A/B table: means, paired differences, intervals, p-values, coverage).
    """
    frame = artifacts.read_frame(Path(features) / "evaluation.parquet")
    info = artifacts.read_json(Path(features) / "features.json")
    e = cfg.evaluation
    candidate_bytes, meta = read_model(model)
    frame["candidate"] = ranking.score(candidate_bytes, frame, feats.FEATURES)

    registry = Registry(cfg.paths.registry)
    current = registry.production()
    production: dict[str, Any] | None = None
    against, note = POPULARITY, "no production model yet (first run)"
    if current is not None:
        production = {"version": current.version, "sha256": current.sha256}
        if current.record.get("features") == feats.FEATURES:
            against, note = f"production v{current.version:04d}", None
            frame["production"] = ranking.score(
                registry.load_model(current.version), frame, feats.FEATURES
            )
        else:
            note = f"production v{current.version:04d} was trained on other features"
    if against == POPULARITY:
        # Popularity: the window's weighted interactions; ties broken by item id (abtest).
        frame["production"] = frame["i_weight"]
    if e.plant_effect is not None:
        base = frame["production"].to_numpy(dtype=np.float64)
        frame["candidate"], frame["production"] = plant(cfg, frame, base)

    result = abtest.compare(
        frame,
        candidate="candidate",
        production="production",
        k=e.k,
        n_items=info["evaluation"]["catalogue_items"],
        n_bootstrap=e.n_bootstrap,
        n_permutations=e.n_permutations,
        seed=e.seed,
        alpha=e.alpha,
    )
    result.update(
        against=against,
        note=note,
        alpha=e.alpha,
        planted_effect=e.plant_effect,
        evaluation_day=info["evaluation"]["label_day"],
        candidate_sha256=meta["sha256"],
        best_iteration=meta["best_iteration"],
        production=production,
    )
    return artifacts.write_json(out / "ab.json", result)


def gate_model(cfg: RecsysConfig, out: Path, ab: str) -> Path:
    """Decide: deploy only if better beyond doubt and no guardrail drops (see `gate`).

    Inputs: `ab` (evaluate_ab's ab.json). Config: gate, evaluation.alpha.
    Writes: gate.json (promote, the verdict in one sentence, every check as a PASS/FAIL line).
    """
    result = artifacts.read_json(ab)
    promote, reasons = gate.decide(result, cfg.gate, cfg.evaluation.alpha)
    if result.get("note"):
        reasons.insert(0, f"NOTE compared with {result['against']}: {result['note']}")
    return artifacts.write_json(
        out / "gate.json",
        {
            "promote": promote,
            "verdict": gate.verdict(
                promote, result["against"], [r for r in reasons if not r.startswith("NOTE")]
            ),
            "reasons": reasons,
            "against": result["against"],
            "candidate_sha256": result["candidate_sha256"],
            "production": result["production"],
            "ab": ab,
        },
    )


def register_model(cfg: RecsysConfig, out: Path, model: str, gate: str) -> Path:
    """Deploy: register the candidate and move the production alias, if the gate said so.

    Inputs: `model` (train_model's directory), `gate` (gate.json). Config: paths.registry.
    Writes: registration.json; the registry entry (model.ubj + entry.json, sha256, no pickle).
    """
    decision = artifacts.read_json(gate)
    production = decision["production"]
    if not decision["promote"]:
        result = {"registered": False, "version": None, "reason": decision["verdict"]}
    elif production and production["sha256"] == decision["candidate_sha256"]:
        result = {
            "registered": False,
            "version": production["version"],
            "reason": f"identical to production v{production['version']:04d}: nothing to do",
        }
    else:
        model_bytes, meta = read_model(model)
        ab = artifacts.read_json(decision["ab"])
        entry = Registry(cfg.paths.registry).register(
            model_bytes,
            {
                "pipeline": "recsys",
                "run_day": run_day(cfg).isoformat(),
                "features": meta["features"],
                "best_iteration": meta["best_iteration"],
                "params": meta["params"],
                "metrics": {
                    "ndcg": ab["ndcg"],
                    "recall": ab["recall"],
                    "coverage": ab["coverage"],
                    "against": ab["against"],
                },
                "run_dir": str(out.parent),
            },
            promote=True,
        )
        result = {
            "registered": True,
            "version": entry.version,
            "reason": f"registered as v{entry.version:04d} and promoted to production",
        }
    return artifacts.write_json(out / "registration.json", result)
