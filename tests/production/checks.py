"""What every production run must show, whatever the engine: the contract's checks, on the
records the engine itself kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlpipeline.graph import EDGES, STEPS
from mlpipeline.runs import SUCCESS, RunResult
from mlpipeline.stack import browser, mlflow_server, procs, stacks
from tests.contract.test_contract import bits
from tests.contract.test_recsys_contract import DAYS, day_config, outcome, run_days


def same_outputs_as_the_mock(run: RunResult, reference: RunResult) -> None:
    assert run.ok, run.error
    assert list(run.tasks) == list(STEPS)
    assert run.edges == EDGES
    states = {t.name: (t.state, t.attempts) for t in run.tasks.values()}
    assert states == {name: (SUCCESS, 1) for name in STEPS}, states
    assert all(t.start and t.end and t.end >= t.start for t in run.tasks.values())
    assert bits(run.metrics) == bits(reference.metrics)
    assert run.model_sha256 == reference.model_sha256
    assert run.registration == reference.registration  # a fresh registry: v1, promoted


def recsys_matches_the_mock(
    engine: str, stack: stacks.Stack, reference: list[RunResult], workdir: Path
) -> RunResult:
    """The recommender's contract on the stack: the mock engine runs day 1 into the stack's
    MLflow Model Registry (the `mlflow` backend, on the stack's server), the stack runs day 2
    against that production model; the A/B table, model sha256, gate, registration and
    profile state equal the mock engine's own day 2 (`reference`, in a local store)."""
    from importlib import import_module

    from mlpipeline.recsys.steps import RECSYS

    on_server = {"tracking.uri": stack.env[mlflow_server.TRACKING_ENV]}
    run_days("mock", workdir, DAYS[:1], **on_server)  # lands both days, runs day 1
    runner = import_module(f"{engine}_impl.production")
    run = runner.run_pipeline(day_config(workdir, DAYS[1], **on_server), run_id=f"{engine}-recsys")
    assert run.ok, f"{run.failed_step}: {run.error}"
    assert set(run.tasks) == set(RECSYS.steps) and run.edges == RECSYS.edges
    assert {t.attempts for t in run.tasks.values()} == {1}
    assert outcome(run) == outcome(reference[1])
    assert run.metrics["against"] == "production v0001"
    return run


def down_leaves_nothing(engine: str, stack: stacks.Stack) -> None:
    pgids = stack.pgids()
    ports = set(stack.ports.values())
    stopped, bound = stacks.down(engine)
    assert stopped is not None and not bound
    assert not [pgid for pgid in pgids if procs.group_members(pgid)]
    assert not [port for port in ports if procs.port_in_use(port)]
    assert not stack.pid_file.exists()


def tracked_on_the_stacks_mlflow(
    stack: stacks.Stack, run_id: str, metrics: dict, timeout: float = 0.0
) -> None:
    """The run is on the stack's MLflow server (its REST API, found by the `pipeline_run_id`
    tag), finished, tagged as a production run of this engine, with these metrics (a run's).
    `timeout`: how long to wait for it, where an engine hook logs it after the run's end (and
    until the hook has finished logging: the MLflow run exists, RUNNING, from its first write)."""
    import json
    import time
    import urllib.parse
    import urllib.request

    api = f"{stack.env[mlflow_server.TRACKING_ENV]}/api/2.0/mlflow"
    query = urllib.parse.urlencode({"experiment_name": "seattle-weather"})
    experiment = json.loads(procs.http_get(f"{api}/experiments/get-by-name?{query}"))
    search = {
        "experiment_ids": [experiment["experiment"]["experiment_id"]],
        "filter": f"tags.pipeline_run_id = '{run_id}'",
    }
    request = urllib.request.Request(
        f"{api}/runs/search", json.dumps(search).encode(), {"Content-Type": "application/json"}
    )
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(request, timeout=10) as response:
            runs = json.loads(response.read()).get("runs", [])
        if (runs and runs[0]["info"]["status"] != "RUNNING") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(runs) == 1, f"{len(runs)} MLflow runs tagged pipeline_run_id = {run_id!r}"
    (found,) = runs
    tags = {t["key"]: t["value"] for t in found["data"]["tags"]}
    assert found["info"]["status"] == "FINISHED"
    assert (tags["engine"], tags["mode"]) == (stack.engine, "production"), tags
    logged = {m["key"]: m["value"] for m in found["data"]["metrics"]}
    expected = {
        f"holdout.{k}": v
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    assert expected and {k: logged.get(k) for k in expected} == expected


DOCS = Path(__file__).resolve().parents[2] / "docs" / "production"


def screenshot(url: str, png: Path) -> str:
    """A headless-Chromium picture of a UI page (a 1400x900 window), checked not blank (more
    than 100 colours), and the page's DOM as rendered. UPDATE_SCREENSHOTS=1 copies the picture
    to docs/production/, where the docs and the lessons show it."""
    from PIL import Image

    page = browser.capture(url, png, budget_ms=20000)
    with Image.open(png) as image:
        assert image.size == (1400, 900), image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 100, f"{png.name}: {len(colours)} colours only"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copy(png, DOCS / png.name)
    return page
