"""The Prefect 3 stack: `prefect server start` on Postgres (asyncpg) and one runner process that
serves the pipeline's deployment (`prefect_impl.deployment`, `flow.serve()` style).

A served deployment instead of a work pool and `prefect worker start`: one process fewer, no
pool to create. The runner starts a new Python process per flow run, as a process worker would.
`--executor dask`: a Dask scheduler and `--workers N` Dask workers (`dask scheduler`, `dask
worker --name workerI`), each a component of its own, and the deployment's `DaskTaskRunner`
connects to them: the tasks of every flow run spread over long-lived worker processes (no
LocalCluster started per flow run, 6-12 s each), and Dask's own records on the workers name the
task runs each one executed.

* `PREFECT_HOME` is `var/stack/prefect/home` for the server, the runner and the clients (results
  of deployment runs are files there, read back by the client on the same machine).
* `PREFECT_RUNNER_POLL_FREQUENCY`: 10 s by default (Prefect's), 1 s when `tuned`: the one knob of
  the benchmarks' tuned row (it dominates the trigger-to-running delay).
* `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` 30 s: a run whose process died while no runner watched
  it is marked Crashed and alerted by an automation (`prefect_impl.production_crashes`).
* No telemetry (this machine is offline), server logs at WARNING.

Orchestrator-free: Prefect is never imported here, only started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlpipeline.stack import postgres, procs
from mlpipeline.stack.stacks import (
    SCHEDULED_CONFIG_ENV,
    Stack,
    env_for_children,
    scheduled_config,
)

PORTS = {"postgres": 18433, "api": 18420, "dask": 18550, "dask_workers": 18560}
DEPLOYMENTS = (
    "ml_pipeline/production",
    "recsys_retrain/production",
    "ml_pipeline_daily/daily",
    "alert_unresponsive_run/alert",
)


def _python() -> str:
    if not (Path(sys.executable).parent / "prefect").exists():
        raise procs.StackError(
            "prefect is not installed in this environment; use the prefect-prod one:\n"
            "  python3 dev.py test -e prefect-prod --notest   (builds .tox/prefect-prod)\n"
            "  .tox/prefect-prod/bin/python -m mlpipeline stack up --engine prefect"
        )
    return sys.executable


def environment(stack: Stack) -> dict[str, str]:
    api = f"http://{procs.HOST}:{stack.ports['api']}/api"
    return {
        "PREFECT_HOME": str(stack.home / "home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_API_HOST": procs.HOST,
        "PREFECT_SERVER_API_PORT": str(stack.ports["api"]),
        "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url(
            stack.ports["postgres"], "prefect", "postgresql+asyncpg"
        ),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1" if stack.tuned else "10",
        # Flow runs' heartbeats (30 s: Prefect's minimum), for the automation that crashes and
        # alerts runs whose process died unwatched (prefect_impl.production_crashes).
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_LOCAL_STORAGE_PATH": str(stack.home / "home" / "storage"),
        "MLPIPELINE_TASK_RUNNER": stack.executor,
        **({"MLPIPELINE_DASK_ADDRESS": _dask_address(stack)} if stack.executor == "dask" else {}),
        "MLPIPELINE_EXTRA_FLOWS": "benchmarks.production_flows",  # served from the repo root
        SCHEDULED_CONFIG_ENV: str(scheduled_config(stack)),  # the daily deployment's default
    }


def start(stack: Stack) -> None:
    python = _python()
    stack.ports["api"] = procs.choose_port(PORTS["api"], list(stack.ports.values()))
    if stack.executor == "dask":
        stack.ports["dask"] = procs.choose_port(PORTS["dask"], list(stack.ports.values()))
    env = env_for_children(environment(stack))
    stack.env.update(
        {k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH")}
    )
    Path(env["PREFECT_LOCAL_STORAGE_PATH"]).mkdir(parents=True, exist_ok=True)
    api = env["PREFECT_API_URL"]
    stack.launch(
        "server",
        [python, "-m", "prefect", "server", "start", "--host", procs.HOST]
        + ["--port", str(stack.ports["api"])],
        env,
        port=stack.ports["api"],
        ready=lambda: procs.http_get(f"{api}/health") == b"true",
        timeout=180,
    )
    if stack.executor == "dask":
        stack.env["MLPIPELINE_DASK_ADDRESS"] = env["MLPIPELINE_DASK_ADDRESS"]
        _start_dask(stack, env)
    stack.launch(
        "runner",
        [python, "-m", "prefect_impl.deployment"],
        env,
        ready=lambda: all(_deployed(api, name) for name in DEPLOYMENTS),
        timeout=180,
    )


def _dask_address(stack: Stack) -> str:
    return f"tcp://{procs.HOST}:{stack.ports['dask']}"


def _dask(command: str, *args: str) -> list[str]:
    """`python -m distributed.cli.dask_<command>`, not the `dask` script: the project directory
    (the cwd) is then on sys.path, so workers import the tasks from the same files as the runner."""
    return [sys.executable, "-m", f"distributed.cli.dask_{command}", *args]


def _start_dask(stack: Stack, env: dict[str, str]) -> None:
    """A Dask scheduler and `--workers` single-threaded workers (no nanny: one process each),
    named worker1..N: the cluster every flow run's `DaskTaskRunner` connects to, and whose
    records tell which worker ran which task (`tests/production`)."""
    port = stack.ports["dask"]
    # No dashboard here, so nothing reads what Dask samples for it: its statistical profiler
    # (every 10 ms), event-loop tick (20 ms) and system monitor (500 ms) kept an idle 2-worker
    # cluster at 0.16 of a core (measured, 30 November 2026).
    env = {
        **env,
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
        "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
        "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "10s",
    }
    stack.launch(
        "dask-scheduler",
        _dask("scheduler", "--host", procs.HOST, "--port", str(port), "--no-dashboard"),
        env,
        port=port,
        ready=lambda: procs.port_in_use(port),
        timeout=120,
    )
    for i in range(1, stack.workers + 1):
        worker_port = stack.ports[f"dask-worker-{i}"] = procs.choose_port(
            PORTS["dask_workers"] + i, list(stack.ports.values())
        )
        stack.launch(
            f"dask-worker-{i}",
            _dask("worker", _dask_address(stack), "--name", f"worker{i}", "--nthreads", "1")
            + ["--no-nanny", "--no-dashboard", "--host", procs.HOST]
            + ["--worker-port", str(worker_port)],
            env,
            port=worker_port,
            ready=lambda p=worker_port: procs.port_in_use(p),
            timeout=120,
        )


def _deployed(api: str, name: str) -> bool:
    return json.loads(procs.http_get(f"{api}/deployments/name/{name}"))["name"] is not None


def health(stack: Stack) -> dict[str, str]:
    api = f"http://{procs.HOST}:{stack.ports['api']}/api"
    report = {"server": "healthy" if procs.http_get(f"{api}/health") == b"true" else "unhealthy"}
    for name in DEPLOYMENTS:
        try:
            report[name] = "healthy" if _deployed(api, name) else "missing"
        except OSError:
            report[name] = "missing"
    return report


def ui_url(stack: Stack) -> str:
    return f"http://{procs.HOST}:{stack.ports['api']}/"
