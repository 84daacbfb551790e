"""The ranker: early stopping, reproducible bytes, UBJSON (no pickle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipeline.errors import DataError
from mlpipeline.recsys import ranking

FEATURES = ["signal", "noise"]
FIT = dict(
    k=10, max_rounds=200, early_stopping_rounds=5, learning_rate=0.3, max_depth=3,
    min_child_weight=1.0, seed=42, n_jobs=1,
)  # fmt: skip


def ranking_frame(users: int, seed: int) -> pd.DataFrame:
    """20 candidates per user; the label follows `signal` through noise, so trees overfit soon."""
    rng = np.random.default_rng(seed)
    n = users * 20
    signal = rng.normal(size=n)
    label = np.digitize(signal + rng.normal(scale=1.5, size=n), [1.0, 2.0, 2.5])
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(users) + seed * 10_000, 20),
            "item_id": np.tile(np.arange(20), users),
            "signal": signal,
            "noise": rng.normal(size=n),
            "label": label,
        }
    )


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return ranking_frame(300, 1), ranking_frame(100, 2)


def test_early_stopping_records_the_best_iteration_and_cuts_the_model_there(frames):
    model, info = ranking.fit(*frames, FEATURES, **FIT)
    best, history = info["best_iteration"], info["validation_history"]
    assert info["stopped_early"] and info["rounds_run"] < FIT["max_rounds"]
    assert info["rounds_run"] == best + 1 + FIT["early_stopping_rounds"]
    assert info["best_score"] == max(history) == history[best]
    assert ranking.load(model).num_boosted_rounds() == best + 1


def test_same_input_same_model_bytes(frames):
    a, _ = ranking.fit(*frames, FEATURES, **FIT)
    shuffled = tuple(f.sample(frac=1.0, random_state=0) for f in frames)
    b, _ = ranking.fit(*shuffled, FEATURES, **FIT)
    assert a == b  # row order does not matter: frames are sorted by user and item
    c, _ = ranking.fit(*frames, FEATURES, **{**FIT, "seed": 7, "max_depth": 4})
    assert c != a


def test_two_threads_and_float32_features_give_the_same_bytes(frames):
    """What lets the pipeline train on `training.n_jobs = 2` and keep float32 feature frames
    (docs/recsys/scale.md): XGBoost's hist trees do not depend on the thread count here, and
    XGBoost casts every input to float32 itself."""
    a, _ = ranking.fit(*frames, FEATURES, **FIT)
    f32 = tuple(f.astype(dict.fromkeys(FEATURES, np.float32)) for f in frames)
    assert ranking.fit(*frames, FEATURES, **{**FIT, "n_jobs": 2})[0] == a
    assert ranking.fit(*f32, FEATURES, **{**FIT, "n_jobs": 2})[0] == a
    assert ranking.fit(*f32, FEATURES, **FIT)[0] == a


def test_model_is_ubjson_and_scores_follow_the_signal(frames):
    model, _ = ranking.fit(*frames, FEATURES, **FIT)
    assert model[:1] == b"{"  # UBJSON object marker, not a pickle (b"\x80")
    valid = frames[1]
    scores = ranking.score(model, valid, FEATURES)
    assert np.corrcoef(scores, valid["signal"])[0, 1] > 0.9


def test_users_without_positives_are_dropped_and_none_at_all_is_an_error(frames):
    train, valid = frames
    silent = train["user_id"] < train["user_id"].min() + 50  # 50 users with no positive
    _, info = ranking.fit(
        train.assign(label=train["label"].where(~silent, 0)), valid, FEATURES, **FIT
    )
    assert info["train_users"] == 250
    with pytest.raises(DataError, match="no validation user has a positive"):
        ranking.fit(train, valid.assign(label=0), FEATURES, **FIT)


def test_scoring_refuses_other_features(frames):
    model, _ = ranking.fit(*frames, FEATURES, **FIT)
    with pytest.raises(DataError, match="trained on features"):
        ranking.score(model, frames[1].rename(columns={"noise": "other"}), ["signal", "other"])
