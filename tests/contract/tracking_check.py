"""The tracking contract: each engine's run, logged to one store and read back, holds the same
params and metrics (and tags) as the reference's. Cheap: the contract's own runs, one
temporary store (MLflow's SQLite where the client is installed, else the outbox)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlpipeline import tracking
from mlpipeline.runs import RunResult


def assert_same_tracking_logged(
    runs: dict[str, tuple[RunResult, Any]], store: Path
) -> tracking.Payload:
    """`runs`: engine -> (its RunResult, the config it ran with). Logs each into `store`;
    returns the last run as stored."""
    sent, stored = {}, {}
    for engine, (result, cfg) in runs.items():
        cfg = dataclasses.replace(cfg, tracking=dataclasses.replace(cfg.tracking, store=str(store)))
        sent[engine] = tracking.payload(result, cfg)
        tracking.log_run(result, cfg)
        stored[engine] = tracking.read_back(cfg.tracking, cfg.tracking.experiment, result.run_id)
        assert stored[engine].params == sent[engine].params, engine
        assert stored[engine].metrics == sent[engine].metrics, engine
    tracking.assert_same_tracking(sent)  # params, metrics, tags, artifacts
    tracking.assert_same_tracking(stored)  # what the dashboard shows
    return stored[engine]
