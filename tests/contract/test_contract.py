"""Same graph, same bits, same registry outcome, same retries, one alert: for every engine."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from mlpipeline import artifacts
from mlpipeline.alerts import read_alerts
from mlpipeline.deployment import CHECKS
from mlpipeline.graph import CACHEABLE, EDGES, STEPS
from mlpipeline.registry import Registry, open_registry
from mlpipeline.runs import FAILED, SUCCESS, UPSTREAM_FAILED
from tests.conftest import DATA, config_in, tree_digest
from tests.contract.tracking_check import assert_same_tracking_logged
from tests.smtp_sink import check_alert_mail, closed_port


def bits(metrics: dict) -> dict:
    """Floats as their IEEE-754 bytes: equality to the last bit, NaN included."""
    return {
        k: struct.pack("<d", v).hex() if isinstance(v, float) else v for k, v in metrics.items()
    }


def test_graph_matches_the_declared_graph(first_run, engine_name):
    assert first_run.engine == engine_name
    assert list(first_run.tasks) == list(STEPS)
    assert first_run.edges == EDGES


def test_run_succeeds_with_one_attempt_per_task(first_run):
    assert first_run.ok, first_run.error
    assert {t.name: (t.state, t.attempts) for t in first_run.tasks.values()} == {
        name: (SUCCESS, 1) for name in STEPS
    }
    assert all(t.start and t.end and t.end >= t.start for t in first_run.tasks.values())


def test_same_metrics_to_the_last_bit(first_run, reference):
    assert bits(first_run.metrics) == bits(reference.metrics)
    assert first_run.metrics["accuracy"] > first_run.metrics["baseline_accuracy"]


def test_same_model_bytes(first_run, reference):
    assert first_run.model_sha256 == reference.model_sha256
    model_file = Path(first_run.outputs["train_model"]) / "model.ubj"
    assert artifacts.sha256_file(model_file) == reference.model_sha256


def decisions(result) -> dict:
    """What a run decided at each stage, without timings or latencies (those vary)."""
    tested = result.report("integration")
    checks = {c["name"]: c["passed"] for c in tested.get("checks", [])}
    return {
        "staging": result.report("staging"),
        "integration": {"tested": tested["tested"], "version": tested["version"], **checks},
        "production": result.registration,
    }


def test_same_decisions_and_registry_outcome(first_run, reference):
    assert (
        decisions(first_run)
        == decisions(reference)
        == {
            "staging": {"staged": True, "version": 1, "reason": "registered as v0001"},
            "integration": {"tested": True, "version": 1, **dict.fromkeys(CHECKS, True)},
            "production": {
                "promoted": True,
                "version": 1,
                "reason": "v0001 passed its integration test and is now production",
            },
        }
    )
    workdir = first_run.run_dir.parent.parent
    production = Registry(workdir / "registry").production()
    assert production.version == 1 and production.sha256 == reference.model_sha256


def test_same_tracking(first_run, reference, engine_name, tracking_store):
    runs = {"reference": reference, engine_name: first_run}
    assert_same_tracking_logged(
        {engine: (r, config_in(r.run_dir.parent.parent)) for engine, r in runs.items()},
        tracking_store,
    )


def test_rerun_changes_nothing(first_run, engine, engine_name):
    workdir = first_run.run_dir.parent.parent
    before = tree_digest(workdir / "registry")
    second = engine.run_pipeline(config_in(workdir), run_id=f"{engine_name}-second")
    assert second.ok, second.error
    assert second.registration["promoted"] is False
    assert "identical to production v0001" in second.registration["reason"]
    assert second.report("integration")["tested"] is False
    assert tree_digest(workdir / "registry") == before
    # Engines document what a rerun reuses (CACHES_RESULTS): the mock and Prefect serve every
    # cacheable step from their cache; Airflow, which has no input cache, reuses the artifacts
    # stored under the same key (its idiomatic substitute).
    hits = {t.name for t in second.tasks.values() if t.cache_hit}
    assert hits == (CACHEABLE if engine.CACHES_RESULTS else set())
    assert second.model_sha256 == first_run.model_sha256


def test_transient_faults_are_retried(engine, engine_name, reference, tmp_path, smtp_sink):
    cfg = config_in(
        tmp_path,
        cache__enabled=False,
        orchestration__retries=2,
        faults={"load_data": 1, "tune_model": 2},
        **smtp_sink.config(),
    )
    result = engine.run_pipeline(cfg, run_id=f"{engine_name}-faults")
    assert result.ok, result.error
    attempts = {name: t.attempts for name, t in result.tasks.items()}
    assert attempts == {name: {"load_data": 2, "tune_model": 3}.get(name, 1) for name in STEPS}
    assert bits(result.metrics) == bits(reference.metrics)
    assert read_alerts(cfg.alerts.log) == []
    assert smtp_sink.messages_for(result.run_id) == []  # a run that succeeded sends no e-mail


def test_permanent_failure_alerts_once_and_keeps_production(
    engine, engine_name, tmp_path, registry_copy, smtp_sink
):
    before = tree_digest(registry_copy)
    cfg = config_in(
        tmp_path,
        cache__enabled=False,
        orchestration__retries=2,
        faults={"train_model": -1},
        **smtp_sink.config(),
    )
    result = engine.run_pipeline(cfg, run_id=f"{engine_name}-broken")
    assert result.state == FAILED and result.failed_step == "train_model"
    assert result.tasks["train_model"].attempts == 3
    assert "injected fault on attempt 3" in result.error
    for name in STEPS[STEPS.index("evaluate_model") :]:
        assert result.tasks[name].state == UPSTREAM_FAILED
    alerts = read_alerts(cfg.alerts.log)
    assert len(alerts) == 1
    assert (alerts[0]["engine"], alerts[0]["step"]) == (engine_name, "train_model")
    assert alerts[0]["run_id"] == result.run_id and alerts[0]["log_location"]
    (mail,) = smtp_sink.messages_for(result.run_id)  # exactly one e-mail, delivered over SMTP
    check_alert_mail(
        mail, engine=engine_name, run_id=result.run_id, step="train_model", error=result.error
    )
    assert tree_digest(registry_copy) == before


def test_bad_data_fails_at_once(engine, engine_name, tmp_path, registry_copy, capfd):
    """Also with the SMTP server down: the JSONL alert is written, the failure reads the same."""
    before = tree_digest(registry_copy)
    bad = tmp_path / "bad.csv"
    shutil.copy(DATA, bad)
    bad.write_text(bad.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
    cfg = config_in(
        tmp_path,
        data__path=str(bad),
        orchestration__retries=3,
        alerts__smtp_host="127.0.0.1",
        alerts__smtp_port=closed_port(),
        alerts__email_to=["ops@example.org"],
    )
    result = engine.run_pipeline(cfg, run_id=f"{engine_name}-bad-data")
    assert result.failed_step == "validate_data"
    assert result.tasks["validate_data"].attempts == 1  # a retry cannot fix bad data
    assert "column 'precipitation': 1 row(s) missing value (line 6)" in result.error
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["validate_data"]
    assert "alert delivery failed: SmtpNotifier" in capfd.readouterr().err
    assert tree_digest(registry_copy) == before


@pytest.mark.parametrize("backend", ["file", "mlflow"])
def test_failing_integration_test_alerts_once_and_keeps_production(
    first_run, engine, engine_name, tmp_path, backend
):
    """A latency budget no model meets (1 ns): the integration test fails at once naming the
    check, one alert, production never set; on either registry backend. The first run's cache
    (or, in Airflow, its stored artifacts) serves the steps before the gate: only the gate and
    the deployment steps run."""
    cfg = config_in(
        first_run.run_dir.parent.parent,
        paths__registry=str(tmp_path / "registry"),
        tracking__store=str(tmp_path / "mlflow"),
        tracking__registry_backend=backend,
        alerts__log=str(tmp_path / "alerts.jsonl"),
        orchestration__retries=2,
        deployment__latency_budget_ms=1e-6,
    )
    result = engine.run_pipeline(cfg, run_id=f"{engine_name}-slow-model-{backend}")
    assert result.state == FAILED and result.failed_step == "integration_test"
    assert result.tasks["integration_test"].attempts == 1  # a verdict: never retried
    assert "integration test of v0001 failed (latency); production untouched" in result.error
    assert "deployment.latency_budget_ms 1e-06" in result.error
    assert result.tasks["promote_model"].state == UPSTREAM_FAILED
    assert [a["step"] for a in read_alerts(cfg.alerts.log)] == ["integration_test"]
    registry = open_registry(cfg)
    assert registry.production() is None
    assert registry.alias("staging").sha256 == first_run.model_sha256
