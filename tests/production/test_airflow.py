"""Airflow in production mode: the real api-server, scheduler, dag-processor and triggerer on
Postgres with the CeleryExecutor and 2 Celery workers (Redis), plus the stack's SMTP server,
started once for this module (`airflow_stack`). Tests run in file order; the last stops it."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from mlpipeline import artifacts, cli
from mlpipeline.alerts import read_alerts
from mlpipeline.graph import STEPS
from mlpipeline.runs import RunResult
from mlpipeline.stack import procs, stacks
from tests.conftest import DATA, config_in
from tests.production import checks
from tests.production.conftest import (
    alerts_of,
    production_run,
    registry_intact,
    stack_mail,
    tracked_statuses,
)
from tests.production.workers import celery_tasks
from tests.smtp_sink import check_alert_mail

pytest.importorskip("airflow", reason="needs Airflow: tox -e airflow-prod")

from airflow_impl import production  # noqa: E402  (after the skip)

DAG_ID = "ml_pipeline"


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
    assert "smtp" in report["health"]  # the stack's own mail server answers SMTP
    assert all(report["processes"].values()), report["processes"]
    assert {"celery-worker-1", "celery-worker-2", "redis", "smtp"} <= set(report["processes"])
    assert report["ui"] == f"http://127.0.0.1:{airflow_stack.ports['api']}/"
    assert report["mlflow"] == f"http://127.0.0.1:{airflow_stack.ports['mlflow']}"
    assert "mlflow" in report["health"] and "mlflow" in report["processes"]
    assert cli.main(["stack", "status", "--engine", "airflow"]) == 0
    out = capsys.readouterr().out
    assert report["ui"] in out and report["mlflow"] in out


def test_a_second_up_is_refused(airflow_stack):
    with pytest.raises(stacks.StackError, match="already up"):
        stacks.up("airflow")


@pytest.fixture(scope="module")
def celery_run(airflow_stack, tmp_path_factory) -> RunResult:
    return production_run("airflow", tmp_path_factory.mktemp("celery-run"))


def test_the_run_is_tracked_on_the_stacks_mlflow_server(celery_run, airflow_stack):
    checks.tracked_on_the_stacks_mlflow(airflow_stack, celery_run.run_id, celery_run.metrics)


def test_a_run_the_cli_did_not_start_is_tracked_by_the_dags_callback(
    celery_run, airflow_stack, tmp_path
):
    """Triggered over REST without our run-id param, as the scheduler, a backfill or the UI's
    trigger starts a run: the DAG's success callback (`track_run`, in the dag-processor) logs
    it to the stack's MLflow server, with the metrics of the CLI's run of the same config."""
    cfg = stacks.on_stack(config_in(tmp_path), stacks.client_env("airflow"))
    api = production.AirflowAPI(stacks.client_env("airflow")["AIRFLOW_API"])
    try:
        production.trigger(api, DAG_ID, cfg.to_params(), "ui-trigger")
        assert production.follow(api, DAG_ID, "ui-trigger", timeout=900)["state"] == "success"
    finally:
        api.close()
    checks.tracked_on_the_stacks_mlflow(airflow_stack, "ui-trigger", celery_run.metrics, 180)


def test_production_run_matches_the_mock_engine_bit_for_bit(celery_run, reference):
    checks.same_outputs_as_the_mock(celery_run, reference)
    assert celery_run.settings["database"] == "postgres"


def test_the_grid_view_shows_the_run_and_its_tasks(celery_run, tmp_path):
    """Airflow's UI on the run's page (the grid of the DAG's runs and tasks beside the run's
    details): every task id of the run and its run id are on the rendered page; the picture
    goes to docs/production/airflow-grid.png."""
    page = checks.screenshot(celery_run.settings["ui_run"], tmp_path / "airflow-grid.png")
    missing = [step for step in STEPS if step not in page]
    assert not missing, f"task ids not on the page: {missing}"
    assert celery_run.run_id in page


def test_every_task_ran_on_the_celery_workers(celery_run, airflow_stack):
    """Celery's own records (extended results): each task instance of the run, the mapped
    tuning candidates included, was executed by one of the 2 workers, and both worked."""
    ran = [
        (w, task)
        for w, run_id, task in celery_tasks(airflow_stack)
        if run_id == "airflow-production"
    ]
    assert Counter(task for _, task in ran) == Counter({**{s: 1 for s in STEPS}, "tune_model": 2})
    workers = {w.split("@")[0] for w, _ in ran}
    assert workers == {"worker1", "worker2"}, ran


def test_the_recommender_matches_the_mock_engine(airflow_stack, recsys_reference, tmp_path):
    checks.recsys_matches_the_mock("airflow", airflow_stack, recsys_reference, tmp_path)


def test_a_failed_production_run_mails_once(airflow_stack, tmp_path):
    """Bad data fails the second task at once: one JSONL alert, one e-mail in the stack's
    mailbox (the run's config names no SMTP server: the stack's is filled in)."""
    bad = tmp_path / "bad.csv"
    bad.write_text(DATA.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
    run = production_run("airflow", tmp_path, "airflow-bad-data", data__path=str(bad))
    assert run.failed_step == "validate_data"
    assert [a["run_id"] for a in alerts_of(tmp_path / "alerts.jsonl", 1)] == [run.run_id]
    (mail,) = stack_mail(airflow_stack, run.run_id)
    check_alert_mail(
        mail, engine="airflow", run_id=run.run_id, step="validate_data", error=run.error
    )


def test_the_pipeline_dag_is_scheduled_daily_on_the_stack(airflow_stack):
    """What the scheduler's daily runs and backfills go by (the backfill itself: `-m long`)."""
    api = production.AirflowAPI(stacks.client_env("airflow")["AIRFLOW_API"])
    try:
        dag = production.wait_for_dag(api, DAG_ID)
    finally:
        api.close()
    assert dag["timetable_summary"] == "0 0 * * *", dag  # "@daily", as Airflow shows it


@pytest.mark.long
def test_a_backfill_of_three_days_runs_through_the_scheduler_and_survives_its_kill(
    airflow_stack, tmp_path
):
    """`POST /api/v2/backfills` (what `airflow backfill create` calls): the scheduler creates and
    runs one DAG run per day of the daily schedule, each training on the rows before its own
    data interval (data_as_of from the interval).

    Mid-backfill, the scheduler is SIGKILLed and started again (one test, not two: a pipeline
    run costs minutes of the test command here): the new scheduler adopts the dead one's
    tasks and each run finishes, or fails with exactly one alert; the registry holds only
    intact models either way."""
    cfg = stacks.with_stack_alerts(config_in(tmp_path, cache__enabled=False), airflow_stack.env)
    api = production.AirflowAPI(stacks.client_env("airflow")["AIRFLOW_API"])
    try:
        production.wait_for_dag(api, DAG_ID)
        backfill = api.call(
            "POST",
            "/backfills",
            {
                "dag_id": DAG_ID,
                "from_date": "2014-06-01T00:00:00Z",
                "to_date": "2014-06-03T00:00:00Z",
                "dag_run_conf": cfg.to_params(),
                "max_active_runs": 2,
            },
        )
        _wait(lambda: _split_started(api), timeout=600)
        scheduler = next(c for c in airflow_stack.components if c.name == "scheduler")
        os.killpg(scheduler.pid, signal.SIGKILL)
        _wait(lambda: not procs.group_members(scheduler.pid))
        stacks.restart("airflow", "scheduler")
        runs = _backfill_runs(api, backfill["id"], expected=3, timeout=1200)
    finally:
        api.close()
    assert [r["logical_date"][:10] for r in runs] == ["2014-06-01", "2014-06-02", "2014-06-03"]
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:  # the other allowed outcome: failed, one alert each, nothing half-written
        time.sleep(30)  # a second alert would come by now
        alerts = alerts_of(cfg.alerts.log, len(failed))
        assert sorted(a["run_id"] for a in alerts) == sorted(failed), (runs, alerts)
    else:
        assert read_alerts(cfg.alerts.log) == []
    assert len(registry_intact(tmp_path / "registry")) <= 3 - len(failed)
    seen = sorted(
        artifacts.read_json(p)["time_range"][1][:10]
        for p in (tmp_path / "runs").glob("*/validate_data/validation.json")
    )
    assert seen == ["2014-05-31", "2014-06-01", "2014-06-02"]  # each run: only its past
    ours = {artifacts.safe_name(r["dag_run_id"]): r["state"] for r in runs}  # the DAG's callbacks
    status = {"success": "FINISHED", "failed": "FAILED"}
    assert tracked_statuses(cfg, list(ours)) == {k: status[v] for k, v in ours.items()}
    assert all(stacks.status("airflow")["processes"].values())


def _backfill_dag_runs(api) -> list[dict]:
    runs = api.get(f"/dags/{DAG_ID}/dagRuns", limit=100)["dag_runs"]
    return sorted((r for r in runs if r["run_type"] == "backfill"), key=lambda r: r["logical_date"])


def _split_started(api) -> bool:
    """A backfill run is past its validation (its `split_data` queued or later)."""
    for run in _backfill_dag_runs(api):
        states = {
            ti["task_id"]: ti["state"]
            for ti in production.task_instances(api, DAG_ID, run["dag_run_id"])
        }
        if states.get("split_data") in ("queued", "running", "success"):
            return True
    return False


def _backfill_runs(api, backfill_id: int, expected: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = _backfill_dag_runs(api)
        if len(runs) == expected and all(r["state"] in production.FINAL for r in runs):
            return runs
        assert time.monotonic() < deadline, f"backfill {backfill_id} not done: {runs}"
        time.sleep(2)


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_down_leaves_no_process_and_no_port(airflow_stack):  # last: it stops the stack
    checks.down_leaves_nothing("airflow", airflow_stack)
