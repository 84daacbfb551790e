"""Airflow under stress: first runs racing on a new home, faults on the console (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PREPARE = "import sys; from airflow_impl import runner; runner.prepare(sys.argv[1])"


def test_two_first_runs_on_a_new_home_migrate_once(tmp_path):
    home = tmp_path / "new-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(home)
    both = [
        subprocess.Popen(
            [sys.executable, "-c", PREPARE, str(home)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    assert (home / "airflow.db").exists()
