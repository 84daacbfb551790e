"""Airflow under stress: first runs racing on a new home, faults on the console (issue 9)."""

from __future__ import annotations

import os
import subprocess
import sys

from airflow_impl import runner
from mlpipeline.alerts import read_alerts
from mlpipeline.paths import ROOT
from mlpipeline.runs import RUN_LOG
from tests.airflow.test_cli import SMALL
from tests.processes import cancelled_run
from tests.test_cli import cli, outputs

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


def test_a_retried_try_prints_no_traceback_on_the_console(make_config, capfd):
    cfg = make_config(cache__enabled=False, orchestration__retries=1, faults={"load_data": 1})
    result = runner.run_pipeline(cfg, run_id="retried")
    assert result.ok and result.tasks["load_data"].attempts == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "InjectedFault" not in out + err, out + err
    log = (result.run_dir / RUN_LOG).read_text()
    assert "Traceback" in log and "InjectedFault: load_data: injected fault on attempt 1" in log


def test_a_one_second_timeout_from_the_first_import_on_never_crashes(tmp_path):
    # Issue 9, item 4: SIGALRM during imports poisoned every later try, or aborted in glibc.
    done = cli(
        "run", "--engine", "airflow", *SMALL, *outputs(tmp_path),
        "--set=orchestration.task_timeout_seconds=1",
        "--set=orchestration.retries=2",
        "--set=orchestration.retry_delay_seconds=0",
    )  # fmt: skip
    console = done.stdout + done.stderr
    assert done.returncode in (0, 1), console[-3000:]
    assert "success in" in done.stdout or "FAILED at" in done.stdout  # the summary
    assert "Traceback" not in console and "Fatal" not in console
    assert "NameError" not in console and "Exception ignored" not in console
    alerts = read_alerts(tmp_path / "alerts.jsonl")
    assert len(alerts) == (done.returncode == 1)
    if alerts:
        assert "StepTimeout" in alerts[0]["error"], alerts


def test_one_ctrl_c_cancels_the_run_within_seconds(tmp_path):
    run = cancelled_run("airflow", tmp_path)
    assert "No tasks to run" not in run.stdout  # Airflow's own warnings go to run.log
