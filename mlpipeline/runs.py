"""What every engine returns: a run record in one shape, so outputs can be compared and shown.

Each engine's `run_pipeline(cfg, ...) -> RunResult` fills it from its own bookkeeping (the mock's
run record, Airflow's task instances, Prefect's task runs); the summary printer and the contract
tests read only this.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipeline import artifacts

if TYPE_CHECKING:
    from mlpipeline.pipeline import StepOutput

# Task states, the same words for every engine.
SUCCESS, FAILED, UPSTREAM_FAILED, NOT_RUN = "success", "failed", "upstream_failed", "not_run"

# Files in a run's directory, beside the steps' output directories.
RUN_LOG = "run.log"  # the steps' log (and the engine's, where it writes one)
FAILURES = "failures.jsonl"  # one line per task that failed for good: step and error
REUSED = "reused.jsonl"  # one line per step served from stored artifacts (Airflow)
TIMINGS = "timings.jsonl"  # one line per step attempt: time inside the step
RUN_RECORD = "run.json"  # the RunResult itself


@dataclass
class TaskRecord:
    name: str
    state: str = NOT_RUN
    attempts: int = 0
    start: float | None = None  # unix time, seconds
    end: float | None = None
    cache_hit: bool = False
    error: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class RunResult:
    engine: str
    run_id: str
    run_dir: Path
    state: str  # SUCCESS or FAILED
    tasks: dict[str, TaskRecord]
    edges: frozenset[tuple[str, str]]  # the graph as the engine declared or executed it
    outputs: dict[str, Any] = field(default_factory=dict)  # step -> returned artifact path(s)
    failed_step: str | None = None
    error: str | None = None
    wall_seconds: float = 0.0
    log_location: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # engine knobs, for reports
    pipeline: str = "weather"

    @classmethod
    def finished(
        cls, pipeline: Any, tasks: dict[str, TaskRecord], flow_error: str | None = None, **fields
    ) -> RunResult:
        """A finished run of `pipeline`, its failure named from its tasks: the failed task
        earliest in the pipeline's order, else `flow_error` (a failure outside any task)."""
        failed = first_failure(tasks, pipeline.order)
        fields.setdefault("log_location", str(Path(fields["run_dir"]) / RUN_LOG))
        return cls(
            tasks=tasks,
            failed_step=failed.name if failed else None,
            error=failed.error if failed else flow_error,
            pipeline=pipeline.name,
            **fields,
        )

    @property
    def ok(self) -> bool:
        return self.state == SUCCESS

    def output(self, step: str) -> StepOutput | None:
        """A finished step's output handle (a mapped step: its first instance's)."""
        from mlpipeline import pipelines

        out = self.outputs.get(step)
        if isinstance(out, list):
            out = out[0] if out else None
        return pipelines.get(self.pipeline).output(step, out) if out else None

    def report(self, kind: str) -> Any:
        """One of the pipeline's declared reports (metrics, gate, registration, model)."""
        from mlpipeline import pipelines

        where = pipelines.get(self.pipeline).reports.get(kind)
        out = self.output(where[0]) if where else None
        return out.json(where[1]) if out else None

    # The declared reports as attributes: `result.metrics`, `result.gate`, ...
    metrics = property(lambda self: self.report("metrics"), doc="The holdout metrics.")
    gate = property(lambda self: self.report("gate"), doc="The gate's decision and reasons.")
    registration = property(lambda self: self.report("registration"), doc="What was registered.")
    model = property(
        lambda self: self.report("model"),
        doc="The trained model's record: sha256, chosen parameters, CV scores of every candidate.",
    )

    @property
    def model_sha256(self) -> str | None:
        model = self.model  # one read of model.json
        return model["sha256"] if model else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["run_dir"] = str(self.run_dir)
        d["edges"] = sorted(self.edges)
        for name, t in self.tasks.items():
            d["tasks"][name]["duration"] = t.duration
        return d

    def save(self) -> Path:
        return artifacts.write_json(
            self.run_dir / RUN_RECORD, json.loads(json.dumps(self.to_dict(), default=str))
        )


def combine(name: str, parts: list[TaskRecord]) -> TaskRecord:
    """One record for a mapped task's instances, the same in every engine: it succeeded if
    every instance did; its attempts are the most any instance took; it is a cache hit if all
    were; its error is the first failed instance's."""
    states = [p.state for p in parts]
    state = next((s for s in (FAILED, UPSTREAM_FAILED, NOT_RUN) if s in states), SUCCESS)
    starts = [p.start for p in parts if p.start is not None]
    ends = [p.end for p in parts if p.end is not None]
    return TaskRecord(
        name,
        state=state if parts else NOT_RUN,
        attempts=max((p.attempts for p in parts), default=0),
        start=min(starts, default=None),
        end=max(ends, default=None),
        cache_hit=bool(parts) and all(p.cache_hit for p in parts),
        error=next((p.error for p in parts if p.state == FAILED), None),
    )


def first_failure(tasks: dict[str, TaskRecord], order: tuple[str, ...]) -> TaskRecord | None:
    """The failed task earliest in `order`, a topological order (its descendants only failed
    upstream)."""
    failed = [t for t in tasks.values() if t.state == FAILED]
    rank = {name: i for i, name in enumerate(order)}
    return min(failed, key=lambda t: rank.get(t.name, len(rank)), default=None)


def recorded_failures(run_dir: Path) -> dict[str, TaskRecord]:
    """The tasks that failed for good, as the engines' failure hooks wrote them down."""
    return {
        f["step"]: TaskRecord(f["step"], FAILED, error=f["error"])
        for f in artifacts.read_jsonl(run_dir / FAILURES)
    }


def record_failure(run_dir: Path, step: str, error: BaseException) -> None:
    """Called by an engine's failure hook after a task's last attempt."""
    artifacts.append_jsonl(
        run_dir / FAILURES, {"step": step, "error": f"{type(error).__name__}: {error}"}
    )
