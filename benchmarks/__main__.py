"""``python -m benchmarks run|report``: fixed flags, so every run reports the same way."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def run(args: argparse.Namespace) -> int:
    os.environ["BENCH_ENGINES"] = args.engines
    os.environ["BENCH_QUICK"] = "1" if args.quick else "0"
    args.output.mkdir(parents=True, exist_ok=True)
    label = args.label or args.engines.split(",")[-1]
    return pytest.main(
        [
            str(HERE),
            "-p",
            "no:cacheprovider",
            "-q",
            "--benchmark-only",
            f"--benchmark-json={args.output / f'{label}.json'}",
            "--benchmark-columns=median,iqr,min,max,rounds",
            "--benchmark-group-by=group",
            "--benchmark-sort=name",
            "--benchmark-name=short",
            "--benchmark-timer=time.perf_counter",
            "-o",
            "python_files=bench_*.py",
            "-o",
            "python_functions=test_*",
            *args.pytest_args,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="measure and write <output>/<label>.json")
    r.add_argument(
        "--engines", default="direct,mock", help="comma-separated: direct,mock,airflow,prefect"
    )
    r.add_argument("--quick", action="store_true", help="fewer sizes and rounds (the test command)")
    r.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    r.add_argument("--label", help="JSON file name (default: the last engine)")
    r.add_argument("pytest_args", nargs="*")
    p = sub.add_parser("report", help="tables, plots and a markdown report from the JSON files")
    p.add_argument("--input", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--output", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    from benchmarks.report import write_report

    write_report(args.input, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
