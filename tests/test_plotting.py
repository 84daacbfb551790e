"""Plot helpers draw on the ax they are given; the report writes deterministic files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from benchmarks import report  # noqa: E402
from mlpipeline import plotting  # noqa: E402

# engine, variant, label, ms per task at n = 1, 10, 100, fixed ms (the slope: the last per task)
OVERHEAD = [
    {
        "engine": engine,
        "variant": variant,
        "label": label,
        "n": [1, 10, 100],
        "per_task_ms": ms,
        "fixed_ms": fixed,
        "slope_ms": ms[-1],
    }
    for engine, variant, label, ms, fixed in [
        ("mock", "default", "mock", [0.3, 0.05, 0.03], 0.25),
        ("prefect", "tuned", "prefect (tuned)", [60.0, 15.0, 9.0], 50.0),
    ]
]


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_overhead_plot_draws_one_line_per_engine(ax):
    assert plotting.plot_overhead_per_task(ax, OVERHEAD) is ax
    assert [line.get_label() for line in ax.get_lines()] == ["mock", "prefect (tuned)"]
    assert list(ax.get_lines()[1].get_ydata()) == [60.0, 15.0, 9.0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_lines()[1].get_linestyle() == "--"  # tuned variants are dashed


def test_modes_plot_puts_in_process_and_production_on_one_axis(ax):
    from benchmarks.bench_production import WINDMILL_MS, chain_points

    results = {
        "airflow-celery": {
            "rows": [
                {
                    "engine": "airflow",
                    "executor": "celery",
                    "tuned": True,
                    "workloads": {
                        "chain_40": {"tasks": 40, "median": {"span_per_task": 2.5}},
                        "chain_10": {"tasks": 10, "median": {"span_per_task": 3.0}},
                        "fanout_20": {"tasks": 20, "median": {"span_per_task": 2.0}},
                    },
                }
            ]
        }
    }
    production = chain_points(results)
    assert production == [
        {
            "engine": "airflow",
            "variant": "tuned",
            "executor": "celery",
            "label": "airflow celery (tuned)",
            "n": [10, 40],  # chains only, by length
            "per_task_ms": [3000.0, 2500.0],
        }
    ]
    plotting.plot_modes(ax, OVERHEAD, production, WINDMILL_MS)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == [
        "mock, in-process",
        "prefect (tuned), in-process",
        "airflow celery (tuned), production",
    ]
    assert len(labels) == 3 + len(WINDMILL_MS)  # the published figures as reference lines
    assert list(ax.get_lines()[2].get_ydata()) == [3000.0, 2500.0]
    assert ax.get_lines()[2].get_marker() == "^"  # a scale-out executor; the engine's own: "s"
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_cost_breakdown_labels_each_bar():
    fig, axes = plt.subplots(1, 2)
    plotting.plot_cost_breakdown(axes, OVERHEAD)
    assert [p.get_height() for p in axes[0].patches] == [0.25, 50.0]
    assert [t.get_text() for t in axes[1].texts] == ["0.03", "9"]
    plt.close(fig)


def test_cache_and_end_to_end_plots(ax):
    rows = [
        {
            "engine": "mock",
            "variant": "default",
            "label": "mock",
            "cold_s": 4.0,
            "warm_s": 0.05,
            "speedup": 80.0,
            "inside_s": 3.9,
            "around_s": 0.1,
        }
    ]
    plotting.plot_cache(ax, rows)
    assert [p.get_height() for p in ax.patches] == [4.0, 0.05]
    fig, ax2 = plt.subplots()
    plotting.plot_end_to_end(ax2, rows)
    assert [p.get_height() for p in ax2.patches] == pytest.approx([3.9, 0.1])
    plt.close(fig)


def test_report_files_are_deterministic(tmp_path):
    tables = {"overhead": OVERHEAD, "retry": [], "cache": [], "end_to_end": [], "cold_start": []}
    first = report.write_plots(tables, tmp_path / "a")
    second = report.write_plots(tables, tmp_path / "b")
    assert [p.name for p in first] == [
        "overhead_per_task.svg",
        "overhead_per_task.png",
        "cost_breakdown.svg",
        "cost_breakdown.png",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
