"""Plots of benchmark results for slides. Each function draws on the `ax` it is given and returns
it; saving is the caller's business (benchmarks/report.py), so the functions are easy to test and
to reuse in notebooks.

Rows are plain dicts as produced by `benchmarks.report.summarise`; `label` is "engine (variant)".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes

from mlpipeline import engines

SLIDE = (13.33, 7.5)  # inches: 16:9


@contextmanager
def slide_style() -> Iterator[None]:
    """Large type, readable from the back of a room; deterministic SVG ids."""
    with mpl.rc_context(
        {
            "font.size": 18,
            "axes.titlesize": 24,
            "axes.labelsize": 20,
            "legend.fontsize": 16,
            "xtick.labelsize": 16,
            "ytick.labelsize": 16,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "orchestration-bench",
            "figure.figsize": SLIDE,
        }
    ):
        yield


def _color(row: dict[str, Any]) -> str:
    return engines.colour(row["engine"])


def _style(row: dict[str, Any]) -> str:
    return "--" if row.get("variant") == "tuned" else "-"


def plot_overhead_per_task(ax: Axes, rows: Sequence[dict[str, Any]]) -> Axes:
    """Per-task overhead ((engine - direct) / N) against chain length N, log-log."""
    for row in rows:
        ax.plot(
            row["n"],
            np.asarray(row["per_task_ms"]),
            marker="o",
            lw=3,
            ms=9,
            color=_color(row),
            ls=_style(row),
            label=row["label"],
        )
    return _chain_axes(ax, rows, "overhead per task (ms)", "Orchestration overhead per task")


def _chain_axes(
    ax: Axes, rows: Sequence[dict[str, Any]], ylabel: str, title: str, **legend: Any
) -> Axes:
    """Log-log axes of per-task cost against chain length, ticked at the measured lengths."""
    ax.set(xscale="log", yscale="log", xlabel="tasks in the chain (N)", ylabel=ylabel, title=title)
    ax.set_xticks(sorted({n for row in rows for n in row["n"]}))
    ax.get_xaxis().set_major_formatter(mpl.ticker.ScalarFormatter())
    ax.legend(frameon=False, **legend)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_modes(
    ax: Axes,
    inprocess: Sequence[dict[str, Any]],
    production: Sequence[dict[str, Any]],
    references: Sequence[tuple[str, str, float]] = (),
) -> Axes:
    """Per-task cost against chain length on one log-log axis: in-process (solid, the overhead
    per task of the pytest-benchmark chains) and production (dashed: the span per task of the
    no-op chains on a running stack, from the engines' records; squares for the engine's own
    executor, triangles for a scale-out one, Celery or Dask). `references`: (engine, label, ms)
    published figures, as dotted lines."""
    for row in inprocess:
        ax.plot(row["n"], row["per_task_ms"], marker="o", lw=2.5, ms=8, color=_color(row),
                ls="-", alpha=0.55 if row.get("variant") == "tuned" else 1.0,
                label=f"{row['label']}, in-process")  # fmt: skip
    for row in production:
        scale_out = row.get("executor", "local") != "local"
        ax.plot(row["n"], row["per_task_ms"], marker="^" if scale_out else "s", lw=2.5, ms=9,
                color=_color(row), ls="--", alpha=0.55 if row.get("variant") == "tuned" else 1.0,
                label=f"{row['label']}, production")  # fmt: skip
    for engine, label, ms in references:
        ax.axhline(ms, color=engines.colour(engine), ls=":", lw=1.5, label=label)
    rows = [*inprocess, *production]
    title = "Per-task cost: in-process and production"
    return _chain_axes(ax, rows, "ms per task", title, fontsize="x-small", ncol=2)


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _bars(ax: Axes, rows: Sequence[dict[str, Any]], key: str) -> Axes:
    labels = [row["label"] for row in rows]
    values = [row[key] for row in rows]
    bars = ax.bar(labels, values, color=[_color(r) for r in rows])
    for bar, row in zip(bars, rows, strict=True):
        if row.get("variant") == "tuned":
            bar.set_hatch("//")
    ax.bar_label(bars, labels=[_number(v) for v in values], padding=4)
    ax.margins(y=0.1)  # room for the labels above the tallest bar
    ax.tick_params(axis="x", rotation=25)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return ax


def plot_cost_breakdown(axes: Sequence[Axes], rows: Sequence[dict[str, Any]]) -> Sequence[Axes]:
    """Two panels: the fixed cost per run (a one-task run) and the cost per task (the slope of
    time against N)."""
    fixed, per_task = axes
    _bars(fixed, rows, "fixed_ms")
    fixed.set(ylabel="ms per run", title="Fixed cost per run (1 task)")
    _bars(per_task, rows, "slope_ms")
    per_task.set(ylabel="ms per task", title="Cost per task")
    return axes


def plot_retry_cost(ax: Axes, rows: Sequence[dict[str, Any]]) -> Axes:
    """What one retry costs the engine itself (zero configured delay)."""
    _bars(ax, rows, "retry_ms")
    ax.set(ylabel="ms per retry", title="Cost of one retry (no delay)")
    return ax


def plot_cache(ax: Axes, rows: Sequence[dict[str, Any]]) -> Axes:
    """Full pipeline, empty cache versus warm cache, side by side per engine."""
    x = np.arange(len(rows))
    cold = ax.bar(
        x - 0.2,
        [r["cold_s"] for r in rows],
        0.4,
        color=[_color(r) for r in rows],
        alpha=0.45,
        label="cold (empty cache)",
    )
    warm = ax.bar(
        x + 0.2,
        [r["warm_s"] for r in rows],
        0.4,
        color=[_color(r) for r in rows],
        label="warm (cache hits)",
    )
    ax.bar_label(cold, fmt="%.2f s", padding=4)
    ax.bar_label(
        warm, labels=[f"{r['warm_s']:.2f} s\n×{r['speedup']:.0f}" for r in rows], padding=4
    )
    ax.set_xticks(x, [r["label"] for r in rows])
    ax.set(ylabel="seconds per pipeline run", title="Caching: the same run twice")
    ax.legend(frameon=False)
    return ax


def plot_end_to_end(ax: Axes, rows: Sequence[dict[str, Any]]) -> Axes:
    """Full pipeline wall time, split into time inside the steps and time around them."""
    labels = [r["label"] for r in rows]
    inside = np.array([r["inside_s"] for r in rows])
    around = np.array([r["around_s"] for r in rows])
    ax.bar(labels, inside, color=[_color(r) for r in rows], alpha=0.45, label="inside the steps")
    top = ax.bar(
        labels, around, bottom=inside, color=[_color(r) for r in rows], label="orchestration"
    )
    ax.bar_label(top, labels=[f"{a:.2f} s" for a in around], padding=4)
    ax.set(ylabel="seconds per pipeline run", title="End to end: steps vs orchestration")
    ax.tick_params(axis="x", rotation=15)
    ax.legend(frameon=False)
    return ax


def plot_cold_start(ax: Axes, rows: Sequence[dict[str, Any]]) -> Axes:
    """A fresh process: import, set-up (database, server) and the first one-task run."""
    labels = [r["label"] for r in rows]
    bottom = np.zeros(len(rows))
    handles = []
    for phase, alpha in (("import", 0.3), ("setup", 0.6), ("first_run", 1.0)):
        values = np.array([r[f"{phase}_s"] for r in rows])
        ax.bar(labels, values, bottom=bottom, color=[_color(r) for r in rows], alpha=alpha)
        handles.append(
            mpl.patches.Patch(color="#555555", alpha=alpha, label=phase.replace("_", " "))
        )
        bottom += values
    ax.bar_label(ax.containers[-1], labels=[f"{b:.1f} s" for b in bottom], padding=4)
    ax.set(ylabel="seconds", title="Cold start, phase by phase")
    ax.tick_params(axis="x", rotation=15)
    ax.legend(handles=handles, frameon=False)
    return ax


# Pipeline graphs, for the lessons. Appended below the benchmark plots (imported here so the
# block stays self-contained).
import graphlib  # noqa: E402
from collections.abc import Iterable, Mapping  # noqa: E402


def dag_layers(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each node's layer is the longest path from a source to it (graphlib format: node -> its
    predecessors), so every edge points to a later layer; nodes are sorted within a layer."""
    depth: dict[str, int] = {}
    for node in graphlib.TopologicalSorter(graph).static_order():
        depth[node] = 1 + max((depth[up] for up in graph.get(node, ())), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node, d in depth.items():
        layers[d].append(node)
    return [sorted(layer) for layer in layers]


def plot_dag(ax: Axes, graph: Mapping[str, Iterable[str]], *, title: str | None = None) -> Axes:
    """A DAG drawn left to right in layers, without a graph library: one box per task, one arrow
    per dependency. Tasks in the same column may run at the same time; an arrow that skips
    columns is drawn as an arc above the boxes it passes."""
    layers = dag_layers(graph)
    pos = {
        node: (x, (len(layer) - 1) / 2 - y)
        for x, layer in enumerate(layers)
        for y, node in enumerate(layer)
    }
    layer_of = {node: x for x, layer in enumerate(layers) for node in layer}
    boxes = {
        node: ax.text(
            x,
            y,
            node,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e8f1fa", "edgecolor": "#1f77b4"},
        )
        for node, (x, y) in pos.items()
    }
    for node, ups in graph.items():
        for up in ups:
            span = layer_of[node] - layer_of[up]
            ax.annotate(
                "",
                xy=pos[node],
                xytext=pos[up],
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "#555555",
                    "patchA": boxes[up].get_bbox_patch(),
                    "patchB": boxes[node].get_bbox_patch(),
                    "connectionstyle": f"arc3,rad={-0.3 if span > 1 else 0}",
                },
            )
    rows = max((len(layer) for layer in layers), default=1)
    skips = any(layer_of[n] - layer_of[u] > 1 for n, ups in graph.items() for u in ups)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    ax.set_ylim(-rows / 2, rows / 2 + (1.0 if skips else 0))  # room for the arcs, under the title
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax
