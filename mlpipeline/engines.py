"""The engines the CLI, the contract tests and the benchmarks know, imported only when asked.

Each engine module has ``run_pipeline(cfg, *, run_id) -> RunResult``.
Adding an engine: a package with that function, a line here, a tox environment (README).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Engine:
    name: str
    module: str
    requires: str | None  # the import an engine needs, or None if always available
    tox_env: str


ENGINES = {
    "mock": Engine("mock", "mock_impl.pipeline", None, "mock"),
    "airflow": Engine("airflow", "airflow_impl.runner", "airflow", "airflow"),
    "prefect": Engine("prefect", "prefect_impl.runner", "prefect", "prefect"),
}


class EngineUnavailable(RuntimeError):
    pass


def is_available(name: str) -> bool:
    engine = ENGINES[name]
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
    return importlib.import_module(engine.module)
