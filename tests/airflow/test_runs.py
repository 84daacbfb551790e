"""Whole runs under dag.test(): backfills, retries, the failure alert, the classic DAG."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_impl import CONFIG_ENV, RUN_ID_PARAM, runner
from mlpipeline import artifacts, workspace
from mlpipeline.alerts import read_alerts
from mlpipeline.runs import FAILED, FAILURES, RUN_LOG
from tests.conftest import config_in


def test_a_backfill_trains_on_what_was_known_then(make_config):
    cfg = make_config(cache__enabled=False)
    windows = []
    for year in (2013, 2014, 2015):
        day = datetime(year, 6, 1, tzinfo=UTC)
        result = runner.run_pipeline(cfg, run_id=f"backfill-{year}", logical_date=day)
        assert result.ok, result.error
        report = artifacts.read_json(result.run_dir / "validate_data" / "validation.json")
        split = artifacts.read_json(result.run_dir / "split_data" / "split.json")
        # The window ends the day before the logical date; the last row has no tomorrow.
        assert report["time_range"][1].startswith(f"{year}-05-31")
        assert split["holdout_range"][1].startswith(f"{year}-05-30")
        windows.append((report["rows_out"], split["data_fingerprint"]))
    assert [rows for rows, _ in windows] == [517, 882, 1247]
    assert len({fingerprint for _, fingerprint in windows}) == 3


def test_attempts_are_airflows_try_numbers(make_config):
    from airflow.models import DagRun
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    cfg = make_config(cache__enabled=False, orchestration__retries=3, faults={"split_data": 2})
    result = runner.run_pipeline(cfg, run_id="flaky-split")
    assert result.ok, result.error
    assert result.tasks["split_data"].attempts == 3
    with create_session() as session:
        (dag_run,) = [
            r
            for r in session.scalars(select(DagRun).where(DagRun.dag_id == "ml_pipeline"))
            if r.conf.get(RUN_ID_PARAM) == "flaky-split"
        ]
        earlier = session.scalars(
            select(TaskInstanceHistory).where(
                TaskInstanceHistory.run_id == dag_run.run_id,
                TaskInstanceHistory.task_id == "split_data",
            )
        )
        # The failed tries move to the history table; the last one stays on the task instance.
        assert sorted((h.try_number, str(h.state)) for h in earlier) == [
            (1, "failed"),
            (2, "failed"),
        ]


def test_a_failing_task_alerts_once_after_its_last_retry(make_config):
    cfg = make_config(cache__enabled=False, orchestration__retries=2, faults={"load_data": -1})
    result = runner.run_pipeline(cfg, run_id="broken")
    assert result.state == FAILED and result.tasks["load_data"].attempts == 3
    assert result.error.startswith("InjectedFault: load_data: injected fault on attempt 3")
    alerts = read_alerts(cfg.alerts.log)
    assert [(a["run_id"], a["step"], a["engine"]) for a in alerts] == [
        ("broken", "load_data", "airflow")
    ]
    assert alerts[0]["error"] == result.error
    assert len(artifacts.read_jsonl(result.run_dir / FAILURES)) == 1  # task callback: once too
    log = (result.run_dir / RUN_LOG).read_text()
    assert alerts[0]["log_location"] == str(result.run_dir / RUN_LOG)
    assert "Traceback" in log and "load_data failed on try 3" in log


def test_classic_dag_prints_the_same_accuracy_every_run(capfd):
    printed = []
    for _ in range(2):
        dag_run = runner.load_dag("ml_training_pipeline").test()
        assert dag_run.state == "success"
        out = capfd.readouterr().out
        printed += [line for line in out.splitlines() if line.startswith("Accuracy: ")]
    assert len(printed) == 2 and printed[0] == printed[1]
    assert 0.8 < float(printed[0].split()[1]) <= 1.0


def test_a_run_with_refused_params_still_alerts_once(tmp_path):
    # The DAG's parse-time defaults, outputs in tmp_path: where a refused run reports.
    params = config_in(tmp_path).to_params()
    params_file = artifacts.write_json(tmp_path / "params.json", params)
    with runner.environ(CONFIG_ENV, str(params_file)):
        dag = runner.load_dag("ml_pipeline")
    conf = {**params, "tuning_cv_folds": 1, RUN_ID_PARAM: "refused"}  # an integer, yet refused
    assert dag.test(run_conf=conf).state == "failed"
    (alert,) = read_alerts(tmp_path / "alerts.jsonl")
    assert (alert["run_id"], alert["step"]) == ("refused", "load_data")
    assert "tuning.cv_folds" in alert["error"]


def test_a_recsys_run_with_refused_params_and_no_day_still_alerts_once(tmp_path):
    # data_date empty (the DAG's default: "the run's day") and a manual run without a data
    # interval: the fallback config must not be refused too, or the run fails without an alert.
    params = workspace.config_in(tmp_path, pipeline="recsys").to_params()
    params_file = artifacts.write_json(tmp_path / "params.json", params)
    with runner.environ(CONFIG_ENV, str(params_file)):
        dag = runner.load_dag("recsys_retrain")
    conf = {**params, "data_date": "", "evaluation_alpha": 7.0, RUN_ID_PARAM: "refused"}
    assert dag.test(run_conf=conf).state == "failed"
    (alert,) = read_alerts(tmp_path / "alerts.jsonl")
    assert (alert["run_id"], alert["step"]) == ("refused", "extract")
    assert "evaluation.alpha" in alert["error"]
