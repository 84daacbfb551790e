import dataclasses
from pathlib import Path

import pytest

from mlpipeline.config import PipelineConfig, load_config
from mlpipeline.errors import ConfigError
from tests.conftest import DATA, DEFAULT_CONFIG


def test_default_config_loads_with_absolute_paths():
    cfg = load_config(DEFAULT_CONFIG)
    assert Path(cfg.data.path) == DATA
    assert all(Path(p).is_absolute() for p in dataclasses.asdict(cfg.paths).values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.data.path = "x"  # type: ignore[misc]


def test_params_round_trip_is_lossless():
    cfg = load_config(DEFAULT_CONFIG, {"faults": {"train_model": 2}})
    params = cfg.to_params()
    assert params["features_lags"] == [0, 1, 2, 3, 7]
    assert params["faults"] == {"train_model": 2}
    assert all("." not in k for k in params)
    assert PipelineConfig.from_params(params) == cfg


def test_unknown_parameter_is_refused():
    params = load_config(DEFAULT_CONFIG).to_params() | {"nonsense_key": 1}
    with pytest.raises(ConfigError, match="nonsense_key"):
        PipelineConfig.from_params(params)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"features.lags": [-1]}, "features.lags.0: Input should be greater than or equal to 0"),
        ({"features.windows": [0]}, "features.windows.0"),
        ({"tuning.cv_folds": "4"}, "tuning.cv_folds: Input should be a valid integer"),
        ({"tuning.cv_folds": 1}, "tuning.cv_folds"),
        ({"split.holdout_fraction": 0.9}, "split.holdout_fraction"),
        ({"data.missing": "guess"}, "data.missing"),
        ({"data.colour": "red"}, "data.colour: unknown key"),
        ({"tuning.grid": {"depth": [1]}}, "unknown hyperparameter 'depth'"),
        ({"tuning.grid": {"max_depth": [2.5]}}, "max_depth: 2.5 is not an integer"),
        ({"faults": {"nope": 1}}, "unknown step 'nope'"),
        ({"data.as_of": "yesterday"}, "data.as_of: must be an ISO date"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, override)
    assert message in str(err.value)


def test_all_problems_reported_together():
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, {"features.lags": [-1], "tuning.cv_folds": "x", "gate.foo": 1})
    assert "3 problem(s)" in str(err.value)
