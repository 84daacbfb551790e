"""The A/B statistics on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipeline.recsys import abtest


def frame(labels: list[list[int]], scores: dict[str, list[list[float]]]) -> pd.DataFrame:
    """One row per (user, candidate); n_relevant counts each user's positives."""
    rows = []
    for u, user_labels in enumerate(labels):
        for i, label in enumerate(user_labels):
            row = {"user_id": u, "item_id": i, "label": label}
            row.update({name: s[u][i] for name, s in scores.items()})
            rows.append(row)
    df = pd.DataFrame(rows)
    df["n_relevant"] = df.groupby("user_id")["label"].transform(lambda s: int((s > 0).sum()))
    return df


def test_ndcg_and_recall_by_hand():
    df = frame([[0, 3, 1]], {"s": [[3.0, 2.0, 1.0]]})  # ranks: item0 (0), item1 (3), item2 (1)
    m = abtest.per_user_metrics(df, "s", k=2)
    dcg = (2**3 - 1) / np.log2(3)
    idcg = (2**3 - 1) / np.log2(2) + (2**1 - 1) / np.log2(3)
    assert m.loc[0, "ndcg"] == pytest.approx(dcg / idcg)
    assert m.loc[0, "recall"] == pytest.approx(1 / 2)  # one of two relevant items in the top 2


def test_score_ties_are_broken_by_item_id_not_row_order():
    df = frame([[1, 0, 0]], {"s": [[0.0, 0.0, 0.0]]})
    shuffled = df.sample(frac=1.0, random_state=3)
    a = abtest.per_user_metrics(df, "s", k=1)
    b = abtest.per_user_metrics(shuffled, "s", k=1)
    assert a.equals(b) and a.loc[0, "ndcg"] == 1.0


def test_the_packed_sort_ranks_as_pandas_sort_values_does():
    """`_ranked`'s fast path (rows sorted by user and item) and its lexsort fallback (any
    order) give pandas' order by (user, score descending, item), ties and float32 included."""
    rng = np.random.default_rng(5)
    n = 200 * 30
    df = pd.DataFrame(
        {
            "user_id": np.repeat(rng.choice(10_000, 200, replace=False), 30),
            "item_id": np.tile(rng.choice(1_000, 30, replace=False), 200),
            "s": rng.integers(0, 8, n).astype(np.float32),  # many ties
            "label": rng.integers(0, 4, n),
            "n_relevant": 5,
        }
    ).sort_values(["user_id", "item_id"], ignore_index=True)
    expected = df.sort_values(["user_id", "s", "item_id"], ascending=[True, False, True]).index
    shuffled = df.sample(frac=1.0, random_state=1)
    for f in (df, shuffled):
        order, rank = abtest._ranked(f, "s")
        assert (f.index.to_numpy()[order] == expected).all()
        assert (rank == df.loc[expected].groupby("user_id").cumcount().to_numpy()).all()
    pd.testing.assert_frame_equal(
        abtest.per_user_metrics(df, "s"), abtest.per_user_metrics(shuffled, "s"), check_exact=True
    )


def test_users_without_positives_are_excluded_and_counted():
    df = frame([[1, 0], [0, 0]], {"a": [[1, 0], [1, 0]], "b": [[0, 1], [0, 1]]})
    m = abtest.per_user_metrics(df, "a", k=10)
    assert np.isnan(m.loc[1, "ndcg"]) and np.isnan(m.loc[1, "recall"])
    r = abtest.compare(
        df, candidate="a", production="b", k=1, n_items=2, n_bootstrap=100,
        n_permutations=100, seed=0,
    )  # fmt: skip
    assert r["users_evaluated"] == 1 and r["users_without_positives"] == 1
    assert r["ndcg"]["difference"]["n"] == 1


def test_identical_models_interval_straddles_zero_and_p_is_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(300, 20)).tolist()
    s = rng.normal(size=(300, 20)).tolist()
    df = frame(labels, {"a": s, "b": s})
    r = abtest.compare(
        df, candidate="a", production="b", k=10, n_items=20, n_bootstrap=500,
        n_permutations=500, seed=1,
    )  # fmt: skip
    d = r["ndcg"]["difference"]
    assert d["mean"] == 0.0 and d["ci"][0] <= 0.0 <= d["ci"][1] and d["p_value"] == 1.0


def test_null_differences_are_not_significant_and_a_shift_is():
    rng = np.random.default_rng(5)
    null = rng.normal(0.0, 0.2, size=2000)
    r = abtest.paired_test(null - null.mean(), n_bootstrap=1000, n_permutations=1000, seed=2)
    assert r["lower"] < 0.0 < r["ci"][1] and r["p_value"] > 0.3
    shifted = null - null.mean() + 0.05  # 0.05 / (0.2 / sqrt(2000)) = 11 standard errors
    r = abtest.paired_test(shifted, n_bootstrap=1000, n_permutations=1000, seed=2)
    assert r["lower"] > 0.04 and r["p_value"] == pytest.approx(1 / 1001)
    assert r["detectable_effect"] == pytest.approx(2.486 * 0.2 / np.sqrt(2000), rel=0.05)


def test_resampling_is_seeded_and_chunking_does_not_change_it(monkeypatch):
    d = np.random.default_rng(9).normal(size=500)
    a = abtest.paired_test(d, n_bootstrap=300, n_permutations=300, seed=4)
    assert a == abtest.paired_test(d, n_bootstrap=300, n_permutations=300, seed=4)
    assert a != abtest.paired_test(d, n_bootstrap=300, n_permutations=300, seed=5)
    monkeypatch.setattr(abtest, "CHUNK", 7 * 500)  # batches of 7 resamples instead of all
    assert a == abtest.paired_test(d, n_bootstrap=300, n_permutations=300, seed=4)


def test_coverage_counts_distinct_items_in_top_k():
    df = frame([[1, 0, 0], [0, 1, 0]], {"s": [[3, 2, 1], [3, 2, 1]]})
    assert abtest.coverage(df, "s", k=1, n_items=10) == pytest.approx(0.1)
    assert abtest.coverage(df, "s", k=2, n_items=10) == pytest.approx(0.2)
