"""The engines: one table that the CLI, the contract tests, the benchmarks, the report, the plots
and the lessons read. Nothing here imports an engine until asked.

Each engine's runner module has ``run_pipeline(cfg, *, run_id) -> RunResult`` and
``CACHES_RESULTS``. `direct` is the baseline, not an engine: the steps called one after the
other (`mlpipeline.direct`), what every engine is measured against.
Adding an engine: README.md, "Adding an orchestrator" (tests/test_engines.py follows it).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Engine:
    name: str
    title: str  # how lessons and reports name it
    runner: str  # module with run_pipeline(cfg, *, run_id)
    requires: str | None  # the import an engine needs, or None if always available
    tox_env: str
    adapter: str  # "module:Class" of its benchmark adapter
    variants: tuple[str, ...]  # the benchmark rows: as shipped, and with one knob turned
    colour: str  # the same on every plot
    imports: str  # what a cold start imports first
    home_variable: str | None = None  # an engine that reads its home once, on import


ENGINES = {
    "mock": Engine(
        "mock",
        "The mock engine",
        "mock_impl.runner",
        None,
        "mock",
        "benchmarks.adapters:MockAdapter",
        ("default",),
        "#2ca02c",
        "mock_impl.engine",
    ),
    "airflow": Engine(
        "airflow",
        "Airflow",
        "airflow_impl.runner",
        "airflow",
        "airflow",
        "benchmarks.adapters_airflow:AirflowAdapter",
        ("default", "tuned"),
        "#1f77b4",
        "airflow.sdk",
        home_variable="AIRFLOW_HOME",
    ),
    "prefect": Engine(
        "prefect",
        "Prefect",
        "prefect_impl.runner",
        "prefect",
        "prefect",
        "benchmarks.adapters_prefect:PrefectAdapter",
        ("default", "tuned"),
        "#9467bd",
        "prefect",
    ),
}
DIRECT = Engine(
    "direct",
    "Direct calls (no engine)",
    "mlpipeline.direct",
    None,
    "mock",
    "benchmarks.adapters:DirectAdapter",
    ("default",),
    "#7f7f7f",
    "benchmarks.adapters",
)
MEASURED = {"direct": DIRECT, **ENGINES}  # what the benchmarks and the report know


class EngineUnavailable(RuntimeError):
    pass


def is_available(name: str) -> bool:
    engine = MEASURED[name]
    return engine.requires is None or importlib.util.find_spec(engine.requires) is not None


def available() -> list[str]:
    return [name for name in ENGINES if is_available(name)]


def load(name: str) -> ModuleType:
    if name not in ENGINES:
        raise EngineUnavailable(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")
    engine = ENGINES[name]
    if not is_available(name):
        raise EngineUnavailable(
            f"the {name} engine needs the '{engine.requires}' package, not installed here.\n"
            f"  run it in its own environment: python3 dev.py run --engine {name}\n"
            f"  or install it here: pip install -e . -r requirements/{engine.tox_env}.txt"
        )
    return importlib.import_module(engine.runner)


def colour(name: str) -> str:
    """An engine's plot colour; one not in the table (a new one) gets a neutral grey."""
    return MEASURED[name].colour if name in MEASURED else "#333333"
