"""The main job's command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlpipeline import engines
from mlpipeline.paths import ROOT
from tests.conftest import DEFAULT_CONFIG


def cli(*args: str, cwd=ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m mlpipeline` as a user runs it: without this test session's engine settings
    (but those in `env`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFECT_"))}
    return subprocess.run(
        [sys.executable, "-m", "mlpipeline", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "COLUMNS": "120", **(env or {})},
    )


def outputs(tmp_path) -> list[str]:
    """Every output under `tmp_path`; the small config's latency budget (200 ms, not 50): the
    test command shares 2 cores among its environments, and a descheduled process stretched
    a 0.3 ms prediction's p99 to 59 ms (a CLI run under load, 30 November)."""
    return [
        f"--set=paths.{k}={json.dumps(str(tmp_path / k))}"
        for k in ("registry", "artifacts", "cache")
    ] + [
        f"--set=alerts.log={json.dumps(str(tmp_path / 'alerts.jsonl'))}",
        f"--set=tracking.store={json.dumps(str(tmp_path / 'mlflow'))}",
        "--set=deployment.latency_budget_ms=200.0",
    ]


def test_default_run_prints_the_summary(tmp_path):
    done = cli("run", "--engine", "mock", *outputs(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for step in ("load_data", "tune_model", "register_model"):
        assert step in out
    assert "holdout metrics" in out and "gate: PROMOTE" in out
    assert "staging: registered as v0001" in out
    assert "integration test: v0001 passed load, output_schema, latency" in out
    assert "registry: v0001 passed its integration test and is now production" in out
    run_json = next((tmp_path / "artifacts").glob("mock-*/run.json"))
    record = json.loads(run_json.read_text())
    assert record["state"] == "success" and len(record["tasks"]) == 11


def test_bad_config_is_one_screen_without_traceback(tmp_path):
    done = cli(
        "run", "--set", "features.lags=[-1]", "--set", "tuning.cv_folds='x'", *outputs(tmp_path)
    )
    assert done.returncode == 2
    assert "features.lags.0: Input should be greater than or equal to 0" in done.stdout
    assert "tuning.cv_folds" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stdout.splitlines()) < 20


def failed_run(
    tmp_path, engine: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """A run whose first step always fails: exit 1, the step named, and no traceback."""
    done = cli(
        "run", "--engine", engine,
        "--set", "faults={load_data=-1}", "--set", "orchestration.retries=0",
        *outputs(tmp_path),
        env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "FAILED at load_data" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_failed_run_exits_1_and_names_the_step(tmp_path):
    assert "ALERT [mock]" in failed_run(tmp_path, "mock").stderr


def test_missing_config_file(tmp_path):
    done = cli("run", "--config", str(tmp_path / "nope.toml"))
    assert done.returncode == 2 and "config file not found" in done.stdout


def test_unavailable_engine_says_how_to_install():
    missing = [name for name in engines.ENGINES if not engines.is_available(name)]
    if not missing:
        pytest.skip("every engine is installed in this environment")
    done = cli("run", "--engine", missing[0], "--config", str(DEFAULT_CONFIG))
    assert done.returncode == 2
    assert f"python3 dev.py run --engine {missing[0]}" in done.stdout


def test_graph_command():
    done = cli("graph")
    assert done.returncode == 0
    assert "register_model   <- evaluate_model, gate_model, train_model" in done.stdout
    assert "promote_model    <- gate_model, integration_test" in done.stdout


def test_runs_from_any_directory_and_prints_each_pipeline_graph(tmp_path):
    done = cli("graph", "--pipeline", "weather", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "train_model      <- split_data, tune_model" in done.stdout
    done = cli(
        "run", "--engine", "mock", "--set=tuning.cv_folds=3", *outputs(tmp_path), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr  # the default config is found without a cwd
