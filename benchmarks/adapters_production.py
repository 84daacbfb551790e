"""Trigger a workload on a running production stack and read back each task's timestamps from
the engine's own records (never the harness clock).

* Airflow: task instances over REST: `queued_when`, `start_date`, `end_date`, `try_number`,
  `hostname`/`pid` of the worker.
* Prefect: task runs and their state history: Pending (the run was created and handed to the
  task runner), Running, Completed; `run_count`; the worker from the task run's `task_runner`
  (Dask worker or thread pool).

Each returns `Timing`s in task order and a result that proves the work: how many tasks did it
(a chain's counter; a fan-out's successful tasks). `bench_production` does the arithmetic and
the checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Timing:
    task: str
    queued: float  # unix seconds
    start: float
    end: float
    tries: int
    worker: str = ""


@dataclass
class Outcome:
    ok: bool
    result: Any  # the workload's return value: proves the work was done
    tasks: list[Timing]
    wall: float  # trigger to final, harness clock: context only, not a per-task figure


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else float("nan")


# -- Airflow --------------------------------------------------------------------------------------
def airflow(api_url: str, dag_id: str, timeout: float = 900.0) -> Outcome:
    from airflow_impl.production import AirflowAPI, follow, task_instances, wait_for_dag

    api = AirflowAPI(api_url)
    try:
        wait_for_dag(api, dag_id)
        run_id = f"bench-{time.time_ns()}"
        started = time.perf_counter()
        api.call("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
        run = follow(api, dag_id, run_id, timeout, poll=0.25)
        wall = time.perf_counter() - started
        tis = sorted(task_instances(api, dag_id, run_id), key=lambda ti: ti["task_id"])
        if "chain" in dag_id and run["state"] == "success":  # the last task's counter: every
            # link ran, in order
            last = tis[-1]["task_id"]
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{last}/xcomEntries/return_value"
            result = api.get(path, deserialize=True, stringify=False)["value"] + 1
        else:
            result = sum(ti["state"] == "success" for ti in tis)
    finally:
        api.close()
    tasks = [
        Timing(
            ti["task_id"],
            _ts(ti["queued_when"]),
            _ts(ti["start_date"]),
            _ts(ti["end_date"]),
            ti["try_number"],
            f"{ti.get('hostname')}:{ti.get('pid')}",
        )
        for ti in tis
    ]
    return Outcome(run["state"] == "success", result, tasks, wall)


# -- Prefect --------------------------------------------------------------------------------------
def prefect(deployment: str, parameters: dict[str, Any], timeout: float = 900.0) -> Outcome:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from prefect_impl.production import follow
    from prefect_impl.task_runs import read_task_runs

    started = time.perf_counter()
    flow_run = run_deployment(deployment, parameters=parameters, timeout=0)
    flow_run = follow(flow_run.id, timeout, poll=0.25)
    wall = time.perf_counter() - started
    ok = flow_run.state.is_completed()
    expected = parameters.get("n", 1)
    runs = read_task_runs(flow_run.id, expected) if ok else []
    tasks = []
    with get_client(sync_client=True) as client:
        for run in runs:
            states = {
                s.type.value: s.timestamp.timestamp() for s in client.read_task_run_states(run.id)
            }
            tasks.append(
                Timing(
                    run.name,
                    states.get("PENDING", float("nan")),
                    states.get("RUNNING", float("nan")),
                    states.get("COMPLETED", float("nan")),
                    run.run_count,
                )
            )
    # The no-op flows persist no result: the count of completed task runs is the proof of work.
    done = sum(1 for r in runs if r.state and r.state.is_completed())
    return Outcome(ok, done, sorted(tasks, key=lambda t: t.start), wall)
