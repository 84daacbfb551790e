# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2: Airflow
#
# Apache Airflow is the most widely deployed orchestrator: a scheduler creates a DAG run per
# interval, workers execute its tasks, a metadata database records every state change, and a
# UI shows it all. This lesson runs Airflow 3 **in this process**, with `dag.test()` against a
# SQLite database, so that you can read everything it records without starting a server.
#
# **Goals.** After this lesson you can
#
# 1. set Airflow up for in-process runs (`AIRFLOW_HOME`, the metadata database, the dags folder);
# 2. read a DAG file: TaskFlow tasks, `default_args`, `schedule`, `start_date` and `catchup`;
# 3. run the seed tutorial's classic `PythonOperator` example, corrected for Airflow 3 and
#    seeded, and read its XComs by key;
# 4. explain what XCom is for and why large data goes by reference;
# 5. run the project's ML pipeline DAG and read its task instances.
#
# - **Environment:** `tox -e airflow` only (skipped elsewhere, with a note).
# - **Prerequisites:** lesson 1 (tasks, dependencies, the mock engine).
# - **Learner time:** about 45 minutes; the notebook executes in about 20 s, a third of it
#   Airflow's start-up.

# %%
# requires: airflow
import random
import shutil

import course
from rich.console import Console

random.seed(0)
console = Console(width=100)
work = course.workdir("lesson02")

# %% [markdown]
# ## 1. Setting Airflow up in-process
#
# Airflow reads its configuration once, when first imported: `AIRFLOW_HOME` (where its database
# and logs live) must be set **before** `import airflow`, or it quietly uses `~/airflow`. The
# project's runner does the set-up in one call: it sets `AIRFLOW_HOME`, turns the example DAGs
# off, points the dags folder at `airflow_impl/dags`, keeps the logs at WARNING, imports Airflow
# and creates the SQLite metadata database.

# %%
from airflow_impl import runner

home = runner.prepare(work / "airflow-home")
print("AIRFLOW_HOME:", home.relative_to(work.parent))
print("dags folder: ", runner.DAGS.relative_to(course.ROOT))
print("files:", sorted(p.name for p in home.iterdir()))

# %% [markdown]
# ## 2. The DAG file
#
# Airflow finds DAGs by parsing the Python files of its dags folder, often (every 30 s by
# default in a real deployment). So a DAG file must be cheap to import: heavy imports go inside
# the tasks. Here is the end of `airflow_impl/dags/ml_pipeline.py`, where the DAG is declared:

# %%
source = (runner.DAGS / "ml_pipeline.py").read_text()
print(source[source.index("@dag(") :])

# %% [markdown]
# What to notice:
#
# - `@task` turns a function into a task; calling it inside the `@dag` function creates the
#   task **and** the dependency: `validate_data(raw)` depends on `load_data` because it receives
#   its return value.
# - `default_args` apply to every task: here the retry policy from the config (lesson 4) and a
#   task-level failure callback.
# - `schedule="@daily"` creates one run per day; `start_date` is the first; `catchup=False` says
#   "do not create the runs between the start date and now when the DAG is switched on"
#   (lesson 5 backfills past dates on purpose).
# - `params` are the flat config: the UI's trigger form can edit them, and each task rebuilds
#   and validates the config from them.
#
# `DagBag` parses the folder as the scheduler would. An import error in any file would be listed
# here instead of breaking the scheduler:

# %%
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=str(runner.DAGS))
print("DAGs:", sorted(bag.dag_ids), "| import errors:", bag.import_errors)
dag = runner.load_dag("ml_pipeline")
print(f"schedule {dag.schedule!r}, start {dag.start_date.date()}, catchup {dag.catchup}")
for task in dag.tasks:
    print(f"  {task.task_id:<15} <- {sorted(task.upstream_task_ids)}")
print("default_args:", {k: v for k, v in dag.default_args.items() if k.startswith(("retr", "max"))})

# %% [markdown]
# ## 3. The seed tutorial's classic example, corrected
#
# Before TaskFlow, Airflow DAGs were written with operators and explicit XCom calls. The seed
# tutorial's random-forest example in that style did not run on Airflow 3; here it is corrected
# (`airflow_impl/dags/classic_random_forest.py`): a `DAG(...)` context manager, three
# `PythonOperator`s, `default_args` (with a 10 s retry delay instead of the default 5 minutes),
# `ti.xcom_push(key=...)` and `ti.xcom_pull(task_ids=..., key=...)`, and `load >> train >>
# evaluate` for the dependencies. Seeds (`random_state=42`) make the accuracy reproducible.

# %%
classic_source = (runner.DAGS / "classic_random_forest.py").read_text()
print(classic_source[classic_source.index("def load_data") :])

# %% [markdown]
# `dag.test()` runs the DAG once, task by task, in this process, and returns the DAG run. The
# first `dag.test()` in a process takes several seconds (Airflow starts its in-process execution
# API); later ones are quicker. You will see the task print `Accuracy: 0.8889` twice: the same
# number on every run and every machine.

# %%
classic = runner.load_dag("classic_random_forest")
first = classic.test()
second = runner.load_dag("classic_random_forest").test()
print(first.state, second.state)
for ti in sorted(first.get_task_instances(), key=lambda ti: ti.start_date):
    print(f"  {ti.task_id:<15} {ti.state:<8} try {ti.try_number}")

# %% [markdown]
# ## 4. XCom, and why large data goes by reference
#
# XCom ("cross-communication") is how Airflow tasks pass values: each value is a row in the
# metadata database, stored as JSON. Below, every XCom of the classic run with its size. The
# whole iris training set is pushed as lists: 2 KB for 105 rows is fine, but the same pattern
# with a million-row table would put hundreds of megabytes into the database the scheduler and
# the UI query all day.

# %%
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session


def xcoms(dag_id: str, run_id: str) -> list[tuple[str, str, int, str]]:
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id)).all()
        return [(r.task_id, r.key, len(str(r.value)), str(r.value)[:60]) for r in rows]


for task_id, key, size, preview in xcoms("classic_random_forest", first.run_id):
    print(f"  {task_id:<15} {key:<13} {size:>5} bytes  {preview}")

# %% [markdown]
# The project's DAG passes **paths**: each step writes its outputs (Parquet, JSON, the model in
# XGBoost's format) under the run's directory and returns where it put them. XCom then holds a
# few hundred bytes per task, however large the data. Run the pipeline (the small lesson config)
# and look at its XComs: you will see nine paths. The task table comes from Airflow's task
# instances (state, `try_number`, start and end).

# %%
from mlpipeline import summary

cfg = course.small_config(work)
result = runner.run_pipeline(cfg, run_id="lesson02")
console.print(summary.tasks_table(result))
for step in result.tasks:  # in the graph's order
    print(f"  {step:<15} {result.outputs[step].replace(str(work), '<work>')}")
assert result.ok and all(len(p) < 300 for p in result.outputs.values())

# %% [markdown]
# ## What we learned
#
# - Airflow is configured before it is imported; in-process runs need a home, a migrated
#   metadata database and DAG files inside the dags folder.
# - A DAG file declares tasks (TaskFlow `@task`, or operators), dependencies, `default_args`,
#   a schedule, a start date and `catchup`; it must be cheap to parse.
# - XCom carries small values through the metadata database; data goes by reference (paths).
# - `dag.test()` runs a DAG in-process and leaves the same records a scheduler would.
#
# ## Practice questions
#
# 1. What goes wrong if a script imports Airflow and only then sets `AIRFLOW_HOME`?
# 2. Why must heavy imports (pandas, xgboost) go inside the task functions?
# 3. In the TaskFlow DAG, where is the edge `split_data -> train_model` declared?
# 4. Why does the classic example push predictions rather than the fitted model?
#
# Exercise: `exercises/02_xcom_budget.py` (solution in `solutions/02_xcom_budget.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. Airflow has already read its configuration: it uses `~/airflow` (creating it), and the
#    later setting is ignored.
# 2. The scheduler re-parses every DAG file often; slow top-level imports slow down every parse
#    and the scheduler with them.
# 3. In the call `train_model(split, tuning)` inside the `@dag` function: passing `split` (the
#    output of `split_data`) creates the dependency.
# 4. XCom values are JSON: a fitted model is not, and unpickling one from a database would run
#    arbitrary code. The project's DAG writes the model to a file and pushes its path.

# %%
shutil.rmtree(work)
