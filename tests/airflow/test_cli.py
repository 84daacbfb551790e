"""`python -m mlpipeline run --engine airflow`, run as a user runs it, against the mock's output."""

from __future__ import annotations

import json
import re

from tests.test_cli import cli, outputs


def summary_shape(stdout: str) -> list[str]:
    """The summary's lines with the numbers, ids and paths blanked out."""
    lines = stdout.split("holdout metrics")[1].splitlines()  # after the tasks table: same rows
    return [re.sub(r"\d[\d.]*|/\S+|[0-9a-f]{64}", "#", line).rstrip() for line in lines]


# The small grid of the other tests: the default one is the mock CLI test's.
SMALL = ("--set=tuning.grid={max_depth=[2, 3], learning_rate=[0.1], n_estimators=[40]}",)


def test_the_cli_prints_the_mock_engines_summary(tmp_path):
    mock = cli("run", "--engine", "mock", *SMALL, *outputs(tmp_path / "mock"))
    done = cli("run", "--engine", "airflow", *SMALL, *outputs(tmp_path / "airflow"))
    assert (mock.returncode, done.returncode) == (0, 0), done.stderr[-3000:]
    assert re.search(r"airflow run airflow-\S+", done.stdout)
    table = [line for line in done.stdout.splitlines() if "attempts" in line]
    assert table == [line for line in mock.stdout.splitlines() if "attempts" in line]
    for step in ("load_data", "tune_model", "register_model", "promote_model"):
        assert re.search(rf"{step}\s+│ success\s+│\s+1 │", done.stdout)
    assert summary_shape(done.stdout) == summary_shape(mock.stdout)
    sha = re.compile(r"model sha256: ([0-9a-f]{64})")
    assert sha.search(done.stdout)[1] == sha.search(mock.stdout)[1]
    record = json.loads(
        next((tmp_path / "airflow/artifacts").glob("airflow-*/run.json")).read_text()
    )
    assert record["state"] == "success" and len(record["tasks"]) == 11
    assert (tmp_path / "airflow/airflow-home/airflow.db").exists()  # beside the artifacts
