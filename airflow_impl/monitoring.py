"""Airflow's view of the dashboard: an "MLflow run" link on every task of a pipeline's DAG.

What Airflow 3 offers, and why this one:

* **Operator extra links** (chosen). In Airflow 3 the worker computes a task's links when the
  task finishes (`BaseOperatorLink.get_link`, called with the running task instance) and stores
  each as an XCom; the API server only reads that XCom back, so a link set on a task in the DAG
  file needs no plugin and no code on the API server. The UI shows it as a button on the task
  instance's page. `link_to_mlflow(dag)` adds it to every task of a DAG (mapped ones too), so
  the run's MLflow page is one click from whichever task one is looking at, a failed one too.
* A *global* extra link (on every task) or a link computed when the page is viewed needs an
  Airflow plugin loaded by the API server: more moving parts for the same button.
* Task-instance notes are set by people (UI or REST API), not by the running task in 3.x.

The URL comes from `mlpipeline.tracking.run_link`: the run's MLflow page if it is logged,
else its experiment filtered on the pipeline run id (the run is logged once it has ended, by
the CLI or from the outbox, so that page shows it then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import DAG, BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class MlflowRunLink(BaseOperatorLink):
    name = "MLflow run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Called by the worker as the task ends: `ti_key` is then the running task instance.
        from airflow_impl.params import run_id
        from airflow_impl.tasks import _callback_config, ran_with
        from mlpipeline import tracking

        key = (ti_key.dag_id, ti_key.run_id, ti_key.task_id)
        if key in ran_with:  # the task got as far as its config (tasks.run_step)
            store, pipeline_run_id = ran_with.pop(key)
            return tracking.run_link(store, pipeline_run_id)
        context = ti_key.get_template_context()
        cfg, _ = _callback_config(context)  # refused params: the parse-time config's store
        return tracking.run_link(cfg.tracking, run_id(context))


def link_to_mlflow(dag: DAG) -> DAG:
    """Give every task of `dag` the "MLflow run" link; returns the DAG."""
    for task in dag.tasks:
        task.operator_extra_links = (*task.operator_extra_links, MlflowRunLink())
    return dag
