"""The stack's MLflow tracking server: `mlflow server` on loopback as a component of its own, so
production runs log to a server (issue 13: "where a stack is up, a real `mlflow server` runs on
loopback") and its UI shows them beside the engine's.

* The full `mlflow` package (server and UI) lives only in the `mlflow` environment (README, "Why
  two MLflow packages"); the engine environments have `mlflow-skinny`, a client. So the server
  runs with `.tox/mlflow/bin/python`, built with the project's own tooling (`python3 dev.py test
  -e mlflow --notest`, as `dev.py dashboard` does) when it is missing: a few minutes, once.
  `MLPIPELINE_MLFLOW_PYTHON` names another interpreter with the full package.
* The command and its settings are the dashboard's (`mlpipeline.dashboard.server_argv`); the
  process is the stack's (own process group, in the pid file, stopped by `stack down`).
* Backend store: SQLite in `var/stack/<engine>/mlflow/mlflow.db`, artifacts beside it. Not the
  stack's Postgres: the `mlflow` lock has no Postgres driver, and the server is the store's
  only writer (one worker; clients go through its REST API), so SQLite's single-writer lock is
  never contended across processes. Artifacts are files the clients write directly
  (`--no-serve-artifacts`): every client runs on this machine.
* Readiness is its `/health` endpoint, never a sleep.

* Production runs log themselves (the runners call `tracking.log_run` with the stack's
  `tracking.uri`): every engine environment has the MLflow client. A failure leaves the payload
  in the tracking outbox, as anywhere else.

Orchestrator-free and MLflow-free: the server is started, never imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipeline.dashboard import SERVER_ENV, server_argv
from mlpipeline.stack import procs

if TYPE_CHECKING:
    from mlpipeline.stack.stacks import Stack

PORTS = {"airflow": 18500, "prefect": 18501}  # both stacks can be up at once
PYTHON_ENV = "MLPIPELINE_MLFLOW_PYTHON"
TRACKING_ENV = "MLPIPELINE_MLFLOW_URI"  # in the pid file's client env: what runs log to


def url(port: int) -> str:
    return f"http://{procs.HOST}:{port}"


def healthy(port: int) -> bool:
    return procs.http_get(f"{url(port)}/health").strip() == b"OK"


def python(logs: Path) -> str:
    """The interpreter with the full `mlflow` package; builds the `mlflow` env if missing."""
    if os.environ.get(PYTHON_ENV):
        return os.environ[PYTHON_ENV]
    binary = procs.PROJECT / ".tox" / "mlflow" / "bin" / "python"
    if not binary.exists():
        log = logs / "mlflow-env-build.log"
        with open(log, "ab") as out:
            code = subprocess.run(
                [sys.executable, "dev.py", "test", "-e", "mlflow", "--notest"],
                cwd=procs.PROJECT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1800,
            ).returncode
        if code or not binary.exists():
            tail = procs.log_tail({"log": str(log)})
            raise procs.StackError(
                f"mlflow: building its environment (.tox/mlflow) failed (exit {code})\n{tail}"
            )
    return str(binary)


def start(stack: Stack, env: dict[str, str]) -> None:
    """Launch the server; `wait` checks it is healthy. Its first start (imports, then the
    store's migrations) took 75 s on a loaded 2-core machine: it overlaps the engine's start."""
    port = procs.choose_port(PORTS[stack.engine], list(stack.ports.values()))
    stack.ports["mlflow"] = port
    store = stack.home / "mlflow"
    (store / "artifacts").mkdir(parents=True, exist_ok=True)
    argv = server_argv(
        python(stack.logs),
        port,
        f"sqlite:///{store / 'mlflow.db'}",
        (store / "artifacts").as_uri(),
    )
    stack.env[TRACKING_ENV] = url(port)
    stack.launch("mlflow", argv, {**env, **SERVER_ENV}, port=port)


def wait(stack: Stack, timeout: float = 180.0) -> None:
    """Until the server answers /health on its port (ours: `listening_ports`); StackError with
    its log tail if it died or did not answer in time."""
    port = stack.ports["mlflow"]
    component = next(c for c in stack.components if c.name == "mlflow")
    procs.wait_until(
        component,
        lambda: port in procs.listening_ports([component.pid]) and healthy(port),
        timeout,
        "healthy",
    )
    stack.save()
