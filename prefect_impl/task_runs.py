"""Read a flow run's task runs back from the Prefect API, in the shape every engine reports.

Task-run states reach the server as events and are recorded asynchronously: right after a flow
returns, some of its task runs can be missing or not yet final. `read_task_runs` polls until
the runs we know of are there and final (usually a fraction of a second).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun, TaskRunResult
from prefect.client.schemas.sorting import TaskRunSort

from mlpipeline.runs import FAILED, NOT_RUN, SUCCESS, UPSTREAM_FAILED, TaskRecord


def read_task_runs(flow_run_id: UUID, expected: int, timeout: float = 30.0) -> list[TaskRun]:
    """The flow run's task runs, once at least `expected` of them exist and all are final."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
            )
            if len(runs) >= expected and all(_settled(r) for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"flow run {flow_run_id}: {len(runs)} of {expected} task runs recorded, "
                    f"states {sorted({r.state.name for r in runs if r.state})}"
                )
            time.sleep(0.05)


def _settled(run: TaskRun) -> bool:
    # NotReady: the run was created but an upstream run failed, so it will never start.
    return run.state is not None and (run.state.is_final() or run.state.name == "NotReady")


def state_history(task_run_id: UUID) -> list[str]:
    """The names of a task run's states in order: Pending, Running, Retrying..., Completed."""
    with get_client(sync_client=True) as client:
        states = client.read_task_run_states(task_run_id)
    return [s.name for s in sorted(states, key=lambda s: s.timestamp)]


def step_name(run: TaskRun) -> str:
    """'tune_model-41be200a' -> 'tune_model': the task's function name, shared by mapped runs."""
    return run.task_key.rsplit("-", 1)[0]


def by_step(runs: list[TaskRun]) -> dict[str, list[TaskRun]]:
    grouped: dict[str, list[TaskRun]] = defaultdict(list)
    for run in runs:
        grouped[step_name(run)].append(run)
    return grouped


def task_records(
    runs: list[TaskRun], order: tuple[str, ...], flow_failed: bool
) -> dict[str, TaskRecord]:
    """One record per step, in graph order. A mapped step (tune_model) succeeds only if all its
    runs did; its attempts are the most any of them took; it is a cache hit if all were."""
    grouped = by_step(runs)
    records = {}
    for name in order:
        group = grouped.get(name, [])
        if not group:  # never started: something upstream failed
            records[name] = TaskRecord(name, UPSTREAM_FAILED if flow_failed else NOT_RUN)
            continue
        failed = [r for r in group if r.state.is_failed() or r.state.is_crashed()]
        states = SUCCESS if all(r.state.is_completed() for r in group) else FAILED
        if not failed and states == FAILED:  # e.g. NotReady: an upstream run failed
            states = UPSTREAM_FAILED
        records[name] = TaskRecord(
            name,
            state=states,
            attempts=max(r.run_count for r in group),
            start=_min_time(r.start_time for r in group),
            end=_max_time(r.end_time for r in group),
            cache_hit=all(r.state.name == "Cached" for r in group),
            error=_error(failed[0]) if failed else None,
        )
    return records


def executed_edges(runs: list[TaskRun]) -> frozenset[tuple[str, str]]:
    """Which step's result each task run received, from Prefect's record of its inputs."""
    by_id = {r.id: r for r in runs}
    return frozenset(
        (step_name(by_id[ref.id]), step_name(run))
        for run in runs
        for refs in run.task_inputs.values()
        for ref in refs
        if isinstance(ref, TaskRunResult) and ref.id in by_id
    )


# Prefect words a TimeoutError apart: "Task run failed due to timeout: StepTimeout('...')".
_TIMEOUT = re.compile(r"Task run failed due to timeout: (\w+)\((['\"])(.*)\2\)", re.DOTALL)


def _error(run: TaskRun) -> str:
    """As the alert words it: 'InjectedFault: ...', 'StepTimeout: ...'."""
    message = run.state.message or run.state.name
    if timeout := _TIMEOUT.fullmatch(message):
        return f"{timeout[1]}: {timeout[3]}"
    return message.removeprefix("Task run encountered an exception ")


def _min_time(times: Any) -> float | None:
    stamps = [t.timestamp() for t in times if t is not None]
    return min(stamps, default=None)


def _max_time(times: Any) -> float | None:
    stamps = [t.timestamp() for t in times if t is not None]
    return max(stamps, default=None)
