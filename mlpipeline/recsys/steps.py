"""The recommender pipeline: nine steps, each declared once with what it reads and writes.

Data half: extract, merge_profiles. Model half: build_features, train_model, evaluate_ab,
gate_model. Deployment, shared with the weather pipeline (`mlpipeline.deployment`):
register_model (staging), integration_test, promote_model (production). The computations
live in `extract`, `profiles`, `features`, `ranking`, `abtest`, `gate`; these functions only
move files. Each step is a plain function
``step(cfg, out, **inputs)`` on the seam of `mlpipeline.pipeline`, as the weather steps are:
it reads its inputs through `StepOutput` handles, writes the files it declares into ``out``
and returns nothing. Steps with side effects outside their folder are not cacheable:
merge_profiles writes the profile state database, evaluate_ab and gate_model read the
registry, the three deployment steps read or write it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlpipeline import artifacts, deployment, progress
from mlpipeline.deployment import Probe
from mlpipeline.errors import ConfigError, DataError, RegistryError
from mlpipeline.paths import CONFIGS
from mlpipeline.pipeline import MODEL_REPORTS, Pipeline, StepOutput
from mlpipeline.recsys import abtest, gate, profiles, ranking
from mlpipeline.recsys import extract as extract_mod
from mlpipeline.recsys import features as feats
from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.generator import partition_path
from mlpipeline.registry import open_registry, registry_files

RECSYS = Pipeline(
    name="recsys",
    dag_id="recsys_retrain",
    config_type=RecsysConfig,
    default_config=CONFIGS / "recsys.toml",
    # The offline metrics and the rows the deployment tail re-scores (`mlpipeline.deployment`):
    # the A/B table and day D's candidate rows.
    reports={
        "metrics": ("evaluate_ab", "ab"),
        "holdout": ("build_features", "evaluation"),
        **MODEL_REPORTS,
    },
)
step = RECSYS.step
STATE_TABLES = ("user_profiles", "item_stats", "user_items", "merged_deliveries")
FRAMES = ("train", "evaluation")  # build_features' candidate frames


def day_files(cfg: RecsysConfig, days: Callable[[RecsysConfig], list[date]]) -> list[str]:
    """The files a step reads for these days: landing partitions, or the user's one file."""
    if cfg.data.source != "landing":
        return [cfg.data.path]
    return [str(partition_path(cfg.data.landing, d)) for d in days(cfg)]


def state_files(cfg: RecsysConfig) -> list[str]:
    """The profile database with its write-ahead log and writer lock."""
    db = cfg.profiles.db
    return [db, f"{db}.wal", f"{db}.lock"]


def history_window(cfg: RecsysConfig) -> list[date]:
    """Days D-1-H .. D of a run on D (H = features.history_days), oldest first."""
    day, h = run_day(cfg), cfg.features.history_days
    return [day - timedelta(days=i) for i in range(h + 1, -1, -1)]


@step(
    writes={"events": "events.parquet", "report": "extract.json"},
    reads=("data",),
    files=lambda cfg: day_files(cfg, lambda c: [run_day(c)]),
)
def extract(cfg: RecsysConfig, out: StepOutput) -> None:
    """Read, check and clean the run's day of events (landing partition or user file).

    Writes ``events`` (canonical, sorted by event_id) and ``report`` (rows read, duplicates,
    late, dropped, event mix, content_sha256).
    """
    table, report = extract_mod.extract(SimpleNamespace(data=cfg.data))
    out.write_json("report", report)
    with artifacts.atomic_path(out.file("events")) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    progress.count("extract", report["rows_read"])  # events per second in the CLI's display


@step(
    inputs={"events": "extract"},
    writes={**{name: f"{name}.parquet" for name in STATE_TABLES}, "merge": "merge.json"},
    reads=("data", "profiles"),
    files=state_files,
    cacheable=False,  # writes the profile state database
)
def merge_profiles(cfg: RecsysConfig, out: StepOutput, events: StepOutput) -> None:
    """Merge the day's events into the profile state, once; snapshot the state.

    The delivery is named by ``data.date`` and the events' content sha256 (idempotent: a day
    merged twice counts once). Writes the state's tables sorted by key as Parquet (immutable
    per run) and ``merge`` (status, counts, state checksum).
    """
    sha = events.json("report")["content_sha256"]
    delivery = cfg.data.date or f"file:{sha[:16]}"
    result = profiles.merge(cfg.profiles, pq.read_table(events.file("events")), delivery, sha)
    tables = profiles.read_tables(cfg.profiles)
    for name, table in tables.items():
        with artifacts.atomic_path(out.file(name)) as tmp:
            pq.write_table(table, tmp, compression="zstd")
    result.update(profiles.summary(tables), state_sha256=profiles.checksum(tables))
    out.write_json("merge", result)
    progress.count("merge_profiles", result["events"])


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
    duplicates dropped, late events attributed to the day they landed), in the lean columns
    the features use: ids, naive-UTC times, the grade (1-3) instead of the type's string."""
    data = dataclasses.replace(cfg.data, date=day.isoformat())
    table, _ = extract_mod.extract(SimpleNamespace(data=data))
    codes = pc.index_in(table.column("event_type"), value_set=pa.array(list(feats.GRADES)))
    ts = table.column("ts").cast(pa.int64()).to_numpy().view("datetime64[us]")
    return pd.DataFrame(
        {
            "user_id": table.column("user_id").to_numpy(),
            "item_id": table.column("item_id").to_numpy(),
            "ts": ts,
            "grade": np.array(list(feats.GRADES.values()), np.int8)[codes.to_numpy()],
            "day": np.full(len(ts), np.datetime64(day, "us")),
        }
    )


def _sizes(cfg: RecsysConfig) -> feats.CandidateSizes:
    f = cfg.features
    return feats.CandidateSizes(
        own=f.own_items,
        cooc=f.cooc_items,
        popular=f.popular_items,
        neighbours_per_item=f.neighbours_per_item,
    )


@step(
    inputs={"events": "extract", "profiles": "merge_profiles"},
    writes={"train": "train.parquet", "evaluation": "evaluation.parquet", "info": "features.json"},
    reads=("data", "features", "training"),
    files=lambda cfg: day_files(cfg, history_window),
)
def build_features(
    cfg: RecsysConfig, out: StepOutput, events: StepOutput, profiles: StepOutput
) -> None:
    """Training and evaluation frames for the run day D (time protocol: `recsys.features`).

    Inputs: extract and merge_profiles only order the step after them. Reads days
    D-1-H .. D (H = ``features.history_days``) through `extract` (landing partitions or the
    user's file); history partitions that never landed (or days the user's file lacks) are
    skipped and listed, a corrupt one fails the step, D-1 and D must be there.
    Config: data, features, training.seed (the validation hash).

    The profile table is not read: it holds the state after day D, and features for the
    training day D-1 (and for D itself) must not see D's events. The same profile figures are
    recomputed as of each cutoff from the window.
    Writes: train (with a ``valid`` column), evaluation, info.
    """
    day, h = run_day(cfg), cfg.features.history_days
    frames, missing = [], []
    # Two days read at a time (pyarrow reads and checks without the GIL); errors, in day order.
    with ThreadPoolExecutor(2, thread_name_prefix="read-day") as pool:
        days = [(d, pool.submit(read_day, cfg, d)) for d in history_window(cfg)]
    while days:  # popped: a day's frame is held by `frames` only, which `normalise` empties
        d, read = days.pop(0)
        needed = d >= day - timedelta(days=1)
        landed = cfg.data.source != "landing" or partition_path(cfg.data.landing, d).exists()
        if not needed and not landed:
            missing.append(d.isoformat())  # an early day of the system: less history
            continue
        try:
            frames.append(read.result())
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
    del read
    events = feats.normalise(frames)  # only the arrays are kept: 21 bytes an event
    info: dict[str, Any] = {}
    shards = feats.build_frames(
        events,
        day,
        info,
        history_days=h,
        validation_percent=cfg.features.validation_percent,
        seed=cfg.training.seed,
        sizes=_sizes(cfg),
    )
    # Each frame written shard by shard (a row group each), a shard dropped once written.
    with contextlib.ExitStack() as files:
        append = {n: files.enter_context(artifacts.frame_writer(out.file(n))) for n in FRAMES}
        for name, frame in shards:
            append[name](frame)
            del frame
    info["history_days_missing"] = missing
    out.write_json("info", info)


@step(
    inputs={"features": "build_features"},
    writes={"model": "model.ubj", "meta": "model.json"},
    reads=("evaluation", "training"),
)
def train_model(cfg: RecsysConfig, out: StepOutput, features: StepOutput) -> None:
    """Fit the ranker with early stopping on the validation users.

    Writes: model (XGBoost UBJSON, cut at the best iteration), meta (sha256, best iteration,
    validation history, feature list, versions).
    """
    # Only the users with a positive are trained on (`ranking.with_positives`): kept shard by
    # shard, so the whole frame (49M rows at 10M events a day) is never in memory, only the
    # rows XGBoost learns from (about 14M); the same rows in the same order as a single pass.
    columns = ["user_id", "item_id", *feats.FEATURES, "label", "valid"]
    pieces = [ranking.with_positives(p) for p in feats.read_shards(features.file("train"), columns)]
    frame = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    del pieces
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
    out.write_bytes("model", model_bytes)
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
    out.write_json("meta", info)


def read_model(model: StepOutput) -> tuple[bytes, dict[str, Any]]:
    """The trained model's bytes, checked against the sha256 written beside them, and its meta."""
    meta = model.json("meta")
    model_bytes = model.file("model").read_bytes()
    if artifacts.sha256_bytes(model_bytes) != meta["sha256"]:
        raise RegistryError("the model does not match the sha256 beside it", where=str(model.path))
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

    generator = cfg.generator
    e = cfg.evaluation
    rng = np.random.default_rng([e.seed, 1])
    users, items = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    affinity = World(generator).true_affinity(users, items, run_day(cfg)).astype(np.float64)
    z = _standardise(base)
    production = z + rng.normal(0.0, e.plant_noise, len(z))
    candidate = z + rng.normal(0.0, e.plant_noise, len(z)) + e.plant_effect * _standardise(affinity)
    return candidate, production


@step(
    inputs={"features": "build_features", "model": "train_model"},
    writes={"ab": "ab.json"},
    reads=("data", "evaluation", "generator", "paths", "tracking", "training"),
    files=registry_files,
    cacheable=False,  # reads the registry's production model, which other runs change
)
def evaluate_ab(
    cfg: RecsysConfig, out: StepOutput, features: StepOutput, model: StepOutput
) -> None:
    """Candidate and production scored on the held-out day D, compared user by user.

    Reads the registry's production model; with none, or one trained on other features, the
    comparison is against the popularity baseline (see `gate`). The generator section is read
    only when a planted effect is set (teaching and tests).
    Writes: ab (the A/B table: means, paired differences, intervals, p-values, coverage).
    """
    info = features.json("info")
    e = cfg.evaluation
    candidate_bytes, meta = read_model(model)
    n_jobs = cfg.training.n_jobs

    registry = open_registry(cfg)
    current = registry.production()
    production: dict[str, Any] | None = None
    production_bytes = None
    against, note = POPULARITY, "no production model yet (first run)"
    if current is not None:
        production = {"version": current.version, "sha256": current.sha256}
        if current.record.get("features") == feats.FEATURES:
            against, note = f"production v{current.version:04d}", None
            production_bytes = registry.load_model(current.version)
        else:
            note = f"production v{current.version:04d} was trained on other features"

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        frame["candidate"] = ranking.score(candidate_bytes, frame, feats.FEATURES, n_jobs)
        if production_bytes is not None:
            frame["production"] = ranking.score(production_bytes, frame, feats.FEATURES, n_jobs)
        else:
            # Popularity: the window's weighted interactions; ties broken by item id (abtest).
            frame["production"] = frame["i_weight"]
        return frame

    # Per user, shard by shard (`abtest.compare`), except with a planted effect: it
    # standardises the scores over the whole day (teaching and test scale only).
    model_ndcg = None
    if e.plant_effect is None:
        frames = map(scored, feats.read_shards(features.file("evaluation")))
    else:
        frame = scored(features.frame("evaluation"))
        # The model's own NDCG@k: what the integration test re-computes from the staged bytes.
        # The A/B table compares planted scores, so it is computed apart.
        model_ndcg = mean_ndcg(frame, "candidate", e.k)
        base = frame["production"].to_numpy(dtype=np.float64)
        frame["candidate"], frame["production"] = plant(cfg, frame, base)
        frames = iter([frame])
        del frame
    result = abtest.compare(
        frames,
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
        model_ndcg=model_ndcg if e.plant_effect is not None else result["ndcg"]["candidate"],
    )
    out.write_json("ab", result)


@step(
    inputs={"ab": "evaluate_ab"},
    writes={"gate": "gate.json"},
    reads=("evaluation", "gate"),
    cacheable=False,  # follows evaluate_ab, whose production model other runs change
)
def gate_model(cfg: RecsysConfig, out: StepOutput, ab: StepOutput) -> None:
    """Decide: deploy only if better beyond doubt and no guardrail drops (see `gate`).

    Writes: gate (promote, the verdict in one sentence, every check as a PASS/FAIL line).
    """
    result = ab.json("ab")
    promote, reasons = gate.decide(result, cfg.gate, cfg.evaluation.alpha)
    if result.get("note"):
        reasons.insert(0, f"NOTE compared with {result['against']}: {result['note']}")
    out.write_json(
        "gate",
        {
            "promote": promote,
            "verdict": gate.verdict(
                promote, result["against"], [r for r in reasons if not r.startswith("NOTE")]
            ),
            "reasons": reasons,
            "against": result["against"],
            "candidate_sha256": result["candidate_sha256"],
            "production": result["production"],
        },
    )


# -- deployment: staging -> integration test -> production (`mlpipeline.deployment`) ---------
def serving_probe(cfg: RecsysConfig, path: Path, ab: dict[str, Any]) -> Probe:
    """The ranker's integration test on candidate rows of day D (`path`: the evaluation
    frame, read shard by shard as `evaluate_ab` reads it), each check scoring only the rows it
    needs:

    - output_schema: finite scores for the frame's first ``deployment.smoke_rows`` rows;
    - latency: one user's candidate rows per request, the first ``deployment.latency_samples``
      users in id order (cycled if fewer);
    - offline_agreement: the model's NDCG@k on day D, re-scored from the staged bytes, equals
      what `evaluate_ab` recorded (`ab`). NDCG@k is defined only for the users with a positive
      (`abtest`), so only their rows are re-scored (about 30% of the frame at 1M events a
      day), shard by shard: the same users, rows and floats as the evaluation's mean, to the
      bit.
    """
    expected = ab["model_ndcg"]
    d, k = cfg.deployment, cfg.evaluation.k
    smoke, requests = None, []
    for frame in feats.read_shards(path):
        smoke = frame.head(d.smoke_rows) if smoke is None else smoke
        columns = [frame.columns.get_loc(c) for c in feats.FEATURES]
        users = frame.groupby("user_id", sort=True).indices.values()  # row positions per user
        wanted = itertools.islice(users, d.latency_samples - len(requests))
        requests += [frame.iloc[rows, columns].to_numpy() for rows in wanted]
        if len(requests) == d.latency_samples:
            break

    def rescore(model_bytes: bytes) -> float:
        if expected is None:
            raise DataError("no user of the evaluation day has a positive: NDCG is undefined")
        ndcg = []
        for frame in feats.read_shards(path):
            rated = ranking.with_positives(frame)
            scored = rated.assign(score=ranking.score(model_bytes, rated, feats.FEATURES))
            ndcg.append(abtest.per_user_metrics(scored, "score", k)["ndcg"])
        return _mean_defined(pd.concat(ndcg))

    return Probe(
        smoke=smoke,
        score=lambda model_bytes, rows: ranking.score(model_bytes, rows, feats.FEATURES),
        bounds=None,  # ranking scores: any finite value
        requests=[requests[i % len(requests)] for i in range(d.latency_samples)],
        metric=f"ndcg@{k}",
        rescore=rescore,
        expected=expected if expected is not None else math.nan,
    )


def mean_ndcg(frame: pd.DataFrame, score: str, k: int) -> float | None:
    """NDCG@k averaged over the users with a positive, as the A/B table's means are."""
    return _mean_defined(abtest.per_user_metrics(frame, score, k)["ndcg"])


def _mean_defined(ndcg: pd.Series) -> float | None:
    return float(ndcg[ndcg.notna()].mean()) if ndcg.notna().any() else None


@step(**deployment.register_model_declaration(RECSYS, reads=("data",)))
def register_model(
    cfg: RecsysConfig, out: StepOutput, model: StepOutput, metrics: StepOutput, gate: StepOutput
) -> None:
    """Register the candidate and give it the staging alias, if the gate said so.

    Writes: registration; the registry entry (model.ubj + entry.json, sha256, no pickle).
    """
    decision = gate.json("gate")

    def record() -> dict[str, Any]:
        meta, ab_table = model.json("meta"), metrics.json("ab")
        return {
            "pipeline": "recsys",
            "run_day": run_day(cfg).isoformat(),
            "features": meta["features"],
            "best_iteration": meta["best_iteration"],
            "params": meta["params"],
            "metrics": {
                "ndcg": ab_table["ndcg"],
                "recall": ab_table["recall"],
                "coverage": ab_table["coverage"],
                "against": ab_table["against"],
            },
            "run_dir": str(out.path.parent),
        }

    result = deployment.stage(
        cfg,
        promote=decision["promote"],
        refused=decision["verdict"],
        production=decision["production"],
        candidate_sha256=decision["candidate_sha256"],
        model_bytes=lambda: read_model(model)[0],
        record=record,
    )
    out.write_json("registration", result)


integration_test = deployment.declare_integration_test(
    RECSYS, serving_probe, reads="evaluation", read_holdout=StepOutput.file
)
# Moves production, compare-and-swap with the production model the gate compared against.
promote_model = deployment.declare_promote_model(RECSYS)
