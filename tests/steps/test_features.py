import numpy as np
import pandas as pd
import pytest

from mlpipeline import features
from mlpipeline.config import FeaturesConfig, TargetConfig


def frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": pd.date_range("2020-01-01", periods=n),
            "x": rng.normal(size=n),
            "y": rng.exponential(size=n),
        }
    )


SPEC = FeaturesConfig(lags=(0, 1, 3), windows=(2, 5), stats=("mean", "std", "min", "max"))
TARGET = TargetConfig(column="y", horizon=2, operator=">", threshold=1.0)


def test_columns_and_values():
    df = frame()
    out = features.feature_frame(df, ("x",), SPEC)
    assert list(out.columns) == ["x_lag0", "x_lag1", "x_lag3"] + [
        f"x_roll{w}_{s}" for w in (2, 5) for s in ("mean", "std", "min", "max")
    ]
    assert out["x_lag3"].iloc[10] == df["x"].iloc[7]
    assert out["x_roll5_max"].iloc[10] == df["x"].iloc[6:11].max()
    assert out["x_roll2_std"].iloc[10] == pytest.approx(df["x"].iloc[9:11].std())


def test_target_looks_ahead_by_horizon():
    df = frame()
    target = features.make_target(df["y"], TARGET)
    assert target.iloc[5] == float(df["y"].iloc[7] > 1.0)
    assert target.iloc[-2:].isna().all()


@pytest.mark.parametrize("t", [10, 30, 59])
def test_no_feature_at_t_uses_data_after_t(t):
    """Scramble every value after t: no feature at or before t may change."""
    df = frame()
    future = df.copy()
    future.loc[t + 1 :, ["x", "y"]] = (
        np.random.default_rng(1).normal(size=(len(df) - t - 1, 2)) * 100
    )
    before = features.feature_frame(df, ("x", "y"), SPEC).iloc[: t + 1]
    after = features.feature_frame(future, ("x", "y"), SPEC).iloc[: t + 1]
    pd.testing.assert_frame_equal(before, after)


def test_build_drops_incomplete_rows():
    out = features.build(frame(), "t", ("x", "y"), "y", SPEC, TARGET)
    assert len(out) == 60 - 4 - 2  # longest history (window 5) and the horizon
    assert not out.isna().any().any()
    assert set(out[features.TARGET]) <= {0.0, 1.0}


def test_change_target_compares_with_the_current_value():
    df = frame()
    rises = TargetConfig(column="y", horizon=2, operator=">", threshold=0.0, compare="change")
    target = features.make_target(df["y"], rises)
    assert target.iloc[5] == float(df["y"].iloc[7] > df["y"].iloc[5])
    assert target.iloc[-2:].isna().all()
    by_half = TargetConfig(column="y", horizon=1, operator=">=", threshold=0.5, compare="change")
    change = df["y"].shift(-1) - df["y"]
    expected = (change >= 0.5).astype(float).where(change.notna())
    pd.testing.assert_series_equal(features.make_target(df["y"], by_half), expected)


@pytest.mark.parametrize(
    "spec",
    [
        FeaturesConfig(lags=(0, 10_000), windows=(3,)),
        FeaturesConfig(lags=(0,), windows=(59,)),
    ],
    ids=["huge-lag", "huge-window"],
)
def test_lags_and_windows_leaving_too_few_rows_name_the_keys(spec):
    with pytest.raises(features.DataError) as e:
        features.build(frame(), "t", ("x", "y"), "y", spec, TARGET)
    msg = str(e.value)
    assert msg.startswith("build_features: ")
    assert "features.lags" in msg and "features.windows" in msg
    assert "leave too few rows" in msg and "60 row(s) leave 0, at least 30 needed" in msg


def test_features_overflowing_to_infinity_are_refused():
    df = frame()
    df.loc[20:, "x"] = 1e308 * np.where(np.arange(40) % 2, 1, -1)  # finite, but std overflows
    with pytest.raises(features.DataError, match=r"x_roll5_std.*overflow"):
        features.build(df, "t", ("x", "y"), "y", SPEC, TARGET)
