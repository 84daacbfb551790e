"""Prefect under stress (issue 9): step timeouts without Prefect's thread timeout, and the
summary after a fast failure with mapped tuning runs."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")


from mlpipeline import artifacts
from mlpipeline.alerts import read_alerts
from mlpipeline.graph import STEPS
from mlpipeline.runs import FAILURES
from prefect_impl import flow, runner
from tests.processes import cancelled_run


def test_the_expected_task_runs_count_every_mapped_tuning_run(make_config, tmp_path):
    cfg = make_config()
    failures = tmp_path / FAILURES
    artifacts.append_jsonl(failures, {"step": "gate_model", "error": "x"})
    n = len(cfg.tuning.candidates())
    # load, validate, features, split, n tune_model runs, train, evaluate, gate
    assert runner.expected_task_runs(cfg, {}, failures) == 7 + n


def test_a_fast_failure_at_gate_model_names_gate_model(make_config):
    cfg = make_config()
    assert runner.run_pipeline(cfg, run_id="warm").ok  # every cacheable step is a hit below
    failing = make_config(faults={"gate_model": -1}, orchestration__retries=0)
    result = runner.run_pipeline(failing, run_id="fast-failure")
    assert result.failed_step == "gate_model", result.error
    assert result.tasks["tune_model"].cache_hit
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["gate_model"]


def test_tasks_leave_timeouts_to_run_step(make_config):
    from prefect_impl.options import configured

    cfg = make_config(orchestration__task_timeout_seconds=5.0)
    tasks = [configured(getattr(flow, name), cfg) for name in STEPS]
    assert {t.timeout_seconds for t in tasks} == {None}


def test_one_ctrl_c_cancels_the_run_within_seconds_and_stops_the_server(tmp_path):
    assert cancelled_run("prefect", tmp_path).children  # the API server was one of them
