"""A DAG run in the shape every engine reports, wherever it was read from: the metadata
database after `dag.test()` (`runner.py`) or the REST API of a running stack (`production.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from mlpipeline import artifacts
from mlpipeline.runs import (
    FAILED,
    FAILURES,
    NOT_RUN,
    REUSED,
    SUCCESS,
    UPSTREAM_FAILED,
    RunResult,
    TaskRecord,
    combine,
)

_STATES = {"success": SUCCESS, "failed": FAILED, "upstream_failed": UPSTREAM_FAILED}


class Instance(NamedTuple):
    """The fields of one task instance we report (timestamps in epoch seconds)."""

    task_id: str
    map_index: int  # -1 unless mapped
    state: str
    try_number: int
    start: float | None
    end: float | None


def from_database(dag_id: str, run_id: str) -> list[Instance]:
    """A run's task instances as `dag.test()` stored them (Airflow's ORM models: fine in-process,
    not an API for watching a deployment)."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        return [
            Instance(
                ti.task_id,
                ti.map_index,
                str(ti.state),
                ti.try_number,
                ti.start_date.timestamp() if ti.start_date else None,
                ti.end_date.timestamp() if ti.end_date else None,
            )
            for ti in rows
        ]


def task_records(
    instances: Iterable[Instance], run_dir: Path, order: tuple[str, ...]
) -> dict[str, TaskRecord]:
    """One record per task, in `order`: a mapped task's instances combined into one (it
    succeeded if every instance did, its attempts are the most any instance took); reuse and
    errors from the run's own records (Airflow keeps neither)."""
    reused = {r["step"] for r in artifacts.read_jsonl(run_dir / REUSED)}
    errors = {f["step"]: f["error"] for f in artifacts.read_jsonl(run_dir / FAILURES)}
    parts: dict[str, list[TaskRecord]] = {}
    for ti in sorted(instances, key=lambda ti: ti.map_index):
        parts.setdefault(ti.task_id, []).append(
            TaskRecord(
                ti.task_id,
                state=_STATES.get(str(ti.state), NOT_RUN),
                attempts=ti.try_number,
                start=ti.start,
                end=ti.end,
                cache_hit=ti.task_id in reused,
            )
        )
    rank = {name: i for i, name in enumerate(order)}
    records = {}
    for name in sorted(parts, key=lambda n: rank.get(n, len(rank))):
        records[name] = combine(name, parts[name])
        records[name].error = errors.get(name)
    return records


def run_result(
    pipeline: Any, run_id: str, run_dir: Path, dag_run_state: str, tasks, **fields: Any
) -> RunResult:
    """Our record of one run of `pipeline`'s DAG: `dag_run_state` is Airflow's ("success")."""
    return RunResult.finished(
        pipeline,
        tasks,
        engine="airflow",
        run_id=run_id,
        run_dir=run_dir,
        state=SUCCESS if str(dag_run_state) == "success" else FAILED,
        **fields,
    )
