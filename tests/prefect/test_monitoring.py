"""Keyed Prefect artifacts: each run of the flow adds a version under the pipeline's keys,
attached to its flow run, read back here from the session's Prefect API server."""

from __future__ import annotations

import pytest

from tests.prefect.conftest import run_flow

pytest.importorskip("prefect", reason="prefect is not installed here (tox -e prefect)")


def read_versions(key: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return sorted(found, key=lambda a: a.created)


def test_each_flow_run_adds_a_version_of_the_keyed_artifacts(make_config):
    from prefect_impl.monitoring import artifact_key

    # An experiment of its own: the keys are not shared with other tests on the session server.
    cfg = make_config(tracking__experiment="Monitored weather")
    runs = [run_flow(cfg, run_id) for run_id in ("monitored-1", "monitored-2")]
    assert all(r.state.is_completed() for r in runs)
    flow_runs = [r.state.state_details.flow_run_id for r in runs]

    metrics = read_versions(artifact_key(cfg.tracking.experiment, "metrics"))
    gates = read_versions("monitored-weather-gate")
    assert [a.flow_run_id for a in metrics] == [a.flow_run_id for a in gates] == flow_runs
    assert {a.type for a in metrics} == {"table"} and {a.type for a in gates} == {"markdown"}
    first, second = (str(a.data) for a in metrics)
    assert "holdout.accuracy" in first and "duration_seconds" not in first
    assert "monitored-2" in metrics[1].description
    assert "# Gate: promote" in str(gates[0].data)
    assert "v0001 passed its integration test and is now production" in str(gates[0].data)
    assert "identical to production v0001" in str(gates[1].data)
    assert "[This run in MLflow](http://127.0.0.1:19500/#/experiments" in str(gates[1].data)
