import numpy as np
import pandas as pd
import pytest

from mlpipeline import training
from mlpipeline.errors import ConfigError
from mlpipeline.features import TARGET


def frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(float)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df.insert(0, "t", pd.date_range("2020-01-01", periods=n))
    df[TARGET] = y
    return df


def test_split_is_by_time_with_a_gap():
    df = frame(100)
    train, holdout = training.split_by_time(df, 0.2, gap=2)
    assert len(holdout) == 20 and len(train) == 78
    assert train["t"].max() + pd.Timedelta(days=3) == holdout["t"].min()


def test_candidates_have_a_fixed_order(make_config):
    grid = {"n_estimators": [10, 20], "max_depth": [2, 3]}
    assert make_config(tuning__grid=grid).tuning.candidates() == [
        {"max_depth": 2, "n_estimators": 10},
        {"max_depth": 2, "n_estimators": 20},
        {"max_depth": 3, "n_estimators": 10},
        {"max_depth": 3, "n_estimators": 20},
    ]


def test_same_input_same_model_bytes(make_config):
    cfg = make_config()
    params = {"max_depth": 3, "learning_rate": 0.1, "n_estimators": 30}
    a, b = (training.fit(frame(), params, cfg) for _ in range(2))
    assert a == b
    assert a != training.fit(frame(seed=1), params, cfg)


def test_cross_validation_reports_mean_and_spread(make_config):
    result = training.cross_validate(frame(), {"max_depth": 2, "n_estimators": 20}, make_config())
    assert len(result["fold_scores"]) == 3
    assert result["mean"] == pytest.approx(np.mean(result["fold_scores"]))
    assert result["std"] == pytest.approx(np.std(result["fold_scores"]))
    assert 0.5 < result["mean"] <= 1.0  # a learnable signal is learnt


def test_too_many_folds_names_the_key(make_config):
    with pytest.raises(ConfigError, match="tuning.cv_folds = 40 is too many"):
        training.cross_validate(frame(200), {"max_depth": 2}, make_config(tuning__cv_folds=40))


def test_best_candidate_tie_breaks():
    results = [
        {"index": 0, "mean": 0.8, "std": 0.2},
        {"index": 1, "mean": 0.8, "std": 0.1},
        {"index": 2, "mean": 0.8, "std": 0.1},
        {"index": 3, "mean": 0.7, "std": 0.0},
    ]
    assert training.best_candidate(results)["index"] == 1


def test_evaluate_reports_metrics_and_majority_baseline(make_config):
    cfg = make_config()
    df = frame(400)
    train, holdout = training.split_by_time(df, 0.25, gap=1)
    metrics = training.evaluate(training.fit(train, {"max_depth": 2}, cfg), train, holdout, 0.5)
    majority = int(train[TARGET].mean() >= 0.5)
    assert metrics["baseline_accuracy"] == pytest.approx((holdout[TARGET] == majority).mean())
    assert metrics["accuracy"] > metrics["baseline_accuracy"]
    assert 0 <= metrics["roc_auc"] <= 1


def test_single_class_fold_is_a_clear_data_error(make_config):
    from mlpipeline.errors import DataError

    df = frame(200)
    df.loc[100:, TARGET] = 0.0  # the late folds validate on one class only
    with pytest.raises(DataError, match="single class, so tuning.metric = 'roc_auc' is undefined"):
        training.cross_validate(df, {"max_depth": 2, "n_estimators": 5}, make_config())
