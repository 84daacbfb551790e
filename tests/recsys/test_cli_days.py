"""`python -m mlpipeline run --pipeline recsys --days N`, run as a user runs it (mock engine)."""

from __future__ import annotations

import json
from pathlib import Path

from mlpipeline import workspace
from tests.test_cli import cli


def small(tmp_path: Path) -> list[str]:
    """The small overlay and every path under `tmp_path`, as --set flags."""
    cfg = workspace.config_in(tmp_path, pipeline="recsys")
    keys = {
        "data.landing": cfg.data.landing,
        "profiles.db": cfg.profiles.db,
        "paths.registry": cfg.paths.registry,
        "paths.artifacts": cfg.paths.artifacts,
        "paths.cache": cfg.paths.cache,
        "alerts.log": cfg.alerts.log,
        "tracking.store": cfg.tracking.store,
        **workspace.small_overlay("recsys"),
    }
    return [f"--set={k}={json.dumps(v)}" for k, v in keys.items()]


def test_two_days_generate_the_landing_zone_then_run_in_order(tmp_path):
    done = cli(
        "run", "--pipeline", "recsys", "--days", "2", "--date", "2026-03-02", *small(tmp_path)
    )
    assert done.returncode == 2, done.stdout  # --date and --days together: argparse refuses
    done = cli("run", "--pipeline", "recsys", "--days", "2", *small(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "landing zone was empty: generated 10 day(s)" in done.stdout
    # Ending at data.date (2026-03-01): 2026-02-28, a first run against the popularity
    # baseline, then 2026-03-01 on the state and registry the day before left.
    assert done.stdout.count("A/B on ") == 2
    assert "A/B on 2026-02-28: candidate vs the popularity baseline" in done.stdout
    assert "A/B on 2026-03-01: candidate vs " in done.stdout
    assert "decision: " in done.stdout and "p-value" in done.stdout
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert [r[-10:] for r in runs] == ["2026-02-28", "2026-03-01"]


def test_date_is_for_the_daily_pipeline_only(tmp_path):
    done = cli("run", "--pipeline", "weather", "--date", "2026-03-01")
    assert done.returncode == 2
    assert "--date and --days are for the daily recsys pipeline" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
