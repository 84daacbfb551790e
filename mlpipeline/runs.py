"""What every engine returns: a run record in one shape, so outputs can be compared and shown.

Each engine's `run_pipeline(cfg, ...) -> RunResult` fills it from its own bookkeeping (the mock's
run record, Airflow's task instances, Prefect's task runs); the summary printer and the contract
tests read only this.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlpipeline import artifacts
from mlpipeline.graph import STEPS

# Task states, the same words for every engine.
SUCCESS, FAILED, UPSTREAM_FAILED, NOT_RUN = "success", "failed", "upstream_failed", "not_run"


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

    @property
    def ok(self) -> bool:
        return self.state == SUCCESS

    def _artifact(self, step: str, *parts: str) -> dict[str, Any] | None:
        out = self.outputs.get(step)
        return artifacts.read_json(Path(out, *parts)) if out else None

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self._artifact("evaluate_model")

    @property
    def gate(self) -> dict[str, Any] | None:
        return self._artifact("gate_model")

    @property
    def registration(self) -> dict[str, Any] | None:
        return self._artifact("register_model")

    @property
    def model(self) -> dict[str, Any] | None:
        """The trained model's record: sha256, chosen parameters, CV scores of every candidate."""
        return self._artifact("train_model", "model.json")

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
            self.run_dir / "run.json", json.loads(json.dumps(self.to_dict(), default=str))
        )


def first_failure(tasks: dict[str, TaskRecord]) -> TaskRecord | None:
    """The failed task earliest in topological order (its descendants only failed upstream)."""
    failed = [t for t in tasks.values() if t.state == FAILED]
    return min(
        failed, key=lambda t: STEPS.index(t.name) if t.name in STEPS else len(STEPS), default=None
    )
