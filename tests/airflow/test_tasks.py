"""Task functions called directly through `.function`, with a context built by hand."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_impl import RUN_ID_PARAM
from mlpipeline import artifacts
from mlpipeline.config import PipelineConfig
from mlpipeline.errors import InjectedFault
from mlpipeline.runs import REUSED
from tests.airflow.conftest import load_dag_module
from tests.conftest import DATA, config_in


@pytest.fixture(scope="module")
def dagfile():
    return load_dag_module("ml_pipeline")


def context(cfg, run_id="unit", **extra):
    return {
        "params": {**cfg.to_params(), RUN_ID_PARAM: run_id},
        "dag": SimpleNamespace(dag_id="ml_pipeline"),
        **extra,
    }


def run_config(ctx):
    from airflow_impl.params import run_config

    return run_config(ctx, PipelineConfig)


def test_the_data_interval_end_bounds_the_data_window(make_config):
    end = datetime(2014, 6, 1, tzinfo=UTC)
    cfg, run_dir = run_config(context(make_config(), data_interval_end=end))
    assert cfg.data.as_of == "2014-06-01" and run_dir.name == "unit"
    cfg, _ = run_config(context(make_config(data__as_of="2013-01-01"), data_interval_end=end))
    assert cfg.data.as_of == "2013-01-01"  # an explicit param wins
    cfg, _ = run_config(context(make_config()))  # no logical date: all the data
    assert cfg.data.as_of == ""


def test_a_step_runs_once_then_its_artifact_is_reused(dagfile, make_config):
    cfg = make_config()
    first = dagfile.load_data.function(**context(cfg, "one"))
    assert first.endswith("one/load_data")
    again = dagfile.load_data.function(**context(cfg, "two"))
    assert again == first
    reused = artifacts.read_jsonl(Path(cfg.paths.artifacts) / "two" / REUSED)
    assert [r["step"] for r in reused] == ["load_data"]


def test_reuse_off_recomputes(dagfile, make_config):
    cfg = make_config(cache__enabled=False)
    assert dagfile.load_data.function(**context(cfg, "one")) != dagfile.load_data.function(
        **context(cfg, "two")
    )


def test_bad_data_fails_without_retries(dagfile, make_config, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    bad = tmp_path / "bad.csv"
    shutil.copy(DATA, bad)
    bad.write_text(bad.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
    cfg = make_config(data__path=str(bad))
    raw = dagfile.load_data.function(**context(cfg))
    with pytest.raises(AirflowFailException, match=r"1 row\(s\) missing value \(line 6\)"):
        dagfile.validate_data.function(raw, **context(cfg))


def test_transient_errors_are_left_to_airflow_retries(dagfile, tmp_path):
    cfg = config_in(tmp_path, faults={"load_data": 1})
    with pytest.raises(InjectedFault, match="attempt 1"):
        dagfile.load_data.function(**context(cfg))
    assert dagfile.load_data.function(**context(cfg)).endswith("load_data")
