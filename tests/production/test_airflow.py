"""Airflow in production mode: the real api-server, scheduler, dag-processor and triggerer on
Postgres with the LocalExecutor, started once for this module (`airflow_stack`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpipeline import cli
from mlpipeline.stack import stacks
from tests.production import checks
from tests.production.conftest import production_run

pytest.importorskip("airflow", reason="needs Airflow: tox -e airflow-prod")


def test_no_stack_the_run_says_how_to_start_one(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(stacks.ROOT_ENV, str(tmp_path))
    code = cli.main(["run", "--engine", "airflow", "--mode", "production"])
    out = capsys.readouterr().out
    assert code == 2
    assert "no airflow stack is running" in out and "stack up --engine airflow" in out
    assert "Traceback" not in out and len(out.splitlines()) < 10


def test_status_reports_every_component_healthy_and_the_ui(airflow_stack, capsys):
    report = stacks.status("airflow")
    assert set(report["health"].values()) == {"healthy"}, report["health"]
    assert all(report["processes"].values()), report["processes"]
    assert report["ui"] == f"http://127.0.0.1:{airflow_stack.ports['api']}/"
    assert cli.main(["stack", "status", "--engine", "airflow"]) == 0
    assert report["ui"] in capsys.readouterr().out


def test_a_second_up_is_refused(airflow_stack):
    with pytest.raises(stacks.StackError, match="already up"):
        stacks.up("airflow")


def test_production_run_matches_the_mock_engine_bit_for_bit(airflow_stack, reference, tmp_path):
    run = production_run("airflow", tmp_path)
    checks.same_outputs_as_the_mock(run, reference)
    assert run.settings["database"] == "postgres"
    assert all(":" in worker for worker in run.settings["workers"])  # hostname:pid per task


def test_down_leaves_no_process_and_no_port(airflow_stack):  # last: it stops the stack
    checks.down_leaves_nothing("airflow", airflow_stack)
