"""Cold start, measured apart from warm runs: a fresh interpreter per round."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks import settings
from benchmarks.conftest import record
from mlpipeline.paths import ROOT


def test_cold_start(benchmark, adapter, tmp_path_factory):
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
