"""A target on the change, not the value: "the maximum temperature rises tomorrow",
``temp_max[t + 1] - temp_max[t] > 0`` (target.compare = "change"). Every engine must build it,
train on it and produce the mock engine's bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpipeline import engines
from mlpipeline.features import TARGET
from tests.conftest import DATA, config_in
from tests.contract.test_contract import bits

RISES = {
    "target.column": "temp_max",
    "target.compare": "change",
    "target.operator": ">",
    "target.threshold": 0.0,
    "cache.enabled": False,
}


@pytest.fixture(scope="session")
def rises_reference(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("rises-reference")
    cfg = config_in(workdir, **{k.replace(".", "__"): v for k, v in RISES.items()})
    result = engines.load("mock").run_pipeline(cfg, run_id="rises-reference")
    assert result.ok, result.error
    return result


def test_the_value_rises_target_under_every_engine(engine, engine_name, rises_reference, tmp_path):
    cfg = config_in(tmp_path, **{k.replace(".", "__"): v for k, v in RISES.items()})
    result = engine.run_pipeline(cfg, run_id=f"{engine_name}-rises")
    assert result.ok, result.error

    # The target really is "rises": recompute it from the CSV for the rows the features kept.
    frame = result.output("build_features").frame("features")
    raw = pd.read_csv(DATA, parse_dates=["date"], date_format="%Y/%m/%d").set_index("date")
    rises = (raw["temp_max"].shift(-1) > raw["temp_max"]).astype("float64")
    expected = rises.loc[frame["date"]].to_numpy()
    assert np.array_equal(frame[TARGET].to_numpy(), expected)
    assert 0.3 < expected.mean() < 0.7  # both classes, not a constant

    assert bits(result.metrics) == bits(rises_reference.metrics)
    assert result.model_sha256 == rises_reference.model_sha256
    assert result.registration == rises_reference.registration
