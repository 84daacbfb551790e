"""Plots of the A/B gate's statistics. Each function draws on the `ax` it is given and returns
it; the caller saves (benchmarks/bench_recsys_stats.py writes docs/recsys/), as in
`mlpipeline.plotting`.

Rows are plain dicts from the benchmark's JSON: ``users``, ``effect`` (true NDCG@10 gain),
``promoted``, ``reps``, ``low``, ``high`` (the Wilson 95% interval of the promotion rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes


def plot_power_curve(
    ax: Axes, rows: Sequence[dict[str, Any]], *, target: float, alpha: float
) -> Axes:
    """Promotion rate against the true improvement, one line per number of users, with the
    rate's 95% interval as a band; the nominal alpha, 80% power and the target effect marked."""
    sizes = sorted({r["users"] for r in rows})
    colours = [f"C{i}" for i in range(len(sizes))]
    for n, colour in zip(sizes, colours, strict=True):
        line = sorted((r for r in rows if r["users"] == n), key=lambda r: r["effect"])
        x = np.array([r["effect"] for r in line])
        rate = np.array([r["promoted"] / r["reps"] for r in line])
        ax.plot(x, rate, marker="o", lw=2.5, color=colour, label=f"{n:,} users")
        ax.fill_between(
            x, [r["low"] for r in line], [r["high"] for r in line], color=colour, alpha=0.15
        )
    ax.axhline(0.8, color="#555555", ls="--", lw=1.5)
    ax.axhline(alpha, color="#555555", ls=":", lw=1.5)
    ax.axvline(target, color="#d62728", ls="--", lw=1.5)
    ax.annotate("80% power", (ax.get_xlim()[0], 0.8), xytext=(4, 4), textcoords="offset points")
    ax.annotate(
        f"alpha {alpha:.0%}", (ax.get_xlim()[0], alpha), xytext=(4, 4), textcoords="offset points"
    )
    ax.annotate(
        "target effect",
        (target, 0.5),
        xytext=(6, 0),
        textcoords="offset points",
        color="#d62728",
    )
    ax.set(
        xlabel="true improvement in NDCG@10 (planted)",
        ylabel="share of runs promoted",
        ylim=(-0.02, 1.02),
        title="The A/B gate: false promotions and power",
    )
    ax.legend(frameon=False, loc="lower right")
    ax.grid(True, alpha=0.3)
    return ax
