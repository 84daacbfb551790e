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
# # Lesson 1: Pipelines as DAGs
#
# An orchestrator runs a *pipeline*: tasks that depend on each other's outputs. The dependencies
# form a **directed acyclic graph** (DAG), and every orchestrator (Airflow, Prefect, the small
# mock engine of this project) does the same three things with it: check the graph, find an order
# that respects it, and run each task once its inputs exist.
#
# **Goals.** After this lesson you can
#
# 1. write a pipeline as a graph of tasks and dependencies, in Python's `graphlib` format;
# 2. compute a topological order and the "waves" of tasks that may run in parallel;
# 3. explain why a cycle is refused, and read the error an engine gives for one;
# 4. run the seed tutorial's extract-transform-load example on the mock engine;
# 5. read the real ML pipeline's graph and run it end to end with the mock engine.
#
# - **Environment:** any (`tox -e mock`, `-e airflow` or `-e prefect`): no orchestrator needed.
# - **Prerequisites:** Python functions and dictionaries; nothing about orchestrators.
# - **Learner time:** about 30 minutes to read and run; the notebook executes in about 5 s.

# %%
# requires: none
import graphlib
import inspect
import random

import course
from rich.console import Console

random.seed(0)  # nothing here is random, but every lesson seeds what it might use
console = Console(width=100)

# %% [markdown]
# ## 1. Tasks and dependencies
#
# A graph in `graphlib`'s format is a dictionary: each task maps to the set of tasks it
# **depends on** (its predecessors). Here a small report: two sources are fetched, cleaned,
# joined, then published.

# %%
graph = {
    "fetch_sales": set(),
    "fetch_weather": set(),
    "clean_sales": {"fetch_sales"},
    "clean_weather": {"fetch_weather"},
    "join": {"clean_sales", "clean_weather"},
    "publish": {"join"},
}

# %% [markdown]
# Drawn left to right: each column holds tasks whose dependencies are all in earlier columns.
# `mlpipeline.plotting.plot_dag` draws any graph in this format on a matplotlib `ax` (run as a
# script, the lesson saves its pictures under `var/tutorials/`).

# %%
course.draw_dag(graph, "The report pipeline: two sources, cleaned, joined, published", "01_report")

# %% [markdown]
# ## 2. Topological order
#
# A *topological order* lists every task after all of its dependencies. There are usually
# several; `static_order()` returns one. You will see the two fetches first and `publish` last.

# %%
order = list(graphlib.TopologicalSorter(graph).static_order())
print(order)
assert order.index("join") > order.index("clean_sales")
assert order[-1] == "publish"

# %% [markdown]
# Engines do not run a fixed list: they ask which tasks are **ready** (all dependencies done),
# start them, and mark each one done when it finishes. This `get_ready()` / `done()` loop is
# how the mock engine drives its thread pool. Each "wave" below is a set of tasks that could run
# at the same time: you will see the two fetches together, then the two cleans, then `join` and
# `publish` one at a time.

# %%
sorter = graphlib.TopologicalSorter(graph)
sorter.prepare()
wave = 1
while sorter.is_active():
    ready = sorted(sorter.get_ready())
    print(f"wave {wave}: {ready}")
    sorter.done(*ready)  # in an engine: when each task has succeeded
    wave += 1

# %% [markdown]
# ## 3. Why cycles are refused
#
# If `clean_sales` also needed `publish`, no order could satisfy the graph: each task would wait
# for the other forever. A good engine checks this **before any work starts**. `graphlib`
# raises `CycleError` from `prepare()`, naming the nodes of the cycle. We catch the error here
# so that you can read it:

# %%
cyclic = dict(graph, clean_sales={"fetch_sales", "publish"})
try:
    graphlib.TopologicalSorter(cyclic).prepare()
except graphlib.CycleError as error:
    print(f"{type(error).__name__}: {error.args[0]}")
    print("the cycle:", " -> ".join(error.args[1]))

# %% [markdown]
# The mock engine (`mock_impl/engine.py`) builds on `TopologicalSorter` and turns the same
# problem into a clear `DAGError` raised by `DAG.validate()`, which `DAG.run()` calls first.
# It also refuses a dependency on a task that does not exist (a typo in a task name).

# %%
from mock_impl.engine import DAG, DAGError

broken = DAG("broken_report")
broken.add_task("fetch", lambda: 1)
broken.add_task("clean", lambda raw: raw, inputs={"raw": "publish"})
broken.add_task("publish", lambda data: data, inputs={"data": "clean"})
try:
    broken.run()
except DAGError as error:
    print(error)

typo = DAG("typo_report")
typo.add_task("fetch", lambda: 1)
typo.add_task("clean", lambda raw: raw, inputs={"raw": "fetsh"})
try:
    typo.run()
except DAGError as error:
    print(error)

# %% [markdown]
# ## 4. The seed tutorial's ETL example on the mock engine
#
# The project's first example lives in `mock_impl/etl_example.py`. Tasks are plain functions;
# `inputs={"argument": "upstream task"}` both declares the dependency and says which argument
# receives the upstream task's return value. Here is its code, printed from the module itself:

# %%
from mock_impl import etl_example

print(inspect.getsource(etl_example.build))

# %% [markdown]
# Running it prints four lines. You will see exactly:
#
# ```
# DAG: ml_pipeline
# Extract status: success
# Transform result: [2, 4, 6, 8, 10]
# Load records: 5
# ```

# %%
etl_example.main()

# %% [markdown]
# Every run also leaves a **run record**: per task, its state, number of attempts and timing.
# This is what an orchestrator's UI shows you (Airflow's grid view, Prefect's run page).

# %%
dag = etl_example.build()
run = dag.run(run_id="etl-demo")
for record in run.tasks.values():
    print(f"{record.name:<10} {record.state:<8} attempts={record.attempts}")
print("edges:", sorted((up, name) for name, ups in dag.graph.items() for up in ups))

# %% [markdown]
# ## 5. The real pipeline's graph
#
# The ML pipeline of this project is declared once, in `mlpipeline/graph.py`, in the same
# `graphlib` format. Every engine's graph is tested against it. Names are verbs, and they are the
# same everywhere: Airflow task ids, Prefect task names, mock nodes, log keys.

# %%
from mlpipeline.graph import EDGES, GRAPH, STEPS

for step in STEPS:
    print(f"{step:<15} <- {', '.join(sorted(GRAPH[step])) or '(start)'}")
print(f"{len(STEPS)} steps, {len(EDGES)} edges")

# %% [markdown]
# `split_data` feeds four later steps: the tuner and the trainer read its training rows, the
# evaluator and the gate its holdout rows. The picture and the waves show how little
# parallelism there is between steps; the parallel work of this pipeline is *inside*
# `tune_model` (cross-validation).

# %%
course.draw_dag(
    GRAPH, f"The ML pipeline (mlpipeline/graph.py): {len(GRAPH)} steps", "01_ml_pipeline"
)
sorter = graphlib.TopologicalSorter(GRAPH)
sorter.prepare()
while sorter.is_active():
    ready = sorted(sorter.get_ready())
    print(ready)
    sorter.done(*ready)

# %% [markdown]
# ## 6. Running the pipeline with the mock engine
#
# `mock_impl/weather.py` wires the eleven steps of `mlpipeline.steps` onto the mock engine, one
# `add_task` per step. Every engine offers the same entry point:
# `run_pipeline(cfg, *, run_id) -> RunResult`.
#
# `course.small_config` loads `configs/seattle_weather.toml` with two tuning candidates instead
# of six, and writes every output under a temporary directory. You will see one row per task:
# its state, its attempts and its seconds. What the steps compute (cross-validation, the
# holdout metrics, the promotion gate, the model registry with its staging -> integration
# test -> production path, and the model's sha256) is the subject of lesson 8; here we only
# check that the run succeeded and promoted a first model to production.

# %%
from mlpipeline import summary
from mock_impl.runner import run_pipeline

work = course.workdir("lesson01")
cfg = course.small_config(work)
result = run_pipeline(cfg, run_id="lesson01")
console.print(summary.tasks_table(result))
print("run:", result.state, "| registry:", result.registration["reason"])
assert result.ok and result.registration["version"] == 1

# %% [markdown]
# Each step wrote its outputs under the run directory and passed only the **path** to the next
# task. Large data never travels through the engine (lesson 6 shows why that matters):

# %%
for step, path in result.outputs.items():
    print(f"{step:<15} {str(path).replace(str(work), '<work>')}")  # a list for the fan-out

# %% [markdown]
# ## What we learned
#
# - A pipeline is a DAG: tasks plus "depends on" edges. `graphlib.TopologicalSorter` orders it
#   and its `get_ready()` / `done()` loop tells an engine what may run in parallel.
# - Cycles and unknown dependencies are refused before any work starts, with the offending
#   nodes named.
# - The mock engine runs the seed's ETL example and the full ML pipeline, and records state,
#   attempts and timing per task.
# - The pipeline's graph is declared once (`mlpipeline.graph`) and shared by every engine.
#
# ## Practice questions
#
# 1. In `graph` above, which tasks could run at the same time as `clean_sales`?
# 2. Why must a cycle be detected before the first task runs rather than when it is reached?
# 3. In the ML pipeline, why does `gate_model` depend on `split_data`?
# 4. What would `etl_example` print for `Load records` if `extract` returned `[1, 2, 3]`?
#
# Exercise: `exercises/01_diamond.py` (solution in `solutions/01_diamond.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. `fetch_weather` and `clean_weather` (and `fetch_sales` has already finished): nothing links
#    them to the sales branch until `join`.
# 2. Work done before reaching the cycle would be wasted, and the run could never finish: the
#    tasks in the cycle would wait for each other forever. Checking the whole graph first costs
#    microseconds.
# 3. The gate re-scores the current production model on the same holdout rows as the candidate,
#    so that the comparison is fair.
# 4. `Load records: 3`: `transform` doubles each value and `load` counts them.

# %%
import shutil

shutil.rmtree(work)  # the lesson's outputs were temporary
