"""`python -m mlpipeline stack up|status|down --engine airflow|prefect [--executor ...]
[--workers N] [--tuned]`: the production stacks from the command line.

Exit codes: 0 done (for `status`: a stack is up and healthy), 1 a component failed to start or
stop, or `status` found no healthy stack. Errors are one screen: the component, what went wrong,
its log tail; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from mlpipeline.stack import mlflow_server, stacks
from mlpipeline.stack.procs import StackError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stack", help="start, inspect or stop a production stack")
    parser.add_argument("action", choices=("up", "status", "down"))
    parser.add_argument("--engine", required=True, choices=list(stacks.ENGINES))
    parser.add_argument(
        "--executor",
        default="local",
        choices=sorted({e for es in stacks.EXECUTORS.values() for e in es}),
        help="airflow: local|celery; prefect: local (threads)|dask",
    )
    parser.add_argument("--workers", type=int, default=2, help="celery workers (default 2)")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="the one-knob tuning: airflow scheduler_idle_sleep_time=0.1, prefect poll 1 s",
    )
    parser.add_argument(
        "--no-schedules",
        dest="schedules",
        action="store_false",
        help="airflow: no scheduled runs, only triggered ones",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace, console: Console) -> int:
    try:
        return _ACTIONS[args.action](args, console)
    except StackError as e:
        if args.debug:
            raise
        console.print(f"[bold red]stack {args.action} failed:[/] {e}", highlight=False)
        return 1


def _up(args: argparse.Namespace, console: Console) -> int:
    with console.status(f"starting the {args.engine} stack ..."):
        stack = stacks.up(
            args.engine, args.executor, args.workers, args.tuned, schedules=args.schedules
        )
    table = Table("component", "pid", "port", "ready after", "log", box=None)
    for c in stack.components:
        ready = f"{c.ready_seconds:.1f} s" if c.ready_seconds is not None else ""
        table.add_row(c.name, str(c.pid), str(c.port or ""), ready, c.log)
    console.print(table)
    console.print(
        f"{args.engine} stack up in {stack.ready_seconds:.1f} s "
        f"({stack.executor}, {stack.rss_bytes() / 2**20:.0f} MB RSS); "
        f"UI: {stacks.engine_module(args.engine).ui_url(stack)}\n"
        f"MLflow (the runs' tracking, its UI): {stack.env.get(mlflow_server.TRACKING_ENV)}\n"
        f"alert e-mails: {stack.env.get('MLPIPELINE_MAILDIR')} (the stack's SMTP server)\n"
        f"stop it with: python -m mlpipeline stack down --engine {args.engine}",
        highlight=False,
    )
    return 0


def _status(args: argparse.Namespace, console: Console) -> int:
    report = stacks.status(args.engine)
    if report is None:
        console.print(f"no {args.engine} stack (start one: mlpipeline stack up --engine ...)")
        return 1
    down = [name for name, alive in report["processes"].items() if not alive]
    sick = [k for k, v in report["health"].items() if v != "healthy"]
    for key in (
        "engine",
        "executor",
        "ui",
        "mlflow",
        "mail",
        "rss_mb",
        "ready_seconds",
        "pid_file",
    ):
        console.print(f"{key:>14}: {report[key]}", highlight=False)
    for name, alive in report["processes"].items():
        console.print(f"{'process':>14}: {name} {'running' if alive else 'DEAD'}")
    for name, state in report["health"].items():
        console.print(f"{'health':>14}: {name} {state}", highlight=False)
    return 1 if down or sick else 0


def _down(args: argparse.Namespace, console: Console) -> int:
    with console.status(f"stopping the {args.engine} stack ..."):
        stack, bound = stacks.down(args.engine)
    if stack is None:
        console.print(f"no {args.engine} stack recorded: nothing to stop")
        return 0
    if bound:
        raise StackError(f"stopped, but ports still bound: {sorted(bound)}")
    console.print(f"{args.engine} stack down: {len(stack.components)} process groups stopped")
    return 0


def production_engine(name: str):
    """The engine's production runner, if a stack of it is up; else EngineUnavailable with the
    commands that start one (the CLI prints it as one screen)."""
    import importlib

    from mlpipeline import engines

    if name not in stacks.ENGINES:
        raise engines.EngineUnavailable(
            f"the {name} engine has no production mode (stacks: {', '.join(stacks.ENGINES)})"
        )
    engines.load(name)  # the engine itself must be installed here
    try:
        stacks.client_env(name)
    except StackError as e:
        raise engines.EngineUnavailable(str(e)) from None
    return importlib.import_module(f"{name}_impl.production")


_ACTIONS = {"up": _up, "status": _status, "down": _down}
