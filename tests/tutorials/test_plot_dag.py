"""The lessons' DAG drawings: layers that respect every edge, one box and one arrow each."""

from __future__ import annotations

import graphlib

import pytest
from matplotlib.figure import Figure

from mlpipeline.graph import GRAPH
from mlpipeline.plotting import dag_layers, plot_dag

DIAMOND = {
    "fetch": set(),
    "double": {"fetch"},
    "square": {"fetch"},
    "combine": {"double", "square"},
}


def test_layers_put_every_task_after_its_dependencies():
    assert dag_layers(DIAMOND) == [["fetch"], ["double", "square"], ["combine"]]
    layer = {node: i for i, nodes in enumerate(dag_layers(GRAPH)) for node in nodes}
    assert set(layer) == set(GRAPH)
    assert all(layer[up] < layer[node] for node, ups in GRAPH.items() for up in ups)


def test_a_cycle_cannot_be_drawn():
    with pytest.raises(graphlib.CycleError):
        dag_layers({"a": {"b"}, "b": {"a"}})


def test_one_box_per_task_one_arrow_per_edge_and_the_title_above():
    ax = Figure(figsize=(12, 3)).subplots()
    assert plot_dag(ax, GRAPH, title="ml_pipeline") is ax
    boxes = [t.get_text() for t in ax.texts if t.get_text()]
    assert sorted(boxes) == sorted(GRAPH)
    arrows = [t for t in ax.texts if not t.get_text()]  # annotations without text
    assert len(arrows) == sum(len(ups) for ups in GRAPH.values())
    assert ax.get_title() == "ml_pipeline"
