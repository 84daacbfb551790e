"""Orchestrator-free core of the suite: config, steps, artifacts, registry, alerts, plotting.

Nothing in this package imports an orchestrator (tests/steps/test_isolation.py proves it);
`mock_impl`, `airflow_impl` and `prefect_impl` only decide when and where each step runs.
"""

import os

# XGBoost's OpenMP threads spin while they wait for work (libgomp's default): on a shared or
# busy machine two training threads then burned 4x the CPU of one, for no gain (measured:
# docs/recsys/scale.md). Passive waiting gives the same model bytes. Read once, when XGBoost
# loads libgomp, so it is set before anything imports xgboost; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
