"""The weather pipeline on the mock engine: one `add_task` per step, nothing else.

Read it beside `airflow_impl/dags/ml_pipeline.py` and `prefect_impl/flow.py`: the same eleven
steps of `mlpipeline.steps`, the same names and edges; the tuning step fans out, one task per
candidate. Retries, backoff, timeout and caching come from the config (`runner.task_adder`).
"""

from __future__ import annotations

from pathlib import Path

from mlpipeline.config import PipelineConfig
from mlpipeline.steps import WEATHER, n_candidates
from mock_impl.engine import DAG
from mock_impl.runner import add_deployment, new_dag, task_adder


def build_dag(cfg: PipelineConfig, run_dir: Path) -> DAG:
    dag = new_dag(WEATHER, cfg, run_dir)
    task = task_adder(dag, WEATHER, cfg, run_dir)

    task("load_data")
    task("validate_data", raw="load_data")
    task("build_features", validated="validate_data")
    task("split_data", features="build_features")
    task("tune_model", split="split_data", map_count=n_candidates(cfg))
    task("train_model", split="split_data", tuning="tune_model")
    task("evaluate_model", model="train_model", split="split_data")
    task("gate_model", metrics="evaluate_model", split="split_data")
    add_deployment(task, metrics="evaluate_model", holdout="split_data")  # stage, test, promote
    return dag
