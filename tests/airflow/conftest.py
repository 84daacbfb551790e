"""Airflow set-up for the tests: one AIRFLOW_HOME in pytest's temporary tree, migrated once.

Airflow reads AIRFLOW_HOME when first imported, so no test module imports it at the top: the
session fixture below chooses the home, then `runner.prepare` imports Airflow and migrates.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from airflow_impl import runner

INSTALLED = importlib.util.find_spec("airflow") is not None
HERE = Path(__file__).parent
# Airflow's in-process execution API is served through starlette's TestClient.
HARMLESS = "ignore:Using `httpx` with `starlette.testclient`:UserWarning"


def pytest_configure(config: pytest.Config) -> None:
    # Here rather than in pyproject.toml: only the airflow environment has Airflow.
    if INSTALLED:
        config.addinivalue_line("filterwarnings", HARMLESS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="apache-airflow is not installed here (run: tox -e airflow)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.airflow)
            # Any other warning from our DAGs or Airflow fails these tests (a deprecation, say).
            item.add_marker(pytest.mark.filterwarnings("error", HARMLESS))
            if not INSTALLED:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Never the user's own Airflow: a fresh home whatever the environment says."""
    home = tmp_path_factory.mktemp("airflow-home")
    if "airflow" not in sys.modules:  # else an earlier test already chose (and migrated) one
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(runner.DAGS)
    return runner.prepare(home)


def load_dag_module(name: str) -> ModuleType:
    """A DAG file imported as a module, to reach its @task objects (`.function`)."""
    spec = importlib.util.spec_from_file_location(f"dagfile_{name}", runner.DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
