"""One interface over every engine for the benchmarks: the same scenarios, the same checks.

Scenarios (each returns an `Outcome` the benchmark checks, so a timing is never of work that was
skipped or failed):

* ``chain(n)``: n no-op tasks in a line; task i returns its input + 1, so the last returns n.
* ``fanout(k)``: k independent no-op tasks returning 0..k-1, joined by one that sums them.
* ``flaky(failures, delay, backoff)``: one task failing `failures` times before it succeeds,
  retried by the engine with its idiomatic backoff policy.
* ``pipeline(cfg, run_id)``: the full ML pipeline (the engine's ``run_pipeline``).
* ``bare(shape)``: a pipeline's graph as plain no-op tasks (same names, edges and fan-out width),
  none of our wiring: the baseline `bench_wiring.py` compares our wiring against.

`direct` is the physical limit: the same Python calls with no engine at all.
The Airflow and Prefect adapters live in their own modules (imported only where installed).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlpipeline import engines, faults
from mlpipeline.config import PipelineConfig
from mlpipeline.errors import InjectedFault
from mlpipeline.runs import SUCCESS, RunResult, TaskRecord


@dataclass
class Outcome:
    value: Any  # what the last task returned
    attempts: dict[str, int] = field(default_factory=dict)  # task -> attempts the engine recorded
    tasks: int = 0  # tasks the engine reports as executed
    span: float = 0.0  # first task start to last task end, by the engine's own records


@dataclass(frozen=True)
class Shape:
    """A pipeline's graph without its steps: task names, edges, and the fan-out's width."""

    names: tuple[str, ...]  # in declaration (topological) order
    inputs: dict[str, dict[str, str]]  # task -> argument -> upstream task
    mapped: str  # the fanned-out task
    map_arg: str  # the argument each of its instances gets its index in
    width: int

    @classmethod
    def of(cls, pipeline: Any, width: int) -> Shape:
        (mapped,) = [s for s in pipeline.steps.values() if s.mapped]
        return cls(
            tuple(pipeline.steps),
            {n: dict(s.inputs) for n, s in pipeline.steps.items()},
            mapped.name,
            mapped.map_arg,
            width,
        )

    @property
    def instances(self) -> int:
        """Task instances one run executes: one per task, `width` for the fanned-out one."""
        return len(self.names) - 1 + self.width


class Adapter(Protocol):
    engine: str
    variant: str  # "default", or "tuned" with the knobs in `settings`
    settings: dict[str, Any]

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def chain(self, n: int) -> Outcome: ...
    def fanout(self, k: int) -> Outcome: ...
    def flaky(self, failures: int, delay: float, backoff: float, workdir: Path) -> Outcome: ...
    def pipeline(self, cfg: PipelineConfig, run_id: str) -> RunResult: ...
    def bare(self, shape: Shape) -> Outcome: ...


def noop(x: int = 0) -> int:
    return x + 1


def flaky_body(failures: int, workdir: Path) -> str:
    """Fails `failures` times (the counter is a file, so any thread or process can count)."""
    faults.inject("flaky", failures, workdir)
    return "ok"


class DirectAdapter:
    """No engine: plain calls. Retries are a bare loop with time.sleep."""

    engine, variant, settings = "direct", "default", {}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def chain(self, n: int) -> Outcome:
        x = 0
        for _ in range(n):
            x = noop(x)
        return Outcome(x, tasks=n)

    def fanout(self, k: int) -> Outcome:
        return Outcome(sum(noop(i) - 1 for i in range(k)), tasks=k + 1)

    def flaky(self, failures: int, delay: float, backoff: float, workdir: Path) -> Outcome:
        for attempt in range(1, failures + 2):
            try:
                return Outcome(flaky_body(failures, workdir), {"flaky": attempt}, 1)
            except InjectedFault:
                time.sleep(delay * backoff ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt succeeds")

    def pipeline(self, cfg: PipelineConfig, run_id: str) -> RunResult:
        from mlpipeline.direct import run_steps
        from mlpipeline.graph import EDGES

        run_dir = Path(cfg.paths.artifacts) / run_id
        started = time.perf_counter()
        outputs = run_steps(cfg, run_dir)
        tasks = {name: TaskRecord(name, SUCCESS, 1) for name in outputs}
        return RunResult(
            "direct",
            run_id,
            run_dir,
            SUCCESS,
            tasks,
            EDGES,
            outputs,
            wall_seconds=time.perf_counter() - started,
        )


class MockAdapter:
    """The mock engine has no knob worth tuning: one variant, its defaults."""

    engine, variant = "mock", "default"

    def __init__(self, variant: str = "default"):
        self.settings = {"max_workers": 2}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def _run(self, dag) -> Outcome:
        run = dag.run("bench")
        assert run.state == SUCCESS, run.errors
        last = list(dag.tasks)[-1]
        return Outcome(
            run.results[last],
            {n: t.attempts for n, t in run.tasks.items()},
            sum(t.state == SUCCESS for t in run.tasks.values()),
        )

    def chain(self, n: int) -> Outcome:
        from mock_impl.engine import DAG

        dag = DAG("chain", **self.settings)
        dag.add_task("t0", noop)
        for i in range(1, n):
            dag.add_task(f"t{i}", noop, inputs={"x": f"t{i - 1}"})
        return self._run(dag)

    def fanout(self, k: int) -> Outcome:
        from mock_impl.engine import DAG

        dag = DAG("fanout", **self.settings)
        for i in range(k):
            dag.add_task(f"t{i}", lambda i=i: noop(i) - 1)
        dag.add_task(
            "join", lambda **xs: sum(xs.values()), inputs={f"x{i}": f"t{i}" for i in range(k)}
        )
        return self._run(dag)

    def flaky(self, failures: int, delay: float, backoff: float, workdir: Path) -> Outcome:
        from mock_impl.engine import DAG

        dag = DAG("flaky", **self.settings)
        dag.add_task(
            "flaky",
            lambda: flaky_body(failures, workdir),
            retries=failures,
            retry_delay=delay,
            backoff=backoff,
            max_delay=3600,
        )
        return self._run(dag)

    def pipeline(self, cfg: PipelineConfig, run_id: str) -> RunResult:
        from mock_impl.runner import run_pipeline

        return run_pipeline(cfg, run_id=run_id)

    def bare(self, shape: Shape) -> Outcome:
        from mock_impl.engine import DAG

        dag = DAG("bare", **self.settings)
        for name in shape.names:
            fan = shape.width if name == shape.mapped else None
            dag.add_task(name, lambda **inputs: None, inputs=shape.inputs[name], map_count=fan)
        run = dag.run("bare")
        assert run.state == SUCCESS, run.errors
        records = [r for n, r in run.tasks.items() if n not in run.instances]
        records += [r for parts in run.instances.values() for r in parts]
        return Outcome(
            len(run.instances.get(shape.mapped, [])),
            tasks=sum(r.state == SUCCESS for r in records),
            span=max(r.end for r in records) - min(r.start for r in records),
        )


def load(engine: str, variant: str = "default") -> Adapter:
    spec = engines.MEASURED[engine]
    if variant not in spec.variants:
        raise ValueError(f"{engine} has no variant {variant!r}; it has {spec.variants}")
    module, cls = spec.adapter.split(":")
    adapter_cls = getattr(importlib.import_module(module), cls)
    return adapter_cls() if engine == "direct" else adapter_cls(variant)
