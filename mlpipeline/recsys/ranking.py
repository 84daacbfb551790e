"""The ranker: XGBoost learning-to-rank with early stopping, saved as UBJSON with its sha256.

One query group per user. ``rank:ndcg`` optimises the metric the A/B gate judges; early
stopping watches ``ndcg@k`` on a validation slice of users who are not in the training groups,
so the stopping point is chosen on people the trees never saw.

Groups without a positive teach a pairwise/listwise objective nothing (every pair ties), and
XGBoost's ``ndcg@k`` would score them 1 (``ndcg@k-``: 0): both are dropped before fitting, so the
validation metric is the same NDCG the A/B evaluation computes.

Reproducibility: ``hist`` trees, a fixed seed and a fixed thread count give the same bytes for
the same input. The saved model is cut at the best iteration (``booster[: best + 1]``): the
bytes in the registry are exactly the trees that score, with no ``best_iteration`` attribute
for a reader to forget. Nothing is pickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlpipeline.errors import DataError


def with_positives(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the users with at least one positive label, sorted by user (XGBoost wants groups
    contiguous) and then item, so the row order never depends on how the frame was built.

    In numpy, one gather: the frames of `build_features` arrive sorted already (checked, not
    assumed), and a 5M-row pandas groupby, mask and sort cost more than the rest of the
    step's data handling."""
    user, item = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    du, di = np.diff(user), np.diff(item)
    ordered = bool(((du > 0) | ((du == 0) & (di >= 0))).all())
    order = np.arange(len(frame)) if ordered else np.lexsort((item, user))  # stable
    user, label = user[order], frame["label"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if len(user) else order
    has = np.maximum.reduceat(label, starts) > 0 if len(user) else order.astype(bool)
    keep = np.repeat(has, np.diff(np.r_[starts, len(user)]))
    return frame.take(order[keep]).reset_index(drop=True)


def fit(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    *,
    k: int,
    max_rounds: int,
    early_stopping_rounds: int,
    learning_rate: float,
    max_depth: int,
    min_child_weight: float,
    seed: int,
    n_jobs: int,
) -> tuple[bytes, dict[str, Any]]:
    """Fit on `train`, stop on `valid`; return the model bytes and what the fit recorded."""
    train, valid = with_positives(train), with_positives(valid)
    for name, part in (("training", train), ("validation", valid)):
        if part.empty:
            raise DataError(
                f"no {name} user has a positive label: nothing to learn a ranking from",
                where="train_model",
            )
    metric = f"ndcg@{k}"
    model = xgb.XGBRanker(
        objective="rank:ndcg",
        tree_method="hist",
        n_estimators=max_rounds,
        learning_rate=learning_rate,
        max_depth=max_depth,
        min_child_weight=min_child_weight,
        eval_metric=metric,
        early_stopping_rounds=early_stopping_rounds,
        random_state=seed,
        n_jobs=n_jobs,
    )
    model.fit(
        train[features],
        train["label"],
        qid=train["user_id"],
        eval_set=[(valid[features], valid["label"])],
        eval_qid=[valid["user_id"]],
        verbose=False,
    )
    best = int(model.best_iteration)
    history = [float(v) for v in model.evals_result()["validation_0"][metric]]
    booster = model.get_booster()[: best + 1]
    info = {
        "objective": "rank:ndcg",
        "eval_metric": metric,
        "best_iteration": best,
        "best_score": history[best],
        "rounds_run": len(history),
        "stopped_early": len(history) < max_rounds,
        "validation_history": history,
        "train_users": int(train["user_id"].nunique()),
        "train_rows": int(len(train)),
        "valid_users": int(valid["user_id"].nunique()),
        "valid_rows": int(len(valid)),
        "features": list(features),
    }
    return bytes(booster.save_raw(raw_format="ubj")), info


def load(model_bytes: bytes, n_jobs: int = 1) -> xgb.Booster:
    booster = xgb.Booster(params={"nthread": n_jobs})
    booster.load_model(bytearray(model_bytes))
    return booster


def score(model_bytes: bytes, frame: pd.DataFrame, features: list[str], n_jobs: int = 1):
    """Ranking scores for every row of `frame` (higher ranks first). Each row is scored on its
    own, so `n_jobs` changes the time, never the scores."""
    booster = load(model_bytes, n_jobs)
    if booster.feature_names and list(booster.feature_names) != list(features):
        raise DataError(
            f"the model was trained on features {booster.feature_names}, this frame has "
            f"{list(features)}",
            where="evaluate_ab",
        )
    return np.asarray(booster.inplace_predict(frame[features]), dtype=np.float64)
