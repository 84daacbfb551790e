"""The monitoring dashboard: the MLflow UI on loopback, over the pipeline's tracking store.

``python -m mlpipeline dashboard [--config FILE] [--port 19500]`` (or ``python3 dev.py
dashboard``, which runs it in the `mlflow` environment: the server needs the full `mlflow`
package, which cannot share the engines' environments) first logs any runs waiting in the
outbox (runs whose tracking failed, `tracking.log_run`), then starts ``mlflow server`` on
127.0.0.1 against the same SQLite store the runs were logged to, prints the URL and serves
until Ctrl-C. The server runs in its own process group, so stopping it stops its workers too
(STYLE principle 15); readiness is its /health endpoint, not a sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipeline import tracking
from mlpipeline.errors import PipelineError

if TYPE_CHECKING:
    from mlpipeline.config import TrackingConfig

HOST = "127.0.0.1"  # loopback only: the UI has no login
DEFAULT_PORT = 19500


class DashboardError(PipelineError):
    """The MLflow server is missing, or did not become healthy."""


@dataclass
class Dashboard:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server's whole process group (its workers too): TERM, then KILL whatever
        is left after `timeout`."""
        stop_group(self.process, timeout)


def stop_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """TERM a process group started with start_new_session=True; KILL what lingers; return
    once no process of the group is left."""
    pgid = process.pid  # a session leader's group id is its pid
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reap the leader; the others are reaped by init
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    raise DashboardError(f"process group {pgid} survived SIGKILL")


def server_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None and (
        importlib.util.find_spec("flask") is not None
    )


# The server's settings, shared with the production stacks' MLflow component
# (`mlpipeline.stack.mlflow_server`), which starts it with the `mlflow` environment's interpreter.
SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # No background job runner (a huey consumer with 5 workers): the UI needs none of it.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


def server_argv(python: str, port: int, backend_uri: str, artifact_root: str) -> list[str]:
    """`mlflow server` on loopback, one worker, over this store."""
    return [
        python, "-m", "mlflow", "server",
        "--host", HOST,
        "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", backend_uri,
        "--default-artifact-root", artifact_root,
        "--no-serve-artifacts",  # artifacts live in a local directory clients write and it reads
    ]  # fmt: skip


def start(config: TrackingConfig, port: int = DEFAULT_PORT, timeout: float = 180.0) -> Dashboard:
    """Start `mlflow server` on loopback over the embedded store; return once /health answers."""
    if not server_installed():
        raise DashboardError(
            "the MLflow server is not installed in this environment "
            "(mlflow-skinny has no UI): run `python3 dev.py dashboard`"
        )
    if config.uri:
        raise DashboardError(
            f"tracking.uri is {config.uri}: that server already is the dashboard, open it"
        )
    uri, artifact_root, _ = tracking.store_paths(config)
    with tracking.store_lock(config):  # a fresh store: create its tables before the server does
        tracking.client(config).search_experiments(max_results=1)
    log = Path(config.store) / "server.log"
    url = f"http://{HOST}:{port}"
    cmd = server_argv(sys.executable, port, uri, artifact_root)
    env = {**os.environ, **SERVER_ENV}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    dashboard = Dashboard(process, url, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise DashboardError(
                f"mlflow server exited with {process.returncode}:\n  " + "\n  ".join(tail),
                where=str(log),
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return dashboard
        except OSError:
            pass
        time.sleep(0.25)
    dashboard.stop()
    raise DashboardError(f"mlflow server not healthy within {timeout:.0f} s", where=str(log))


def serve(config: TrackingConfig, port: int = DEFAULT_PORT) -> int:
    """The CLI command: sync the outbox, start, print the URL, stop on Ctrl-C."""
    synced = tracking.sync_outbox(config)
    if synced:
        print(f"logged {len(synced)} queued run(s): {', '.join(synced)}")
    dashboard = start(config, port)
    # `kill` stops it as cleanly as Ctrl-C does (a background job ignores SIGINT).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"MLflow dashboard: {dashboard.url}  (experiment {config.experiment!r}; Ctrl-C stops)")
    try:
        while dashboard.process.poll() is None:
            time.sleep(0.5)
        print(f"mlflow server exited with {dashboard.process.returncode}; see {dashboard.log}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        dashboard.stop()
