"""A pipeline declared once: steps with their inputs, what they read, and what they write.

Each step is a plain function ``fn(cfg, out, **inputs) -> None`` that reads its inputs through
`StepOutput` handles and writes the files it declares under ``out`` (its own directory). The
declaration is the single source of every table about the pipeline: the graph (``inputs``), the
cache keys (``reads``, ``files``, ``cacheable``), the fan-out (``map``), the contract tests'
expectations and the README's tables. `tests/steps/test_declarations.py` runs each step and
fails if it touched a config section or a file it did not declare.

Between tasks, every engine passes one thing per step: the output directory as a string (an
XCom value, a Prefect result, a mock result). A consumer never spells a file name; it asks the
handle for the file the producer declared: ``split.frame("train")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from mlpipeline import artifacts


@dataclass(frozen=True)
class StepOutput:
    """A step's output directory and the files its step declared it writes."""

    path: Path
    files: Mapping[str, str]  # logical name -> file name inside `path`

    def file(self, name: str) -> Path:
        if name not in self.files:
            raise KeyError(
                f"{self.path.name} declares no output {name!r}; it has {list(self.files)}"
            )
        return self.path / self.files[name]

    def frame(self, name: str) -> Any:
        return artifacts.read_frame(self.file(name))

    def json(self, name: str) -> Any:
        return artifacts.read_json(self.file(name))

    def write_frame(self, name: str, frame: Any) -> Path:
        return artifacts.write_frame(self.file(name), frame)

    def write_json(self, name: str, obj: Any) -> Path:
        return artifacts.write_json(self.file(name), obj)

    def write_bytes(self, name: str, data: bytes) -> Path:
        return artifacts.write_bytes(self.file(name), data)


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[..., None]
    inputs: Mapping[str, str]  # argument -> upstream step
    writes: Mapping[str, str]  # logical name -> file name
    reads: tuple[str, ...]  # config sections
    files: Callable[[Any], list[str]]  # external files or resources read, from the config
    cacheable: bool
    # A fan-out: how many instances this run has (one per tuning candidate, say). Each instance
    # gets its index as the argument named by `map_arg` and writes to ``out/<index:03d>``.
    map_count: Callable[[Any], int] | None = None
    map_arg: str = ""
    doc: str = ""

    @property
    def mapped(self) -> bool:
        return self.map_count is not None

    def output(self, path: str | Path) -> StepOutput:
        return StepOutput(Path(path), self.writes)


# The reports of a pipeline that trains, gates and registers a model, its steps named as every
# such pipeline names them (one name per step): kind -> (step, declared output).
MODEL_REPORTS = {
    "gate": ("gate_model", "gate"),
    "staging": ("register_model", "registration"),
    "integration": ("integration_test", "report"),
    "registration": ("promote_model", "promotion"),  # the run's registry outcome
    "model": ("train_model", "meta"),
}


@dataclass
class Pipeline:
    """Its name, its config type, its default config, and its steps in declaration order."""

    name: str
    dag_id: str  # the Airflow DAG id and the Prefect flow name
    config_type: type
    default_config: Path
    # What a summary shows: kind -> (step, declared output), e.g. "metrics": ("evaluate_model",
    # "metrics").
    reports: dict[str, tuple[str, str]] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)

    def step(
        self,
        *,
        writes: Mapping[str, str],
        inputs: Mapping[str, str] | None = None,
        reads: Iterable[str] = (),
        files: Callable[[Any], list[str]] = lambda cfg: [],
        cacheable: bool = True,
        map_count: Callable[[Any], int] | None = None,
        map_arg: str = "",
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Declare the decorated function as a step of this pipeline (the function is returned
        unchanged: a step body stays a plain function you can call in a test)."""

        def declare(fn: Callable[..., None]) -> Callable[..., None]:
            name = fn.__name__
            if name in self.steps:
                raise ValueError(f"{self.name}: step {name!r} is declared twice")
            unknown = sorted(set((inputs or {}).values()) - set(self.steps))
            if unknown:  # declaration order is a topological order: no cycles by construction
                raise ValueError(f"{self.name}.{name}: inputs from undeclared steps {unknown}")
            self.steps[name] = Step(
                name=name,
                fn=fn,
                inputs=dict(inputs or {}),
                writes=dict(writes),
                reads=tuple(reads),
                files=files,
                cacheable=cacheable,
                map_count=map_count,
                map_arg=map_arg,
                doc=(fn.__doc__ or "").strip().split("\n")[0],
            )
            return fn

        return declare

    # -- what derives from the declarations --------------------------------------------------
    @property
    def graph(self) -> dict[str, frozenset[str]]:
        """node -> the nodes it depends on (graphlib's format)."""
        return {name: frozenset(s.inputs.values()) for name, s in self.steps.items()}

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(TopologicalSorter(self.graph).static_order())

    @property
    def edges(self) -> frozenset[tuple[str, str]]:
        return frozenset((up, down) for down, ups in self.graph.items() for up in ups)

    @property
    def cacheable(self) -> frozenset[str]:
        return frozenset(name for name, s in self.steps.items() if s.cacheable)

    def output(self, step: str, path: str | Path) -> StepOutput:
        return self.steps[step].output(path)

    def table(self) -> str:
        """The steps as a markdown table (README, lessons): derived, never typed by hand."""
        rows = [
            "| step | inputs | config read | writes | cached |",
            "|---|---|---|---|---|",
        ]
        for s in self.steps.values():
            ins = ", ".join(f"{a} <- `{u}`" for a, u in s.inputs.items()) or "-"
            fan = f" (one per {s.map_arg})" if s.mapped else ""
            rows.append(
                f"| `{s.name}`{fan} | {ins} | {', '.join(s.reads) or '-'} | "
                f"{', '.join(s.writes.values())} | {'yes' if s.cacheable else 'no'} |"
            )
        return "\n".join(rows)
