"""The contract every engine must meet, run against each engine installed here.

In the `mock` tox environment the Airflow and Prefect rows are skipped (their packages are not
installed there); `tox -e airflow` and `tox -e prefect` run them, each beside the mock engine,
which provides the reference outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipeline import engines
from mlpipeline.runs import RunResult
from tests.conftest import config_in


def _engine_param(name: str):
    engine = engines.ENGINES[name]
    # The mock row runs in the environment without an orchestrator; in Airflow's and Prefect's
    # it would repeat the same runs (the mock engine stays their reference, as a fixture).
    elsewhere = name == "mock" and engines.available() != ["mock"]
    missing = f"{name} is not installed in this environment (run: tox -e {engine.tox_env})"
    return pytest.param(
        name,
        id=name,
        marks=[
            pytest.mark.skipif(not engines.is_available(name), reason=missing),
            pytest.mark.skipif(elsewhere, reason="the mock row runs in `tox -e mock`"),
        ],
    )


@pytest.fixture(scope="session", params=[_engine_param(n) for n in engines.ENGINES])
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def engine(engine_name: str):
    return engines.load(engine_name)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The mock engine's run on the same data, config and seed: what every engine must match.
    Its config is `first_run`'s (a fresh work directory's cache is empty, so it computes every
    step): the tracking contract compares the params too."""
    workdir = tmp_path_factory.mktemp("reference")
    result = engines.load("mock").run_pipeline(config_in(workdir), run_id="reference")
    assert result.ok, result.error
    return result


@pytest.fixture(scope="session")
def first_run(engine, engine_name: str, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir: Path = tmp_path_factory.mktemp(f"{engine_name}-runs")
    return engine.run_pipeline(config_in(workdir), run_id=f"{engine_name}-first")


@pytest.fixture(scope="session")
def tracking_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow store for the session's tracking checks: its tables are created once."""
    return tmp_path_factory.mktemp("tracking") / "mlflow"
