"""Fuzzing the config loader: any config either loads, with every number finite and in range,
or is refused with a ConfigError naming the key. Nothing else may escape (a TypeError, an
OverflowError, a config that loads with a timeout no engine can honour)."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlpipeline.config import DAY, PipelineConfig, load_config
from mlpipeline.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG


def _keys() -> list[str]:
    """Every section and key, plus a few nested ones (grid entries, a fault)."""
    keys = []
    for name, kind in typing.get_type_hints(PipelineConfig).items():
        keys.append(name)
        if dataclasses.is_dataclass(kind):
            keys += [f"{name}.{f.name}" for f in dataclasses.fields(kind)]
    return [*keys, "tuning.grid.max_depth", "tuning.grid.n_estimators", "faults.tune_model"]


KEYS = _keys()
HOSTILE = [math.inf, -math.inf, math.nan, 1e300, -1e300, 2**63 - 1, -(2**63), 86_401, 2**31]
NUMBERS = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(NUMBERS, st.booleans(), st.text(max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=3))
def test_any_config_loads_or_names_the_key(overrides):
    try:
        cfg = load_config(DEFAULT_CONFIG, overrides)
    except ConfigError as e:
        message = str(e)
        assert any(key in message for key in overrides), (overrides, message)
        assert len(message.splitlines()) < 30  # one screen
        return
    _check_loaded(cfg)
    assert PipelineConfig.from_params(cfg.to_params()) == cfg  # the flat form Airflow gets


def _check_loaded(cfg: PipelineConfig) -> None:
    numbers = list(_numbers(cfg.to_params()))
    assert all(math.isfinite(n) for n in numbers), numbers
    o = cfg.orchestration
    assert 0 < o.task_timeout_seconds <= DAY
    assert o.retry_delay_seconds <= DAY and o.retry_max_delay_seconds <= DAY
    assert cfg.cache.expiration_seconds <= 3650 * 86_400
    assert cfg.data.min_rows <= 10**7 and cfg.training.seed < 2**31


NUMERIC_KEYS = [
    k
    for k in KEYS
    if k.count(".") == 1 and k not in ("data.path", "paths.registry", "paths.artifacts")
]


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_hostile_numbers_in_every_key_load_in_range_or_name_the_key(key):
    """Exhaustive over keys: infinity, NaN and huge values either load in range or are refused."""
    for number in HOSTILE:
        try:
            cfg = load_config(DEFAULT_CONFIG, {key: number})
        except ConfigError as e:
            assert key in str(e), str(e)
        else:
            _check_loaded(cfg)
