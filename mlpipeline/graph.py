"""The canonical task graph: every engine's graph is checked against this one.

Names are verbs and are the same everywhere: Airflow task ids, Prefect task names, mock nodes,
log keys and benchmark groups. `GRAPH` is in `graphlib` form: node -> the nodes it depends on.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from types import MappingProxyType

GRAPH = MappingProxyType(
    {
        "load_data": frozenset(),
        "validate_data": frozenset({"load_data"}),
        "build_features": frozenset({"validate_data"}),
        "split_data": frozenset({"build_features"}),
        "tune_model": frozenset({"split_data"}),
        "train_model": frozenset({"split_data", "tune_model"}),
        "evaluate_model": frozenset({"train_model", "split_data"}),
        # The gate re-scores the production model on the same holdout, hence split_data.
        "gate_model": frozenset({"evaluate_model", "split_data"}),
        "register_model": frozenset({"gate_model", "train_model"}),
    }
)

STEPS: tuple[str, ...] = tuple(TopologicalSorter(GRAPH).static_order())

EDGES: frozenset[tuple[str, str]] = frozenset(
    (up, down) for down, ups in GRAPH.items() for up in ups
)

# Steps whose output depends only on their inputs, the config sections below and the files they
# read: safe to cache. gate_model reads the registry and register_model writes it: never cached.
CACHEABLE = frozenset(
    {
        "load_data",
        "validate_data",
        "build_features",
        "split_data",
        "tune_model",
        "train_model",
        "evaluate_model",
    }
)

# The config sections each step reads: a cache key includes only these, so editing the gate
# thresholds does not retrain, and editing the grid does not reload the CSV.
CONFIG_SECTIONS: dict[str, tuple[str, ...]] = {
    "load_data": ("data",),
    "validate_data": ("data", "target"),
    "build_features": ("data", "target", "features"),
    "split_data": ("target", "split"),
    "tune_model": ("target", "tuning", "training"),
    "train_model": ("tuning", "training"),
    "evaluate_model": ("training",),
    "gate_model": ("gate", "paths"),
    "register_model": ("paths",),
}
