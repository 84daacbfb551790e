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
# # Lesson 6: Common mistakes, each shown failing and then fixed
#
# Five mistakes that every orchestrated pipeline meets sooner or later. For each one you will
# see the mistake fail (an error, a wrong answer, or a cost out of proportion), then the fix,
# with real code on the mock engine, and on Airflow and Prefect where they are installed.
#
# **Goals.** After this lesson you can recognise and fix:
#
# 1. tasks too granular (the engine's overhead swamps the work);
# 2. no retries (one transient error fails the whole run);
# 3. hard-coded dates in a backfill (every past run trains on the same data);
# 4. no alerting (a failed run that nobody hears about);
# 5. large data through XCom (data frames in the orchestrator's database).
#
# - **Environment:** any; the Airflow section runs in `tox -e airflow`, the Prefect section in `tox
#   -e prefect`.
# - **Prerequisites:** lessons 1 to 5 (each mistake refers back to the lesson that teaches its
#   fix).
# - **Learner time:** about 40 minutes; the notebook executes in 5 to 20 s depending on the engine.

# %%
# requires: any
import logging
import os
import random
import shutil
import textwrap
import time

import course

from mlpipeline import artifacts
from mlpipeline.alerts import read_alerts
from mock_impl.engine import DAG
from mock_impl.runner import run_pipeline as mock_run

random.seed(0)
work = course.workdir("lesson06")

# %% [markdown]
# ## Mistake 1: tasks too granular
#
# Every task costs the engine something: scheduling, a state change, a log line, a database
# row. A task per row (or per tiny function) multiplies that cost by the number of rows.
#
# **Failing.** We compute the daily temperature range of the 1,461 days with one task per day
# on the mock engine, the cheapest engine there is (microseconds per task).
# **Fixed.** One task does the whole column. You will see the granular version take many times
# longer for the same result. On Airflow (about 0.1 s per task) the per-day version would take
# minutes: measure yours in lesson 7.

# %%
import pandas as pd

weather = pd.read_csv(course.DATA)
rows = weather[["temp_max", "temp_min"]].to_dict("records")

granular = DAG("per_row")
for i, row in enumerate(rows):
    granular.add_task(f"range_{i}", lambda row=row: row["temp_max"] - row["temp_min"])
started = time.perf_counter()
per_row = granular.run("granular")
granular_s = time.perf_counter() - started

coarse = DAG("per_column")
coarse.add_task("ranges", lambda: (weather["temp_max"] - weather["temp_min"]).tolist())
started = time.perf_counter()
whole = coarse.run("coarse")
coarse_s = time.perf_counter() - started

same = [per_row.results[f"range_{i}"] for i in range(len(rows))] == whole.results["ranges"]
print(f"one task per day: {len(rows)} tasks, {granular_s:.3f} s")
print(f"one task:         1 task,     {coarse_s:.4f} s   (same result: {same})")
print(f"the granular version is {granular_s / coarse_s:.0f}x slower")
assert same and granular_s > 3 * coarse_s

# %% [markdown]
# The rule of thumb: a task is a unit you would want to **retry, cache or watch on its own**
# (load the data, train a model), typically seconds to hours of work. Loops over rows belong
# inside a task, vectorised.
#
# ## Mistake 2: no retries
#
# **Failing.** With `retries = 0`, one transient error (here an injected fault: `load_data`
# fails once) fails the whole run, and every later step with it.
# **Fixed.** Two retries, the project's default: the same fault costs one extra attempt.

# %%
fault = {"faults": {"load_data": 1}, "cache.enabled": False}
for retries in (0, 2):
    cfg = course.small_config(
        work / f"retries-{retries}", {**fault, "orchestration.retries": retries}
    )
    result = mock_run(cfg, run_id=f"retries-{retries}")
    print(
        f"retries={retries}: run {result.state}, load_data attempts "
        f"{result.tasks['load_data'].attempts}, error: {result.error}"
    )

# %% [markdown]
# ## Mistake 3: hard-coded dates in a backfill
#
# **Failing.** A pipeline whose data window is a constant (or `date.today()`) gives the same
# answer for every past date. A backfill over three dates then "rebuilds" three identical models,
# each trained on data from the future of its date. The check: the models' sha256 are all equal.
# **Fixed.** The window comes from the run's logical date (here passed as `data.as_of`; Airflow
# passes its data interval). You will see three different models.


# %%
def backfill(logical_dates: list[str], hard_coded: bool) -> list[str]:
    models = []
    for day in logical_dates:
        as_of = "2015-12-31" if hard_coded else day  # the mistake, and the fix
        cfg = course.small_config(work / "backfill", {"data.as_of": as_of})
        result = mock_run(cfg, run_id=f"{'fixed' if not hard_coded else 'hard'}-{day}")
        models.append(result.model_sha256[:12])
    return models


days = ["2014-03-01", "2014-06-01", "2014-09-01"]
wrong = backfill(days, hard_coded=True)
right = backfill(days, hard_coded=False)
print("hard-coded date:", wrong, "distinct:", len(set(wrong)))
print("logical date:   ", right, "distinct:", len(set(right)))
assert len(set(wrong)) == 1 and len(set(right)) == 3

# %% [markdown]
# ## Mistake 4: no alerting
#
# **Failing.** An engine records a failure in its run record, and that is all: a scheduled run
# at 3 a.m. has nobody watching. Below, a DAG with no failure callback fails; the alert log stays
# empty, and you would learn about it when the dashboards go stale.
# **Fixed.** The project's wiring gives every engine a failure hook that calls the notifier
# once per failed run. You will see the run fail the same way, and one alert line (on stderr,
# starting with `ALERT [mock]`, and in the alert log).

# %%
from mlpipeline.execution import run_step
from mlpipeline.steps import WEATHER

cfg = course.small_config(work / "silent", {"faults": {"load_data": -1}})
silent = DAG("silent")  # no on_failure_callback, no notifier
silent.add_task("load_data", lambda: run_step(WEATHER, "load_data", cfg, work / "silent" / "run"))
run = silent.run("silent")
print(f"silent run: {run.state}; alerts logged: {len(read_alerts(cfg.alerts.log))}")

result = mock_run(cfg, run_id="alerting")
print(f"alerting run: {result.state}; alerts logged: {len(read_alerts(cfg.alerts.log))}")
assert len(read_alerts(cfg.alerts.log)) == 1

# %% [markdown]
# ## Mistake 5: large data through XCom
#
# What a task returns can end up stored by the orchestrator. Airflow always does: a TaskFlow
# task's return value becomes an XCom, a row of its metadata database. Prefect 3 stores nothing
# by default (results stay in memory, lesson 3), but as soon as a task has a cache policy or
# result persistence, its return value is written to result storage, on every run. The mock
# engine's cache stores return values the same way, as JSON records. Returning a data frame
# then means copying the data into the orchestrator, on every run, for every task.
#
# **Failing.** Storing a data frame as the engine would: the JSON record cannot hold it. (Airflow
# does accept a pandas frame, by converting it, and fills its database instead: see the Airflow
# section.) **Fixed.** The step writes the frame to a Parquet artifact and returns its path: a
# record of a few hundred bytes, whatever the size of the data.

# %%
from mlpipeline.caching import ResultCache

store = ResultCache(work / "results")
try:
    store.put("load_data", "frame", weather)
except TypeError as error:
    print(f"returning the frame: {type(error).__name__}: {error}")

path = artifacts.write_frame(work / "artifacts" / "raw.parquet", weather)
store.put("load_data", "path", str(path))
record = work / "results" / "load_data" / "path.json"
print(f"returning the path: a {record.stat().st_size}-byte record pointing at")
print(f"  {path.name}, {path.stat().st_size:,} bytes, fingerprinted so a changed file is noticed")

# %% [markdown]
# ## On Airflow
#
# The same mistakes on the real Airflow DAG and its XCom. To size an XCom without running a
# task we call `XComModel.serialize_value`, the function Airflow uses to store one: an internal
# peek (Airflow's database model, not its public API, which is `ti.xcom_push` inside a task and
# the REST API's `xcomEntries` outside). You will see:
#
# - the size of the XCom row a 1,461-row frame becomes, against the path;
# - a NumPy array refused as XCom outright;
# - a run with `retries = 0` failing on one transient fault, and the default succeeding.

# %%
airflow_ok = course.engine_ready("airflow")
if airflow_ok:
    # Airflow logs every failed try with its traceback: quiet here, the errors are in run.log.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    from airflow_impl import runner

    runner.prepare(work / "airflow-home")
    from airflow.models.xcom import XComModel

    as_frame = XComModel.serialize_value(weather)
    as_path = XComModel.serialize_value(str(path))
    print(f"XCom of the frame: {len(as_frame):,} bytes; of the path: {len(as_path)} bytes")
    gigabytes = len(as_frame) / len(weather) * 10_000_000 / 1e9
    print(f"  at this rate, a 10-million-row table makes a {gigabytes:.1f} GB XCom")
    try:
        XComModel.serialize_value(weather[["temp_max", "temp_min"]].to_numpy())
    except ValueError as error:
        print(f"XCom of a NumPy array: {type(error).__name__}: {error}")

    for retries in (0, 2):
        cfg = course.small_config(
            work / f"airflow-retries-{retries}", {**fault, "orchestration.retries": retries}
        )
        result = runner.run_pipeline(cfg, run_id=f"airflow-retries-{retries}")
        print(
            f"Airflow, retries={retries}: run {result.state}, "
            f"load_data try_number {result.tasks['load_data'].attempts}"
        )

# %% [markdown]
# ## On Prefect
#
# With Prefect, flows are plain Python, so we can write the mistakes directly. You will see:
#
# - one task per row against one task for the column, timed: Prefect's per-task cost is
#   milliseconds, so 200 row-tasks take a visible fraction of a second for microseconds of work.

# %%
prefect_ok = course.engine_ready("prefect")
if prefect_ok:
    from prefect_impl.runner import prefect_environment

    for key, value in prefect_environment(course.small_config(work / "prefect")).items():
        os.environ.setdefault(key, value)  # before the first `import prefect`
    os.makedirs(os.environ["PREFECT_HOME"], exist_ok=True)

    from prefect import flow, task
    from prefect.cache_policies import INPUTS, TASK_SOURCE
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    @task
    def temperature_range(row: dict) -> float:
        return row["temp_max"] - row["temp_min"]

    @task
    def temperature_ranges(path: str) -> list[float]:
        frame = pd.read_csv(path)
        return (frame["temp_max"] - frame["temp_min"]).tolist()

    @flow
    def per_row(n: int) -> list[float]:
        return [temperature_range(row) for row in rows[:n]]

    @flow
    def per_column(n: int) -> list[float]:
        return temperature_ranges(str(course.DATA))[:n]

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        per_column(1)  # the first flow run starts Prefect's server: not part of the timing
        timings = {}
        for pipeline in (per_row, per_column):
            started = time.perf_counter()
            pipeline(200)
            timings[pipeline.__name__] = time.perf_counter() - started
        per_task_ms = (timings["per_row"] - timings["per_column"]) / 199 * 1000
        print(
            f"Prefect, 200 rows: one task per row {timings['per_row']:.2f} s, "
            f"one task {timings['per_column']:.2f} s: about {per_task_ms:.1f} ms per extra task, "
            f"{per_task_ms * len(rows) / 1000:.0f} s for all {len(rows):,} days"
        )

# %% [markdown]
# Large data through Prefect's results: a task returning a data frame, cached with a JSON
# serializer (the cache policy is what turns persistence on). Prefect cannot store the frame,
# logs a warning and carries on: the task runs again on every call, the cache silently useless.
# Returning the path is stored and reused. The lesson's settings keep Prefect's console quiet
# (its handler shows CRITICAL only), which would hide that warning too: we catch Prefect's
# WARNING records with a handler of our own and print them. You will see the warning, then the
# frame version executed twice and the path version once.

# %%
if prefect_ok:
    executions = {"frame": 0, "path": 0}
    results = {"result_storage": work / "prefect-results", "result_serializer": "json"}

    @task(cache_policy=INPUTS + TASK_SOURCE, **results)
    def load_frame(source: str) -> pd.DataFrame:
        executions["frame"] += 1
        return pd.read_csv(source)

    @task(cache_policy=INPUTS + TASK_SOURCE, **results)
    def load_to_parquet(source: str) -> str:
        executions["path"] += 1
        return str(artifacts.write_frame(work / "prefect-raw.parquet", pd.read_csv(source)))

    @flow
    def load_twice(source: str) -> None:
        load_frame(source)
        load_frame(source)
        load_to_parquet(source)
        load_to_parquet(source)

    class Caught(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    caught = Caught()
    logging.getLogger("prefect").addHandler(caught)
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            load_twice(str(course.DATA))
    finally:
        logging.getLogger("prefect").removeHandler(caught)
    for message in caught.messages:
        print(textwrap.shorten(message, 240))
    assert caught.messages, "Prefect logged no warning"
    print("executions:", executions)

# %% [markdown]
# ## What we learned
#
# | mistake | symptom | fix |
# |---|---|---|
# | tasks too granular | the engine's overhead dominates | tasks of seconds; loops inside |
# | no retries | a transient error fails the run | retries with backoff, not for bad data |
# | hard-coded dates | a backfill rebuilds the same model | read the date from the run |
# | no alerting | failures nobody hears about | one alert per failed run |
# | large data through XCom | a bloated database, errors | artifacts on disk, paths in XCom |
#
# ## Practice questions
#
# 1. A task per customer for 20,000 customers on an engine costing 0.1 s per task: how much
#    overhead?
# 2. Which errors should *not* be retried?
# 3. What is wrong with `as_of = datetime.now()` inside a task?
# 4. Why is "the task returns a 200 MB frame and it works" still a mistake in Airflow?
#
# Exercise: `exercises/06_backfill_window.py` (solution in `solutions/06_backfill_window.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. 20,000 x 0.1 s = 2,000 s, over half an hour, before any work.
# 2. Errors another attempt cannot fix: invalid data, a wrong config, a failed validation.
# 3. A backfill or a rerun of a past date would read today's data: the run is not
#    reproducible and leaks the future into the past.
# 4. Every run writes 200 MB per such task into the metadata database, which the scheduler and
#    the UI read all day: it slows everything, and the database grows without bound. Pass a path
#    to storage built for data.

# %%
shutil.rmtree(work)
