"""The dashboard: a real `mlflow server` on loopback over the tracking store a run was logged to.

Needs the full `mlflow` package (tox -e mlflow). Headless Chromium (Debian's, installed by
`mlpipeline.stack.browser` where absent) renders the runs, the metric chart and the model page;
UPDATE_SCREENSHOTS=1 copies them to docs/monitoring/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from mlpipeline import dashboard, tracking
from mlpipeline.paths import ROOT
from mlpipeline.stack import browser
from tests.conftest import config_in

pytestmark = pytest.mark.skipif(
    not dashboard.server_installed(),
    reason="the MLflow server is not installed here (mlflow-skinny has no UI): tox -e mlflow",
)
DOCS = ROOT / "docs" / "monitoring"


def free_port() -> int:
    for port in range(19500, 20000):  # the loopback range this project may use
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19500-19999")


def get(url: str, **query) -> dict:
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(query)}", timeout=30) as r:
        return json.load(r)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory):
    """A mock-engine run logged to a fresh store, its model staged and in production."""
    from mlpipeline.registry_mlflow import MlflowRegistry
    from mock_impl.runner import run_pipeline

    cfg = config_in(tmp_path_factory.mktemp("dash"))  # its own MLflow store, under tmp
    result = run_pipeline(cfg, run_id="dashboard-run")
    assert result.ok, result.error
    mlflow_run = tracking.log_run(result, cfg)
    registry = MlflowRegistry(cfg.tracking)
    model = (Path(result.outputs["train_model"]) / "model.ubj").read_bytes()
    registry.register(model, {"run_id": result.run_id}, alias="staging")
    registry.register(model, {"run_id": result.run_id}, alias="production")
    return cfg, result, mlflow_run


@pytest.fixture(scope="module")
def served(logged):
    cfg = logged[0]
    board = dashboard.start(cfg.tracking, free_port())
    yield board
    board.stop()
    assert board.process.poll() is not None
    with pytest.raises(ProcessLookupError):  # the whole group is gone, workers included
        os.killpg(board.process.pid, 0)


def test_the_api_shows_the_experiment_run_and_registered_model(logged, served):
    cfg, result, mlflow_run = logged
    api = f"{served.url}/api/2.0/mlflow"
    exp = get(f"{api}/experiments/get-by-name", experiment_name=cfg.tracking.experiment)
    runs = post(f"{api}/runs/search", {"experiment_ids": [exp["experiment"]["experiment_id"]]})
    (run,) = runs["runs"]
    assert run["info"]["run_id"] == mlflow_run
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["pipeline_run_id"] == "dashboard-run" and tags["engine"] == "mock"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["holdout.accuracy"] == result.metrics["accuracy"]
    model = get(f"{api}/registered-models/get", name=cfg.tracking.registered_model)
    aliases = {a["alias"]: a["version"] for a in model["registered_model"]["aliases"]}
    assert aliases == {"staging": "1", "production": "1"}
    listing = get(f"{api}/artifacts/list", run_id=mlflow_run, path="model")
    assert {f["path"] for f in listing["files"]} == {"model/model.ubj", "model/model.json"}


def test_run_link_asks_the_server_for_the_runs_page(logged, served):
    """What Airflow's "MLflow run" task link resolves to when tracking.uri is a server."""
    import dataclasses

    cfg, _, mlflow_run = logged
    on_server = dataclasses.replace(cfg.tracking, uri=served.url)
    exp_id = get(
        f"{served.url}/api/2.0/mlflow/experiments/get-by-name",
        experiment_name=cfg.tracking.experiment,
    )["experiment"]["experiment_id"]
    assert tracking.run_link(on_server, "dashboard-run") == (
        f"{served.url}/#/experiments/{exp_id}/runs/{mlflow_run}"
    )
    assert tracking.run_link(on_server, "not-logged-yet").startswith(
        f"{served.url}/#/experiments/{exp_id}?searchFilter=tags.pipeline_run_id"
    )


def test_screenshots_of_the_runs_the_metric_chart_and_the_model_page(logged, served, tmp_path):
    """Headless Chromium (installed by `browser.chromium()` where absent) renders each page;
    its DOM, dumped after the page's scripts ran, must show what the picture is for."""
    cfg, result, _ = logged
    api = f"{served.url}/api/2.0/mlflow"
    exp_id = get(f"{api}/experiments/get-by-name", experiment_name=cfg.tracking.experiment)[
        "experiment"
    ]["experiment_id"]
    pages = {  # file -> (page, what its DOM must show)
        "runs.png": (f"{served.url}/#/experiments/{exp_id}/runs", [result.run_id]),
        "metric-chart.png": (
            f"{served.url}/#/experiments/{exp_id}/runs?compareRunsMode=CHART",
            [result.run_id, "Model metrics (", "cv.roc_auc.mean"],
        ),
        "model-page.png": (
            f"{served.url}/#/models/{cfg.tracking.registered_model}",
            ["staging", "production", "Version 1"],
        ),
    }
    for name, (url, shown) in pages.items():
        out = tmp_path / name
        for budget_ms in (20_000, 60_000):  # virtual time; a loaded machine needs the second
            page = browser.capture(url, out, budget_ms)
            words = " ".join(re.sub(r"<style.*?</style>|<[^>]+>", " ", page, flags=re.S).split())
            missing = [text for text in shown if text not in words]
            if not missing:
                break
        assert not missing, f"{name}: {url} does not show {missing}; it shows: {words[:1500]}"
        assert out.stat().st_size > 20_000  # a rendered page, not a blank one
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, DOCS / name)
