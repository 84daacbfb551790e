"""Prefect's own dashboard for the pipeline: keyed artifacts of the metrics and the gate decision.

A keyed artifact gets a new version each time a run publishes under the same key; Prefect's UI
(Artifacts page, and each flow run's Artifacts tab) shows the latest and the whole history, so
the keys `<pipeline>-metrics` and `<pipeline>-gate` are a per-pipeline dashboard with no other
service. The content comes from the same engine-neutral payload MLflow receives
(`mlpipeline.tracking.payload`), so both dashboards show the same numbers.

Each flow calls `publish_run(cfg, run_id, outputs)` from its body after its last step, so the
artifacts attach to the flow run (its Artifacts tab). From the body rather than an
`on_completion` hook: the step outputs are at hand there (a hook gets only the flow run and
would have to find them again) and a reader of the flow file sees it; a task would add a task
run that is not a pipeline step. A failed run publishes nothing (the body stops at the failed
task): its alert and its MLflow run (status FAILED) say what happened. Publishing never fails
a run: trouble is logged as a warning. Timings are left out: the flow run's own page shows
each task's. The gate's markdown links to the run in the MLflow UI (`tracking.run_link`, as
Airflow's task link does). `tracking.enabled = false` turns these off with MLflow's.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from uuid import UUID

from mlpipeline import pipelines
from mlpipeline.runs import SUCCESS, RunResult
from mlpipeline.tracking import DURATION_PREFIX, Payload, payload, run_link

log = logging.getLogger("mlpipeline")


def artifact_key(pipeline: str, what: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", pipeline.lower()).strip("-")
    return f"{slug}-{what}"


def metrics_table(p: Payload) -> list[dict[str, object]]:
    """One row per metric, step durations last."""
    rows = sorted(p.metrics.items(), key=lambda kv: (kv[0].startswith(DURATION_PREFIX), kv[0]))
    return [{"metric": k, "value": round(v, 6)} for k, v in rows]


def gate_markdown(p: Payload, mlflow_url: str | None = None) -> str:
    decision = p.tags.get("gate_promote")
    title = {"true": "promote", "false": "refuse"}.get(decision, "no decision (run failed)")
    lines = [f"# Gate: {title}", "", f"Run `{p.run_id}` ({p.tags.get('engine')}), state "
             f"**{p.tags.get('state')}**", ""]  # fmt: skip
    lines += [f"- {reason}" for reason in p.tags.get("gate_reasons", "").splitlines()]
    if "registration" in p.tags:
        lines += ["", f"Registry: {p.tags['registration']}"]
    if mlflow_url:
        lines += ["", f"[This run in MLflow]({mlflow_url})"]
    return "\n".join(lines) + "\n"


def publish(p: Payload, mlflow_url: str | None = None) -> dict[str, UUID]:
    """Create (a new version of) the metrics table and the gate decision artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    return {
        "metrics": create_table_artifact(
            table=metrics_table(p),
            key=artifact_key(p.experiment, "metrics"),
            description=f"Metrics of run {p.run_id} ({p.tags.get('engine')})",
        ),
        "gate": create_markdown_artifact(
            markdown=gate_markdown(p, mlflow_url),
            key=artifact_key(p.experiment, "gate"),
            description=f"Gate decision of run {p.run_id}",
        ),
    }


def publish_run(cfg: Any, run_id: str, outputs: dict[str, Any]) -> dict[str, UUID] | None:
    """Called from a flow's body after its last step: the run's tracking payload (what MLflow
    receives, minus timings) as the pipeline's keyed artifacts."""
    if not cfg.tracking.enabled:
        return None
    result = RunResult(
        engine="prefect",
        run_id=run_id,
        run_dir=Path(cfg.paths.artifacts) / run_id,
        state=SUCCESS,  # the body got here: every step succeeded
        tasks={},
        edges=frozenset(),
        outputs=outputs,
        pipeline=pipelines.for_config(cfg).name,
    )
    try:
        p = payload(result, cfg)
        p.metrics = {k: v for k, v in p.metrics.items() if not k.startswith(DURATION_PREFIX)}
        return publish(p, mlflow_url=run_link(cfg.tracking, run_id))
    except Exception as e:  # the run's outcome must not depend on its dashboard
        log.warning(
            "Prefect artifacts of run %s not published (%s: %s)", run_id, type(e).__name__, e
        )
        return None
