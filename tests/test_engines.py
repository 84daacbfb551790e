"""README's "Adding an orchestrator", followed with a dummy engine: the registry entry is all the
CLI, the contract fixtures, the benchmarks' adapter lookup, the report and the plots need."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

from mlpipeline import engines, pipelines
from mlpipeline.direct import run_steps
from mlpipeline.paths import ROOT
from mlpipeline.runs import SUCCESS, RunResult, TaskRecord
from tests.conftest import config_in


def dummy_runner() -> types.ModuleType:
    """Step 1: a runner with run_pipeline(cfg, *, run_id) and CACHES_RESULTS (this one calls
    the declared steps in order: an engine without retries or caching)."""
    module = types.ModuleType("dummy_impl.runner")
    module.CACHES_RESULTS = False

    def run_pipeline(cfg, *, run_id):
        pipeline = pipelines.for_config(cfg)
        run_dir = Path(cfg.paths.artifacts) / run_id
        start = time.time()
        outputs = run_steps(cfg, run_dir)
        tasks = {n: TaskRecord(n, SUCCESS, 1, start, time.time()) for n in pipeline.order}
        return RunResult("dummy", run_id, run_dir, SUCCESS, tasks, pipeline.edges, outputs)

    module.run_pipeline = run_pipeline
    return module


def test_a_new_engine_is_one_registry_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dummy_impl", types.ModuleType("dummy_impl"))
    monkeypatch.setitem(sys.modules, "dummy_impl.runner", dummy_runner())
    entry = engines.Engine(  # step 2: the entry
        "dummy",
        "A dummy engine",
        "dummy_impl.runner",
        None,
        "mock",
        "benchmarks.adapters:DirectAdapter",
        ("default",),
        "#d62728",
        "dummy_impl.runner",
    )
    monkeypatch.setitem(engines.ENGINES, "dummy", entry)
    monkeypatch.setitem(engines.MEASURED, "dummy", entry)
    assert "dummy" in engines.available()
    assert engines.colour("dummy") == "#d62728" and engines.colour("unknown") == "#333333"

    # Step 5: the contract's core promise, the same bits as the mock engine.
    dummy = engines.load("dummy").run_pipeline(config_in(tmp_path / "d"), run_id="d")
    mock = engines.load("mock").run_pipeline(config_in(tmp_path / "m"), run_id="m")
    assert dummy.ok and dummy.model_sha256 == mock.model_sha256
    assert dummy.metrics == mock.metrics and list(dummy.tasks) == list(mock.tasks)


def test_the_readme_lists_every_step_of_adding_an_engine():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Adding an orchestrator", 1)[1].split("\n## ", 1)[0]
    for needle in ("run_pipeline(cfg, *, run_id)", "mlpipeline/engines.py", "tox", "adapter"):
        assert needle in section, needle


def test_the_readme_step_tables_are_the_declarations():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in pipelines.PIPELINES:
        assert pipelines.get(name).table() in readme, f"README's {name} table is out of date"
