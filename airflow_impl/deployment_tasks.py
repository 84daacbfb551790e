"""The deployment tail as Airflow tasks: staging -> integration test -> production.

Every pipeline that trains, gates and registers a model ends with these three steps, with the
same input names (`mlpipeline.deployment`), so they are declared once here and each DAG file
calls them in its dependency block. `run_step` finds the DAG's pipeline by its dag id.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from airflow_impl.tasks import run_step


@task
def register_model(model: str, metrics: str, gate: str, **context: Any) -> str:
    return run_step("register_model", context, model=model, metrics=metrics, gate=gate)


@task
def integration_test(registration: str, metrics: str, holdout: str, **context: Any) -> str:
    return run_step(
        "integration_test", context, registration=registration, metrics=metrics, holdout=holdout
    )


@task
def promote_model(gate: str, report: str, **context: Any) -> str:
    return run_step("promote_model", context, gate=gate, report=report)
