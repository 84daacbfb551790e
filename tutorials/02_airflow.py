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
# 3. run the seed tutorial's `ml_training_pipeline` (`PythonOperator`, XComs by key), seeded,
#    and explain why it prints 1.0 where the seed printed 0.998;
# 4. migrate an Airflow 2 DAG to Airflow 3 (`schedule`, `catchup`, providers, `airflow.sdk`,
#    the task context);
# 5. explain what XCom is for and why large data goes by reference;
# 6. run the project's ML pipeline DAG and read its task instances.
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
# Airflow finds DAGs by parsing the Python files of its dags folder, often: in Airflow 3 a
# separate process, the **dag-processor** (`airflow dag-processor`), re-parses each file every
# `[dag_processor] min_file_process_interval` seconds (30 by default) and stores the result in
# the database; the scheduler reads that, and no longer parses files itself. So a DAG file must
# be cheap to import: heavy imports go inside the tasks. Here is the end of
# `airflow_impl/dags/ml_pipeline.py`, where the DAG is declared:

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
# `DagBag` parses the folder the way the dag-processor does. An import error in any file would
# be listed here (and, in a deployment, shown in the UI) instead of breaking the other DAGs.
# Below, the pipeline's graph as Airflow itself reads it from the DAG object: the same nine
# steps and edges as `mlpipeline/graph.py` (lesson 1).

# %%
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=str(runner.DAGS))
print("DAGs:", sorted(bag.dag_ids), "| import errors:", bag.import_errors)
dag = runner.load_dag("ml_pipeline")
print(f"schedule {dag.schedule!r}, start {dag.start_date.date()}, catchup {dag.catchup}")
for task in dag.tasks:
    print(f"  {task.task_id:<15} <- {sorted(task.upstream_task_ids)}")
print("default_args:", {k: v for k, v in dag.default_args.items() if k.startswith(("retr", "max"))})
course.draw_dag(
    {t.task_id: t.upstream_task_ids for t in dag.tasks},
    "ml_pipeline as Airflow parsed it (task ids and upstream_task_ids)",
    "02_ml_pipeline",
)

# %% [markdown]
# ## 3. The seed tutorial's example: `ml_training_pipeline`
#
# Before TaskFlow, Airflow DAGs were written with operators and explicit XCom calls. The seed
# tutorial's example is in that style, and `airflow_impl/dags/ml_training_pipeline.py` keeps its
# name and its recipe: a `DAG(...)` context manager, three `PythonOperator`s, values pushed and
# pulled by XCom **key**, the data `np.random.randn(1000, 10)` with the label `y = X[:, 0] > 0`,
# a random forest of 50 trees, and the printed training accuracy. Here is the whole file, with
# its docstring (what changed from the seed, and why) and its imports:

# %%
seed_source = (runner.DAGS / "ml_training_pipeline.py").read_text()
print(seed_source)

# %% [markdown]
# `dag.test()` runs the DAG once, task by task, in this process, and returns the DAG run. The
# first `dag.test()` in a process takes several seconds (Airflow starts its in-process execution
# API); later ones are quicker. You will see, twice, the seed's line `Accuracy: 1.0000` and the
# held-out accuracy below it: the same numbers on every run and every machine.

# %%
seed_dag = runner.load_dag("ml_training_pipeline")
first = seed_dag.test()
second = runner.load_dag("ml_training_pipeline").test()
print(first.state, second.state)
for ti in sorted(first.get_task_instances(), key=lambda ti: ti.start_date):
    print(f"  {ti.task_id:<15} {ti.state:<8} try {ti.try_number}")

# %% [markdown]
# **Why not the seed's 0.998?** The seed printed the accuracy on the rows the forest was
# trained on. A forest of fully grown trees (scikit-learn's default, no depth limit) fits its
# training rows perfectly: 1.0 for any seed, so the seed's 0.998 (and the 0.997 of its Prefect
# version, lesson 3) was not produced by this recipe as written: it came from an unseeded run
# whose data, or settings, we cannot know. A training score says nothing about new data; the
# number to quote is the held-out one. The label is a threshold on one column, which a forest
# learns almost perfectly, so the held-out accuracy is close to 1 too. Below, the same recipe
# on ten seeds (a second): the training accuracy never moves, the held-out one varies a little
# with the data drawn. The seed's numbers are plausible *held-out* values, printed under the
# wrong name.

# %%
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

scores = []
for seed in range(10):
    X = np.random.RandomState(seed).randn(1000, 10)
    y = X[:, 0] > 0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
    forest = RandomForestClassifier(n_estimators=50, random_state=seed).fit(X_train, y_train)
    scores.append((forest.score(X_train, y_train), forest.score(X_test, y_test)))
train, held_out = np.array(scores).T
print(f"training accuracy, 10 seeds: min {train.min():.4f}, max {train.max():.4f}")
print(f"held-out accuracy, 10 seeds: min {held_out.min():.4f}, max {held_out.max():.4f}")

# %% [markdown]
# The seed also ran its DAG with a helper, `simulate_airflow_run`, that called the operators'
# functions one after the other with a hand-made context. That cannot work with a real DAG:
# `ti.xcom_push` and `ti.xcom_pull` need a task instance backed by Airflow's database (or, in
# Airflow 3, its execution API), which only Airflow creates. `dag.test()` is Airflow's own way
# to run a DAG in one process, with real task instances and real XComs; a unit test of one
# task's logic calls the plain function with its inputs instead (lesson 8's steps).
#
# ## 4. From Airflow 2 to Airflow 3
#
# The seed was written for Airflow 2. Here is its style next to this project's, as one diff of
# two small DAG files (the left one is text only: Airflow 3 refuses it):

# %%
import difflib

AIRFLOW_2 = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG(
    "report",
    schedule_interval="@daily",
    start_date=datetime(2024, 1, 1),
):
    def publish(**context):
        print("data up to", context["execution_date"])

    PythonOperator(task_id="publish", python_callable=publish, provide_context=True)
"""
AIRFLOW_3 = """\
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(
    "report",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
):
    @task
    def publish(**context):
        print("data up to", context["data_interval_end"])

    publish()
"""
print(
    "".join(
        difflib.unified_diff(
            AIRFLOW_2.splitlines(keepends=True),
            AIRFLOW_3.splitlines(keepends=True),
            "airflow2_report.py",
            "airflow3_report.py",
        )
    )
)

# %% [markdown]
# Each change, checked on the Airflow installed here:
#
# - `schedule_interval` is gone: one `schedule` argument takes a cron string, a preset, a
#   timetable or assets. `DAG(..., schedule_interval=...)` is a `TypeError`.
# - `catchup` now defaults to **False** (`[scheduler] catchup_by_default`): switching a DAG on no
#   longer creates one run per missed interval since `start_date`. Write it out anyway.
# - Operators moved to provider packages: `PythonOperator` is in
#   `airflow.providers.standard.operators.python`. The old path still imports, through a
#   deprecation shim that warns, and will go.
# - DAG authors import from `airflow.sdk` (`DAG`, `dag`, `task`, `Param`, `get_current_context`
#   ...), the public, stable interface; `airflow.models` is Airflow's internals.
# - `provide_context` and `execution_date` are gone: every task receives its context, and the
#   run's dates are the `logical_date` and the data interval (`data_interval_start`,
#   `data_interval_end`). A cron schedule now uses `CronTriggerTimetable` (lesson 5 shows what
#   that changes for the dates).

# %%
import warnings
from datetime import datetime

from airflow.sdk import DAG

try:
    DAG("report_v2", schedule_interval="@daily", start_date=datetime(2024, 1, 1))
except TypeError as error:
    print("schedule_interval:", error)
report = DAG("report_v3", schedule="@daily", start_date=datetime(2024, 1, 1))
print("catchup when not given:", report.catchup, "| timetable:", type(report.timetable).__name__)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from airflow.operators.python import PythonOperator as OldPath  # the Airflow 2 import
print(f"old import path gives {OldPath.__module__}, warning: {caught[0].category.__name__}")

# %% [markdown]
# A whole TaskFlow task with its context. `**context` receives the run's context (the
# dictionary `get_current_context()` returns); `data_interval_end` is where the run's data stops.
# The project's eleven tasks share one body, `run_step`, so here are the pieces that use the
# context, printed from the files that hold them: `run_config` (`airflow_impl/params.py`) turns
# the run's `params` and `data_interval_end` into the step's config (`data.as_of`: lesson 5
# backfills with it), `run_step` (`airflow_impl/tasks.py`) runs the step and fails at once on bad
# input, and `load_data` (the DAG file) is the first task.


# %%
def show_function(file: str, name: str) -> None:
    text = (runner.DAGS.parent / file).read_text()
    start = text.index(f"def {name}(")
    start = text.rfind("\n\n", 0, start) + 2  # include a decorator line
    end = text.find("\n\n\n", start)
    print(text[start : end if end > 0 else None], end="\n\n")


for file, name in (("params.py", "run_config"), ("tasks.py", "run_step")):
    show_function(file, name)
show_function("dags/ml_pipeline.py", "load_data")

# %% [markdown]
# ## 5. XCom, and why large data goes by reference
#
# XCom ("cross-communication") is how Airflow tasks pass values: each value is a row in the
# metadata database, stored as JSON (Airflow 3 removed the option to pickle XComs). Below, every
# XCom of the seed's run with its size. The seed pushes its whole data set by key: about 200 KB
# for 1,000 rows of 10 floats. The same pattern with a million-row table would put hundreds of
# megabytes into the database the scheduler and the UI query all day.
#
# **An internal peek.** To read the rows we use `XComModel` and `create_session`: Airflow's own
# database models, not a public API (they may change in any release, and a deployment's
# database is not yours to query). The public ways are the REST API of a running api-server,
# `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries`, and,
# inside a task, `ti.xcom_pull` from `airflow.sdk`. `dag.test()` starts no api-server, so for
# this in-process lesson we look at the rows directly.

# %%
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session


def xcoms(dag_id: str, run_id: str) -> list[tuple[str, str, int, str]]:
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id)).all()
        return [(r.task_id, r.key, len(str(r.value)), str(r.value)[:60]) for r in rows]


for task_id, key, size, preview in xcoms("ml_training_pipeline", first.run_id):
    print(f"  {task_id:<15} {key:<13} {size:>5} bytes  {preview}")

# %% [markdown]
# The project's DAG passes **paths**: each step writes its outputs (Parquet, JSON, the model in
# XGBoost's format) under the run's directory and returns where it put them. XCom then holds a
# few hundred bytes per task, however large the data. Run the pipeline (the small lesson config)
# and look at its XComs: you will see eleven paths. The task table comes from Airflow's task
# instances (state, `try_number`, start and end).

# %%
from mlpipeline import summary

cfg = course.small_config(work)
result = runner.run_pipeline(cfg, run_id="lesson02")
console.print(summary.tasks_table(result))
for step in result.tasks:  # in the graph's order
    print(f"  {step:<15} {str(result.outputs[step]).replace(str(work), '<work>')}")
assert result.ok and all(len(str(p)) < 300 for p in result.outputs.values())

# %% [markdown]
# ## The same run in Airflow's UI
#
# In production mode (`docs/production/README.md`: `stack up --engine airflow`, then `run
# --engine airflow --mode production`) a real scheduler runs this DAG on Celery workers, and
# the UI at http://127.0.0.1:18080/ shows the run: the grid on the left (a column per run, a
# row per task, the mapped `tune_model` counted twice), the run's details on the right. The
# picture is taken by a test (`tests/production/test_airflow.py`) from a finished run:
#
# ![Airflow's grid view of a production run](../docs/production/airflow-grid.png)

# %% [markdown]
# ## What we learned
#
# - Airflow is configured before it is imported; in-process runs need a home, a migrated
#   metadata database and DAG files inside the dags folder.
# - A DAG file declares tasks (TaskFlow `@task`, or operators), dependencies, `default_args`,
#   a schedule, a start date and `catchup`; it must be cheap to parse.
# - Airflow 3: `schedule` (no `schedule_interval`), `catchup` False by default, operators from
#   provider packages, DAGs from `airflow.sdk`, the run's dates from the task context.
# - A training score is not a result: the seed's DAG prints 1.0 on its training rows; quote the
#   held-out accuracy.
# - XCom carries small JSON values through the metadata database (no pickling in Airflow 3);
#   data goes by reference (paths).
# - `dag.test()` runs a DAG in-process and leaves the same records a scheduler would.
#
# ## Practice questions
#
# 1. What goes wrong if a script imports Airflow and only then sets `AIRFLOW_HOME`?
# 2. Why must heavy imports (pandas, xgboost) go inside the task functions?
# 3. In the TaskFlow DAG, where is the edge `split_data -> train_model` declared?
# 4. Why does the seed's example push predictions rather than the fitted model?
#
# Exercise: `exercises/02_xcom_budget.py` (solution in `solutions/02_xcom_budget.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. Airflow has already read its configuration: it uses `~/airflow` (creating it), and the
#    later setting is ignored.
# 2. The dag-processor re-parses every DAG file often (every 30 s by default); slow top-level
#    imports slow down every parse, delay changes reaching the scheduler, and a file that times
#    out while parsing is reported as an import error.
# 3. In the call `train_model(split, tuning)` inside the `@dag` function: passing `split` (the
#    output of `split_data`) creates the dependency.
# 4. XCom values are JSON: a fitted model is not, and Airflow 3 removed XCom pickling (loading a
#    pickle runs arbitrary code). The project's DAG writes the model to a file in XGBoost's own
#    format, with its sha256, and pushes the path.

# %%
shutil.rmtree(work)
