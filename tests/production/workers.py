"""Which worker ran which task, from the records of the executor that ran them: Celery's result
table for Airflow's CeleryExecutor, the Dask workers' own transition logs for Prefect's
DaskTaskRunner. Neither engine's task records name a worker process of their own (Airflow's
task instances on one machine all show the same hostname), so these are the proof that the
work left the scheduler and the flow process."""

from __future__ import annotations

import json
from collections import Counter

from mlpipeline.stack import postgres, stacks


def celery_tasks(stack: stacks.Stack) -> list[tuple[str, str, str]]:
    """(worker, dag run id, task id) for every task the Celery workers ran: `celery_taskmeta`
    with extended results (`mlpipeline.stack.airflow_stack`), args = the task's workload."""
    sql = (
        "select coalesce(json_agg(json_build_object('worker', worker, 'args', "
        "convert_from(args, 'UTF8'))), '[]') from celery_taskmeta"
    )
    rows = json.loads(postgres.query(stack.ports["postgres"], sql, "airflow"))
    ran = []
    for row in rows:
        (workload,) = json.loads(row["args"])  # execute_workload(input): the workload as JSON
        ti = json.loads(workload)["ti"] if isinstance(workload, str) else workload["ti"]
        ran.append((row["worker"], ti["run_id"], ti["task_id"]))
    return ran


def dask_tasks(stack: stacks.Stack) -> dict[str, Counter]:
    """worker name -> how many tasks of each step it executed, from each worker's log of state
    transitions (a task key is `<function name>-<token>`; the function is the step)."""
    from distributed import Client

    def executed(dask_worker) -> tuple[str, list[str]]:
        done = [
            entry[0] for entry in dask_worker.state.log if entry[1:3] == ("executing", "memory")
        ]
        return dask_worker.name, done

    with Client(stack.env["MLPIPELINE_DASK_ADDRESS"], timeout=30) as client:
        report = client.run(executed)
    return {name: Counter(key.rsplit("-", 1)[0] for key in keys) for name, keys in report.values()}
