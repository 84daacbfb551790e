"""Run the ml_pipeline DAG in this process with `dag.test()` and report it as a `RunResult`.

Airflow reads AIRFLOW_HOME once, when first imported, so `prepare()` sets the environment before
importing it, then creates or migrates the metadata database (SQLite) once per process. Unless
AIRFLOW_HOME is set already, the home sits beside the run artifacts: `var/airflow-home` for the
CLI (it keeps every run: `AIRFLOW_HOME=var/airflow-home airflow api-server` shows them), and a
directory under pytest's temporary tree for the tests, whose artifacts live there.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_impl import CONFIG_ENV, RUN_ID_PARAM, records
from mlpipeline import artifacts, pipelines
from mlpipeline.runs import RUN_LOG, RunResult, TaskRecord

ENGINE = "airflow"
# Airflow has no input cache. The DAG's substitute is artifact reuse: a cacheable step whose key
# (code, config, inputs) matches a stored entry returns the stored artifact instead of running.
CACHES_RESULTS = True
DAGS = Path(__file__).resolve().parent / "dags"

INITDB_LOCK = ".initdb.lock"  # in AIRFLOW_HOME: serialises the database migration

_home: Path | None = None


def prepare(home: str | Path) -> Path:
    """Configure Airflow for in-process runs, import it and migrate its database, once."""
    global _home
    if _home is None:
        if "airflow" in sys.modules and "AIRFLOW_HOME" not in os.environ:
            raise RuntimeError(
                "airflow was imported before AIRFLOW_HOME was set: it uses ~/airflow"
            )
        os.environ.setdefault("AIRFLOW_HOME", str(home))
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        # Harmless: Airflow's in-process execution API is served through starlette's TestClient.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        home_dir = Path(os.environ["AIRFLOW_HOME"])
        home_dir.mkdir(parents=True, exist_ok=True)
        from airflow.utils.db import initdb

        # Two first runs at once on a new home both created the tables ("table ... already
        # exists"): one migrates, the other waits, then finds the database current (a no-op).
        with file_lock(home_dir / INITDB_LOCK):
            initdb()  # creates a fresh database, or upgrades an existing one
        _home = home_dir
    return _home


def dags_folder() -> Path:
    """The folder dag.test() syncs, fixed when Airflow was imported."""
    from airflow import settings

    return Path(settings.DAGS_FOLDER)


def load_dag(name: str):
    """A fresh DAG object from the dags folder: Param values leak between runs of one object,
    and dag.test() refuses a DAG that is not in that folder."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder() / f"{name}.py")
    if name not in bag.dag_ids:
        raise RuntimeError(f"cannot load DAG {name!r}: {bag.import_errors or 'not found'}")
    return bag.get_dag(name)


@contextmanager
def task_logs_to(path: Path) -> Iterator[None]:
    """Airflow's logs go to the run's log file instead of the console for the length of a run:
    its task logs (structlog, every failed try with its traceback, as in a deployment's task
    log) and its own loggers (dag.test()'s "No tasks to run" while a failure propagates). The
    console keeps the progress display and the summary (issue 9, item 9). Both configurations
    are global: restored afterwards."""
    import structlog

    from mlpipeline.logs import logging_to

    previous = structlog.get_config()
    airflow_logger = logging.getLogger("airflow")
    propagate = airflow_logger.propagate
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log, logging_to(path, level=None, logger="airflow"):
        # Not cached: a logger first used now must not keep writing to this file later.
        structlog.configure(
            logger_factory=structlog.WriteLoggerFactory(file=log), cache_logger_on_first_use=False
        )
        airflow_logger.propagate = False
        try:
            yield
        finally:
            structlog.configure(**previous)
            airflow_logger.propagate = propagate


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes, released when the holder exits or dies."""
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def environ(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def run_pipeline(cfg: Any, *, run_id: str, logical_date: datetime | None = None) -> RunResult:
    """One run of the DAG with this config; `logical_date` (default: now) sets the data window."""
    pipeline = pipelines.for_config(cfg)
    home = prepare(Path(cfg.paths.artifacts).parent / "airflow-home")
    run_dir = Path(cfg.paths.artifacts) / run_id
    params = cfg.to_params()
    # The DAG file reads its defaults at parse time, its retry policy included: from this config.
    params_file = artifacts.write_json(run_dir / "params.json", params)
    from airflow_impl import attempts  # imports Airflow: only after prepare()

    with environ(CONFIG_ENV, str(params_file)):
        dag = load_dag(pipeline.dag_id)
        # The run's conf holds only what the parsed defaults do not say already (the recsys DAG
        # leaves data_date empty for scheduled runs): each task validates every conf key against
        # its Param again, a fifth of the Param validations of a run (bench_wiring.py).
        defaults = {k: p.value for k, p in dag.params.items()}  # dump() would validate each
        conf = {k: v for k, v in params.items() if defaults.get(k) != v}
        started = time.perf_counter()
        # Never None: dag.test(logical_date=None) clears the task instances of every earlier run.
        # A Ctrl-C cancels the running attempt, fails its task without a retry or an alert and
        # is raised again here once dag.test() returns (attempts.py).
        with task_logs_to(run_dir / RUN_LOG), attempts.interruptible():
            dag_run = dag.test(
                logical_date=logical_date or datetime.now(UTC),
                run_conf={**conf, RUN_ID_PARAM: run_id},
            )
        wall = time.perf_counter() - started
    tasks, outputs = task_records(pipeline.dag_id, dag_run.run_id, run_dir, pipeline.order)
    return records.run_result(
        pipeline,
        run_id,
        run_dir,
        dag_run.state,
        tasks,
        edges=frozenset((up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids),
        outputs=outputs,
        wall_seconds=wall,
        settings={
            "runs_with": "dag.test() in-process, tasks one at a time",
            "database": "sqlite",
            "airflow_home": str(home),
            "logging_level": os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"],
            "cache": "artifact reuse" if cfg.cache.enabled else "off",
        },
    )


def task_records(
    dag_id: str, airflow_run_id: str, run_dir: Path, order: tuple[str, ...]
) -> tuple[dict[str, TaskRecord], dict[str, Any]]:
    """Per task: state, attempts (try_number), times, reuse and error (`records`); and the XCom
    values, a mapped task's as the list of its instances' outputs in index order."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    instances = records.from_database(dag_id, airflow_run_id)
    tasks = records.task_records(instances, run_dir, order)
    outputs: dict[str, Any] = {}
    with create_session() as session:
        rows = XComModel.get_many(run_id=airflow_run_id, dag_ids=dag_id, key="return_value")
        for x in sorted(session.scalars(rows), key=lambda x: x.map_index):
            value = XComModel.deserialize_value(x)
            if x.map_index >= 0:
                outputs.setdefault(x.task_id, []).append(value)
            else:
                outputs[x.task_id] = value
    return tasks, outputs
