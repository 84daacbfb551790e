"""Candidates, features and the time protocol: nothing from a later day leaks in."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from mlpipeline.errors import DataError
from mlpipeline.recsys import features

DAY = date(2026, 3, 5)
SIZES = features.CandidateSizes(own=5, cooc=5, popular=5, neighbours_per_item=5)
BUILD = dict(history_days=3, validation_percent=30, seed=1, sizes=SIZES)


def events(seed: int = 0, days: int = 5, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        day = pd.Timestamp(DAY) - pd.Timedelta(days=days - 1 - i)
        rows.append(
            pd.DataFrame(
                {
                    "user_id": rng.integers(0, 200, n),
                    "item_id": (rng.pareto(1.5, n) * 10).astype(int) % 150,
                    "ts": day + pd.to_timedelta(rng.uniform(0, 86_400, n), unit="s"),
                    "event_type": rng.choice(["view", "click", "purchase"], n, p=[0.8, 0.15, 0.05]),
                    "day": day,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_the_evaluation_day_changes_labels_only_never_features():
    base = events()
    later = base.copy()
    on_day = later["day"] == pd.Timestamp(DAY)
    later.loc[on_day, "event_type"] = "purchase"  # the held-out day, rewritten
    train_a, eval_a, _ = features.build(base, DAY, **BUILD)
    train_b, eval_b, _ = features.build(later, DAY, **BUILD)
    pd.testing.assert_frame_equal(train_a, train_b)  # training never sees day D
    pd.testing.assert_frame_equal(eval_a[features.FEATURES], eval_b[features.FEATURES])
    assert (eval_b["label"] >= eval_a["label"]).all() and not eval_a["label"].equals(
        eval_b["label"]
    )


def test_a_late_event_belongs_to_the_day_it_landed():
    ev = events()
    late = pd.DataFrame(
        {
            "user_id": [7],
            "item_id": [149],
            "ts": [pd.Timestamp(DAY) - pd.Timedelta(hours=1)],  # happened on D-1 ...
            "event_type": ["purchase"],
            "day": [pd.Timestamp(DAY)],  # ... landed with D
        }
    )
    _, evaluation, _ = features.build(pd.concat([ev, late]), DAY, **BUILD)
    _, plain, _ = features.build(ev, DAY, **BUILD)
    pd.testing.assert_frame_equal(evaluation[features.FEATURES], plain[features.FEATURES])


def test_validation_users_are_a_fixed_slice_disjoint_from_training():
    train, _, info = features.build(events(), DAY, **BUILD)
    per_user = train.groupby("user_id")["valid"].nunique()
    assert (per_user == 1).all()  # a user is in one slice, never both
    share = train.groupby("user_id")["valid"].first().mean()
    assert 0.15 < share < 0.45 and info["train"]["valid_users"] > 0
    ids = pd.Series(np.arange(1000))
    assert features.validation_users(ids, 30, 1).equals(features.validation_users(ids, 30, 1))


def test_candidates_come_from_all_three_sources_and_labels_are_graded():
    train, _, _ = features.build(events(), DAY, **BUILD)
    assert train[["src_own", "src_cooc", "src_popular"]].any().all()
    assert set(train["label"].unique()) <= {0, 1, 2, 3} and train["label"].max() == 3
    assert not train.duplicated(["user_id", "item_id"]).any()
    assert (train.groupby("user_id").size() <= 15).all()


def test_no_history_is_a_clear_error():
    ev = events(days=2)
    with pytest.raises(DataError, match="no events in the 3 day"):
        features.build(ev[ev["day"] == pd.Timestamp(DAY)], DAY, **BUILD)


def test_the_array_helpers_agree_with_the_plain_numpy_and_pandas_they_replace():
    rng = np.random.default_rng(3)
    group = np.sort(rng.integers(0, 50, 5000))
    value = rng.integers(0, 20, 5000)  # many ties: they must stay in row order
    assert (features._by_group_desc(group, value) == np.lexsort((-value, group))).all()
    key, score = rng.integers(0, 10**6, 5000), rng.integers(0, 100, 5000)
    order = np.lexsort((score, key))
    k, s = features._sort_pairs(key, score)
    assert (k == key[order]).all() and (s == score[order]).all()
    # Hours since, to the last bit, as pandas' Timedelta.total_seconds() / 3600 gives them.
    cutoff = 8 * 86_400_000_000
    # 823741422 us: one of the spans where a plain division by 1e6 misses pandas' last bit.
    ts = np.append(rng.integers(0, 7 * 86_400_000_000, 5000), cutoff - 823_741_422)
    expected = (pd.Timestamp(cutoff, unit="us") - pd.to_datetime(ts, unit="us")).total_seconds()
    assert (features._hours(cutoff, ts) == expected.to_numpy() / 3600.0).all()
