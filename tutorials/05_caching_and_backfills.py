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
# # Lesson 5: Caching and backfills
#
# Two questions every pipeline meets in its second week: *"I changed one threshold: must I
# retrain everything?"* and *"The model for last March was wrong: can I rebuild it from what we
# knew last March?"* The first is **caching**: re-run only what a change affects. The second is
# a **backfill**: re-run the pipeline for past dates, each run seeing only the data of its date.
#
# **Goals.** After this lesson you can
#
# 1. say what a cache key must contain, and see a rerun served from the cache;
# 2. predict which steps a change re-runs (config, data, code);
# 3. recognise the stale-cache trap (a key that misses something the output depends on) and
#    fix it, in the mock engine and in Prefect's cache policies;
# 4. parametrize a run by its logical (execution) date so that a backfill of past dates trains
#    on what was known then, in the mock engine and in Airflow.
#
# - **Environment:** any; the Prefect section runs in `tox -e prefect`, the Airflow section in `tox
#   -e airflow`.
# - **Prerequisites:** lessons 1 to 4.
# - **Learner time:** about 45 minutes; the notebook executes in 5 to 25 s depending on the engine.

# %%
# requires: any
import json
import random
import shutil
from pathlib import Path

import course
from rich.console import Console

from mlpipeline import artifacts
from mlpipeline.graph import CACHEABLE, CONFIG_SECTIONS
from mock_impl.runner import run_pipeline as mock_run

random.seed(0)
console = Console(width=100)
work = course.workdir("lesson05")


def recomputed(result) -> list[str]:
    """The steps a run executed rather than served from its cache."""
    return [name for name, task in result.tasks.items() if not task.cache_hit]


NEVER_CACHED = ["gate_model", "register_model", "integration_test", "promote_model"]


# %% [markdown]
# ## 1. A rerun served from the cache
#
# The mock engine keys each cacheable step on everything its output depends on:
#
# - the step's **code**, including the project helpers it calls;
# - the **config sections** it reads (below);
# - its **inputs by content** (the upstream artifacts' bytes, not their paths);
# - the **files** it reads that are not inputs (the CSV, for `load_data`);
# - the versions of the libraries that compute it.
#
# `gate_model` and the three deployment steps (`register_model`, `integration_test`,
# `promote_model`) are never cached: they read and write the registry, whose state changes
# between runs.

# %%
for step, sections in CONFIG_SECTIONS.items():
    print(f"{step:<15} reads {', '.join(sections):<30} cacheable: {step in CACHEABLE}")

# %% [markdown]
# Run twice with the same inputs. You will see the first run compute all eleven steps and the
# second serve the seven cacheable ones from the cache; the gate then finds the same model
# already in production, the deployment steps have nothing to do, and the registry is left
# unchanged.

# %%
base = {"paths.cache": str(work / "shared-cache")}
first = mock_run(course.small_config(work / "a", base), run_id="first")
second = mock_run(course.small_config(work / "a", base), run_id="second")
print("first run computed: ", recomputed(first))
print("second run computed:", recomputed(second))
print("registry:", second.registration["reason"])
print(f"wall time: {first.wall_seconds:.2f} s, then {second.wall_seconds:.2f} s")
assert recomputed(second) == NEVER_CACHED

# %% [markdown]
# ## 2. Re-run only what changed
#
# Each change invalidates the steps whose key it enters, and, through their outputs' content,
# the steps downstream of them. You will see:
#
# - a stricter **gate** threshold: nothing cached is invalidated (the gate is never cached);
# - a different **tuning grid**: `tune_model` and everything after it;
# - an extra **feature window**: from `build_features` on; `load_data` and `validate_data` are
#   reused.

# %%
changes = {
    "gate.min_accuracy = 0.65": {"gate.min_accuracy": 0.65},
    "a third tuning candidate": {
        "tuning.grid": {"max_depth": [2, 3, 4], "learning_rate": [0.1], "n_estimators": [40]}
    },
    "features.windows += 30": {"features.windows": [3, 7, 14, 30]},
}
for i, (change, overrides) in enumerate(changes.items()):
    result = mock_run(course.small_config(work / "a", {**base, **overrides}), run_id=f"change-{i}")
    print(f"{change:<26} recomputed {recomputed(result)}")

# %% [markdown]
# ## 3. The stale-cache trap
#
# A cache is only as good as its key. If the key misses something the output depends on, the
# engine happily returns an **old** result: no error, just a wrong answer. The classic case: a
# task keyed on its arguments that also reads a file.
#
# Here is that bug on the mock engine's generic cache (`DAG(cache=...)`, a `cache_key` per task):
# `count_rainy_days` is keyed only on its argument, the path, while its result depends on the
# file's content. We append rows to the file and run again. You will see the stale count
# first, then the right one once the key includes the file's content
# (`artifacts.content_fingerprint`, the same function the pipeline's keys use).

# %%
from mlpipeline.caching import ResultCache
from mock_impl.engine import DAG

csv_path = work / "weather.csv"
shutil.copy(course.DATA, csv_path)


def count_rainy_days(path: str) -> int:
    lines = Path(path).read_text(encoding="utf-8").splitlines()[1:]
    return sum(line.endswith(",rain") for line in lines)


def rainy_days(key_on_content: bool, run_id: str) -> int:
    dag = DAG("rain", cache=ResultCache(work / f"cache-{key_on_content}"))
    dag.add_task("path", lambda: str(csv_path))
    key = (
        (lambda kw: artifacts.content_fingerprint(kw["path"]))  # the file's bytes
        if key_on_content
        else (lambda kw: json.dumps(kw))  # only the argument: the path string
    )
    dag.add_task("count", count_rainy_days, inputs={"path": "path"}, cache_key=key)
    return dag.run(run_id).results["count"]


for key_on_content in (False, True):
    shutil.copy(course.DATA, csv_path)
    before = rainy_days(key_on_content, "before")
    with open(csv_path, "a", encoding="utf-8") as f:  # new data arrives
        f.write("2016/01/01,5.0,8.0,3.0,4.0,rain\n2016/01/02,2.0,7.0,2.0,3.0,rain\n")
    after = rainy_days(key_on_content, "after")
    label = "key = file content" if key_on_content else "key = path only  "
    print(f"{label}: {before} rainy days, then {after} after appending 2 rainy days")

# %% [markdown]
# Code is the other thing keys forget. Prefect's `TASK_SOURCE` policy hashes the task's own
# source but not the helpers it calls: edit a helper and the task still hits its old cache
# entry. The project's keys (`mlpipeline.caching.code_fingerprint`) follow the calls into the
# project's own helpers. The Prefect section below shows the trap live.
#
# ## 4. Prefect: cache policies
#
# Prefect 3 caches a task when its `cache_policy` computes a key that matches a stored result.
# The default policy includes the flow run's id, so it never reuses results across runs.
# `INPUTS` keys on the arguments, `TASK_SOURCE` on the task's own source code; policies add up
# with `+`, and a cache policy turns on result persistence (here JSON files in a folder). We
# define a task that calls a helper, cache it on `INPUTS + TASK_SOURCE`, then change the helper.
# You will see the stale value `2` come back from the cache after the helper changed, and the
# right `3` once the helper's source is part of the key.

# %%
prefect_ok = course.engine_ready("prefect")
if prefect_ok:
    import inspect
    import os

    from prefect_impl.runner import prefect_environment

    for key, value in prefect_environment(course.small_config(work / "prefect")).items():
        os.environ.setdefault(key, value)  # before the first `import prefect`
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)

    from prefect import flow, task
    from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
    from prefect.utilities.hashing import hash_objects

    def scale(x: int) -> int:  # a helper the task calls
        return x * 2

    @task(
        cache_policy=INPUTS + TASK_SOURCE,
        result_storage=work / "prefect-results",  # a Path: a local folder
        result_serializer="json",
    )
    def scaled(x: int) -> int:
        return scale(x)

    @flow
    def scale_one(x: int) -> int:
        return scaled(x)

    print("scale(1) =", scale(1), "-> flow returns", scale_one(1))

    def scale(x: int) -> int:  # the helper is edited: x * 3 now
        return x * 3

    print("scale(1) =", scale(1), "-> flow returns", scale_one(1), "(stale: from the cache)")

    helper_source = CachePolicy.from_cache_key_fn(
        lambda context, parameters: hash_objects(inspect.getsource(scale))
    )
    keyed_on_helper = scaled.with_options(cache_policy=INPUTS + TASK_SOURCE + helper_source)

    @flow
    def scale_one_fixed(x: int) -> int:
        return keyed_on_helper(x)

    print("scale(1) =", scale(1), "-> flow returns", scale_one_fixed(1), "(the key saw the edit)")

# %% [markdown]
# The project's flow does not rely on `TASK_SOURCE` alone: `prefect_impl/cache.py` keys each
# step with the same `step_cache_key` as the mock engine (code with its helpers, config
# sections, inputs by content, the CSV, library versions), and stores the records as checked
# JSON, never pickle. You will see the second run compute only the gate and the deployment
# steps, as on the mock engine.

# %%
if prefect_ok:
    from prefect_impl.runner import run_pipeline as prefect_run

    cfg = course.small_config(work / "prefect")
    first = prefect_run(cfg, run_id="prefect-first")
    second = prefect_run(cfg, run_id="prefect-second")
    print("first run computed: ", recomputed(first))
    print("second run computed:", recomputed(second))
    assert recomputed(second) == NEVER_CACHED

# %% [markdown]
# ## 5. Backfills: parametrize by the run's date
#
# A scheduled pipeline runs once per interval (daily here). Each run has a **logical date**
# (Airflow's name; "execution date" in older versions): the date the run stands for, not the
# moment it happens to run. Which moment of the data that is depends on the timetable: under
# Airflow 3's default for cron schedules, `CronTriggerTimetable`, it is where the run's data
# stops (section 6 shows the other case). A **backfill** runs the pipeline for past logical
# dates, for example after fixing a bug, and each run must see only the data known on its date.
# That only works if the pipeline reads its date from the run, never from the clock.
#
# The project's config has `data.as_of`: the exclusive end of the data window. The Airflow DAG
# sets it from each run's data interval; on the mock engine we pass it explicitly. You will see
# three runs train and evaluate on three different windows.

# %%
for as_of in ("2013-06-01", "2014-06-01", "2015-06-01"):
    cfg = course.small_config(work / "backfill", {"data.as_of": as_of})
    result = mock_run(cfg, run_id=f"as-of-{as_of}")
    split = artifacts.read_json(result.run_dir / "split_data" / "split.json")
    print(
        f"as_of {as_of}: train {split['train_range'][0][:10]}..{split['train_range'][1][:10]}"
        f", holdout ..{split['holdout_range'][1][:10]}"
        f", accuracy {result.metrics['accuracy']:.3f}"
    )

# %% [markdown]
# ## 6. Airflow: logical dates and backfill
#
# The `ml_pipeline` DAG runs `@daily` from 2012-01-01 with `catchup=False`: the scheduler does
# not create the runs between the start date and today on its own. A backfill asks for them
# explicitly (`airflow backfill create --dag-id ml_pipeline --from-date ... --to-date ...`, run
# by the scheduler). In this notebook we run the same thing in-process: `dag.test()` with a
# `logical_date` per day (`runner.run_pipeline(..., logical_date=...)`). Each task finds its
# date in its context (`data_interval_end`), and the DAG turns it into `data.as_of`.
#
# **Which timetable?** Airflow 3 schedules a cron string (`"@daily"` included) with
# `CronTriggerTimetable` by default (`[scheduler] create_cron_data_intervals = False`): a run's
# data interval is the single instant of its logical date, so `logical_date`,
# `data_interval_start` and `data_interval_end` are the same moment. Airflow 2's default,
# `CronDataIntervalTimetable` (still available, and chosen by that setting), gives a run the
# whole interval, its logical date is the interval's **start**, and it runs after the interval
# **ends**: the run dated 2015-06-01 has `data_interval_end` 2015-06-02 and starts then. The
# DAG reads `data_interval_end`, which is right under both; code that reads `logical_date` as
# "the data ends here" is right only under the first. The first cell prints both timetables'
# run for 2015-06-01 (no run needed: timetables are plain objects); then three logical dates
# give three data windows, each ending the day before its date.

# %%
airflow_ok = course.engine_ready("airflow")
if airflow_ok:
    from airflow_impl import runner

    runner.prepare(work / "airflow" / "airflow-home")  # before Airflow's first import
    import pendulum
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

    june_first = pendulum.datetime(2015, 6, 1, tz="UTC")
    window = TimeRestriction(earliest=june_first, latest=None, catchup=True)
    for timetable in (
        CronTriggerTimetable("@daily", timezone="UTC"),
        CronDataIntervalTimetable("@daily", timezone="UTC"),
    ):
        run = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=window)
        print(
            f"{type(timetable).__name__:<26} logical date {run.logical_date:%Y-%m-%d}, "
            f"interval {run.data_interval.start:%m-%d}..{run.data_interval.end:%m-%d}, "
            f"runs after {run.run_after:%Y-%m-%d}"
        )

# %%
if airflow_ok:
    from datetime import datetime, timezone

    cfg = course.small_config(work / "airflow")
    for year in (2013, 2014, 2015):
        day = datetime(year, 6, 1, tzinfo=timezone.utc)
        result = runner.run_pipeline(cfg, run_id=f"backfill-{year}", logical_date=day)
        report = artifacts.read_json(result.run_dir / "validate_data" / "validation.json")
        print(
            f"logical date {day.date()}: rows {report['time_range'][0][:10]}.."
            f"{report['time_range'][1][:10]} ({report['rows_out']} rows), "
            f"accuracy {result.metrics['accuracy']:.3f}"
        )
        assert report["time_range"][1].startswith(f"{year}-05-31")

# %% [markdown]
# ## What we learned
#
# - A cache key must cover code (helpers included), config, input content, external files and
#   library versions; then a rerun re-executes exactly what a change affects.
# - A key that misses a dependency returns stale results silently: the file read behind the
#   engine's back, the helper edited behind `TASK_SOURCE`'s back.
# - A backfill is the pipeline run for past logical dates; it is correct only if every step
#   takes its date from the run (Airflow's data interval, the config's `data.as_of`), never from
#   the clock or a constant.
#
# ## Practice questions
#
# 1. You change `split.holdout_fraction`. Which steps re-run?
# 2. Why does the key hash the *content* of upstream artifacts rather than their paths?
# 3. A task's cache key is `INPUTS` only. Two different tasks are called with the same
#    arguments. What can go wrong?
# 4. Why is `catchup=False` a sensible default for this DAG?
#
# Exercise: `exercises/05_cache_key.py` (solution in `solutions/05_cache_key.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. `split_data` (it reads the `split` section) and everything downstream whose inputs then
#    change: `tune_model`, `train_model`, `evaluate_model`, plus the never-cached gate and
#    deployment steps. `load_data`, `validate_data` and `build_features` are reused.
# 2. Each run writes to its own directory, so paths differ on every run (no hit would ever
#    happen), and a path can hold different bytes over time (a stale hit). Content is what the
#    output depends on.
# 3. Both tasks compute the same key, so one can return the other's cached result. Add
#    `TASK_SOURCE` (or the task's name) to the policy.
# 4. With a start date in 2012, catching up would schedule one run per day since then: more
#    than ten years of daily training runs the moment the DAG is switched on. Backfill the dates
#    you need on purpose instead.

# %%
shutil.rmtree(work)
