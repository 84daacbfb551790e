"""The weather pipeline: eleven steps, each declared once with what it reads and writes.

Will it rain in Seattle tomorrow? Each step is a plain function ``step(cfg, out, **inputs)``:
it reads its inputs through `StepOutput` handles, writes the files it declares into ``out``
(atomically) and returns nothing. `mlpipeline.pipeline` explains the declaration; the engines'
wiring files (`mock_impl/weather.py`, `airflow_impl/dags/ml_pipeline.py`, `prefect_impl/flow.py`)
only decide when and where each step runs. The computation itself lives in the pure modules
(`data`, `features`, `training`, `promotion`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from mlpipeline import artifacts, data, deployment, features, promotion, training
from mlpipeline.config import PipelineConfig
from mlpipeline.deployment import Probe
from mlpipeline.errors import DataError, RegistryError, storage_error
from mlpipeline.paths import WEATHER_CONFIG
from mlpipeline.pipeline import MODEL_REPORTS, Pipeline, StepOutput
from mlpipeline.registry import location, open_registry, registry_files

if TYPE_CHECKING:
    import pandas as pd

WEATHER = Pipeline(
    name="weather",
    dag_id="ml_pipeline",
    config_type=PipelineConfig,
    default_config=WEATHER_CONFIG,
    # The offline metrics and the rows the deployment tail re-scores (`mlpipeline.deployment`).
    reports={
        "metrics": ("evaluate_model", "metrics"),
        "holdout": ("split_data", "holdout"),
        **MODEL_REPORTS,
    },
)
step = WEATHER.step


def n_candidates(cfg: PipelineConfig) -> int:
    return len(cfg.tuning.candidates())


@step(writes={"raw": "raw.parquet"}, reads=("data",), files=lambda cfg: [cfg.data.path])
def load_data(cfg: PipelineConfig, out: StepOutput) -> None:
    """Read the CSV named by data.path."""
    out.write_frame("raw", data.read_csv(cfg.data.path))


@step(
    inputs={"raw": "load_data"},
    writes={"validated": "validated.parquet", "report": "validation.json"},
    reads=("data", "target"),
)
def validate_data(cfg: PipelineConfig, out: StepOutput, raw: StepOutput) -> None:
    """Check the schema and the time order; apply data.missing; report every problem at once."""
    clean, report = data.validate(raw.frame("raw"), cfg, where=f"validate_data ({cfg.data.path})")
    out.write_json("report", report)
    out.write_frame("validated", clean)


@step(
    inputs={"validated": "validate_data"},
    writes={"features": "features.parquet"},
    reads=("data", "target", "features"),
)
def build_features(cfg: PipelineConfig, out: StepOutput, validated: StepOutput) -> None:
    """Lags and rolling windows of the feature columns, and the binary target."""
    frame = features.build(
        validated.frame("validated"),
        cfg.data.time_column,
        cfg.data.feature_columns,
        cfg.target.column,
        cfg.features,
        cfg.target,
    )
    out.write_frame("features", frame)


@step(
    inputs={"features": "build_features"},
    writes={"train": "train.parquet", "holdout": "holdout.parquet", "split": "split.json"},
    reads=("data", "target", "split"),
)
def split_data(cfg: PipelineConfig, out: StepOutput, features: StepOutput) -> None:
    """First rows train, last rows holdout, a gap of target.horizon rows between them."""
    frame = features.frame("features")
    train, holdout = training.split_by_time(frame, cfg.split.holdout_fraction, cfg.target.horizon)
    out.write_frame("train", train)
    out.write_frame("holdout", holdout)
    column = cfg.data.time_column
    out.write_json(
        "split",
        {
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "gap_rows": cfg.target.horizon,
            "train_range": [str(train[column].iloc[0]), str(train[column].iloc[-1])],
            "holdout_range": [str(holdout[column].iloc[0]), str(holdout[column].iloc[-1])],
            "data_fingerprint": artifacts.frame_fingerprint(frame),
        },
    )


@step(
    inputs={"split": "split_data"},
    writes={"scores": "scores.json"},
    reads=("target", "tuning", "training"),
    map_count=n_candidates,
    map_arg="candidate",
)
def tune_model(cfg: PipelineConfig, out: StepOutput, split: StepOutput, candidate: int) -> None:
    """Cross-validate one candidate of the grid (one task per candidate: a fan-out)."""
    params = cfg.tuning.candidates()[candidate]
    scores = training.cross_validate(split.frame("train"), params, cfg)
    out.write_json("scores", [{"index": candidate, **scores}])


@step(
    inputs={"split": "split_data", "tuning": "tune_model"},
    writes={"model": "model.ubj", "meta": "model.json"},
    reads=("tuning", "training"),
)
def train_model(
    cfg: PipelineConfig, out: StepOutput, split: StepOutput, tuning: list[StepOutput]
) -> None:
    """Pick the best candidate (see `training.best_candidate`) and fit it on all train rows."""
    results = sorted((r for t in tuning for r in t.json("scores")), key=lambda r: r["index"])
    expected = n_candidates(cfg)
    if [r["index"] for r in results] != list(range(expected)):
        raise DataError(
            f"tuning results cover candidates {[r['index'] for r in results]}, "
            f"expected 0..{expected - 1}",
            where="train_model",
        )
    best = training.best_candidate(results)
    train = split.frame("train")
    model_bytes = training.fit(train, best["params"], cfg)
    out.write_bytes("model", model_bytes)
    out.write_json(
        "meta",
        {
            "sha256": artifacts.sha256_bytes(model_bytes),
            "params": best["params"],
            "best_candidate": best["index"],
            "cv": {"metric": best["metric"], "mean": best["mean"], "std": best["std"]},
            "candidates": results,
            "features": list(training.xy(train)[0].columns),
            "xgboost_version": training.xgboost_version(),
        },
    )


def read_model(model: StepOutput) -> bytes:
    """The trained model's bytes, checked against the sha256 written beside them."""
    model_bytes = model.file("model").read_bytes()
    if artifacts.sha256_bytes(model_bytes) != model.json("meta")["sha256"]:
        raise RegistryError("the model does not match the sha256 beside it", where=str(model.path))
    return model_bytes


@step(
    inputs={"model": "train_model", "split": "split_data"},
    writes={"metrics": "metrics.json"},
    reads=("training",),
)
def evaluate_model(
    cfg: PipelineConfig, out: StepOutput, model: StepOutput, split: StepOutput
) -> None:
    """Holdout metrics of the trained model and of the majority-class baseline."""
    model_bytes = read_model(model)
    metrics = training.evaluate(
        model_bytes, split.frame("train"), split.frame("holdout"), cfg.training.decision_threshold
    )
    metrics["model_sha256"] = artifacts.sha256_bytes(model_bytes)
    metrics["data_fingerprint"] = split.json("split")["data_fingerprint"]
    out.write_json("metrics", metrics)


@step(
    inputs={"metrics": "evaluate_model", "split": "split_data"},
    writes={"gate": "gate.json"},
    reads=("gate", "paths", "tracking", "training"),
    files=registry_files,
    cacheable=False,  # reads the registry, which other runs change
)
def gate_model(
    cfg: PipelineConfig, out: StepOutput, metrics: StepOutput, split: StepOutput
) -> None:
    """Promote or refuse, with every reason; re-scores production on the same holdout."""
    candidate = metrics.json("metrics")
    registry = open_registry(cfg)
    try:
        current = registry.production()
        production_bytes = registry.load_model(current.version) if current else None
    except OSError as e:  # unreadable registry: name it; a retry cannot fix permissions
        raise storage_error(e, location(cfg)) from None
    production = None
    if current is not None:
        production = {"version": current.version, "sha256": current.sha256, "accuracy": None}
        holdout = split.frame("holdout")
        with contextlib.suppress(DataError):  # other features: recorded as not comparable
            production["accuracy"] = training.accuracy_on(
                production_bytes, holdout, cfg.training.decision_threshold
            )
    promote, reasons = promotion.decide(candidate, production, cfg.gate)
    out.write_json(
        "gate",
        {
            "promote": promote,
            "reasons": reasons,
            "candidate": candidate,
            "production": production,
        },
    )


# -- deployment: staging -> integration test -> production (`mlpipeline.deployment`) ---------
def serving_probe(cfg: PipelineConfig, holdout: pd.DataFrame, offline: dict[str, Any]) -> Probe:
    """The weather model's integration test: probabilities for holdout rows, single-row
    requests, and the holdout accuracy the evaluate step recorded (`offline`)."""
    d, threshold = cfg.deployment, cfg.training.decision_threshold
    X = training.xy(holdout)[0].to_numpy()

    def rescore(model_bytes: bytes) -> float:
        if offline["holdout_rows"] != len(holdout):
            raise DataError(
                f"the holdout has {len(holdout)} rows, the evaluated one {offline['holdout_rows']}"
            )
        return training.accuracy_on(model_bytes, holdout, threshold)

    return Probe(
        smoke=holdout.head(d.smoke_rows),
        score=training.predict_proba,
        bounds=(0.0, 1.0),
        requests=[X[[i % len(X)]] for i in range(d.latency_samples)],
        metric="accuracy",
        rescore=rescore,
        expected=offline["accuracy"],
    )


@step(**deployment.register_model_declaration(WEATHER))
def register_model(
    cfg: PipelineConfig, out: StepOutput, model: StepOutput, metrics: StepOutput, gate: StepOutput
) -> None:
    """Register the model and give it the staging alias, if the gate said so."""
    decision, candidate = gate.json("gate"), metrics.json("metrics")
    result = deployment.stage(
        cfg,
        promote=decision["promote"],
        refused="the gate refused the candidate",
        production=decision["production"],
        candidate_sha256=candidate["model_sha256"],
        model_bytes=lambda: read_model(model),
        record=lambda: {
            "metrics": candidate,
            "data_fingerprint": candidate["data_fingerprint"],
            "params": model.json("meta")["params"],
            "config": cfg.to_params(),
            "run_dir": str(out.path.parent),
        },
    )
    out.write_json("registration", result)


integration_test = deployment.declare_integration_test(WEATHER, serving_probe, reads="training")
# Moves production, compare-and-swap with the production model the gate compared against.
promote_model = deployment.declare_promote_model(WEATHER)
