"""The "MLflow run" extra link on every task, read back as Airflow's API server reads it: the
serialized DAG names the link, the worker stored its URL as each task ended."""

from __future__ import annotations

from airflow_impl import RUN_ID_PARAM, runner
from mlpipeline import tracking


def test_every_task_links_to_the_runs_mlflow_page(make_config):
    from airflow.models import DagRun, TaskInstance
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    # A run that fails at its second task: cheap, and a failed run needs the link most.
    cfg = make_config(orchestration__retries=0, faults={"validate_data": -1})
    result = runner.run_pipeline(cfg, run_id="linked")
    assert result.failed_step == "validate_data"
    with create_session() as session:
        (dag_run,) = [
            r
            for r in session.scalars(select(DagRun).where(DagRun.dag_id == "ml_pipeline"))
            if r.conf.get(RUN_ID_PARAM) == "linked"
        ]
        tis = {
            ti.task_id: ti
            for ti in session.scalars(
                select(TaskInstance).where(TaskInstance.run_id == dag_run.run_id)
            )
        }
        dag = SerializedDagModel.get_dag("ml_pipeline", session=session)
        assert {t.task_id: t.extra_links for t in dag.tasks} == {
            t.task_id: ["MLflow run"] for t in dag.tasks
        }  # what the UI lists on each task
        links = {
            name: dag.get_task(name).get_extra_links(tis[name], "MLflow run")
            for name in ("load_data", "validate_data", "train_model")
        }
    # Runs are logged after they end (by the CLI), and this store is new: the link is the
    # dashboard's experiment list (tests/steps/test_tracking.py resolves a logged run).
    url = tracking.run_link(cfg.tracking, "linked")
    assert url == "http://127.0.0.1:19500/#/experiments"
    assert links == {"load_data": url, "validate_data": url, "train_model": ""}  # never ran
