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
# # Lesson 4: Retries, backoff and alerting in three engines
#
# Networks drop, databases lock, a spot instance disappears: some failures go away if you simply
# try again a little later. Others (a missing column, a bad config) never will, and retrying
# them only delays the alert. This lesson injects faults into the real pipeline and watches each
# engine retry, back off, give up and alert.
#
# **Goals.** After this lesson you can
#
# 1. configure retries, exponential backoff, a cap and jitter once, in the config, and read how
#    each engine spells them;
# 2. inject a transient fault (`faults={"train_model": 2}`) and read the attempts each engine
#    recorded;
# 3. tell retryable errors from errors that must fail at once;
# 4. check that a permanent failure sends exactly one alert, however many attempts it took.
#
# - **Environment:** any; the Airflow section runs in `tox -e airflow`, the Prefect section in `tox
#   -e prefect`.
# - **Prerequisites:** lessons 1 to 3 (the engines you will read about).
# - **Learner time:** about 40 minutes; the notebook executes in 5 to 20 s depending on the engine.

# %%
# requires: any
import os
import random
import shutil

import course
from rich.console import Console

from mlpipeline import engines, summary
from mlpipeline.alerts import read_alerts

random.seed(0)
console = Console(width=100)
work = course.workdir("lesson04")
attempts_seen: dict[str, dict[str, int]] = {}  # engine -> step -> attempts, compared at the end


def run_with_faults(engine: str, run, extra: dict | None = None):
    """`train_model` fails twice, then works: show the engine's task table, note its attempts."""
    faulty = {"faults": {"train_model": 2}, "cache.enabled": False, **(extra or {})}
    result = run(course.small_config(work / engine, faulty), run_id=f"{engine}-faults")
    console.print(summary.tasks_table(result))
    attempts_seen[engine] = {name: t.attempts for name, t in result.tasks.items()}
    assert result.ok and result.tasks["train_model"].attempts == 3
    return result


def run_broken(engine: str, run):
    """`train_model` fails on every attempt: show the task table; return the run and its alerts."""
    cfg = course.small_config(work / f"{engine}-broken", {"faults": {"train_model": -1}})
    result = run(cfg, run_id=f"{engine}-broken")
    console.print(summary.tasks_table(result))
    return result, read_alerts(cfg.alerts.log)


# %% [markdown]
# ## 1. One retry policy, three spellings
#
# The config's `[orchestration]` section says how to retry, once for every engine:

# %%
cfg = course.small_config(work / "show")
print(cfg.orchestration)

# %% [markdown]
# | config key | mock (`Task`) | Airflow (`default_args`) | Prefect (`@task`) |
# |---|---|---|---|
# | `retries` | `retries` | `retries` | `retries` |
# | `retry_delay_seconds` | `retry_delay` | `retry_delay` | `retry_delay_seconds` (1) |
# | `retry_backoff` | `backoff` | `retry_exponential_backoff` | (1) |
# | `retry_max_delay_seconds` | `max_delay` | `max_retry_delay` | (1) |
# | `retry_jitter` | `jitter` | (2) | `retry_jitter_factor` |
#
# (1) Prefect takes a list of delays, one per retry: the project computes it from the three keys.
# (2) Airflow adds its own jitter: each wait falls between m and 2m.
#
# Attempts = retries + 1 everywhere. The delay before retry *k* is
# `min(cap, delay * backoff ** (k - 1))`, spread by the jitter so that many tasks failing at once
# do not all retry at the same instant. The mock engine's `Task.delay` computes exactly that;
# with a seeded random generator you will see 0.2, 0.4, 0.8 s, then the 1 s cap, each
# moved by at most 10 %:

# %%
from mock_impl.engine import Task

task = Task("example", fn=print, retry_delay=0.2, backoff=2.0, max_delay=1.0, jitter=0.1)
rng = random.Random(42)
for retry in range(1, 6):
    print(f"retry {retry}: wait {task.delay(retry, rng):.3f} s")

# %% [markdown]
# ## 2. A transient fault on the mock engine
#
# The config's `[faults]` table is for teaching and testing: `{"train_model": 2}` makes
# `train_model` raise an `InjectedFault` on its first two attempts and succeed on the third. The
# attempt counter is a file in the run directory, so it counts real attempts whichever engine,
# thread or process runs the step.
#
# We keep retries at 2 and use a short real backoff (0.2 s, then 0.4 s). You will see
# `train_model` with 3 attempts and at least 0.6 s of duration (the two waits), and every other
# step with 1 attempt.

# %%
from mock_impl.runner import run_pipeline as mock_run

backoff = {"orchestration.retry_delay_seconds": 0.2, "orchestration.retry_backoff": 2.0}
result = run_with_faults("mock", mock_run, backoff)
assert result.tasks["train_model"].duration >= 0.6
print("fault counter file says:", (result.run_dir / "faults" / "train_model.attempts").read_text())

# %% [markdown]
# ## 3. Errors a retry cannot fix
#
# Retrying a validation failure wastes time and hides the real problem. Every error the
# pipeline raises on purpose says whether another attempt could help
# (`mlpipeline.errors.is_retryable`); each engine asks before retrying (the mock's `retry_if`,
# Airflow's `AirflowFailException`, Prefect's `retry_condition_fn`).
#
# Here a CSV with one missing precipitation value goes through the mock engine with 3 retries
# allowed. You will see `validate_data` fail after **1** attempt, its descendants marked
# `upstream_failed`, and the error naming the column and the line.

# %%
from mlpipeline.errors import InjectedFault, ValidationFailed, is_retryable

print("InjectedFault retryable:", is_retryable(InjectedFault("boom")))
print("ValidationFailed retryable:", is_retryable(ValidationFailed(["a column is missing"])))
print("ConnectionError retryable:", is_retryable(ConnectionError("reset by peer")))

bad_csv = work / "bad.csv"
bad_csv.write_text(course.DATA.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
cfg = course.small_config(work / "bad", {"data.path": str(bad_csv), "orchestration.retries": 3})
result = mock_run(cfg, run_id="mock-bad-data")
console.print(summary.tasks_table(result))
print(result.error)
assert result.tasks["validate_data"].attempts == 1

# %% [markdown]
# ## 4. A permanent failure: one alert
#
# `{"train_model": -1}` fails every attempt. After its last attempt the task is `failed`, its
# descendants `upstream_failed`, and the run's failure hook calls the notifier **once**, not
# once per attempt. The default notifier (`mlpipeline.alerts.notifier_for`) appends one JSON
# line to the alert log and prints one line on stderr (you will see it below, starting with
# `ALERT [mock]`); with `alerts.smtp_host` set it also sends an e-mail.
#
# The failed run above (bad data) already sent one alert to its own log; this run's log is new.

# %%
result, alerts = run_broken("mock", mock_run)
print(f"{len(alerts)} alert(s):")
for alert in alerts:
    print(f"  step={alert['step']} error={alert['error']!r}")
assert len(alerts) == 1 and result.tasks["train_model"].attempts == 3

# %% [markdown]
# Notifiers are an interface with one method, `notify(alert)`. To send alerts elsewhere (a chat
# webhook, a pager), write a class with that method and give it to the engine. Here a notifier
# that keeps alerts in a list, plugged into the DAG of the mock wiring (`mock_impl/weather.py`) as
# its failure callback:

# %%
from mlpipeline.alerts import Alert
from mock_impl.weather import build_dag


class ListNotifier:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)


inbox = ListNotifier()
run_dir = work / "custom" / "run"
run_dir.mkdir(parents=True)
dag = build_dag(course.small_config(work / "custom", {"faults": {"load_data": -1}}), run_dir)
dag.on_failure_callback = lambda run: inbox.notify(
    Alert("mock", run.run_id, "load_data", run.tasks["load_data"].error, str(run_dir))
)
dag.run(run_id="custom-notifier")
print([alert.summary() for alert in inbox.alerts])

# %% [markdown]
# ## 5. The same faults under Airflow
#
# `airflow_impl` maps the same `[orchestration]` section onto `default_args` (`retries`,
# `retry_delay`, `retry_exponential_backoff`, `max_retry_delay`, `execution_timeout`). Airflow
# counts attempts in the task instance's `try_number`, and keeps the earlier tries in
# `TaskInstanceHistory`. Retries without delay keep this section quick: Airflow's own backoff
# never waits less than 1 s per retry.
#
# You will see the same attempts as the mock engine's: 3 for `train_model`, 1 for the others.
#
# **Read the seconds with care.** This is the first `dag.test()` of the lesson's process, and
# Airflow starts its in-process execution API when the first task runs: several seconds that
# the table charges to `load_data`, the first task, though none of it is `load_data`'s work
# (it reads a 50 KB CSV, a tenth of a second in the mock engine). The second Airflow run below
# pays no start-up, and its `load_data` is as quick as the others. A long-running scheduler
# pays this once per worker process, not per run (lesson 7 measures it as "cold start").

# %%
airflow_ok = course.engine_ready("airflow")
if airflow_ok:
    # Airflow logs every failed try with its traceback: quiet here, the errors are in run.log.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    airflow_run = engines.load("airflow").run_pipeline
    run_with_faults("airflow", airflow_run)

# %% [markdown]
# Those attempts are Airflow's own records. The final try stays on the task instance
# (`try_number` 3); the failed tries move to `TaskInstanceHistory`. You will see tries 1 and 2,
# both `failed`, and the final `success`.
#
# **An internal peek.** `TaskInstanceHistory`, `DagRun`, `TaskInstance` and `create_session` are
# Airflow's database models, not its public API: fine for a lesson that runs Airflow in-process,
# wrong for code that watches a deployment. There, ask the api-server:
# `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries` lists the same
# tries (the UI's grid view reads it).

# %%
if airflow_ok:
    from airflow.models import DagRun, TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_impl import RUN_ID_PARAM

    with create_session() as session:
        (dag_run,) = [
            r
            for r in session.scalars(select(DagRun).where(DagRun.dag_id == "ml_pipeline"))
            if r.conf.get(RUN_ID_PARAM) == "airflow-faults"
        ]
        tries = [
            (h.try_number, str(h.state))
            for h in session.scalars(
                select(TaskInstanceHistory).where(
                    TaskInstanceHistory.run_id == dag_run.run_id,
                    TaskInstanceHistory.task_id == "train_model",
                )
            )
        ]
        final = session.scalars(
            select(TaskInstance).where(
                TaskInstance.run_id == dag_run.run_id, TaskInstance.task_id == "train_model"
            )
        ).one()
        tries.append((final.try_number, str(final.state)))
    for try_number, state in sorted(tries):
        print(f"train_model try {try_number}: {state}")

# %% [markdown]
# A permanent failure under Airflow: the task-level `on_failure_callback` fires once per task
# after its last try, and the DAG-level one once per failed run: that one sends the alert.

# %%
if airflow_ok:
    result, alerts = run_broken("airflow", airflow_run)
    print(f"{len(alerts)} alert(s): step={alerts[0]['step']}")
    assert len(alerts) == 1

# %% [markdown]
# ## 6. The same faults under Prefect
#
# `prefect_impl` gives each `@task` `retries`, `retry_delay_seconds` (the list of waits,
# computed as above and capped), `retry_jitter_factor` and a `retry_condition_fn` that refuses
# to retry bad data.
# Prefect counts attempts in the task run's `run_count`, and its state history shows each one
# (`Running`, `Retrying`, ..., `Completed`).
#
# You will see the same attempts again: 3 for `train_model`, 1 for the others.

# %%
prefect_ok = course.engine_ready("prefect")
if prefect_ok:
    prefect_run = engines.load("prefect").run_pipeline
    run_with_faults("prefect", prefect_run)

# %% [markdown]
# Prefect has a helper for the usual schedule: `prefect.tasks.exponential_backoff(base)` returns
# a function that Prefect calls with the number of retries, giving the waits `base * 2**i`. It
# always doubles and has no cap, so the project computes the same list from the config
# (`retry_delay * retry_backoff**i`, capped at `retry_max_delay`) and passes the list to
# `retry_delay_seconds`, which takes either. You will see both lists agree for a factor of 2,
# and the project's cap where they part.

# %%
if prefect_ok:
    from prefect import task
    from prefect.tasks import exponential_backoff

    from prefect_impl.options import retry_delays

    print("exponential_backoff(1.0)(5):", exponential_backoff(backoff_factor=1.0)(5))
    o = course.small_config(
        work / "backoff",
        {
            "orchestration.retries": 5,
            "orchestration.retry_delay_seconds": 1.0,
            "orchestration.retry_max_delay_seconds": 10.0,
        },
    ).orchestration
    print("the project's waits, capped:  ", retry_delays(o))

    @task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=10))
    def call_service() -> str:
        return "ok"

    print("a task declared with it waits:", call_service.retry_delay_seconds, "(before jitter)")

# %% [markdown]
# Prefect's own record of those attempts: the task run's `run_count` and its state history,
# read through Prefect's client. You will see `Pending` and `Running`, then `AwaitingRetry` and
# `Retrying` for each of the two retries, then `Completed`.

# %%
if prefect_ok:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from prefect_impl import task_runs

    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["prefect-faults"]))
        )
    runs = task_runs.by_step(task_runs.read_task_runs(flow_run.id, expected=10))
    (train_run,) = runs["train_model"]
    print(f"train_model run_count {train_run.run_count}:", task_runs.state_history(train_run.id))

# %% [markdown]
# A permanent failure under Prefect: the flow's `on_failure` hook runs once per failed flow run
# and sends the one alert.

# %%
if prefect_ok:
    result, alerts = run_broken("prefect", prefect_run)
    print(f"{len(alerts)} alert(s): step={alerts[0]['step']}")
    assert len(alerts) == 1

# %% [markdown]
# ## 7. The engines agree
#
# Every engine that ran here recorded the same attempts for the same injected fault:

# %%
for engine, attempts in attempts_seen.items():
    print(f"{engine:<8} {attempts}")
assert all(a == attempts_seen["mock"] for a in attempts_seen.values())

# %% [markdown]
# ## What we learned
#
# - Retry policy lives in one place (`[orchestration]`) and maps onto each engine's own knobs;
#   attempts = retries + 1, delays grow geometrically up to a cap, with jitter.
# - Injected faults (`[faults]`) make retries visible and testable: the attempt counts are the
#   same in every engine.
# - Errors that a retry cannot fix (bad data, bad config) fail on the first attempt.
# - A failed run alerts exactly once, after the last attempt, through a one-method notifier
#   interface.
#
# ## Practice questions
#
# 1. With `retries = 3`, `retry_delay_seconds = 2`, `retry_backoff = 3` and a 10 s cap, how long
#    does a task that always fails wait in total (no jitter)?
# 2. Why must validation errors skip the retries?
# 3. Why should the alert fire after the last attempt and not on the first failure?
# 4. What does jitter protect against?
#
# Exercise: `exercises/04_flaky_service.py` (solution in `solutions/04_flaky_service.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. 2 + 6 + 10 = 18 s (the third wait, 18 s, is capped at 10 s).
# 2. The data will be just as bad on the next attempt: retrying only delays the alert and wastes
#    the retry budget (and, with backoff, minutes of waiting).
# 3. A transient failure that a retry fixes needs no human; alerting on every attempt trains
#    people to ignore alerts.
# 4. Many tasks failing together (a database restart) would otherwise all retry at the same
#    instant and overload the service again: the "thundering herd".

# %%
shutil.rmtree(work)
