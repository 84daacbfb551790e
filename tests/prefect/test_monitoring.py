"""Keyed Prefect artifacts: each run adds a version under the same keys, attached to its run."""

from __future__ import annotations

import pytest

from mlpipeline.tracking import Payload

pytest.importorskip("prefect", reason="prefect is not installed here (tox -e prefect)")


def payload(run_id: str, accuracy: float) -> Payload:
    return Payload(
        run_id=run_id,
        experiment="Seattle weather",
        status="FINISHED",
        start_ms=0,
        end_ms=1,
        metrics={"holdout.accuracy": accuracy, "duration_seconds.train_model": 1.5},
        tags={
            "engine": "prefect",
            "state": "success",
            "gate_promote": "true",
            "gate_reasons": "PASS accuracy 0.8 >= gate.min_accuracy 0.6\nPASS no production yet",
            "registration": "registered as v0001 and promoted to production",
        },
    )


def test_each_run_adds_a_version_of_the_keyed_artifacts():
    from prefect import flow, get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from prefect_impl.monitoring import artifact_key, publish

    @flow
    def publishing_flow(run_id: str, accuracy: float):
        return publish(payload(run_id, accuracy), mlflow_url="http://127.0.0.1:19500/#/x")

    publishing_flow("run-1", 0.81)
    publishing_flow("run-2", 0.83)
    key = artifact_key("Seattle weather", "metrics")
    assert key == "seattle-weather-metrics"
    with get_client(sync_client=True) as client:
        versions = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
        gates = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["seattle-weather-gate"]))
        )
    assert len(versions) == 2 and all(a.flow_run_id for a in versions)
    assert {a.type for a in versions} == {"table"} and {a.type for a in gates} == {"markdown"}
    latest = max(versions, key=lambda a: a.created)
    assert "0.83" in str(latest.data) and "run-2" in latest.description
    assert any("[This run in MLflow]" in str(a.data) for a in gates)
    assert "# Gate: promote" in str(gates[0].data)
