"""The statistics study's own machinery (benchmarks/bench_recsys_stats.py), on tiny inputs.

The study itself (hundreds of repetitions) runs as a benchmark, not here; these tests keep its
parts honest: the fast dense NDCG is the A/B test's NDCG, the planted null is a null, the
binomial interval is right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_recsys_stats as study
from mlpipeline.recsys import abtest


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    users, per = 400, 12
    n = users * per
    affinity = rng.normal(size=n)
    label = np.digitize(affinity + rng.normal(size=n), [1.0, 1.8, 2.4])
    f = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), per),
            "item_id": np.tile(np.arange(per), users),
            "label": label,
            "base": rng.normal(size=n) + 0.3 * affinity,
        }
    )
    f["n_relevant"] = f.groupby("user_id")["label"].transform(lambda s: int((s > 0).sum()))
    f["affinity"] = affinity
    return f


def test_dense_ndcg_equals_the_ab_tests_ndcg(frame):
    pool = study.dense_pool(frame, frame["affinity"].to_numpy(), k=10)
    idx = np.arange(pool.users)
    fast = study.ndcg(pool, idx, pool.base, 10)
    reference = abtest.per_user_metrics(frame, "base", 10)["ndcg"].dropna().to_numpy()
    assert pool.users == len(reference) < frame["user_id"].nunique()  # no-positive users dropped
    np.testing.assert_allclose(fast, reference, rtol=1e-12)


def test_planted_null_has_no_effect_and_a_planted_share_has_one(frame):
    pool = study.dense_pool(frame, frame["affinity"].to_numpy(), k=10)
    null = study.true_effect(pool, 0.0, 1.0, 10, draws=20, seed=1)
    planted = study.true_effect(pool, 0.5, 1.0, 10, draws=20, seed=1)
    assert abs(null) < 0.01 < planted
    lam, curve = study.calibrate(pool, [0.0, planted / 2], 1.0, 10, draws=4, seed=1)
    assert lam[0.0] == 0.0 and 0.0 < lam[planted / 2] < 0.5
    assert curve[0]["lambda"] == 0.0


def test_wilson_interval_matches_known_values():
    low, high = study.wilson(10, 200)  # 5%: 2.7% to 9.0% (Wilson, 95%)
    assert low == pytest.approx(0.0274, abs=5e-4) and high == pytest.approx(0.0898, abs=5e-4)
    assert study.wilson(0, 50)[0] == 0.0 and study.wilson(50, 50) == pytest.approx(
        (0.9287, 1.0), abs=5e-4
    )


def test_markdown_table_has_a_row_per_effect():
    cell = {"rate": 0.05, "low": 0.03, "high": 0.09}
    result = {
        "cells": [{"users": n, "effect": t, **cell} for n in (100, 200) for t in (0.0, 0.01)],
        "headline": [],
    }
    lines = study.table(result).splitlines()
    assert len(lines) == 4 and lines[0] == "| true NDCG@10 gain | 100 users | 200 users |"
