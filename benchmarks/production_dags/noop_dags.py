"""No-op DAGs for the production benchmarks: chains of 10 and 40 tasks and a fan-out of 20.

A second DAG bundle of the benchmark stack (not the project's dags folder, whose DAGs the
tests count): the task bodies do nothing, so what is measured is Airflow's own cost of queueing,
dispatching and recording each task. Each task returns its index, and the chain's tasks add
their upstream's value: the last task's XCom proves every link ran, in order.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

# Triggered by the benchmark only, never retried: a failed task is a failed measurement.
OPTIONS = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "catchup": False,
    "default_args": {"retries": 0},
    "tags": ["benchmark"],
}


@task
def first() -> int:
    return 0


@task
def step(previous: int) -> int:
    return previous + 1


@task
def leaf(i: int) -> int:
    return i


def chain(n: int):
    @dag(dag_id=f"noop_chain_{n}", **OPTIONS)
    def noop_chain():
        value = first.override(task_id="t000")()
        for i in range(1, n):
            value = step.override(task_id=f"t{i:03d}")(value)

    return noop_chain()


def fanout(n: int):
    @dag(dag_id=f"noop_fanout_{n}", **OPTIONS)
    def noop_fanout():
        for i in range(n):
            leaf.override(task_id=f"t{i:03d}")(i)

    return noop_fanout()


chain(10)
chain(40)
fanout(20)
