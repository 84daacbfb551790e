"""Orchestrator-free core of the suite: config, steps, artifacts, registry, alerts, plotting.

Nothing in this package imports an orchestrator (tests/steps/test_isolation.py proves it);
`mock_impl`, `airflow_impl` and `prefect_impl` only decide when and where each step runs.
"""

__version__ = "0.1.0"
