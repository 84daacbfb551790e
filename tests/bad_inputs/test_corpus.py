"""Every bad input gets a clear error from the right step and changes nothing.

Config cases are refused before any engine runs, so they are checked once, here. The CSV cases
run here under the mock engine, and under Airflow and Prefect through `check_csv_case`, called
from tests/airflow and tests/prefect (the environments that have those engines).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlpipeline.alerts import read_alerts
from mlpipeline.config import load_config
from mlpipeline.errors import ConfigError
from mlpipeline.runs import RunResult
from mock_impl.runner import run_pipeline
from tests.conftest import config_in, tree_digest

HERE = Path(__file__).parent
CASES = tomllib.loads((HERE / "cases.toml").read_text())
PARAMS = [
    pytest.param(kind, name, case, id=name)
    for kind in ("csv", "config")
    for name, case in CASES[kind].items()
]
CSV_CASES = [pytest.param(name, case, id=name) for name, case in CASES["csv"].items()]
# Under Airflow and Prefect (each case is a whole run, seconds each): one case per step that
# refuses and per kind of report, so the engines' paths are covered within the test budget; the
# mock engine runs every case above.
ENGINE_CSV_CASES = [
    p
    for p in CSV_CASES
    if p.id in ("empty.csv", "latin1.csv", "many_problems.csv", "infinite_values.csv")
]


def check_csv_case(
    run_pipeline: Callable[..., RunResult],
    name: str,
    case: dict,
    workdir: Path,
    registry: Path,
    console: pytest.CaptureFixture,
) -> None:
    """One bad CSV under one engine: refused by the right step at the first attempt, one alert,
    the message expected, the registry byte-for-byte unchanged, no traceback on the console."""
    before = tree_digest(registry)
    cfg = config_in(workdir, data__path=str(HERE / "csv" / name), paths__registry=str(registry))
    result = run_pipeline(cfg, run_id=f"bad-{result_id(name)}")
    assert not result.ok and result.failed_step == case["step"], result.error
    assert result.tasks[case["step"]].attempts == 1  # bad input is never retried
    for text in case["expect"]:
        assert text in result.error
    alerts = read_alerts(workdir / "alerts.jsonl")
    assert [a["step"] for a in alerts] == [case["step"]]
    assert tree_digest(registry) == before
    out, err = console.readouterr()
    assert "Traceback" not in out + err, (out + err)[-2000:]


def result_id(name: str) -> str:
    return name.removesuffix(".csv").replace("_", "-")


def test_corpus_is_complete():
    assert len(PARAMS) >= 20
    on_disk = {p.name for kind in ("csv", "config") for p in (HERE / kind).iterdir()}
    assert on_disk == {name for _, name, _ in (p.values for p in PARAMS)} - {"no_such_file.csv"}


@pytest.mark.parametrize(("kind", "name", "case"), PARAMS)
def test_bad_input(kind, name, case, tmp_path, registry_copy):
    before = tree_digest(registry_copy)
    outputs = {
        "paths.registry": str(registry_copy),
        "paths.artifacts": str(tmp_path / "runs"),
        "paths.cache": str(tmp_path / "cache"),
        "alerts.log": str(tmp_path / "alerts.jsonl"),
        "orchestration.retry_delay_seconds": 0.0,
    }
    if kind == "csv":
        cfg, error = (
            config_in(
                tmp_path, data__path=str(HERE / "csv" / name), paths__registry=str(registry_copy)
            ),
            None,
        )
    else:
        try:
            cfg, error = load_config(HERE / "config" / name, outputs), None
        except ConfigError as e:
            cfg, error = None, str(e)
    if case["step"] == "config":
        assert cfg is None, f"{name} was accepted"
        assert str(HERE / "config" / name) in error  # the message names the file
    else:
        assert cfg is not None, error
        result = run_pipeline(cfg, run_id="bad")
        assert not result.ok and result.failed_step == case["step"]
        assert result.tasks[case["step"]].attempts == 1  # bad input is never retried
        error = result.error
        alerts = read_alerts(tmp_path / "alerts.jsonl")
        assert [a["step"] for a in alerts] == [case["step"]]
    for text in case["expect"]:
        assert text in error
    assert tree_digest(registry_copy) == before
