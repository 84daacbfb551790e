"""Log every pipeline run to MLflow tracking: one call after any engine's run.

`log_run(result, cfg.tracking, cfg)` takes the engine-neutral `RunResult`, so the same call covers
the mock engine, Airflow and Prefect in every mode. It works in two halves:

* `payload(result, cfg)` is pure: params (the flat config), metrics (the pipeline's declared
  "metrics" report flattened: the weather holdout metrics as ``holdout.*``, the recommender's
  A/B table as ``ab.*`` (NDCG and recall of both models, their paired difference's mean, CI,
  lower bound and p-value, coverage); CV mean and spread; data-check and row counts; per-step
  durations from the run's `TaskRecord`s), tags (pipeline, engine, mode, run id, data
  fingerprint, code version, the gate's decision and reasons) and the artifacts to upload
  (model file, evaluation, gate decision, ...). One experiment per pipeline
  (`tracking.experiment`: ``seattle-weather``, ``recsys``). The contract suite logs each
  engine's run, reads it back (`read_back`) and compares with `assert_same_tracking`.
* `write(payload, cfg.tracking)` sends it with the MLflow client. Logging is idempotent by the
  pipeline's run id (tag `pipeline_run_id`): logging a run twice leaves one MLflow run.

Embedded store (the default, `tracking.uri = ""`): SQLite and a local artifact root under
`tracking.store`, no server. SQLite takes one writer at a time, and MLflow's SQLAlchemy store
surfaces a concurrent writer as "database is locked" (also while it creates its tables on first
use). Every write to the embedded store therefore holds a file lock beside the database: four
runs finishing at once wait for each other for well under a second each, and none is lost
(tests/steps/test_tracking.py). Against a server (`tracking.uri = "http://..."`) the server
serialises; no lock.

Where the store cannot be written (a server down, a disk full) or the client is missing,
`log_run` writes the payload to `<store>/outbox/<run id>.json` instead; `sync_outbox` logs it
later (`python -m mlpipeline dashboard` calls it before starting the UI). No run is lost either
way, and the run itself never fails because tracking did: errors are returned, not raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipeline import artifacts
from mlpipeline.errors import PipelineError

if TYPE_CHECKING:  # mlflow costs seconds to import: only where it is used
    from mlflow import MlflowClient

    from mlpipeline.config import PipelineConfig, TrackingConfig
    from mlpipeline.runs import RunResult

log = logging.getLogger("mlpipeline")

RUN_ID_TAG = "pipeline_run_id"
DURATION_PREFIX = "duration_seconds."  # engine-specific by nature: outside the contract
# Engine-specific tags, outside the contract too.
ENGINE_TAGS = ("engine", "mode", RUN_ID_TAG, "code_version", "mlflow.runName")
# Params that say where files are, not what was computed: outside the contract.
LOCATION_PARAMS = (
    "data_path",
    "paths_registry",
    "paths_artifacts",
    "paths_cache",
    "alerts_log",
    "tracking_store",
    "data_landing",
    "profiles_db",
)
# The declared "metrics" report's prefix in MLflow, per pipeline.
METRICS_PREFIX = {"weather": "holdout", "recsys": "ab"}
OUTBOX = "outbox"


class TrackingError(PipelineError):
    """MLflow refused or could not be reached; the run itself is unaffected."""

    retryable = True


@dataclass
class Payload:
    """Everything one run sends to MLflow; JSON-serialisable (the outbox stores it)."""

    run_id: str
    experiment: str
    status: str  # MLflow's run status: FINISHED or FAILED
    start_ms: int
    end_ms: int
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # local file -> artifact directory
    texts: dict[str, str] = field(default_factory=dict)  # artifact file -> content (JSON)


# -- the pure half ----------------------------------------------------------------------------
def payload(result: RunResult, cfg: PipelineConfig) -> Payload:
    """What MLflow should know about one run, read only from the RunResult and the config."""
    starts = [t.start for t in result.tasks.values() if t.start is not None]
    ends = [t.end for t in result.tasks.values() if t.end is not None]
    start = min(starts, default=time.time() - result.wall_seconds)
    end = max(ends, default=start + result.wall_seconds)
    p = Payload(
        run_id=result.run_id,
        experiment=cfg.tracking.experiment,
        status="FINISHED" if result.ok else "FAILED",
        start_ms=int(start * 1000),
        end_ms=int(end * 1000),
    )
    p.params = {k: _param(v) for k, v in sorted(cfg.to_params().items())}
    p.tags = {
        "pipeline": cfg.tracking.experiment,
        "engine": result.engine,
        "mode": str(result.settings.get("mode", "in-process")),
        RUN_ID_TAG: result.run_id,
        "code_version": code_version(),
        "state": result.state,
        "mlflow.runName": result.run_id,
    }
    if result.failed_step:
        p.tags["failed_step"] = result.failed_step
        p.tags["error"] = (result.error or "")[:4000]
    for name, task in result.tasks.items():
        if task.duration is not None:
            p.metrics[DURATION_PREFIX + name] = task.duration
    p.metrics[DURATION_PREFIX + "run"] = result.wall_seconds
    _data_metrics(result, p)
    _recsys_data_metrics(result, p)
    _model_metrics(result, p)
    _decision(result, p)
    p.texts["run.json"] = artifacts.dumps(json.loads(json.dumps(result.to_dict(), default=str)))
    return p


def _param(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _put(p: Payload, key: str, value: Any) -> None:
    """Numbers only (bools as 0/1); None and NaN are left out rather than faked."""
    if isinstance(value, bool | int | float) and not (
        isinstance(value, float) and math.isnan(value)
    ):
        p.metrics[key] = float(value)


def _flat(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted keys for nested dicts; an interval ``[low, high]`` becomes ``.low`` and ``.high``."""
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flat(value, f"{name}.")
        elif isinstance(value, list | tuple) and len(value) == 2:
            yield from ((f"{name}.{end}", v) for end, v in zip(("low", "high"), value, strict=True))
        else:
            yield name, value


def _declared(result: RunResult, step: str, name: str) -> Path | None:
    """A finished step's declared output file, if the run's pipeline has that step."""
    try:
        out = result.output(step)
    except KeyError:  # another pipeline's step
        return None
    if out is None or name not in out.files or not out.file(name).exists():
        return None
    return out.file(name)


def _data_metrics(result: RunResult, p: Payload) -> None:
    if report_path := _declared(result, "validate_data", "report"):
        report = artifacts.read_json(report_path)
        _put(p, "rows.in", report.get("rows_in"))
        _put(p, "rows.out", report.get("rows_out"))
        _put(p, "rows.dropped", report["rows_in"] - report["rows_out"])
        missing = report.get("missing_values") or {}
        for column, count in missing.items():
            _put(p, f"data_check.missing.{column}", count)
        _put(p, "data_check.missing_total", sum(missing.values()))
        p.artifacts[str(report_path)] = "data"
    if split_path := _declared(result, "split_data", "split"):
        info = artifacts.read_json(split_path)
        _put(p, "rows.train", info.get("train_rows"))
        _put(p, "rows.holdout", info.get("holdout_rows"))
        p.tags["data_fingerprint"] = str(info.get("data_fingerprint"))
        p.artifacts[str(split_path)] = "data"


def _recsys_data_metrics(result: RunResult, p: Payload) -> None:
    """The recommender's data half: the day's extract checks, the profile state, the frames."""
    if report_path := _declared(result, "extract", "report"):
        report = artifacts.read_json(report_path)
        for key, value in _flat(report):
            _put(p, f"data.{key}", value)
        p.tags["data_fingerprint"] = str(report.get("content_sha256"))
        p.artifacts[str(report_path)] = "data"
    if merge_path := _declared(result, "merge_profiles", "merge"):
        merge = artifacts.read_json(merge_path)
        for key in ("events_total", "users", "items", "user_items"):  # not its seconds
            _put(p, f"profiles.{key}", merge.get(key))
        p.tags["profiles_state_sha256"] = str(merge.get("state_sha256"))
    if info_path := _declared(result, "build_features", "info"):
        for key, value in _flat(artifacts.read_json(info_path)):
            _put(p, f"features.{key}", value)


def _model_metrics(result: RunResult, p: Payload) -> None:
    metrics = result.metrics
    if metrics:
        prefix = METRICS_PREFIX.get(result.pipeline, "metrics")
        for key, value in _flat(metrics):
            _put(p, f"{prefix}.{key}", value)
        p.tags["model_sha256"] = str(metrics.get("model_sha256") or result.model_sha256)
        from mlpipeline import pipelines

        step, name = pipelines.get(result.pipeline).reports["metrics"]
        if evaluation := _declared(result, step, name):
            p.artifacts[str(evaluation.parent)] = "evaluation"
    if _declared(result, "train_model", "meta"):
        model = result.model or {}
        cv = model.get("cv") or {}
        _put(p, f"cv.{cv.get('metric')}.mean", cv.get("mean"))
        _put(p, f"cv.{cv.get('metric')}.std", cv.get("std"))
        _put(p, "cv.best_candidate", model.get("best_candidate"))
        _put(p, "cv.candidates", len(model.get("candidates") or []))
        _put(p, "model.best_iteration", model.get("best_iteration"))
        for name in ("model", "meta"):
            p.artifacts[str(_declared(result, "train_model", name))] = "model"


def _decision(result: RunResult, p: Payload) -> None:
    gate = result.gate
    if gate:
        p.tags["gate_promote"] = str(bool(gate["promote"])).lower()
        p.tags["gate_reasons"] = "\n".join(gate["reasons"])[:4000]
        if gate.get("verdict"):
            p.tags["gate_verdict"] = str(gate["verdict"])[:4000]
        _put(p, "gate.promote", bool(gate["promote"]))
        p.texts["gate.json"] = artifacts.dumps(
            {"promote": gate["promote"], "reasons": gate["reasons"]}
        )
    registration = result.registration
    if registration:
        p.tags["registered_version"] = str(registration.get("version"))
        p.tags["registration"] = str(registration.get("reason"))[:4000]


def code_version() -> str:
    """The git commit of this checkout, else the installed package's version."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return "package:" + version("orchestration-bench")
    except PackageNotFoundError:
        return "unknown"


def contract_view(p: Payload) -> dict[str, Any]:
    """The part of a payload that must not depend on the engine: timings, places and the
    engine's own names removed."""
    return {
        "params": {k: v for k, v in p.params.items() if k not in LOCATION_PARAMS},
        "metrics": {k: v for k, v in p.metrics.items() if not k.startswith(DURATION_PREFIX)},
        "tags": {k: v for k, v in p.tags.items() if k not in ENGINE_TAGS},
        "artifacts": sorted(f"{where}/{Path(f).name}" for f, where in p.artifacts.items()),
        "texts": sorted(k for k in p.texts),
        "status": p.status,
    }


def assert_same_tracking(payloads: dict[str, Payload]) -> None:
    """The contract: every engine's run of the same config logs the same params, metrics, tags
    and artifacts. Raises AssertionError naming the engine and the first keys that differ."""
    (first, reference), *others = payloads.items()
    want = contract_view(reference)
    for engine, p in others:
        got = contract_view(p)
        for part in want:
            if got[part] != want[part]:
                a, b = want[part], got[part]
                if isinstance(a, dict):
                    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                    detail = ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys[:5])
                else:
                    detail = f"{a!r} vs {b!r}"
                raise AssertionError(f"tracking {part} differ, {first} vs {engine}: {detail}")


# -- the MLflow half --------------------------------------------------------------------------
def store_paths(tracking: TrackingConfig) -> tuple[str, str | None, Path]:
    """(tracking URI, artifact root URI or None for the server's default, lock file)."""
    store = Path(tracking.store)
    if tracking.uri:
        return tracking.uri, None, store / ".lock"
    return f"sqlite:///{store / 'mlflow.db'}", (store / "artifacts").as_uri(), store / ".lock"


def client(tracking: TrackingConfig) -> MlflowClient:
    """An MLflow client on the configured store. Its first use on a fresh SQLite file creates
    the tables: writers call it under `store_lock`, else two processes race the migration
    ("duplicate column name")."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage reports from here
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):  # table creation chatter on a fresh database
        logging.getLogger(name).setLevel(logging.WARNING)
    uri, _, _ = store_paths(tracking)
    Path(tracking.store).mkdir(parents=True, exist_ok=True)
    if not tracking.uri:
        _seed(Path(tracking.store) / "mlflow.db")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _seed(db: Path) -> None:
    """Start a new embedded store as a copy of an empty, migrated one, made once per MLflow
    version under the user's cache directory: MLflow runs its 60-odd schema migrations on every
    new SQLite file (4 s idle, 16 s on a loaded machine), and a session of tests or lessons
    creates dozens of stores. `os.link` publishes the copy only where no database exists yet,
    so a writer that got there first is never overwritten."""
    if db.exists():
        return
    import sqlite3

    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlpipeline"
    template = cache / f"mlflow-{mlflow.__version__}.db"
    if not template.exists():
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        cache.mkdir(parents=True, exist_ok=True)
        made = cache / f"{template.name}.{_unique()}"
        SqlAlchemyStore(f"sqlite:///{made}", str(cache / "artifacts")).engine.dispose()
        os.replace(made, template)  # complete before anyone copies it
    copy = db.with_name(f"{db.name}.{_unique()}")
    copy.write_bytes(template.read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as con, con:  # the default experiment's
        artifact_root = (db.parent / "artifacts" / "0").as_uri()  # artifacts go to this store
        con.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (artifact_root,)
        )
    try:
        os.link(copy, db)
    except FileExistsError:
        pass
    finally:
        copy.unlink()


def _unique() -> str:
    """A temporary file's suffix no other process or thread uses at the same time."""
    return f"{os.getpid()}.{threading.get_ident()}"


@contextmanager
def store_lock(tracking: TrackingConfig, timeout: float = 120.0) -> Iterator[None]:
    """One writer at a time on the embedded SQLite store, across processes (no-op for a server)."""
    if tracking.uri:
        yield
        return
    with file_lock(store_paths(tracking)[2], timeout):
        yield


@contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    try:
        with artifacts.file_lock(path, timeout):
            yield
    except artifacts.LockTimeout:
        raise TrackingError(
            f"could not lock the MLflow store within {timeout:.0f} s", where=str(path)
        ) from None


def experiment_id(c: MlflowClient, tracking: TrackingConfig, name: str) -> str:
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    _, artifact_root, _ = store_paths(tracking)
    # MLflow 3's UI opens an experiment of unknown kind in its GenAI view; these are model runs.
    kind = {"mlflow.experimentKind": "custom_model_development"}
    return c.create_experiment(name, artifact_location=artifact_root, tags=kind)


def find_run(c: MlflowClient, exp_id: str, run_id: str) -> str | None:
    runs = c.search_runs([exp_id], filter_string=f"tags.{RUN_ID_TAG} = '{run_id}'", max_results=1)
    return runs[0].info.run_id if runs else None


def write(p: Payload, tracking: TrackingConfig) -> str:
    """Log one payload (idempotent by pipeline run id); returns the MLflow run id."""
    import tempfile

    from mlflow.entities import Metric, Param, RunTag

    with store_lock(tracking):
        c = client(tracking)  # a fresh store creates its tables here: under the lock too
        exp_id = experiment_id(c, tracking, p.experiment)
        existing = find_run(c, exp_id, p.run_id)
        if existing:
            return existing
        run = c.create_run(exp_id, start_time=p.start_ms, tags={RUN_ID_TAG: p.run_id})
        mlflow_id = run.info.run_id
        try:
            c.log_batch(
                mlflow_id,
                metrics=[Metric(k, v, p.end_ms, 0) for k, v in sorted(p.metrics.items())],
                params=[Param(k, v) for k, v in p.params.items()],
                tags=[RunTag(k, v) for k, v in sorted(p.tags.items())],
            )
            for local, where in p.artifacts.items():
                c.log_artifact(mlflow_id, local, where)
            with tempfile.TemporaryDirectory() as tmp:
                for name, text in p.texts.items():
                    (Path(tmp) / name).write_text(text, encoding="utf-8")
                    c.log_artifact(mlflow_id, str(Path(tmp) / name))
            c.set_terminated(mlflow_id, status=p.status, end_time=p.end_ms)
        except BaseException:
            c.delete_run(mlflow_id)  # a half-logged run is not a run: the retry starts clean
            raise
        return mlflow_id


def outbox_path(tracking: TrackingConfig, run_id: str) -> Path:
    return Path(tracking.store) / OUTBOX / f"{run_id}.json"


def log_run(result: RunResult, cfg: PipelineConfig) -> str | None:
    """Log a finished run; returns the MLflow run id, or None (disabled, or queued in the
    outbox). Never raises for tracking trouble: it logs a warning; the run's outcome stands.
    A config without a [tracking] section is not logged."""
    if getattr(cfg, "tracking", None) is None or not cfg.tracking.enabled:
        return None
    p = payload(result, cfg)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        artifacts.write_json(outbox_path(cfg.tracking, p.run_id), asdict(p))
        log.warning("mlflow is not installed here: run %s queued in the outbox", p.run_id)
        return None
    try:
        return write(p, cfg.tracking)
    except Exception as e:  # the pipeline's result must not depend on the dashboard
        artifacts.write_json(outbox_path(cfg.tracking, p.run_id), asdict(p))
        log.warning(
            "tracking failed (%s: %s): run %s queued in the outbox", type(e).__name__, e, p.run_id
        )
        return None


def read_back(tracking: TrackingConfig, experiment: str, run_id: str) -> Payload:
    """What the store holds for a pipeline run (params, metrics, tags, status): from MLflow, or
    from the outbox where the client is not installed. The contract compares these."""
    path = outbox_path(tracking, run_id)
    if path.exists():
        return Payload(**artifacts.read_json(path))
    c = client(tracking)
    exp = c.get_experiment_by_name(experiment)
    mlflow_id = find_run(c, exp.experiment_id, run_id) if exp else None
    if mlflow_id is None:
        raise LookupError(f"run {run_id} is not in {store_paths(tracking)[0]} ({experiment})")
    run = c.get_run(mlflow_id)
    return Payload(
        run_id=run_id,
        experiment=experiment,
        status=run.info.status,
        start_ms=run.info.start_time,
        end_ms=run.info.end_time,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    )


# -- links into the dashboard ----------------------------------------------------------------
def run_link(tracking: TrackingConfig, run_id: str, dashboard: str | None = None) -> str:
    """The MLflow UI's page for a pipeline run, for links from an engine's UI.

    `dashboard`: the UI's address (default: the server in `tracking.uri`, else the local
    dashboard's, ``python -m mlpipeline dashboard``). Resolved now, without the MLflow client
    (cheap inside a task): the run's own page if it is logged already; else its
    experiment filtered on this run's tag, which shows the run once it is logged (runs are
    logged after they end); else the experiment list. The embedded store is read through
    SQLite, read-only; a server through its REST API."""
    from urllib.parse import quote

    if dashboard is None:
        from mlpipeline.dashboard import DEFAULT_PORT, HOST

        dashboard = (
            tracking.uri if tracking.uri.startswith("http") else f"http://{HOST}:{DEFAULT_PORT}"
        )
    dashboard = dashboard.rstrip("/")
    try:
        exp_id, mlflow_id = _lookup(tracking, run_id)
    except Exception as e:  # a link is a convenience: never a failure
        log.debug("MLflow run %s not looked up: %s", run_id, e)
        exp_id, mlflow_id = None, None
    if exp_id and mlflow_id:
        return f"{dashboard}/#/experiments/{exp_id}/runs/{mlflow_id}"
    if exp_id:
        search = quote(f"tags.{RUN_ID_TAG} = '{run_id}'")
        return f"{dashboard}/#/experiments/{exp_id}?searchFilter={search}"
    return f"{dashboard}/#/experiments"


def _lookup(tracking: TrackingConfig, run_id: str) -> tuple[str | None, str | None]:
    """(experiment id, MLflow run id) of a pipeline run, each None where unknown."""
    if tracking.uri.startswith("http"):
        return _lookup_rest(tracking.uri.rstrip("/"), tracking.experiment, run_id)
    db = Path(tracking.store) / "mlflow.db"
    if not db.exists():
        return None, None
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:
        row = con.execute(
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
            (tracking.experiment,),
        ).fetchone()
        if row is None:
            return None, None
        run = con.execute(
            "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' AND t.key = ? "
            "AND t.value = ?",
            (row[0], RUN_ID_TAG, run_id),
        ).fetchone()
    return str(row[0]), run[0] if run else None


def _lookup_rest(uri: str, experiment: str, run_id: str) -> tuple[str | None, str | None]:
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    def call(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{uri}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    try:
        exp = call("experiments/get-by-name?" + urlencode({"experiment_name": experiment}))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None, None
        raise
    exp_id = exp["experiment"]["experiment_id"]
    found = call(
        "runs/search",
        {
            "experiment_ids": [exp_id],
            "filter": f"tags.{RUN_ID_TAG} = '{run_id}'",
            "max_results": 1,
        },
    )
    runs = found.get("runs") or []
    return exp_id, runs[0]["info"]["run_id"] if runs else None


def sync_outbox(tracking: TrackingConfig) -> list[str]:
    """Log every queued payload, deleting each once logged; returns the pipeline run ids."""
    done = []
    for path in sorted((Path(tracking.store) / OUTBOX).glob("*.json")):
        p = Payload(**artifacts.read_json(path))
        write(p, tracking)
        path.unlink()
        done.append(p.run_id)
    return done
