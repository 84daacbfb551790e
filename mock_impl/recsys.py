"""The recommender pipeline on the mock engine: one `task` per step, nothing else.

Read it beside `airflow_impl/dags/recsys_retrain.py` and `prefect_impl/recsys.py`: the nine
steps of `mlpipeline.recsys.steps`, the same names and edges. One run is one day
(``data.date``); a week is seven runs, in order (`python -m mlpipeline run --days 7`).
Retries, backoff, timeout and caching come from the config (`runner.task_adder`).
"""

from __future__ import annotations

from pathlib import Path

from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.steps import RECSYS
from mock_impl.engine import DAG
from mock_impl.runner import add_deployment, new_dag, task_adder


def build_dag(cfg: RecsysConfig, run_dir: Path) -> DAG:
    dag = new_dag(RECSYS, cfg, run_dir)
    task = task_adder(dag, RECSYS, cfg, run_dir)

    task("extract")
    task("merge_profiles", events="extract")
    task("build_features", events="extract", profiles="merge_profiles")
    task("train_model", features="build_features")
    task("evaluate_ab", features="build_features", model="train_model")
    task("gate_model", ab="evaluate_ab")
    add_deployment(task, metrics="evaluate_ab", holdout="build_features")  # stage, test, promote
    return dag
