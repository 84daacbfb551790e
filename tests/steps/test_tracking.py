"""MLflow tracking: what a run logs, idempotence, concurrent writers on SQLite, the outbox, and
the cross-engine contract assertion."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from mlpipeline import artifacts, tracking
from mlpipeline.config import TrackingConfig
from mlpipeline.graph import STEPS
from mlpipeline.runs import RunResult
from tests.conftest import config_in
from tests.processes import mlflow_workers, run_all

pytest.importorskip("mlflow", reason="the MLflow client is not installed here (tox -e mock)")


@pytest.fixture(scope="module")
def mock_run(tmp_path_factory: pytest.TempPathFactory):
    from mock_impl.runner import run_pipeline

    cfg = config_in(tmp_path_factory.mktemp("tracked"))
    result = run_pipeline(cfg, run_id="tracked")
    assert result.ok, result.error
    return cfg, result


def with_store(cfg, store: Path):
    return dataclasses.replace(cfg, tracking=TrackingConfig(store=str(store)))


def test_payload_holds_config_metrics_durations_decision_and_model(mock_run):
    cfg, result = mock_run
    p = tracking.payload(result, cfg)
    assert p.params["tuning_cv_folds"] == "3" and set(p.params) == set(cfg.to_params())
    assert p.metrics["holdout.accuracy"] == result.metrics["accuracy"]
    assert p.metrics[f"cv.{cfg.tuning.metric}.mean"] == result.model["cv"]["mean"]
    assert f"cv.{cfg.tuning.metric}.std" in p.metrics
    assert {f"duration_seconds.{s}" for s in STEPS} <= set(p.metrics)
    assert p.metrics["rows.train"] > 0 and p.metrics["rows.in"] >= p.metrics["rows.out"]
    assert p.metrics["data_check.missing_total"] == 0
    assert p.tags["engine"] == "mock" and p.tags["pipeline_run_id"] == "tracked"
    assert p.tags["data_fingerprint"] == result.metrics["data_fingerprint"]
    assert p.tags["code_version"].startswith(("git:", "package:"))
    assert p.tags["gate_promote"] == "true" and "PASS accuracy" in p.tags["gate_reasons"]
    assert "model/model.ubj" in tracking.contract_view(p)["artifacts"]


def test_a_run_is_logged_once_with_its_model(mock_run, tmp_path):
    cfg, result = mock_run
    cfg = with_store(cfg, tmp_path / "mlflow")
    first = tracking.log_run(result, cfg)
    assert tracking.log_run(result, cfg) == first  # idempotent by the pipeline's run id
    c = tracking.client(cfg.tracking)
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    runs = c.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [first]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["holdout.accuracy"] == result.metrics["accuracy"]
    assert run.data.params["tuning_cv_folds"] == "3"
    assert run.data.tags["gate_promote"] == "true"
    local = Path(c.download_artifacts(first, "model/model.ubj", str(tmp_path)))
    assert artifacts.sha256_bytes(local.read_bytes()) == result.model_sha256
    assert {f.path for f in c.list_artifacts(first)} >= {"gate.json", "model", "run.json"}


def test_run_link_resolves_in_the_embedded_store(mock_run, tmp_path):
    cfg, result = mock_run
    cfg = with_store(cfg, tmp_path / "mlflow")
    board = "http://127.0.0.1:19500"
    assert tracking.run_link(cfg.tracking, "tracked") == f"{board}/#/experiments"  # no store yet
    mlflow_id = tracking.log_run(result, cfg)
    exp_id = tracking.client(cfg.tracking).get_run(mlflow_id).info.experiment_id
    assert tracking.run_link(cfg.tracking, "tracked") == (
        f"{board}/#/experiments/{exp_id}/runs/{mlflow_id}"
    )
    # Not logged yet (it ends later): its experiment, filtered on its tag.
    assert tracking.run_link(cfg.tracking, "later", "http://x:1/") == (
        f"http://x:1/#/experiments/{exp_id}?searchFilter=tags.pipeline_run_id%20%3D%20%27later%27"
    )


def _log_as(store: str, run: tuple, run_id: str, barrier) -> None:
    cfg, result = run
    cfg = with_store(cfg, Path(store))
    barrier.wait(60)  # all four hit the fresh database (and its table creation) together
    assert tracking.write(
        tracking.payload(dataclasses.replace(result, run_id=run_id), cfg), cfg.tracking
    )


def test_four_concurrent_runs_lose_none(mock_run, tmp_path):
    """SQLite's "database is locked" is MLflow's known trap: the store lock serialises writers."""
    ctx = mlflow_workers()
    barrier = ctx.Barrier(4)
    ids = [f"parallel-{i}" for i in range(4)]
    procs = [
        ctx.Process(target=_log_as, args=(str(tmp_path / "mlflow"), mock_run, i, barrier))
        for i in ids
    ]
    run_all(procs)
    cfg = with_store(mock_run[0], tmp_path / "mlflow")
    c = tracking.client(cfg.tracking)
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    runs = c.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["pipeline_run_id"] for r in runs) == ids
    assert all(r.info.status == "FINISHED" and r.data.metrics for r in runs)


def test_without_the_client_the_run_waits_in_the_outbox(mock_run, tmp_path, monkeypatch):
    cfg, result = mock_run
    cfg = with_store(cfg, tmp_path / "mlflow")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as in the Airflow environment
    assert tracking.log_run(result, cfg) is None
    queued = tracking.outbox_path(cfg.tracking, "tracked")
    assert queued.exists()
    monkeypatch.undo()
    assert tracking.sync_outbox(cfg.tracking) == ["tracked"]
    assert not queued.exists()
    c = tracking.client(cfg.tracking)
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    assert len(c.search_runs([exp.experiment_id])) == 1


def test_disabled_tracking_logs_nothing(mock_run, tmp_path):
    cfg, result = mock_run
    cfg = dataclasses.replace(
        cfg, tracking=TrackingConfig(store=str(tmp_path / "mlflow"), enabled=False)
    )
    assert tracking.log_run(result, cfg) is None
    assert not (tmp_path / "mlflow").exists()


def _as_engine(result: RunResult, engine: str) -> RunResult:
    """The same run as another engine reports it: other name, run id, timings and places."""
    tasks = {
        n: dataclasses.replace(t, start=t.start + 100, end=t.end + 107)
        for n, t in result.tasks.items()
    }
    return dataclasses.replace(
        result, engine=engine, run_id=f"{engine}-1", tasks=tasks, wall_seconds=99.0
    )


def test_contract_same_run_same_params_and_metrics_under_any_engine(mock_run):
    cfg, result = mock_run
    other_place = dataclasses.replace(
        cfg,
        tracking=TrackingConfig(store="/elsewhere/mlflow"),
        paths=dataclasses.replace(cfg.paths, artifacts="/elsewhere/runs"),
    )
    tracking.assert_same_tracking(
        {
            "mock": tracking.payload(result, cfg),
            "airflow": tracking.payload(_as_engine(result, "airflow"), other_place),
            "prefect": tracking.payload(_as_engine(result, "prefect"), cfg),
        }
    )


def test_contract_names_the_engine_and_metric_that_differ(mock_run):
    cfg, result = mock_run
    odd = tracking.payload(_as_engine(result, "prefect"), cfg)
    odd.metrics["holdout.accuracy"] += 0.01
    with pytest.raises(AssertionError, match="metrics differ, mock vs prefect: holdout.accuracy"):
        tracking.assert_same_tracking({"mock": tracking.payload(result, cfg), "prefect": odd})


def test_threads_seeding_one_new_store_at_once_leave_one_database(tmp_path):
    """Two threads of one process start the same new store: each copies the template under its
    own temporary name (pid and thread), one copy is published, neither fails."""
    from concurrent.futures import ThreadPoolExecutor

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: tracking._seed(db), range(8)))
    assert db.exists() and sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]
