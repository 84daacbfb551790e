"""Feature engineering: lags and rolling statistics computed only from the past.

A feature at time t uses values at t and before, never after (tests/steps/test_features.py
perturbs the future and checks no feature moves). The target looks `horizon` steps ahead.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from mlpipeline.config import FeaturesConfig, TargetConfig
from mlpipeline.errors import DataError

TARGET = "target"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# Fewer rows than this after the lags, windows and horizon leave nothing to split and tune on.
MIN_FEATURE_ROWS = 30


def make_target(values: pd.Series, target: TargetConfig) -> pd.Series:
    """1.0/0.0 where ``value[t + horizon] <op> threshold`` (or, with ``compare = "change"``,
    ``value[t + horizon] - value[t] <op> threshold``); NaN where either value is unknown."""
    future = values.shift(-target.horizon)
    compared = future - values if target.compare == "change" else future
    return (
        _OPS[target.operator](compared, target.threshold).astype("float64").where(compared.notna())
    )


def history_rows(spec: FeaturesConfig) -> int:
    """Rows before t that the features of row t read: the longest lag or trailing window."""
    return max(max(spec.lags, default=0), max(spec.windows, default=1) - 1)


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
    """Time, features and target; rows without a full history or a known target are dropped.

    Refuses, naming the keys, lags and windows that leave too few rows, and features that are
    not finite (a rolling std of huge values overflows to inf).
    """
    need = history_rows(spec)
    if len(df) - need - target.horizon < MIN_FEATURE_ROWS:
        raise DataError(
            f"features.lags (largest {max(spec.lags, default=0)}) and features.windows "
            f"(largest {max(spec.windows, default=0)}) leave too few rows: each row needs "
            f"{need} earlier row(s), and target.horizon = {target.horizon} later one(s), so "
            f"{len(df)} row(s) leave {max(0, len(df) - need - target.horizon)}, at least "
            f"{MIN_FEATURE_ROWS} needed; use shorter lags and windows or more data",
            where="build_features",
        )
    feats = feature_frame(df, columns, spec)
    # The input has no missing values (validate_data applied data.missing), so past the first
    # `need` rows a feature that is not finite overflowed (a rolling std of 1e308s is NaN).
    overflow = [c for c in feats if not np.isfinite(feats[c].iloc[need:].to_numpy()).all()]
    if overflow:
        raise DataError(
            f"feature(s) {', '.join(overflow)} overflow (inf or NaN): the input values are too "
            "large for these statistics (features.stats)",
            where="build_features",
        )
    frame = pd.concat([df[[time_column]], feats], axis=1)
    frame[TARGET] = make_target(df[target_column], target)
    return frame.dropna().reset_index(drop=True)
