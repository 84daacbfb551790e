"""Fixtures and the JSON additions every benchmark file shares."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pytest

from benchmarks import adapters, settings
from mlpipeline import engines

PACKAGES = (
    "apache-airflow",
    "prefect",
    "xgboost-cpu",
    "pandas",
    "numpy",
    "scikit-learn",
    "pytest-benchmark",
    "fastapi",
    "sqlalchemy",
    "pydantic",
)


def variants(engine: str) -> tuple[str, ...]:
    """Every variant; a quick (smoke) run only the last, the one the engine's runner uses
    (`tuned` where there is one, which bench_wiring measures): the other's code path is the
    same adapter with other settings, and the full run measures both."""
    every = engines.MEASURED[engine].variants
    return every[-1:] if settings.QUICK else every


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "adapter" in metafunc.fixturenames:
        keys = [(e, v) for e in settings.ENGINES for v in variants(e)]
        engines_only = getattr(metafunc.function, "engines_only", False)
        if engines_only:
            keys = [k for k in keys if k[0] != "direct"]
        metafunc.parametrize(
            "adapter", keys, indirect=True, scope="session", ids=[f"{e}-{v}" for e, v in keys]
        )


@pytest.fixture(scope="session")
def adapter(request: pytest.FixtureRequest):
    a = adapters.load(*request.param)
    a.start()
    yield a
    a.stop()


def record(benchmark, adapter, scenario: str, **info) -> None:
    benchmark.group = scenario
    benchmark.extra_info.update(
        engine=adapter.engine,
        variant=adapter.variant,
        settings=adapter.settings,
        scenario=scenario,
        **info,
    )


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    output_json["suite"] = {
        "engines": settings.ENGINES,
        "quick": settings.QUICK,
        "rounds": settings.ROUNDS,
        "slow_rounds": settings.SLOW_ROUNDS,
        "warmup_rounds": settings.WARMUP,
        "versions": _versions(),
        "python": sys.version.split()[0],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "commit": commit,
    }
