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
# # Lesson 7: Reading the benchmarks
#
# An orchestrator costs time around every task and around every run. Whether that cost matters
# depends on how long your tasks are and how many there are. This lesson measures it on your
# machine, plots it, and turns it into a decision.
#
# **Goals.** After this lesson you can
#
# 1. run the project's benchmarks in quick mode and build their report;
# 2. read the plots: per-task overhead against chain length, fixed versus per-task cost, the
#    cost of a retry, cold versus warm cache, time inside versus around the steps;
# 3. compute what an engine's overhead means for a pipeline of a given size;
# 4. say when each engine fits.
#
# - **Environment:** any: it reads the committed full-run results; a smoke run uses the mock engine
#   only.
# - **Prerequisites:** lessons 1 to 4 (what a task, a retry and a cache hit cost).
# - **Learner time:** about 40 minutes; the notebook executes in about 10 s.

# %%
# requires: any
import importlib.util
import io
import json
import subprocess
import sys

import course
from matplotlib.figure import Figure

from mlpipeline import engines, plotting

sys.path.insert(0, str(course.ROOT))  # benchmarks/ is a folder of the repository, not a package
from benchmarks.adapters import ADAPTERS  # noqa: E402
from benchmarks.report import load, summarise  # noqa: E402

work = course.workdir("lesson07")

# %% [markdown]
# ## 1. Measure
#
# `python -m benchmarks run` is a pytest-benchmark session with fixed flags: every engine runs
# the same scenarios (chains of no-op tasks, a fan-out, a flaky task, the full pipeline twice,
# a cold start in a fresh process), and every round checks that the work was really done
# (the chain's last task returns N, the flaky task's attempts equal failures + 1, the pipeline's
# model has the expected sha256). `direct` is the baseline: the same Python calls without any
# engine. `--quick` uses fewer sizes and rounds: good for learning to read the numbers, not for
# quoting them.
#
# We measure the mock engine with the whole quick suite (about 10 s). For Airflow and Prefect,
# when installed here, we measure the task scenarios only (chains, fan-out, retries: a minute
# or two): their full-pipeline and cold-start scenarios start fresh processes and servers round
# after round, which takes several minutes. `tox -e airflow` and `tox -e prefect` run those too,
# and section 8 reads the committed full results. You will see one line per engine with the end
# of pytest's summary, such as `18 passed in 6.1s`.

# %%
heavy = [
    name
    for name in engines.available()
    if name != "mock" and importlib.util.find_spec(ADAPTERS[name][0]) is not None
]
scenarios = {"mock": []} | {name: ["--", "-k", "chain or fanout or retry_zero"] for name in heavy}
for name, selection in scenarios.items():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--quick", "--engines", f"direct,{name}"]
        + ["--output", str(work / "results"), "--label", name, *selection],
        cwd=course.ROOT,
        capture_output=True,
        text=True,
    )
    print(f"{name:<8}", done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

# %% [markdown]
# ## 2. Summarise
#
# The JSON file holds every round, the package versions, the settings of each engine and facts
# about the machine. `benchmarks.report.summarise` turns it into one row per engine and
# scenario; `python -m benchmarks report` draws the same tables as slides. Here are the
# versions the numbers belong to:

# %%
runs = load(work / "results")
tables = summarise(runs)
suite = runs[0]["suite"]
print(f"Python {suite['python']} on {suite['machine']['cpus']} CPUs, quick={suite['quick']}")
for package, version in sorted(suite["versions"].items()):
    print(f"  {package} {version}")


# %% [markdown]
# Plots are drawn by the functions of `mlpipeline.plotting`, which take a matplotlib `ax` and
# return it. We draw on a `Figure` (not `pyplot`), so each plot appears once in the notebook.
# Run as a script, the lesson saves the plots as PNG files under `var/tutorials/` instead
# (`var/` is ignored by git).


# %%
def show(fig: Figure, name: str) -> None:
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=80)
    try:
        from IPython.display import Image, display

        get_ipython  # noqa: B018 - defined only inside IPython and Jupyter
        display(Image(png.getvalue()))
    except NameError:
        path = course.ROOT / "var" / "tutorials" / f"07_{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png.getvalue())
        print(f"plot saved: {path.relative_to(course.ROOT)}")


engines_only = [row for row in tables["overhead"] if row["engine"] != "direct"]

# %% [markdown]
# ## 3. Overhead per task
#
# A chain of N no-op tasks isolates the engine: the tasks do nothing, so all the time is the
# engine's. Per-task overhead is `(engine time - direct time) / N`. On the log-log plot you will
# see each engine's line fall as N grows: the fixed cost of a run (set-up, the first task) is
# spread over more tasks.

# %%
fig = Figure(figsize=(8, 4.5))
plotting.plot_overhead_per_task(fig.subplots(), engines_only)
show(fig, "overhead_per_task")

# %% [markdown]
# ## 4. Fixed cost versus per-task cost
#
# Fitting `time = fixed + per_task * N` over the chain lengths separates two costs: the
# **fixed cost** of a run (the intercept: creating the run, starting workers, writing the run
# record) and the **cost per task** (the slope minus the direct slope: scheduling, state
# changes, logging, result handling). The left panel is the first, the right the second.
#
# In quick mode the line goes through two chain lengths (1 and 10) measured twice each, so the
# split is noisy: a slow round can even make the slope negative. The full run fits N = 1, 10,
# 50 and 100 over five rounds; quote those numbers (section 8), not these.


# %%
def print_costs(overhead_rows: list[dict]) -> None:
    for row in overhead_rows:
        print(
            f"{row['label']:<18} fixed {row['fixed_ms']:9.3f} ms/run "
            f"{row['slope_ms']:8.3f} ms/task   (chains of {row['n']} tasks)"
        )


fig = Figure(figsize=(10, 4))
plotting.plot_cost_breakdown(fig.subplots(1, 2), engines_only)
show(fig, "cost_breakdown")
print_costs(engines_only)

# %% [markdown]
# ## 5. What overhead means for *your* pipeline
#
# The fit predicts the engine's time for a pipeline of N tasks: `fixed + per_task * N`. Whether
# that matters depends on the work inside the tasks. Below, for the nine-step pipeline of this
# project, we compare it with two workloads: the small lesson config (about half a second of
# work) and a realistic training job (ten minutes). The last column is the task length at which
# the per-task cost is 1 % of the task: tasks much shorter than that are too granular for this
# engine (lesson 6 shows the mistake).


# %%
def overhead_seconds(row: dict, n_tasks: int) -> float:
    return (row["fixed_ms"] + row["slope_ms"] * n_tasks) / 1000


print(f"{'engine':<18} {'overhead s':>10} {'of 0.5 s':>9} {'of 10 min':>10} {'1 % at':>10}")
for row in engines_only:
    cost = overhead_seconds(row, 9)
    one_percent_ms = max(row["slope_ms"], 0) * 100
    print(
        f"{row['label']:<18} {cost:10.4f} {cost / 0.5:9.2%} {cost / 600:10.4%} "
        f"{one_percent_ms:7.1f} ms"
    )

# %% [markdown]
# ## 6. Retries and caching
#
# A retry with no delay costs the engine one more attempt: recording the failure, deciding to
# retry, re-running. The left plot shows that cost per retry. With backoff, the configured
# waits dominate (0.1 s, then 0.2 s ...): the benchmark checks that each engine honours them.
#
# The right plot runs the full pipeline twice with unchanged inputs. The warm run serves the
# seven cacheable steps from the cache and recomputes only the gate and the registration
# (lesson 5 explains the keys). Airflow has no input cache: its bars measure the project's
# substitute (reuse a valid artifact with the same key), and say so in the report.

# %%
fig = Figure(figsize=(11, 4))
left, right = fig.subplots(1, 2)
plotting.plot_retry_cost(left, [r for r in tables["retry"] if r["engine"] != "direct"])
plotting.plot_cache(right, tables["cache"])
show(fig, "retry_and_cache")
for row in tables["cache"]:
    print(
        f"{row['label']:<18} cold {row['cold_s']:.3f} s, warm {row['warm_s']:.3f} s, "
        f"{row['cached_tasks']} tasks from cache, x{row['speedup']:.1f}"
    )

# %% [markdown]
# ## 7. End to end, and cold start
#
# The end-to-end plot splits a full pipeline run into the time *inside* the steps (the same for
# every engine: the steps record it themselves) and the time *around* them (the orchestrator).
# The cold-start plot is what a fresh process pays before its first task: importing the engine,
# setting up its database or server, and running a one-task pipeline. A command-line job
# started by cron pays it on every run; a long-lived scheduler or worker pays it once.

# %%
fig = Figure(figsize=(11, 4))
left, right = fig.subplots(1, 2)
plotting.plot_end_to_end(left, tables["end_to_end"])
plotting.plot_cold_start(right, [r for r in tables["cold_start"] if r["engine"] != "direct"])
show(fig, "end_to_end_and_cold_start")
for row in tables["end_to_end"]:
    print(
        f"{row['label']:<18} wall {row['wall_s']:.3f} s = inside {row['inside_s']:.3f} s "
        f"+ around {row['around_s']:.3f} s"
    )

# %% [markdown]
# ## 8. The committed full results
#
# The numbers above are a quick run on this machine. The full run (`tox run -m bench`: five
# rounds, chains up to 100 tasks, every engine in its own environment) writes its summary to
# `docs/benchmarks/summary.json` beside the slides (`report.md` and the plots). When that file
# is in your checkout, this cell prints its overhead table; the quick numbers above should agree
# with it in order of magnitude.

# %%
full = course.ROOT / "docs" / "benchmarks" / "summary.json"
if full.exists():  # the same tables as `summarise` returns, for the full run
    print_costs(json.loads(full.read_text())["overhead"])
else:
    print(f"{full.relative_to(course.ROOT)} is not in this checkout: run `tox run -m bench`")

# %% [markdown]
# ## When each engine fits
#
# - **The mock engine** (or plain function calls): tens of microseconds per task and no set-up.
#   Right for tests, notebooks and teaching, and for pipelines that run inside one process. It
#   has no scheduler, no UI and no history across runs.
# - **Airflow**: the largest per-task cost of the three (database writes at every state
#   change) and seconds of start-up (`dag.test()` starts an in-process API on its first run),
#   but a scheduler, a UI, backfills over logical dates, and a large ecosystem of operators. It
#   fits scheduled batch pipelines whose tasks take seconds to hours, where 0.1 s per task is
#   noise.
# - **Prefect**: a server to start (seconds, once per process), then lower per-task cost than
#   Airflow, plain Python control flow, `.map` fan-out and input caching built in. It fits
#   Python-first teams, dynamic pipelines and fan-out of many medium-sized tasks.
#
# In every case the decision rule from section 5 applies: overhead matters only relative to the
# work inside the tasks. Group work into tasks of at least a few seconds, and the engine's cost
# disappears from the total.
#
# ## What we learned
#
# - Benchmarks isolate the engine with no-op tasks and subtract a direct-call baseline measured
#   in the same environment; every round checks the work was done.
# - `time = fixed + per_task * N` separates the per-run cost from the per-task cost; the fit
#   predicts an engine's overhead for any pipeline size.
# - Overhead is a fraction of the work: the same engine is negligible for ten-minute tasks and
#   dominant for millisecond tasks.
#
# ## Practice questions
#
# 1. An engine has a fixed cost of 2 s and 0.1 s per task. What is its overhead for a 30-task
#    pipeline, and what fraction is that of 15 minutes of work?
# 2. Why does the per-task overhead on the log-log plot fall as N grows?
# 3. Why is the direct baseline measured in each engine's own environment?
# 4. A warm cached run is 10x faster than a cold one. When is that speed-up worth nothing?
#
# Exercise: `exercises/07_overhead_budget.py` (solution in `solutions/07_overhead_budget.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. 2 + 30 x 0.1 = 5 s, which is 5 / 900 = 0.56 % of 15 minutes.
# 2. Per-task overhead divides the whole run's overhead, fixed cost included, by N: the fixed
#    part is shared by more tasks.
# 3. Each environment has its own package versions (and the machine's state varies between
#    sessions); subtracting a baseline from the same process removes the Python and library
#    cost, leaving only the engine's.
# 4. When the inputs change on every run (new data each day): nothing is reused, and the cache
#    only adds the cost of computing keys and storing results.

# %%
import shutil

shutil.rmtree(work)
