"""The DAG files: they import cleanly, cheaply and offline, and declare the canonical graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from airflow_impl import RUN_ID_PARAM, runner
from mlpipeline.config import load_config
from mlpipeline.graph import EDGES, STEPS
from tests.conftest import DEFAULT_CONFIG

# Parses the dags folder with the database pointed at a path that cannot exist and every socket
# refused: any database or network work at parse time shows up as an import error or a call.
PARSE_OFFLINE = """
import json, socket, sys
calls = []
def refuse(*args, **kwargs):
    calls.append(repr(args[1:2]))
    raise OSError("network access at parse time")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = refuse
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in ("pandas", "xgboost", "sklearn", "pandera", "duckdb")
               if m in sys.modules)
print(json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dag_ids), "calls": calls,
                  "heavy": heavy}))
"""


def test_every_dag_file_parses_offline_without_a_database(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/missing/dir/airflow.db",
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    done = subprocess.run(
        [sys.executable, "-c", PARSE_OFFLINE, str(runner.DAGS)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["errors"] == {}
    assert report["dags"] == ["ml_pipeline", "ml_training_pipeline", "recsys_retrain"]
    assert report["calls"] == []
    assert report["heavy"] == []  # heavy imports happen inside tasks, not at parse time
    assert not (tmp_path / "missing").exists()


def test_tasks_and_edges_are_the_canonical_graph():
    dag = runner.load_dag("ml_pipeline")
    assert set(dag.task_ids) == set(STEPS)
    assert {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids} == EDGES
    for t in dag.tasks:  # each task wraps the function of the same name
        assert t.python_callable.__name__ == t.task_id
    # The tuning fan-out is dynamic task mapping, one instance per candidate of the grid.
    assert dag.get_task("tune_model").op_kwargs_expand_input.value["candidate"] == list(
        range(len(load_config(DEFAULT_CONFIG).tuning.candidates()))
    )


def test_schedule_params_and_retry_policy_come_from_the_config():
    cfg = load_config(DEFAULT_CONFIG)
    dag = runner.load_dag("ml_pipeline")
    assert (dag.dag_id, dag.catchup, dag.doc_md.splitlines()[0]) == (
        "ml_pipeline",
        False,
        "# ML pipeline: will it rain in Seattle tomorrow?",
    )
    assert {k: dag.params[k] for k in cfg.to_params()} == cfg.to_params()
    assert dag.params[RUN_ID_PARAM] == ""
    schema = dag.params.get_param("tuning_cv_folds").schema
    assert schema["type"] == "integer" and schema["section"] == "tuning"
    o = cfg.orchestration
    task = dag.get_task("train_model")
    assert task.retries == o.retries
    assert task.retry_delay == timedelta(seconds=o.retry_delay_seconds)
    assert task.retry_exponential_backoff == o.retry_backoff
    assert task.max_retry_delay == timedelta(seconds=o.retry_max_delay_seconds)
    assert task.execution_timeout is None  # a SIGALRM: attempts.run_attempt enforces the timeout


def test_classic_dag_structure():
    dag = runner.load_dag("ml_training_pipeline")
    assert [t.task_id for t in dag.tasks] == ["load_data", "train_model", "evaluate_model"]
    assert dag.get_task("evaluate_model").upstream_task_ids == {"train_model"}
    assert dag.default_args["retry_delay"] == timedelta(seconds=10)


def test_recsys_dag_is_its_declaration_and_backfills_days_in_order():
    from mlpipeline.recsys.steps import RECSYS

    dag = runner.load_dag("recsys_retrain")
    assert set(dag.task_ids) == set(RECSYS.steps)
    assert {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids} == RECSYS.edges
    assert dag.catchup and dag.max_active_runs == 1
    assert dag.params["data_date"] == ""  # a scheduled run takes its own day


def test_both_dags_run_the_one_deployment_tail():
    from airflow_impl import deployment_tasks

    for dag_id in ("ml_pipeline", "recsys_retrain"):
        dag = runner.load_dag(dag_id)
        for name in ("register_model", "integration_test", "promote_model"):
            shared = getattr(deployment_tasks, name).function
            assert dag.get_task(name).python_callable is shared, (dag_id, name)


def test_a_scheduled_recsys_run_processes_the_day_of_its_data_interval(tmp_path):
    from datetime import UTC, datetime

    from airflow_impl.params import run_config
    from mlpipeline import workspace
    from mlpipeline.recsys.config import RecsysConfig

    params = workspace.config_in(tmp_path, pipeline="recsys").to_params()
    day = datetime(2026, 2, 25, tzinfo=UTC)
    context = {
        "params": {**params, "data_date": "", RUN_ID_PARAM: "r"},
        "data_interval_start": day,
        "data_interval_end": day + timedelta(days=1),
    }
    cfg, run_dir = run_config(context, RecsysConfig)
    assert cfg.data.date == "2026-02-25"
    assert run_dir == tmp_path / "runs" / "r"
    context["params"]["data_date"] = "2026-03-01"  # set in the trigger form: kept
    assert run_config(context, RecsysConfig)[0].data.date == "2026-03-01"
