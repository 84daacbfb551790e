"""The CLI's progress display shows events per second for the recsys data steps."""

from __future__ import annotations

import re

from rich.console import Console

from mlpipeline import artifacts, progress, workspace
from mlpipeline.cli import _progress_table, _Rates
from mlpipeline.execution import run_step
from mlpipeline.recsys import generator
from mlpipeline.recsys.steps import RECSYS


def test_the_data_steps_show_their_events_per_second(tmp_path):
    cfg = workspace.config_in(tmp_path, {"data.date": "2026-03-02"}, pipeline="recsys")
    generator.land_days(cfg.data.landing, cfg.generator, "2026-03-02", 1)
    states, rates = dict.fromkeys(RECSYS.order, "pending"), _Rates()

    def on_event(step: str, state: str) -> None:
        states[step] = state
        rates.state(step, state)

    run_dir = tmp_path / "run"
    with progress.listening(on_event, rates.count):
        events = run_step(RECSYS, "extract", cfg, run_dir)
        run_step(RECSYS, "merge_profiles", cfg, run_dir, events=events)
    console = Console(record=True, width=120)
    console.print(_progress_table(states, rates.text))
    shown = console.export_text()
    read = artifacts.read_json(run_dir / "extract" / "extract.json")["rows_read"]
    merged = artifacts.read_json(run_dir / "merge_profiles" / "merge.json")["events"]
    for step, n in (("extract", read), ("merge_profiles", merged)):
        line = next(line for line in shown.splitlines() if f" {step} " in line)
        assert re.search(rf"done +{n:,} events, [\d,]+ events/s", line), line
    assert "events" not in next(line for line in shown.splitlines() if "train_model" in line)
