"""Read the benchmark JSON files of every environment; write tables, plots and a report.

Measure, save, then plot: nothing here times anything. Per-task figures subtract the direct-call
baseline measured in the same environment and process as the engine.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mlpipeline import artifacts, engines, plotting  # noqa: E402

ENGINE_ORDER = tuple(engines.MEASURED)  # a new engine sorts after these


def load(input_dir: Path) -> list[dict[str, Any]]:
    """The pytest-benchmark runs in `input_dir`; other JSON beside them (the production and
    recsys studies, with reports of their own) is not this report's."""
    found = {f.name: json.loads(f.read_text()) for f in sorted(input_dir.glob("*.json"))}
    runs = [r | {"file": name} for name, r in found.items() if isinstance(r, dict)]
    runs = [r for r in runs if "benchmarks" in r]
    if not runs:
        raise SystemExit(f"no benchmark JSON in {input_dir}: run `python -m benchmarks run` first")
    return runs


def _entries(runs: list[dict[str, Any]]):
    for run in runs:
        for b in run["benchmarks"]:
            yield run, b["extra_info"], b["stats"]


def _key(info: dict[str, Any]) -> tuple[int, str]:
    engine = info["engine"]
    return (ENGINE_ORDER.index(engine) if engine in ENGINE_ORDER else len(ENGINE_ORDER)), info[
        "variant"
    ]


def _label(info: dict[str, Any]) -> str:
    return (
        info["engine"] if info["variant"] == "default" else f"{info['engine']} ({info['variant']})"
    )


def summarise(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """One row per engine and variant for each scenario. Every environment measures the direct
    baseline beside its engine; it is subtracted per environment and shown once."""
    baselines: dict[tuple[str, str, int], float] = {}  # (file, scenario, n) -> median seconds
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    shown_direct = next(
        (
            r["file"]
            for r in runs
            if any(b["extra_info"]["engine"] == "direct" for b in r["benchmarks"])
        ),
        None,
    )
    for run, info, stats in _entries(runs):
        point = info.get("n", info.get("failures", 0))
        if info["engine"] == "direct":
            baselines[(run["file"], info["scenario"], point)] = stats["median"]
            if run["file"] != shown_direct:
                continue
        row = groups.setdefault(
            (info["engine"], info["variant"], info["scenario"]),
            {
                "engine": info["engine"],
                "variant": info["variant"],
                "label": _label(info),
                "file": run["file"],
                "points": {},
            },
        )
        row["points"][point] = (stats, info)

    def rows(scenario: str) -> list[dict[str, Any]]:
        return sorted((r for k, r in groups.items() if k[2] == scenario), key=_key)

    def baseline(row: dict[str, Any], scenario: str, n: int) -> float:
        return baselines.get((row["file"], scenario, n), 0.0)

    overhead = []
    for r in rows("chain"):
        ns = sorted(r["points"])
        medians = [r["points"][n][0]["median"] for n in ns]
        iqr = [r["points"][n][0]["iqr"] for n in ns]
        slope, intercept = np.polyfit(ns, medians, 1) if len(ns) > 1 else (medians[0], 0.0)
        fitted = np.polyval([slope, intercept], ns)
        spread = np.sum((np.asarray(medians) - np.mean(medians)) ** 2)
        r2 = 1 - np.sum((np.asarray(medians) - fitted) ** 2) / spread if spread else 1.0
        direct_slope = (
            np.polyfit(ns, [baseline(r, "chain", n) for n in ns], 1)[0]
            if len(ns) > 1
            else baseline(r, "chain", ns[0])
        )
        per_task = [
            (m - baseline(r, "chain", n)) / n * 1e3 for n, m in zip(ns, medians, strict=True)
        ]
        overhead.append(
            {
                **_who(r),
                "n": ns,
                "median_ms": [m * 1e3 for m in medians],
                "iqr_ms": [q * 1e3 for q in iqr],
                "per_task_ms": per_task,
                # Measured, not extrapolated: a one-task run minus direct. A line's intercept
                # goes negative when the cost per task grows with N (Airflow's does).
                "fixed_ms": per_task[0] * ns[0],
                "intercept_ms": intercept * 1e3,
                "slope_ms": (slope - direct_slope) * 1e3,
                "fit_r2": float(r2),
                "rounds": r["points"][ns[0]][0]["rounds"],
            }
        )
    fanout = [
        {
            **_who(r),
            **{
                "n": n,
                "median_ms": s["median"] * 1e3,
                "iqr_ms": s["iqr"] * 1e3,
                "per_task_ms": (s["median"] - baseline(r, "fanout", n)) / (n + 1) * 1e3,
            },
        }
        for r in rows("fanout")
        for n, (s, _) in r["points"].items()
    ]
    retry = []
    for r in rows("retry"):
        ks = sorted(r["points"])
        medians = [r["points"][k][0]["median"] for k in ks]
        direct = [baseline(r, "retry", k) for k in ks]
        per = np.polyfit(ks, medians, 1)[0] if len(ks) > 1 else 0.0
        per_direct = np.polyfit(ks, direct, 1)[0] if len(ks) > 1 else 0.0
        retry.append(
            {
                **_who(r),
                "failures": ks,
                "median_ms": [m * 1e3 for m in medians],
                "retry_ms": (per - per_direct) * 1e3,
                "attempt_ms": per * 1e3,
            }
        )
    backoff = [
        {
            **_who(r),
            "configured_s": i["configured_wait"],
            "median_s": s["median"],
            "min_s": s["min"],
        }
        for r in rows("retry-backoff")
        for s, i in r["points"].values()
    ]
    cache = []
    warm_rows = {(r["engine"], r["variant"]): r for r in rows("cache-warm")}
    for r in rows("cache-cold"):
        ((cold, _),) = r["points"].values()
        w = warm_rows.get((r["engine"], r["variant"]))
        if w:
            ((warm, winfo),) = w["points"].values()
            cache.append(
                {
                    **_who(r),
                    "cold_s": cold["median"],
                    "warm_s": warm["median"],
                    "speedup": cold["median"] / warm["median"],
                    "cached_tasks": winfo["cached_tasks"],
                    "settings": winfo["settings"],
                }
            )
    e2e = [
        {
            **_who(r),
            "wall_s": s["median"],
            "iqr_s": s["iqr"],
            "inside_s": info["inside_steps_median"],
            "around_s": max(0.0, s["median"] - info["inside_steps_median"]),
            "rounds": s["rounds"],
            "model_sha256": info.get("model_sha256", ""),
        }
        for r, s, info in _only_points(rows("end-to-end"))
    ]
    phases = ("import", "setup", "first_run", "second_run")
    cold = [
        {
            **_who(r),
            "process_s": s["median"],
            **{f"{p}_s": statistics.median(x[p] for x in info["phases"]) for p in phases},
        }
        for r, s, info in _only_points(rows("cold-start"))
    ]
    return {
        "wiring": wiring_cost(rows("wiring-bare"), rows("wiring-ours")),
        "overhead": overhead,
        "fanout": fanout,
        "retry": retry,
        "backoff": backoff,
        "cache": cache,
        "end_to_end": e2e,
        "cold_start": cold,
    }


def _save(fig, out: Path, name: str) -> list[Path]:
    fig.tight_layout()
    paths = [out / f"{name}.svg", out / f"{name}.png"]
    fig.savefig(paths[0], metadata={"Date": None})
    fig.savefig(paths[1], dpi=100, metadata={"Software": None})
    plt.close(fig)
    return paths


def write_plots(tables: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    engines = [r for r in tables["overhead"] if r["engine"] != "direct"]
    with plotting.slide_style():
        if engines:
            fig, ax = plt.subplots()
            plotting.plot_overhead_per_task(ax, engines)
            written += _save(fig, out, "overhead_per_task")
            fig, axes = plt.subplots(1, 2)
            plotting.plot_cost_breakdown(axes, engines)
            written += _save(fig, out, "cost_breakdown")
        plots = (
            ("retry", plotting.plot_retry_cost, "retry_cost"),
            ("cache", plotting.plot_cache, "cache"),
            ("end_to_end", plotting.plot_end_to_end, "end_to_end"),
            ("cold_start", plotting.plot_cold_start, "cold_start"),
        )
        for key, plot, name in plots:
            rows = [r for r in tables[key] if r["engine"] != "direct" or key == "end_to_end"]
            if rows:
                fig, ax = plt.subplots()
                plot(ax, rows)
                written += _save(fig, out, name)
    return written


def _only_points(rows: list[dict[str, Any]]):
    """(row, stats, extra info) of benchmarks measured at one point each."""
    for r in rows:
        ((stats, info),) = r["points"].values()
        yield r, stats, info


def _who(r: dict[str, Any]) -> dict[str, Any]:
    """The columns that name a row's engine and variant."""
    return {"label": r["label"], "engine": r["engine"], "variant": r["variant"]}


def wiring_cost(bare: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """bench_wiring.py: the same graph as bare no-op tasks and through our wiring (no-op steps).
    Overhead = ours - bare, per task instance and as a share of the bare run (goal <= 10 %)."""
    by_engine = {(r["engine"], r["variant"]): r for r in ours}
    table = []
    for b in bare:
        o = by_engine.get((b["engine"], b["variant"]))
        if not o:
            continue
        ((bs, binfo),) = b["points"].values()
        ((os_, oinfo),) = o["points"].values()
        tasks = binfo["tasks"]
        extra = os_["median"] - bs["median"]
        span_extra = oinfo["span_median"] - binfo["span_median"]
        table.append(
            {
                **_who(b),
                "tasks": tasks,
                "bare_s": bs["median"],
                "wiring_s": os_["median"],
                "ms_per_task": extra / tasks * 1e3,
                "ratio": extra / bs["median"],
                "bare_span_s": binfo["span_median"],
                "wiring_span_s": oinfo["span_median"],
                "span_ratio": span_extra / binfo["span_median"] if binfo["span_median"] else 0.0,
                "rounds": bs["rounds"],
            }
        )
    return table


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[list[Any]]:
    return [[r[n] for n in names] for r in rows]


def markdown(tables: dict[str, list[dict[str, Any]]], runs: list[dict[str, Any]]) -> str:
    t = tables
    suite = runs[0]["suite"]
    parts = [
        "# Benchmark report",
        "",
        "Generated by `python -m benchmarks report` from "
        + ", ".join(f"`{r['file']}`" for r in runs)
        + (
            " (quick mode: fewer sizes and rounds, for checking the path, not for quoting)."
            if suite["quick"]
            else "."
        ),
        "",
        "## Method",
        "",
        f"- pytest-benchmark, `time.perf_counter`; {suite['warmup_rounds']} warm-up round(s) "
        f"(not reported), then {suite['rounds']} rounds for task scenarios and "
        f"{suite['slow_rounds']} for full pipeline runs and cold starts. Figures are medians; "
        "spread is the interquartile range (IQR).",
        "- Every round checks the work was done: the chain's last task returns N, the fan-out's "
        "join returns the sum, the flaky task's recorded attempts equal failures + 1, each "
        "pipeline run succeeded with the expected cache hits and model.",
        "- Per-task overhead = (engine median - direct median) / N. A least-squares line "
        "time = intercept + slope * N through the medians gives the cost per task (slope minus "
        "the direct slope) and an intercept; R^2 says how well a line fits. Where the cost per "
        "task grows with N (Airflow under `dag.test()`), the intercept turns negative and means "
        "nothing, so the fixed cost per run reported and plotted is the measured one: a "
        "one-task run minus direct. The direct baseline is measured in each engine's own "
        "environment and process.",
        "- Fresh inputs per round (a new output directory, cache off) except in the warm-cache "
        "scenario. Airflow has no input cache: its rows measure artifact reuse keyed like the "
        "others (skip a task when a valid artifact for the same key exists).",
        "- Cold start: a fresh interpreter and an empty engine home every round; its phases are "
        "measured inside that process.",
        "- Variants: `default` is the engine as shipped; `tuned` turns the knobs listed under "
        "Settings. Each environment runs alone: on 2 cores, parallel runs distort each other.",
        "",
        "## Our wiring's cost",
        "",
        "The weather pipeline through each engine's runner and wiring file with every step body "
        "a no-op, against a bare DAG of the same shape (same task names and edges, the same "
        "`tune_model` fan-out width, plain no-op tasks). Whole run by the harness clock "
        "(median); span = first task start to last task end by the engine's own records "
        "(median). Goal: our wiring adds at most 10 % to the engine's bare cost.",
        "",
        _table(
            [
                "engine",
                "task instances",
                "bare s",
                "our wiring s",
                "ours ms/task",
                "ratio (run)",
                "bare span s",
                "wiring span s",
                "ratio (span)",
                "rounds",
            ],
            [
                [
                    r["label"],
                    r["tasks"],
                    r["bare_s"],
                    r["wiring_s"],
                    r["ms_per_task"],
                    f"{r['ratio']:+.0%}",
                    r["bare_span_s"],
                    r["wiring_span_s"],
                    f"{r['span_ratio']:+.0%}",
                    r["rounds"],
                ]
                for r in t["wiring"]
            ],
        ),
        *wiring_pairs_markdown(t.get("wiring_pairs", [])),
        "",
        "## Overhead: chains of no-op tasks",
        "",
        _table(
            [
                "engine",
                "fixed ms/run (1 task)",
                "ms/task (slope)",
                "intercept ms",
                "R^2",
                *[
                    f"N={n} median ms (IQR)"
                    for n in (t["overhead"][0]["n"] if t["overhead"] else [])
                ],
            ],
            [
                [
                    r["label"],
                    r["fixed_ms"],
                    r["slope_ms"],
                    r["intercept_ms"],
                    f"{r['fit_r2']:.3f}",
                    *[
                        f"{m:.3g} ({q:.2g})"
                        for m, q in zip(r["median_ms"], r["iqr_ms"], strict=True)
                    ],
                ]
                for r in t["overhead"]
            ],
        ),
        "",
        "Fan-out (k independent tasks joined by one):",
        "",
        _table(
            ["engine", "k", "median ms", "IQR ms", "overhead ms/task"],
            [
                [r["label"], r["n"], r["median_ms"], r["iqr_ms"], r["per_task_ms"]]
                for r in t["fanout"]
            ],
        ),
        "",
        "## Retries",
        "",
        "`ms per failed attempt` is the slope over the number of failures; `engine ms per retry` "
        "subtracts the same slope for direct calls (the failing body itself: raising and "
        "counting the attempt in a file).",
        "",
        _table(
            ["engine", "failures", "median ms", "ms per failed attempt", "engine ms per retry"],
            [
                [
                    r["label"],
                    r["failures"],
                    [round(m, 3) for m in r["median_ms"]],
                    r["attempt_ms"],
                    r["retry_ms"],
                ]
                for r in t["retry"]
            ],
        ),
        "",
        "With idiomatic backoff (the run must last at least the configured waits):",
        "",
        _table(
            ["engine", "configured wait s", "median s", "min s"],
            _columns(t["backoff"], ("label", "configured_s", "median_s", "min_s")),
        ),
        "",
        "## Caching: the full pipeline twice",
        "",
        _table(
            ["engine", "cold s", "warm s", "speed-up", "tasks from cache"],
            [
                [r["label"], r["cold_s"], r["warm_s"], f"{r['speedup']:.1f}x", r["cached_tasks"]]
                for r in t["cache"]
            ],
        ),
        "",
        "## End to end",
        "",
        _table(
            ["engine", "wall s", "IQR s", "inside steps s", "around steps s", "rounds"],
            _columns(
                t["end_to_end"], ("label", "wall_s", "iqr_s", "inside_s", "around_s", "rounds")
            ),
        ),
        "",
        "## Cold start",
        "",
        _table(
            ["engine", "process s", "import s", "set-up s", "first run s", "second run s"],
            _columns(
                t["cold_start"],
                ("label", "process_s", "import_s", "setup_s", "first_run_s", "second_run_s"),
            ),
        ),
        "",
        "## Versions, settings and machine",
        "",
    ]
    for run in runs:
        s = run["suite"]
        parts.append(
            f"- `{run['file']}`: Python {s['python']}, {s['machine']['cpus']} CPUs, "
            f"{s['machine']['platform']}, commit {s['commit'] or 'n/a'}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(s["versions"].items()))
        )
    settings = {
        (b["extra_info"]["engine"], b["extra_info"]["variant"]): b["extra_info"]["settings"]
        for r in runs
        for b in r["benchmarks"]
    }
    parts += ["", "Settings per variant:", ""]
    parts += [
        f"- {e} ({v}): `{json.dumps(st, sort_keys=True)}`"
        for (e, v), st in sorted(settings.items())
    ]
    return "\n".join(parts) + "\n"


def wiring_pairs(input_dir: Path) -> list[dict[str, Any]]:
    """`python -m benchmarks.bench_wiring`'s interleaved pairs (`wiring.json`), if measured."""
    path = input_dir / "wiring.json"
    return json.loads(path.read_text()) if path.exists() else []


def wiring_pairs_markdown(pairs: list[dict[str, Any]]) -> list[str]:
    if not pairs:
        return []
    rows = [
        [
            p["engine"],
            p["variant"],
            "on" if p["param_validation"] else "stubbed (diagnostic)",
            len(p["pairs_s"]),
            p["bare_median_s"],
            p["ours_median_s"],
            p["ms_per_task"],
            f"{p['ratio']:+.0%}",
            f"{p['pair_ratio_median']:+.0%}",
            f"{p['load_1min']['median']:.1f}",
            p["measured"],
        ]
        for p in pairs
    ]
    header = ["engine", "variant", "Param validation", "pairs", "bare s", "ours s"]
    header += ["ours ms/task", "ratio", "per-pair ratio", "load", "measured"]
    return [
        "",
        "Interleaved pairs (`python -m benchmarks.bench_wiring ENGINE`: one bare run, then one "
        "of ours, per round, so both see the same machine load; medians; `wiring.json`). "
        "Where the rest of the cost goes, and why the goal is not met for Airflow and the mock "
        "engine: `benchmarks/bench_wiring.py` and the README.",
        "",
        _table(header, rows),
    ]


def write_report(input_dir: Path, output_dir: Path) -> list[Path]:
    runs = load(input_dir)
    tables = summarise(runs)
    tables["wiring_pairs"] = wiring_pairs(input_dir)
    written = write_plots(tables, output_dir)
    written.append(artifacts.write_json(output_dir / "summary.json", tables))
    written.append(
        artifacts.write_bytes(output_dir / "report.md", markdown(tables, runs).encode("utf-8"))
    )
    for path in written:
        print(path)
    return written


def plot_recsys_cost_curve(ax, points: list[dict[str, Any]]):
    """The recsys day's cost against events per day, log-log, per step and in total, with the
    line a linear cost would follow from the smallest size (bench_recsys_scale.py). CPU seconds
    where the runs recorded them (the wall clock of a shared machine measures its load), else
    wall seconds."""
    points = [p for p in points if "stopped" not in p]  # killed above the memory cap
    cpu = all("cpu" in s for p in points for s in p["steps"].values())
    kind = "cpu" if cpu else "seconds"
    events = np.array([p["events"] for p in points], dtype=float)
    series = {"whole run": [p["cpu_seconds" if cpu else "wall_seconds"] for p in points]}
    for step in points[0]["steps"]:
        if "rows" in points[0]["steps"][step]:
            series[step] = [p["steps"][step][kind] for p in points]
    for label, seconds in series.items():
        ax.plot(events, seconds, marker="o", lw=3 if label == "whole run" else 1.5, label=label)
    total = series["whole run"]
    ax.plot(events, total[0] * events / events[0], ls="--", color="grey", label="linear")
    ylabel = "CPU seconds (mock engine)" if cpu else "seconds (mock engine)"
    ax.set(xscale="log", yscale="log", xlabel="events per day", ylabel=ylabel)
    ax.legend(fontsize="small", ncol=2)
    return ax


def save_png(path: Path, draw) -> Path:
    """One slide-style figure, `draw(ax)` on its single axes, saved as a PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with plotting.slide_style():
        fig, ax = plt.subplots()
        draw(ax)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return path
