"""Our wiring's own cost: the weather pipeline with no-op steps against a bare DAG of its shape.

Two runs per engine, the same tasks and edges, the same `tune_model` fan-out width:

* ``bare``: plain no-op tasks and nothing else (the adapter's `bare(shape)`), the engine's own
  cost of running this graph;
* ``wiring``: the engine's real runner and wiring file (`run_pipeline`: params and config rebuilt
  per task, `run_step`, cache keys and reuse, logging, failure hooks) with every step body
  swapped for a no-op (`noop_steps`), so all that remains is what we add around the steps.

The harness clock times the whole run (pytest-benchmark's median); each round also checks the
work was done (every task succeeded, one step call per task instance) and keeps the engine's own
record of it: the span from the first task's start to the last task's end (Airflow's
task_instance, Prefect's task runs, the mock run record). `report.py` turns the two medians into
"our wiring's cost": milliseconds per task and the ratio to the bare cost (goal: at most 10 %).
The cache is on, as by default, and cold (a fresh directory per round): keys are computed and
stored, never served.

Where our cost goes (counted and profiled with cProfile, 30 November 2026, on 2 cores shared with
other jobs at load 6-17: times +-50 %, counts exact):

* Airflow: Param validation. Airflow validates each Param with jsonschema (the schema checked
  against its metaschema first, 0.3-1 ms a call whatever the schema) every time it touches a
  DAG's params, and every operator carries a copy of them. Counted over one run of the weather
  DAG (16 task instances, 53 config keys + the run id = 54 typed Params): 6,026 validations,
  4.3 s of a 21 s run at load 12. Of those, 4,104 are Airflow serializing the DAG (each of 38
  operator nodes compares its params with `{}` and prints them: a full validation pass each),
  1,188 are task contexts (`process_params`, one pass per task and per mapped render), 108
  parse-time checks, and 594 were ours: the "MLflow run" link rebuilt each task's context to
  find the run (540) and the runner dumped the params to diff them (54). Fixed: the link reuses
  what its task ran with (`tasks.ran_with`), the runner reads defaults without validating:
  5,422 validations a run since, all Airflow's (54 of them in the parse our runner does
  per run to read the run's config).
  What is left scales with the number of Params times Airflow's passes, and a typed schema
  per key costs the same whether the keys are separate Params or the typed properties of one
  object Param (both about 29-50 ms a pass over 53 keys): only untyped, coarser Params make
  it small (one object per section: 12 ms a pass; one object for the whole config: 1 ms).
  With validation stubbed out (`--without-param-validation`, a diagnostic: jsonschema
  replaced in the measuring process) ours was still +44 % against +59 % (load 4-8), and its
  profile splits that rest, as shares of the bare run: the "MLflow run" links (one more XCom
  per task: ~11 %), the per-run parse of the DAG file that reads the run's config (~8 %),
  Airflow serializing the Params with each operator (7-10 %), our `run_step` (~2 %).
  Decision: keep the links, the per-run parse and one typed trigger-form field per key (the
  README's "flat, typed params"); untyped JSON objects per section would cut the Param share
  (12 ms a validation pass against 29 ms), not reach 10 % while the features stay.
* mock: a bare task is a plain call in the scheduling thread (0.1-0.5 ms); ours adds, per
  task at load 12: the attempt's hand-off to a worker thread and back (so a timeout can abandon
  it: most of it under load, 0.07 ms on an idle machine), the cache key (code, config and input
  fingerprints: 3.7 ms), the cache record (2.9 ms), the step call with its output directory,
  timings line and log line (1.5 ms). A 10 % budget is 10-50 us per task, less than one file
  write: out of reach while the wiring records to disk and enforces timeouts, by design.
* Prefect: within noise of its bare flow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks import settings
from benchmarks.adapters import Shape
from benchmarks.conftest import record
from benchmarks.workload import pipeline_config
from mlpipeline import artifacts
from mlpipeline.pipeline import Pipeline
from mlpipeline.runs import SUCCESS, TIMINGS
from mlpipeline.steps import WEATHER, n_candidates

_ids = itertools.count()

# The variant whose settings the engine's runner uses (Airflow logs at WARNING, Prefect runs
# tuned): the bare DAG runs under the same ones, so the difference is ours alone.
RUNNER_VARIANT = {"mock": "default", "airflow": "tuned", "prefect": "tuned"}


def noop_body(real: Callable[..., None]) -> Callable[..., None]:
    """A step body that does nothing (its consumers are no-ops too, so it writes nothing). It
    wraps the real one, so the cache key still fingerprints the real step's code: that hashing
    is our wiring's cost, not the step's."""

    @functools.wraps(real)
    def noop(cfg, out, **inputs) -> None:
        pass

    return noop


@contextlib.contextmanager
def noop_steps(pipeline: Pipeline) -> Iterator[None]:
    """Every step of `pipeline` with a no-op body, the declarations otherwise unchanged."""
    real = dict(pipeline.steps)
    pipeline.steps.update({n: dataclasses.replace(s, fn=noop_body(s.fn)) for n, s in real.items()})
    try:
        yield
    finally:
        pipeline.steps.update(real)


def span(starts_ends: list[tuple[float, float]]) -> float:
    """Seconds from the first task's start to the last task's end, by the engine's records."""
    return max(e for _, e in starts_ends) - min(s for s, _ in starts_ends)


def _skip_other_variants(adapter) -> None:
    if adapter.engine == "direct":
        pytest.skip("no engine: nothing to wire")
    if adapter.variant != RUNNER_VARIANT[adapter.engine]:
        pytest.skip(f"measured under the runner's own settings ({RUNNER_VARIANT[adapter.engine]})")


def _shape(tmp_path_factory) -> Shape:
    cfg = pipeline_config(tmp_path_factory.mktemp("shape"))
    return Shape.of(WEATHER, n_candidates(cfg))


def test_wiring_bare(benchmark, adapter, tmp_path_factory):
    _skip_other_variants(adapter)
    shape = _shape(tmp_path_factory)
    spans: list[float] = []
    record(benchmark, adapter, "wiring-bare", tasks=shape.instances, spans=spans)

    def check(outcome):
        assert outcome.tasks == shape.instances and outcome.value == shape.width, outcome
        spans.append(outcome.span)

    benchmark.pedantic(
        lambda: check(adapter.bare(shape)),
        rounds=settings.WIRING_ROUNDS,
        warmup_rounds=settings.WIRING_WARMUP,
    )
    del spans[: settings.WIRING_WARMUP]
    benchmark.extra_info["span_median"] = statistics.median(spans)


def test_wiring_ours(benchmark, adapter, tmp_path_factory):
    _skip_other_variants(adapter)
    shape = _shape(tmp_path_factory)
    spans: list[float] = []
    record(benchmark, adapter, "wiring-ours", tasks=shape.instances, spans=spans)

    def setup():  # a fresh run directory and an empty cache every round
        return (pipeline_config(tmp_path_factory.mktemp("wiring")), f"wiring-{next(_ids)}"), {}

    def run(cfg, run_id):
        with noop_steps(WEATHER):
            result = adapter.pipeline(cfg, run_id)
        assert result.ok, result.error
        assert all(t.state == SUCCESS for t in result.tasks.values()), result.tasks
        assert set(result.tasks) == set(shape.names), sorted(result.tasks)
        calls = artifacts.read_jsonl(Path(result.run_dir) / TIMINGS)  # one line per step call
        assert len(calls) == shape.instances, calls
        spans.append(span([(t.start, t.end) for t in result.tasks.values()]))

    benchmark.pedantic(
        run, setup=setup, rounds=settings.WIRING_ROUNDS, warmup_rounds=settings.WIRING_WARMUP
    )
    del spans[: settings.WIRING_WARMUP]
    benchmark.extra_info["span_median"] = statistics.median(spans)


# -- interleaved: the ratio on a machine whose load moves -----------------------------------
# pytest-benchmark runs all bare rounds, then all of ours: on a shared machine the load moves
# between the two and the ratio with it. `python -m benchmarks.bench_wiring ENGINE` alternates
# one bare and one of our runs per round and records each pair, the medians and the load in
# benchmarks/results/wiring.json (beside the pytest-benchmark files; report.py skips it).
WIRING_JSON = Path(__file__).resolve().parent / "results" / "wiring.json"


def interleaved(engine: str, rounds: int, workdir: Path) -> dict:
    """`rounds` pairs (bare, ours) after one warm-up pair; seconds by the harness clock."""
    import os
    import time

    from benchmarks import adapters

    adapter = adapters.load(engine, RUNNER_VARIANT[engine])
    adapter.start()
    shape = Shape.of(WEATHER, n_candidates(pipeline_config(workdir / "shape")))
    ids = itertools.count()

    def bare() -> float:
        started = time.perf_counter()
        outcome = adapter.bare(shape)
        assert outcome.tasks == shape.instances, outcome
        return time.perf_counter() - started

    def ours() -> float:
        cfg, run_id = pipeline_config(workdir / f"w{next(ids)}"), f"wiring-{next(ids)}"
        with noop_steps(WEATHER):
            started = time.perf_counter()
            result = adapter.pipeline(cfg, run_id)
            seconds = time.perf_counter() - started
        assert result.ok and len(result.tasks) == len(shape.names), result.error
        return seconds

    try:
        bare(), ours()  # warm-up
        pairs, loads = [], []
        for _ in range(rounds):
            pairs.append((bare(), ours()))
            loads.append(os.getloadavg()[0])
    finally:
        adapter.stop()
    b, o = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    return {
        "engine": engine,
        "variant": adapter.variant,
        "instances": shape.instances,
        "pairs_s": pairs,
        "bare_median_s": b,
        "ours_median_s": o,
        "ratio": (o - b) / b,
        "pair_ratio_median": statistics.median((po - pb) / pb for pb, po in pairs),
        "ms_per_task": (o - b) / shape.instances * 1e3,
        "load_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
    }


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import tempfile
    import time

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_wiring")
    parser.add_argument("engine", choices=sorted(RUNNER_VARIANT))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--without-param-validation",
        action="store_true",
        help="diagnostic, Airflow: jsonschema validation stubbed out in this process, to show "
        "what our wiring costs beside the engine's validation of our Params",
    )
    args = parser.parse_args(argv)
    if args.without_param_validation:
        import jsonschema

        jsonschema.validate = lambda *a, **k: None  # Param.resolve imports it at each call
    row = interleaved(args.engine, args.rounds, Path(tempfile.mkdtemp(prefix="bench-wiring-")))
    row["param_validation"] = not args.without_param_validation
    row["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = json.loads(WIRING_JSON.read_text()) if WIRING_JSON.exists() else []
    rows = [
        r
        for r in rows
        if (r["engine"], r["param_validation"]) != (args.engine, row["param_validation"])
    ]
    artifacts.write_json(WIRING_JSON, sorted([*rows, row], key=lambda r: r["engine"]))
    print(
        f"{args.engine}: bare {row['bare_median_s']:.3f} s, ours {row['ours_median_s']:.3f} s, "
        f"{row['ratio']:+.1%} ({row['ms_per_task']:.2f} ms a task), "
        f"load {row['load_1min']['median']:.1f}"
    )


if __name__ == "__main__":
    main()
