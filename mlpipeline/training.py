"""Splitting, tuning, training and scoring XGBoost models: pure functions on frames.

Reproducibility: `hist` trees, a fixed seed and a fixed thread count give the same model bytes
for the same input (tests/contract checks the sha256 across engines). Models are serialised in
XGBoost's own UBJSON format, never pickled.

Long computations are cancellable: `cancellation.check()` runs between candidates, between CV
folds and after every boosting round (`Checkpoint`), so an attempt its engine gave up on (a
timeout, Ctrl-C) stops within one round instead of burning CPU until it ends. The callback is
not part of the saved model: the bytes are the same with or without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import TimeSeriesSplit

from mlpipeline import cancellation
from mlpipeline.config import PipelineConfig
from mlpipeline.errors import ConfigError, DataError
from mlpipeline.features import TARGET

MIN_FOLD_ROWS = 10  # fewer validation rows per fold than this make CV scores meaningless


def split_by_time(
    frame: pd.DataFrame, holdout_fraction: float, gap: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First rows train, last rows holdout, never shuffled.

    `gap` rows (the target horizon) are dropped between them: a train row's target looks
    `gap` steps ahead, which would otherwise reach into the holdout period.
    """
    n_holdout = max(1, math.ceil(len(frame) * holdout_fraction))
    n_train = len(frame) - n_holdout - gap
    if n_train < 2 * MIN_FOLD_ROWS:
        raise DataError(
            f"{len(frame)} rows leave {n_train} for training after a holdout of "
            f"{n_holdout} (split.holdout_fraction) and a gap of {gap}",
            where="split_data",
        )
    train = frame.iloc[:n_train].reset_index(drop=True)
    holdout = frame.iloc[n_train + gap :].reset_index(drop=True)
    return train, holdout


def xgboost_version() -> str:
    """Read from the module: the distribution is `xgboost-cpu` on Linux, `xgboost` elsewhere."""
    return xgb.__version__


class Checkpoint(xgb.callback.TrainingCallback):
    """Stop boosting as soon as the attempt is abandoned (a checkpoint after every round)."""

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        cancellation.check(f"boosting round {epoch}")
        return False  # never ends training early: the model bytes must not depend on it


def make_model(params: dict[str, Any], cfg: PipelineConfig) -> xgb.XGBClassifier:
    return xgb.XGBClassifier(
        **params,
        tree_method="hist",
        random_state=cfg.training.seed,
        n_jobs=cfg.training.n_jobs,
        eval_metric="logloss",
        callbacks=[Checkpoint()],
    )


def xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    features = frame.drop(columns=[TARGET]).select_dtypes("number")
    return features, frame[TARGET].to_numpy(dtype=np.int64)


def score(metric: str, y_true: np.ndarray, proba: np.ndarray, threshold: float) -> float | None:
    pred = (proba >= threshold).astype(np.int64)
    if metric == "roc_auc":
        return float(roc_auc_score(y_true, proba)) if len(np.unique(y_true)) == 2 else None
    if metric == "accuracy":
        return float(accuracy_score(y_true, pred))
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y_true, pred))
    if metric == "f1":
        return float(f1_score(y_true, pred, zero_division=0))
    raise ValueError(metric)


def check_folds(n_rows: int, folds: int, gap: int) -> None:
    per_fold = (n_rows - gap) // (folds + 1)
    if per_fold < MIN_FOLD_ROWS:
        raise ConfigError(
            f"tuning.cv_folds = {folds} is too many for {n_rows} training rows: "
            f"each fold would validate on {per_fold} (at least {MIN_FOLD_ROWS})",
            where="tune_model",
        )


def cross_validate(
    train: pd.DataFrame, params: dict[str, Any], cfg: PipelineConfig
) -> dict[str, Any]:
    """Score one candidate with TimeSeriesSplit (expanding window, `horizon` gap)."""
    gap = cfg.target.horizon
    check_folds(len(train), cfg.tuning.cv_folds, gap)
    X, y = xy(train)
    scores = []
    for fit_idx, val_idx in TimeSeriesSplit(n_splits=cfg.tuning.cv_folds, gap=gap).split(X):
        cancellation.check("before a CV fold")  # also between candidates: each starts here
        if len(np.unique(y[fit_idx])) < 2:
            raise DataError(
                "a CV training fold holds a single class; use fewer folds "
                "(tuning.cv_folds) or more data",
                where="tune_model",
            )
        model = make_model(params, cfg).fit(X.iloc[fit_idx], y[fit_idx])
        s = score(
            cfg.tuning.metric,
            y[val_idx],
            model.predict_proba(X.iloc[val_idx])[:, 1],
            cfg.training.decision_threshold,
        )
        if s is None:  # ROC AUC is undefined on a fold holding one class
            raise DataError(
                f"a CV validation fold holds a single class, so tuning.metric = "
                f"{cfg.tuning.metric!r} is undefined; use fewer folds (tuning.cv_folds), "
                "more data, or another metric",
                where="tune_model",
            )
        scores.append(s)
    return {
        "params": params,
        "metric": cfg.tuning.metric,
        "fold_scores": scores,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
    }


def best_candidate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Highest mean; ties go to the smaller spread, then to the earlier candidate."""
    return min(results, key=lambda r: (-r["mean"], r["std"], r["index"]))


def fit(train: pd.DataFrame, params: dict[str, Any], cfg: PipelineConfig) -> bytes:
    X, y = xy(train)
    model = make_model(params, cfg).fit(X, y)
    return bytes(model.get_booster().save_raw(raw_format="ubj"))


def load_booster(model_bytes: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(model_bytes))
    return booster


def predict_proba(model_bytes: bytes, frame: pd.DataFrame) -> np.ndarray:
    booster = load_booster(model_bytes)
    X, _ = xy(frame)
    if booster.feature_names and list(X.columns) != list(booster.feature_names):
        raise DataError("the model was trained on other features than this data has")
    return booster.inplace_predict(X)


def evaluate(
    model_bytes: bytes, train: pd.DataFrame, holdout: pd.DataFrame, threshold: float
) -> dict[str, Any]:
    """Holdout metrics, and the majority-class baseline (majority class of the train rows)."""
    _, y = xy(holdout)
    proba = predict_proba(model_bytes, holdout)
    majority = int(np.bincount(xy(train)[1], minlength=2).argmax())
    return {
        "accuracy": score("accuracy", y, proba, threshold),
        "balanced_accuracy": score("balanced_accuracy", y, proba, threshold),
        "f1": score("f1", y, proba, threshold),
        "roc_auc": score("roc_auc", y, proba, threshold),
        "baseline_accuracy": float(np.mean(y == majority)),
        "baseline_class": majority,
        "holdout_rows": int(len(y)),
        "holdout_positive_rate": float(np.mean(y)),
    }


def accuracy_on(model_bytes: bytes, holdout: pd.DataFrame, threshold: float) -> float:
    _, y = xy(holdout)
    return score("accuracy", y, predict_proba(model_bytes, holdout), threshold)


# Seconds per boosting round per (row x feature), measured on the weather data (6 candidates x 4
# folds + 1 fits of 100 rounds, ~1,100 rows x 64 features: about 1.5 s on an idle core, 12.6 s
# at a load average of 10). Depth, data and load move it several-fold: the estimate only says
# whether to expect seconds, minutes or hours.
SECONDS_PER_ROUND_CELL = 8.5e-9
DEFAULT_ROUNDS = 100  # XGBoost's n_estimators when the grid does not set it


@dataclass(frozen=True)
class WorkPlan:
    """How much training a config asks for: what the CLI announces before it starts."""

    candidates: int
    folds: int
    fits: int  # candidates x folds + the final fit
    rounds: int  # boosting rounds over all fits
    seconds: float | None  # rough; None when the data file cannot be sized

    def describe(self) -> str:
        text = (
            f"{self.candidates} candidate(s) x {self.folds} folds + 1 final fit = {self.fits} fits"
        )
        if self.seconds is not None:
            text += f", roughly {_duration(self.seconds)}"
        return text


def plan(cfg: PipelineConfig) -> WorkPlan:
    grid = cfg.tuning.candidates()
    folds = cfg.tuning.cv_folds
    rounds = sum(int(c.get("n_estimators", DEFAULT_ROUNDS)) for c in grid) * (folds + 1)
    try:
        with open(cfg.data.path, "rb") as f:
            rows = max(0, sum(1 for _ in f) - 1)
    except OSError:
        rows = None  # load_data reports it
    spec = cfg.features
    per_column = len(spec.lags) + len(spec.windows) * len(spec.stats)
    cells = None if rows is None else rows * 0.8 * len(cfg.data.feature_columns) * per_column
    seconds = None if cells is None else rounds * cells * SECONDS_PER_ROUND_CELL  # 0.8: train
    return WorkPlan(len(grid), folds, len(grid) * folds + 1, rounds, seconds)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
