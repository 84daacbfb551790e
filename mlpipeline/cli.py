"""Command line: ``python -m mlpipeline run --engine mock [--config FILE] [--set KEY=VALUE]``.

Prints a live progress display, then the run summary. Exit codes: 0 success, 1 the pipeline
failed, bad data included (the summary says where; the alert was sent), 2 a bad config or an
engine that is not installed, 130 cancelled by Ctrl-C (one line, no alert: a person decided).
Tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

import tomllib
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mlpipeline import artifacts, engines, progress, summary
from mlpipeline.config import load_config
from mlpipeline.errors import PipelineError
from mlpipeline.graph import STEPS

DEFAULT_CONFIG = Path("configs/seattle_weather.toml")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlpipeline", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline once")
    run.add_argument("--engine", default="mock", choices=list(engines.ENGINES))
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument(
        "--set",
        dest="overrides",
        type=_parse_set,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. tuning.cv_folds=3",
    )
    run.add_argument("--run-id", help="default: <engine>-<UTC time>-<pid>")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    sub.add_parser("graph", help="print the task graph")
    return parser


def _progress_table(states: dict[str, str]) -> Table:
    table = Table.grid(padding=(0, 1))
    for step in STEPS:
        state = states[step]
        table.add_row(_ICONS.get(state, "?"), step, state)
    return table


def run(args: argparse.Namespace, console: Console) -> int:
    cfg = load_config(args.config, dict(args.overrides))
    engine = engines.load(args.engine)
    run_id = args.run_id or artifacts.new_run_id(args.engine)
    states = dict.fromkeys(STEPS, "pending")
    started: list[str] = []  # steps in the order they started, for a Ctrl-C's message
    try:
        with Live(
            _progress_table(states), console=console, transient=True, refresh_per_second=8
        ) as live:

            def on_event(step: str, state: str) -> None:
                if step in states:
                    states[step] = state
                    if state == "running":
                        started.append(step)
                    live.update(_progress_table(states))

            with progress.listening(on_event):
                result = engine.run_pipeline(cfg, run_id=run_id)
    except KeyboardInterrupt:
        console.print(cancelled_message(run_id, states, started), highlight=False)
        return CANCELLED
    result.save()
    console.print(summary.render(result))
    return 0 if result.ok else 1


def cancelled_message(run_id: str, states: dict[str, str], started: list[str]) -> str:
    """One line for a Ctrl-C. A cancel is a person's decision, not a failure: no alert."""
    running = [s for s in STEPS if states[s] == "running"] or started[-1:]
    during = f"during {', '.join(running)}" if running else "before its first step"
    registry = (
        "the registry holds this run's model"
        if states["register_model"] == "done"
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
        from mlpipeline.graph import GRAPH

        for step in STEPS:
            console.print(f"{step:<16} <- {', '.join(sorted(GRAPH[step])) or '(start)'}")
        return 0
    try:
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
