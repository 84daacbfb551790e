"""Run the ml_pipeline DAG on a running Airflow stack (`python -m mlpipeline stack up --engine
airflow`) through its REST API, and report it as the same `RunResult` as `dag.test()`.

1. Refresh: ask the dag-processor to re-parse the DAG file (`PUT /api/v2/parseDagFile/...`), or
   wait for its first parse; unpause the DAG.
2. Trigger: `POST /api/v2/dags/ml_pipeline/dagRuns` with the config as `conf` (every key of
   `PipelineConfig.to_params()`) and our run id as Airflow's run id; no logical date, so the run
   is not tied to a data interval (`data_as_of` in the config sets the window).
3. Follow: poll the task instances, translating their states into progress events for the
   CLI's display, until the DAG run is final.
4. Report from Airflow's records: task instances (state, try number, queued/start/end, the
   worker's hostname and pid) and XCom return values (the artifact paths).

The retry policy comes from the DAG file's parse-time defaults (`default_args`), as for any
Airflow deployment: `conf` changes the config, not the retries of tasks already defined.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from airflow_impl import RUN_ID_PARAM, records
from airflow_impl.records import Instance
from mlpipeline import pipelines, progress, tracking
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import RunResult, TaskRecord
from mlpipeline.stack import stacks

ENGINE = "airflow"
_PROGRESS = {"running": "running", "success": "done", "failed": "failed"}
_PROGRESS.update(upstream_failed="failed")
FINAL = {"success", "failed"}
# Where the stack's components find the api-server (`mlpipeline.stack.airflow_stack`).
API_ENV = "AIRFLOW__API__BASE_URL"


class AirflowAPI:
    """The few REST calls we need, with a token from the simple auth manager (all admins)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        # Generous timeouts: on a loaded 2-core machine the one api-server process also serves
        # the execution API to every running task.
        self.http = httpx.Client(base_url=self.base, timeout=120)
        token = self.http.get("/auth/token").raise_for_status().json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(f"/api/v2{path}", params=params).raise_for_status().json()

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.http.request(method, f"/api/v2{path}", json=body)
        if response.is_error:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def wait_for_dag(api: AirflowAPI, dag_id: str, timeout: float = 120.0) -> dict:
    """The DAG once the dag-processor has serialized it; a re-parse request if it exists."""
    deadline = time.monotonic() + timeout
    response = api.http.get(f"/api/v2/dags/{dag_id}")
    if response.status_code == 200:
        parse = api.http.put(f"/api/v2/parseDagFile/{response.json()['file_token']}")
        # 409: a re-parse of the file is already pending (its request row is unique): ours is
        # redundant. Seen when two runs were triggered seconds apart (1 December 2026).
        if parse.is_error and parse.status_code != 409:
            raise RuntimeError(f"re-parse of {dag_id}: {parse.status_code} {parse.text[:500]}")
    while response.status_code != 200:
        if time.monotonic() > deadline:
            errors = api.get("/importErrors").get("import_errors", [])
            raise RuntimeError(f"DAG {dag_id!r} not parsed after {timeout:.0f} s: {errors}")
        time.sleep(1)
        response = api.http.get(f"/api/v2/dags/{dag_id}")
    if response.json()["is_paused"]:
        api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    return response.json()


def trigger(api: AirflowAPI, dag_id: str, conf: dict[str, Any], run_id: str) -> dict:
    body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    return api.call("POST", f"/dags/{dag_id}/dagRuns", body)


def task_instances(api: AirflowAPI, dag_id: str, run_id: str) -> list[dict]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    return api.get(path, limit=1000)["task_instances"]


def follow(api: AirflowAPI, dag_id: str, run_id: str, timeout: float, poll: float = 1.0) -> dict:
    """Poll until the DAG run is final; emit a progress event per task state change."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        for ti in task_instances(api, dag_id, run_id):
            state = _PROGRESS.get(str(ti["state"]))
            if state and seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                progress.emit(ti["task_id"], state)
        if run["state"] in FINAL:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"DAG run {run_id} still {run['state']} after {timeout:.0f} s")
        time.sleep(poll)


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def task_records(tis: list[dict], run_dir: Path, order: tuple[str, ...]) -> dict[str, TaskRecord]:
    """One record per task; a mapped task's instances (map_index >= 0) combined into one."""
    instances = (
        Instance(
            ti["task_id"],
            ti.get("map_index", -1),
            str(ti["state"]),
            ti["try_number"],
            _ts(ti["start_date"]),
            _ts(ti["end_date"]),
        )
        for ti in tis
    )
    return records.task_records(instances, run_dir, order)


def xcom_outputs(api: AirflowAPI, dag_id: str, run_id: str, tis: list[dict]) -> dict[str, Any]:
    """Each task's return value; a mapped task's as a list in map-index order."""
    outputs: dict[str, Any] = {}
    for ti in sorted(tis, key=lambda ti: ti.get("map_index", -1)):
        if ti["state"] != "success":
            continue
        index = ti.get("map_index", -1)
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}"
        entry = api.get(
            f"{path}/xcomEntries/return_value",
            deserialize=True,
            stringify=False,
            **({"map_index": index} if index >= 0 else {}),
        )
        if index >= 0:
            outputs.setdefault(ti["task_id"], []).append(entry["value"])
        else:
            outputs[ti["task_id"]] = entry["value"]
    return outputs


def edges(api: AirflowAPI, dag_id: str) -> frozenset[tuple[str, str]]:
    tasks = api.get(f"/dags/{dag_id}/tasks")["tasks"]
    return frozenset((t["task_id"], down) for t in tasks for down in t["downstream_task_ids"])


def run_pipeline(cfg: PipelineConfig, *, run_id: str, timeout: float = 1800.0) -> RunResult:
    """Trigger one run of the DAG on the running stack with this config and follow it."""
    pipeline = pipelines.for_config(cfg)
    env = stacks.client_env(ENGINE)
    cfg = stacks.on_stack(cfg, env)  # alerts to its mailbox, tracking on its MLflow server
    api = AirflowAPI(env["AIRFLOW_API"])
    try:
        wait_for_dag(api, pipeline.dag_id)
        started = time.perf_counter()
        trigger(api, pipeline.dag_id, {**cfg.to_params(), RUN_ID_PARAM: run_id}, run_id)
        dag_run = follow(api, pipeline.dag_id, run_id, timeout)
        wall = time.perf_counter() - started
        result = recorded_result(api, cfg, dag_run, run_id, wall_seconds=wall)
    finally:
        api.close()
    tracking.log_run(result, cfg)  # on the stack's MLflow server; never raises
    return result


def recorded_result(
    api: AirflowAPI, cfg: PipelineConfig, dag_run: dict, run_id: str, *, wall_seconds: float
) -> RunResult:
    """A finished DAG run as our `RunResult`, from Airflow's records (task instances, XComs,
    the DAG's edges); `run_id` is ours (the artifacts directory), `dag_run` Airflow's."""
    pipeline = pipelines.for_config(cfg)
    dag_id, dag_run_id = pipeline.dag_id, dag_run["dag_run_id"]
    run_dir = Path(cfg.paths.artifacts) / run_id
    tis = task_instances(api, dag_id, dag_run_id)
    return records.run_result(
        pipeline,
        run_id,
        run_dir,
        dag_run["state"],
        task_records(tis, run_dir, pipeline.order),
        edges=edges(api, dag_id),
        outputs=xcom_outputs(api, dag_id, dag_run_id, tis),
        wall_seconds=wall_seconds,
        settings={
            "runs_with": "production stack: scheduler + executor",
            "run_type": dag_run["run_type"],  # manual (the CLI, the UI), scheduled, backfill
            "mode": "production",  # the MLflow run's `mode` tag
            "database": "postgres",
            "api": api.base,
            "ui_run": f"{api.base}/dags/{dag_id}/runs/{dag_run_id}",
            "workers": sorted({f"{ti.get('hostname')}:{ti.get('pid')}" for ti in tis}),
            "cache": "artifact reuse" if cfg.cache.enabled else "off",
        },
    )


def track(cfg: PipelineConfig, dag_run_id: str, run_id: str) -> str | None:
    """Log a finished run that `run_pipeline` did not start (scheduled, a backfill's, the UI's)
    to MLflow, as `run_pipeline` logs its own; called by the DAGs' run-level callbacks on the
    stack (`airflow_impl.tasks.track_run`). Wall time: the DAG run's start to end."""
    api = AirflowAPI(os.environ[API_ENV])
    try:
        dag_run = api.get(f"/dags/{pipelines.for_config(cfg).dag_id}/dagRuns/{dag_run_id}")
        wall = (_ts(dag_run["end_date"]) or 0.0) - (_ts(dag_run["start_date"]) or 0.0)
        result = recorded_result(api, cfg, dag_run, run_id, wall_seconds=wall)
    finally:
        api.close()
    return tracking.log_run(result, cfg)
