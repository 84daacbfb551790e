"""Feature engineering: lags and rolling statistics computed only from the past.

A feature at time t uses values at t and before, never after (tests/steps/test_features.py
perturbs the future and checks no feature moves). The target looks `horizon` steps ahead.
"""

from __future__ import annotations

import operator

import pandas as pd

from mlpipeline.config import FeaturesConfig, TargetConfig

TARGET = "target"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def make_target(values: pd.Series, target: TargetConfig) -> pd.Series:
    """1.0/0.0 where ``value[t + horizon] <op> threshold``; NaN where t + horizon is unknown."""
    future = values.shift(-target.horizon)
    return _OPS[target.operator](future, target.threshold).astype("float64").where(future.notna())


def feature_frame(df: pd.DataFrame, columns: tuple[str, ...], spec: FeaturesConfig) -> pd.DataFrame:
    """One column per (column, lag) and per (column, window, stat); rows in time order."""
    out: dict[str, pd.Series] = {}
    for col in columns:
        x = df[col]
        for lag in spec.lags:
            out[f"{col}_lag{lag}"] = x.shift(lag)
        for window in spec.windows:
            # Trailing window ending at t (inclusive): only values already known at t.
            rolling = x.rolling(window, min_periods=window)
            for stat in spec.stats:
                out[f"{col}_roll{window}_{stat}"] = getattr(rolling, stat)()
    return pd.DataFrame(out, index=df.index)


def build(
    df: pd.DataFrame,
    time_column: str,
    columns: tuple[str, ...],
    target_column: str,
    spec: FeaturesConfig,
    target: TargetConfig,
) -> pd.DataFrame:
    """Time, features and target; rows without a full history or a known target are dropped."""
    feats = feature_frame(df, columns, spec)
    frame = pd.concat([df[[time_column]], feats], axis=1)
    frame[TARGET] = make_target(df[target_column], target)
    return frame.dropna().reset_index(drop=True)
