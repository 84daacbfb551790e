"""The ways in: the CLI with `--engine prefect`, and the seed tutorial's random forest flow."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")

import json

from mlpipeline.graph import STEPS
from prefect_impl.ml_training_flow import ml_training_flow
from prefect_impl.runner import own_server_url
from tests.test_cli import cli, failed_run, outputs


def test_cli_run_prints_the_summary_and_nothing_else(tmp_path):
    done = cli("run", "--engine", "prefect", *outputs(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no logs, warnings or tracebacks, also not at exit
    out = done.stdout
    assert "prefect run prefect-" in out
    for step in STEPS:
        assert step in out
    assert "holdout metrics" in out and "gate: PROMOTE" in out
    assert "registry: v0001 passed its integration test and is now production" in out
    assert "model sha256: " in out and "success in " in out
    run_json = next((tmp_path / "artifacts").glob("prefect-*/run.json"))
    record = json.loads(run_json.read_text())
    assert record["state"] == "success" and sorted(record["tasks"]) == sorted(STEPS)
    # Prefect's home is the project's cache directory, not ~/.prefect.
    assert (tmp_path / "cache" / "prefect" / "home").is_dir()


def test_cli_failed_run_exits_1_with_one_alert_and_no_traceback(tmp_path):
    # On this session's server if it has one, as a user's `prefect server start` with
    # PREFECT_API_URL: a server of the CLI's own costs about 22 CPU s, and the test above
    # covers that start.
    url = own_server_url()
    done = failed_run(tmp_path, "prefect", env={"PREFECT_API_URL": url} if url else None)
    assert done.stderr.count("ALERT [prefect]") == 1
    run_log = next((tmp_path / "artifacts").glob("prefect-*/run.log")).read_text()
    assert "Traceback" in run_log and "InjectedFault" in run_log  # the details are kept here


def test_the_seed_flow_prints_the_same_accuracy_every_run(capsys):
    first = ml_training_flow()
    second = ml_training_flow()
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["Accuracy: 1.0000", f"Held-out accuracy: {first:.4f}"] * 2
    assert first == second > 0.95
