"""Cold start, measured apart from warm runs: a fresh interpreter per round."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import settings
from benchmarks.conftest import record
from mlpipeline.paths import ROOT


def test_cold_start(benchmark, adapter, tmp_path_factory):
    if settings.QUICK and adapter.engine in ("airflow", "prefect"):
        # A quick run checks this file's path with the baselines; the engines' cold path (a
        # fresh interpreter, import, set-up, first run) is what their CLI tests run anyway, and
        # here it cost 30-36 CPU s each of the test command's budget.
        pytest.skip("quick: the engines' cold start runs in their CLI tests")
    phases: list[dict] = []
    record(benchmark, adapter, "cold-start", phases=phases)

    def start_once():
        home = tmp_path_factory.mktemp("cold-home")  # no database, no server state to reuse
        env = {**os.environ, "BENCH_COLD_HOME": str(home)}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.cold", adapter.engine, adapter.variant],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        phases.append(json.loads(done.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(start_once, rounds=settings.SLOW_ROUNDS, warmup_rounds=0)
