"""Landing data on first use: a fresh clone has an empty landing zone.

A run on day D reads the partitions of D-1-H .. D (`steps.history_window`). When the landing
zone holds no partition at all, the generator lands that window from ``[generator]``, so
``python -m mlpipeline run --pipeline recsys`` works out of the box. A landing zone with any
partition is left alone: a missing day there is the producer's problem, and `extract` says so
(generating it would hide a real delivery gap).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.generator import land_days


def ensure_landing(cfg: RecsysConfig, first: date | None = None) -> list[Path]:
    """Land the days from `first` (default: the start of the run's history window) to
    ``data.date`` if the landing zone is empty; return the partitions written."""
    from mlpipeline.recsys.steps import history_window, run_day

    landing = Path(cfg.data.landing)
    if cfg.data.source != "landing" or any(landing.glob("date=*/part-0.parquet")):
        return []
    start = first or history_window(cfg)[0]
    return land_days(landing, cfg.generator, start, (run_day(cfg) - start).days + 1)
