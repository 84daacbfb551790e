"""Command line: ``python -m mlpipeline run [--pipeline weather] [--engine mock] [--config FILE]
[--set KEY=VALUE] [--date YYYY-MM-DD | --days N]``.

``--date`` and ``--days`` are for the daily recsys pipeline: ``--date`` sets data.date, ``--days
N`` runs N consecutive days ending at data.date, one run each, in order (each day's merge builds
on the profile state the day before left), printing each summary and stopping at the first
failed day. An empty landing zone is filled by the generator on first use
(`mlpipeline.recsys.landing`).

Prints a live progress display, then the run summary. Exit codes: 0 success, 1 the pipeline
failed, bad data included (the summary says where; the alert was sent), 2 a bad config or an
engine that is not installed, 130 cancelled by Ctrl-C (one line, no alert: a person decided).
Tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.live import Live
from rich.table import Table

from mlpipeline import artifacts, engines, pipelines, progress, summary
from mlpipeline.config import PipelineConfig, load_config
from mlpipeline.errors import ConfigError, PipelineError
from mlpipeline.paths import WEATHER_CONFIG
from mlpipeline.stack import cli as stack_cli

CANCELLED = 130  # the shell's code for a process ended by SIGINT
_ICONS = {"pending": "·", "running": "▶", "done": "✔", "cached": "↺", "failed": "✘"}


def _parse_set(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {item!r}")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value  # a bare word: take it as a string


def _iso_day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a date like 2026-03-01, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlpipeline", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline once")
    run.add_argument("--pipeline", default=pipelines.DEFAULT, choices=list(pipelines.PIPELINES))
    run.add_argument("--engine", default="mock", choices=list(engines.ENGINES))
    run.add_argument("--config", type=Path, help="default: the pipeline's own config")
    run.add_argument(
        "--set",
        dest="overrides",
        type=_parse_set,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. tuning.cv_folds=3",
    )
    run.add_argument(
        "--mode",
        choices=("in-process", "production"),
        default="in-process",
        help="production: trigger the run on a running stack (see `stack up`)",
    )
    days = run.add_mutually_exclusive_group()
    days.add_argument("--date", type=_iso_day, help="recsys: the day to run (data.date)")
    days.add_argument(
        "--days", type=int, default=1, metavar="N", help="recsys: N days ending at data.date"
    )
    run.add_argument("--run-id", help="default: <engine>-<UTC time>-<pid>")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    run.add_argument("--yes", action="store_true", help="run even above tuning.max_fits")
    graph = sub.add_parser("graph", help="print a pipeline's steps: inputs, config, outputs")
    graph.add_argument("--pipeline", default=pipelines.DEFAULT, choices=list(pipelines.PIPELINES))
    stack_cli.add_parser(sub)
    dash = sub.add_parser("dashboard", help="serve the MLflow UI on loopback (mlflow env)")
    dash.add_argument("--config", type=Path, default=WEATHER_CONFIG)
    dash.add_argument("--port", type=int, default=19500)
    dash.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _progress_table(states: dict[str, str], rates: dict[str, str] | None = None) -> Table:
    table = Table.grid(padding=(0, 1))
    for step, state in states.items():
        table.add_row(_ICONS.get(state, "?"), step, state, (rates or {}).get(step, ""))
    return table


class _Rates:
    """What the data steps counted, over their own time from running to done: "1,000,000
    events, 250,000 events/s" (`progress.count`)."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._counts: dict[str, tuple[int, str]] = {}

    def state(self, step: str, state: str) -> None:
        if state == "running":
            self._started[step] = time.perf_counter()
        elif state == "done" and step in self._counts and step in self._started:
            n, unit = self._counts[step]
            seconds = max(time.perf_counter() - self._started[step], 1e-9)
            self.text[step] = f"{n:,} {unit}, {n / seconds:,.0f} {unit}/s"

    def count(self, step: str, n: int, unit: str) -> None:
        self._counts[step] = (n, unit)
        self.text[step] = f"{n:,} {unit}"


def announce_work(cfg: PipelineConfig, console: Console, *, yes: bool) -> None:
    """Say how much training the run asks for; refuse above `tuning.max_fits` unless --yes."""
    from mlpipeline.training import plan  # xgboost and pandas: only when a run starts

    work = plan(cfg)
    console.print(f"tuning: {work.describe()}", highlight=False)
    if work.fits > cfg.tuning.max_fits and not yes:
        raise ConfigError(
            f"{work.fits} fits is more than tuning.max_fits = {cfg.tuning.max_fits}: shrink "
            "tuning.grid or tuning.cv_folds, raise tuning.max_fits, or run with --yes"
        )


def daily_configs(args: argparse.Namespace, pipeline: Any) -> list[Any]:
    """One config per day to run: --date, or --days N ending at data.date (else one run)."""
    config = args.config or pipeline.default_config
    overrides = dict(args.overrides)
    if args.date:
        overrides["data.date"] = args.date
    cfg = load_config(config, overrides, config_type=pipeline.config_type)
    if args.days == 1:
        return [cfg]
    if args.days < 1 or not isinstance(getattr(cfg.data, "date", None), str):
        raise ConfigError(f"--days {args.days}: needs N >= 1 and a daily pipeline (recsys)")
    last = date.fromisoformat(cfg.data.date)
    return [
        load_config(
            config,
            {**overrides, "data.date": (last - timedelta(days=n)).isoformat()},
            config_type=pipeline.config_type,
        )
        for n in range(args.days - 1, -1, -1)
    ]


def run(args: argparse.Namespace, console: Console) -> int:
    pipeline = pipelines.get(args.pipeline)
    if (args.date or args.days != 1) and pipeline.name != "recsys":
        raise ConfigError("--date and --days are for the daily recsys pipeline")
    configs = daily_configs(args, pipeline)
    if isinstance(configs[0], PipelineConfig):  # the weather pipeline's tuning grid
        announce_work(configs[0], console, yes=args.yes)
    if pipeline.name == "recsys":
        from mlpipeline.recsys.landing import ensure_landing
        from mlpipeline.recsys.steps import history_window

        landed = ensure_landing(configs[-1], first=history_window(configs[0])[0])
        if landed:
            console.print(f"landing zone was empty: generated {len(landed)} day(s)")
    if args.mode == "production":
        engine = stack_cli.production_engine(args.engine)
    else:
        engine = engines.load(args.engine)
    for n, cfg in enumerate(configs):
        run_id = args.run_id or artifacts.new_run_id(args.engine)
        if len(configs) > 1:
            run_id = f"{run_id}-{cfg.data.date}"
        code = run_once(engine, pipeline, cfg, run_id, console)
        if code:
            if n + 1 < len(configs):
                console.print(f"stopped: {len(configs) - n - 1} later day(s) not run")
            return code
    return 0


def run_once(engine: Any, pipeline: Any, cfg: Any, run_id: str, console: Console) -> int:
    """One run with its progress display and summary: 0 success, 1 failed, 130 cancelled."""
    states = dict.fromkeys(pipeline.order, "pending")
    started: list[str] = []  # steps in the order they started, for a Ctrl-C's message
    rates = _Rates()
    try:
        with Live(
            _progress_table(states), console=console, transient=True, refresh_per_second=8
        ) as live:

            def on_event(step: str, state: str) -> None:
                if step in states:
                    states[step] = state
                    rates.state(step, state)
                    if state == "running":
                        started.append(step)
                    live.update(_progress_table(states, rates.text))

            def on_count(step: str, n: int, unit: str) -> None:
                rates.count(step, n, unit)
                live.update(_progress_table(states, rates.text))

            with progress.listening(on_event, on_count):
                result = engine.run_pipeline(cfg, run_id=run_id)
    except KeyboardInterrupt:
        console.print(cancelled_message(run_id, states, started), highlight=False)
        return CANCELLED
    result.save()
    from mlpipeline import tracking  # after the run: MLflow's import is not on its clock

    if result.settings.get("mode") != "production":  # those log to their stack's MLflow server
        tracking.log_run(result, cfg)  # never fails the run: a failure waits in the outbox
    console.print(summary.render(result))
    return 0 if result.ok else 1


def cancelled_message(run_id: str, states: dict[str, str], started: list[str]) -> str:
    """One line for a Ctrl-C. A cancel is a person's decision, not a failure: no alert.
    `states` is in the pipeline's order; its last step is the one that writes the registry."""
    running = [s for s, state in states.items() if state == "running"] or started[-1:]
    during = f"during {', '.join(running)}" if running else "before its first step"
    registry = (
        "the registry holds this run's model"
        if list(states.values())[-1] == "done"
        else "the registry was not changed"
    )
    return f"cancelled: run {run_id} interrupted {during}; {registry}"


def exit_now(code: int) -> NoReturn:
    """End the process after a cancel: exit handlers run (Prefect's server is stopped, logs are
    flushed), interpreter finalization does not. With an abandoned attempt still in native code,
    finalization held an interrupted Airflow run for 20 s after its last exit handler."""
    import atexit
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    if args.command == "graph":
        pipeline = pipelines.get(args.pipeline)
        for step in pipeline.order:
            ups = ", ".join(sorted(pipeline.graph[step])) or "(start)"
            console.print(f"{step:<16} <- {ups}", highlight=False)
        return 0
    if args.command == "stack":
        return stack_cli.main(args, console)
    try:
        if args.command == "dashboard":
            from mlpipeline.dashboard import serve

            return serve(load_config(args.config).tracking, args.port)
        return run(args, console)
    except KeyboardInterrupt:  # before the run started (config, imports) or after it ended
        console.print("cancelled: interrupted; no run in progress", highlight=False)
        return CANCELLED
    except (PipelineError, engines.EngineUnavailable) as e:
        if args.debug:
            raise
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    except Exception as e:
        if args.debug:
            raise
        console.print(
            f"[bold red]unexpected error:[/] {type(e).__name__}: {e}\n"
            "(run again with --debug for the traceback)",
            highlight=False,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
