"""Prefect's own dashboard for the pipeline: keyed artifacts of the metrics and the gate decision.

A keyed artifact gets a new version each time a run publishes under the same key; Prefect's UI
(Artifacts page, and each flow run's Artifacts tab) shows the latest and the whole history, so
the keys `<pipeline>-metrics` and `<pipeline>-gate` are a per-pipeline dashboard with no other
service. The content comes from the same engine-neutral payload MLflow receives
(`mlpipeline.tracking.payload`), so both dashboards show the same numbers.

Call `publish(payload)` from inside the flow (after `register_model`) so the artifacts attach
to the flow run; called outside a run they are still created, unattached.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from uuid import UUID

from mlpipeline.tracking import DURATION_PREFIX

if TYPE_CHECKING:
    from mlpipeline.tracking import Payload


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
